"""The CA directory (`provision ca init`, `cert`, `rotate`), the certificate profile, tokens."""

from __future__ import annotations

import datetime as dt
import stat
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from borderlink.cli import main
from borderlink.proto.identity import Identity, Role, identity_of
from borderlink.provisioning.ca import CertificateAuthority
from borderlink.provisioning.enrollment_service import RateLimiter
from borderlink.provisioning.errors import CaDirectoryError, TokenError
from borderlink.provisioning.tokens import Token, TokenStore, parse_duration
from borderlink.provisioning.trust import (
    CaDirectory,
    certificates_from_pem,
    fingerprint,
    init_ca_directory,
    rotate_issuing,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_init_makes_root_and_issuing_keys_0600_and_refuses_to_overwrite(tmp_path: Path,
                                                                           capsys) -> None:
    pw = tmp_path / "pw"
    pw.write_text("correct horse\n")
    d = tmp_path / "ca"
    assert main(["provision", "ca", "init", "--dir", str(d), "--root-passphrase-file",
                 str(pw)]) == 0
    out = capsys.readouterr().out
    ca = CaDirectory(d)
    assert ca.fingerprint in out and (d / "fingerprint").read_text().strip() == ca.fingerprint
    assert _mode(d / "root.key") == 0o600 and _mode(d / "issuing.key") == 0o600
    assert b"ENCRYPTED" in (d / "root.key").read_bytes()
    assert b"ENCRYPTED" not in (d / "issuing.key").read_bytes()
    root, issuing = ca.root_certificate, ca.issuing_certificate
    issuing.verify_directly_issued_by(root)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    assert issuing.extensions.get_extension_for_class(
        x509.BasicConstraints).value.path_length == 0
    assert [c.subject for c in certificates_from_pem(ca.trust_pem)] == [issuing.subject,
                                                                        root.subject]
    with pytest.raises(CaDirectoryError, match="passphrase"):
        ca.root()  # encrypted, no passphrase given
    assert ca.root(b"correct horse").certificate == root
    with pytest.raises(CaDirectoryError, match="never overwrites"):
        init_ca_directory(d)
    assert main(["provision", "ca", "init", "--dir", str(d)]) == 1


def test_certificate_profile_fields_usages_and_lifetimes(tmp_path: Path) -> None:
    ca = init_ca_directory(tmp_path / "ca")
    issuing = ca.issuing()
    node = issuing.issue(Identity(Role.NODE, "bil-radio-01"), site="AZ-BIL", agency="SCC")
    c = node.certificate
    attr = {a.oid: a.value for a in c.subject}
    assert attr[NameOID.COMMON_NAME] == "bil-radio-01"
    assert attr[NameOID.ORGANIZATIONAL_UNIT_NAME] == "node"
    assert attr[NameOID.ORGANIZATION_NAME] == "SCC"
    assert attr[NameOID.LOCALITY_NAME] == "AZ-BIL"
    assert identity_of(c) == Identity(Role.NODE, "bil-radio-01")
    assert c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    ku = c.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    assert (c.not_valid_after_utc - c.not_valid_before_utc) == dt.timedelta(days=90)
    agency = issuing.issue(Identity(Role.AGENCY, "SMS")).certificate
    assert (agency.not_valid_after_utc - agency.not_valid_before_utc) == dt.timedelta(days=365)
    assert {a.oid: a.value for a in agency.subject}[NameOID.ORGANIZATION_NAME] == "SMS"
    hub_pem, hub_key = ca.issue(Identity(Role.HUB, "hub"), tmp_path / "out",
                                dns_names=["localhost"], ip_addresses=["127.0.0.1"])
    hub_chain = certificates_from_pem(hub_pem.read_bytes())
    assert hub_chain[1] == ca.issuing_certificate and _mode(hub_key) == 0o600
    assert hub_chain[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    with pytest.raises(CaDirectoryError, match="never overwritten"):
        ca.issue(Identity(Role.HUB, "hub"), tmp_path / "out")


def _whoami_server(trust: bytes, chain: bytes, key: bytes) -> tuple[grpc.Server, int]:
    """A real gRPC server over mutual TLS answering with the caller's identity URI."""
    def whoami(request: bytes, context: grpc.ServicerContext) -> bytes:
        pem = context.auth_context()["x509_pem_cert"][0]
        return identity_of(x509.load_pem_x509_certificate(pem)).uri.encode()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "t.Echo", {"WhoAmI": grpc.unary_unary_rpc_method_handler(whoami)}),))
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=trust, require_client_auth=True))
    server.start()
    return server, port


def test_cert_commands_write_chains_a_real_mtls_handshake_accepts(tmp_path: Path) -> None:
    d = tmp_path / "ca"
    assert main(["provision", "ca", "init", "--dir", str(d)]) == 0
    out = tmp_path / "certs"
    assert main(["provision", "cert", "hub", "--dir", str(d), "--out", str(out)]) == 0
    assert main(["provision", "cert", "agency", "SBS", "--dir", str(d), "--out", str(out)]) == 0
    assert main(["provision", "cert", "admin", "tech1", "--dir", str(d), "--out",
                 str(out)]) == 0
    assert main(["provision", "cert", "agency", "NATO", "--dir", str(d), "--out",
                 str(out)]) == 1  # not an agency of the deployment
    trust = CaDirectory(d).trust_pem
    server, port = _whoami_server(trust, (out / "hub.pem").read_bytes(),
                                  (out / "hub.key").read_bytes())

    def whoami(creds: grpc.ChannelCredentials) -> str:
        with grpc.secure_channel(f"127.0.0.1:{port}", creds) as channel:
            return bytes(channel.unary_unary("/t.Echo/WhoAmI")(b"", timeout=10)).decode()

    try:
        for stem, uri in (("sbs", "borderlink://agency/SBS"), ("tech1",
                                                               "borderlink://admin/tech1")):
            creds = grpc.ssl_channel_credentials(trust, (out / f"{stem}.key").read_bytes(),
                                                 (out / f"{stem}.pem").read_bytes())
            assert whoami(creds) == uri
        # Only the root as trust anchor, as a pinned node has: the chains still verify.
        root_only = CaDirectory(d).root_certificate.public_bytes(Encoding.PEM)
        assert whoami(grpc.ssl_channel_credentials(
            root_only, (out / "sbs.key").read_bytes(), (out / "sbs.pem").read_bytes())) == \
            "borderlink://agency/SBS"
        stranger = CertificateAuthority.create("foreign").issue_agency("SBS")
        with pytest.raises(grpc.RpcError):
            whoami(grpc.ssl_channel_credentials(trust, stranger.key_pem(), stranger.cert_pem))
    finally:
        server.stop(None)


def test_rotation_needs_the_root_key_and_keeps_old_leaves_trusted(tmp_path: Path) -> None:
    d = tmp_path / "ca"
    ca = init_ca_directory(d)
    old_leaf = ca.issuing().issue_node("n1").certificate
    root_key = (d / "root.key").read_bytes()
    (d / "root.key").unlink()  # moved offline
    with pytest.raises(CaDirectoryError, match="offline"):
        rotate_issuing(ca)
    (d / "root.key").write_bytes(root_key)
    old_issuing = ca.issuing_certificate
    new_issuing = rotate_issuing(ca)
    assert new_issuing != old_issuing and ca.issuing_certificate == new_issuing
    bundle = certificates_from_pem(ca.trust_pem)
    assert bundle == [new_issuing, old_issuing, ca.root_certificate]
    old_leaf.verify_directly_issued_by(old_issuing)
    new_leaf = ca.issuing().issue_node("n2").certificate
    new_leaf.verify_directly_issued_by(new_issuing)
    assert fingerprint(ca.root_certificate) == ca.fingerprint  # nodes keep their pin


def test_tokens_parse_and_keep_only_hashes(tmp_path: Path) -> None:
    store = TokenStore.open(tmp_path / "tokens.db")
    token, grant = store.create(node_id="n1", site="AZ-BIL", agency="SBS", profile="p",
                                ttl_s=60, ca_fingerprint="ab" * 32, now_ms=1000,
                                record_types=["document.check", "alert.ack"])
    assert Token.parse(str(token)) == token
    assert grant.expires_ms == 61_000
    # The record types travel with the token to the hub's enrolment.
    assert store.list()[0].record_types == ("document.check", "alert.ack")
    with pytest.raises(TokenError, match="record types"):
        store.create(node_id="n2", site="AZ-BIL", agency="SBS", profile="p", ttl_s=60,
                     ca_fingerprint="ab" * 32)
    store.close()
    assert token.secret not in (tmp_path / "tokens.db").read_bytes()

    assert _mode(tmp_path / "tokens.db") == 0o600
    store = TokenStore.open(tmp_path / "tokens.db")
    with pytest.raises(TokenError) as e:
        store.claim(token.secret, "n2", by="x", now_ms=2000)
    assert e.value.reason == "token-other-node"
    with pytest.raises(TokenError) as e:
        store.claim(b"\0" * 20, "n1", by="x", now_ms=2000)
    assert e.value.reason == "token-unknown"
    with pytest.raises(TokenError) as e:
        store.claim(token.secret, "n1", by="x", now_ms=61_000)
    assert e.value.reason == "token-expired"
    claimed = store.claim(token.secret, "n1", by="x", now_ms=2000)
    assert claimed.used_ms == 2000 and claimed.record_types == ("document.check", "alert.ack")
    with pytest.raises(TokenError) as e:
        store.claim(token.secret, "n1", by="y", now_ms=2001)
    assert e.value.reason == "token-used"
    for bad in ("", "BLT1:n1", "XYZ1:n1:AAAA", f"BLT1:n1:{str(token).split(':')[2][:-4]}",
                "BLT1:bad id:AAAA", f"{token}00"):
        with pytest.raises(TokenError, match="token|fingerprint|bad node"):
            Token.parse(bad)


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86400), ("90m", 5400), ("7d", 604800),
                                               ("1d12h", 129600), ("5s", 5)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0h", "h", "24", "1y", "-1h", "1h x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(TokenError):
        parse_duration(text)


def test_rate_limiter_is_per_host_and_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=6, burst=2, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    assert limiter.allow("b")
    now[0] += 10.0  # 6 per minute: one more after 10 s
    assert limiter.allow("a") and not limiter.allow("a")


def test_token_store_made_before_record_types_gets_the_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "tokens.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE tokens (secret_sha256 BLOB PRIMARY KEY, node_id TEXT NOT NULL, "
                "site TEXT NOT NULL, agency TEXT NOT NULL, profile TEXT NOT NULL, "
                "created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, used_ms INTEGER, "
                "used_by TEXT NOT NULL DEFAULT '')")
    old.execute("INSERT INTO tokens VALUES (x'00', 'n0', 'AZ-BIL', 'SBS', 'p', 1, 2, NULL, '')")
    old.commit()
    old.close()
    store = TokenStore.open(path)
    # The old token declares no types: the hub will refuse to enrol with it (fail closed).
    assert [(g.node_id, g.record_types) for g in store.list()] == [("n0", ())]
    store.close()
