"""The certificate authority: issuing, identities, files, revocation (no network)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from borderlink.provisioning.ca import (
    CertificateAuthority,
    Identity,
    IssuedCertificate,
    Role,
    crl_from_pem,
    crl_to_pem,
    identity_of,
    is_revoked,
)
from borderlink.provisioning.errors import (
    CertificateFileError,
    CertificateRejected,
    IdentityError,
    ProvisioningError,
)


def _ext(cert: x509.Certificate, cls: type) -> object:
    return cert.extensions.get_extension_for_class(cls).value


def test_ca_certificate_is_a_ca(ca: CertificateAuthority) -> None:
    bc = _ext(ca.certificate, x509.BasicConstraints)
    assert bc.ca is True and bc.path_length == 0
    assert _ext(ca.certificate, x509.KeyUsage).key_cert_sign


def test_hub_certificate_names_localhost_and_loopback(ca: CertificateAuthority) -> None:
    hub = ca.issue_hub()
    san = _ext(hub.certificate, x509.SubjectAlternativeName)
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert list(_ext(hub.certificate, x509.ExtendedKeyUsage)) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert hub.identity == Identity(Role.HUB, "hub")
    ca.verify(hub.certificate)


@pytest.mark.parametrize(
    ("issue", "arg", "uri"),
    [
        ("issue_node", "bil-dr-01", "borderlink://node/bil-dr-01"),
        ("issue_agency", "SBS", "borderlink://agency/SBS"),
        ("issue_agency", "SMS", "borderlink://agency/SMS"),
        ("issue_admin", "tech.aliyev", "borderlink://admin/tech.aliyev"),
    ],
)
def test_client_certificates_carry_their_identity(
    ca: CertificateAuthority, issue: str, arg: str, uri: str
) -> None:
    leaf: IssuedCertificate = getattr(ca, issue)(arg)
    san = _ext(leaf.certificate, x509.SubjectAlternativeName)
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [uri]
    assert list(_ext(leaf.certificate, x509.ExtendedKeyUsage)) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert _ext(leaf.certificate, x509.BasicConstraints).ca is False
    assert identity_of(leaf.certificate).uri == uri
    assert ca.verify(leaf.certificate).uri == uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("borderlink://node/bil-dr-01", Identity(Role.NODE, "bil-dr-01")),
        ("borderlink://agency/SCC", Identity(Role.AGENCY, "SCC")),
        ("borderlink://admin/a_b", Identity(Role.ADMIN, "a_b")),
    ],
)
def test_identity_parse(uri: str, expected: Identity) -> None:
    assert Identity.parse(uri) == expected
    assert expected.uri == uri


@pytest.mark.parametrize(
    "uri",
    [
        "https://node/x",  # other scheme
        "borderlink://node",  # no name
        "borderlink://robot/x",  # unknown role
        "borderlink://agency/FBI",  # unknown agency
        "borderlink://node/",  # empty name
        "borderlink://node/a/b",  # slash in name
        "borderlink://node/" + "x" * 65,  # too long
        "borderlink://node/-x",  # must start alphanumeric
    ],
)
def test_identity_parse_refuses(uri: str) -> None:
    with pytest.raises(IdentityError):
        Identity.parse(uri)


def test_bad_names_are_refused_when_issuing(ca: CertificateAuthority) -> None:
    with pytest.raises(IdentityError, match="agency"):
        ca.issue_agency("CIA")
    with pytest.raises(IdentityError, match="node name"):
        ca.issue_node("has space")
    with pytest.raises(IdentityError, match="IP"):
        ca.issue_hub(ip_addresses=["not-an-ip"])


def test_ca_save_and_load_round_trip_with_private_key_mode_0600(tmp_path: Path) -> None:
    ca = CertificateAuthority.create("file CA")
    cert_path, key_path = tmp_path / "ca.pem", tmp_path / "ca-key.pem"
    key_path.write_bytes(b"old")
    key_path.chmod(0o644)  # an existing wider file is narrowed
    ca.save(cert_path, key_path, passphrase=b"s3cret")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert b"ENCRYPTED" in key_path.read_bytes()
    loaded = CertificateAuthority.load(cert_path, key_path, passphrase=b"s3cret")
    assert loaded.certificate == ca.certificate
    # The loaded CA issues certificates the original verifies.
    ca.verify(loaded.issue_node("n-1").certificate)
    with pytest.raises(CertificateFileError):
        CertificateAuthority.load(cert_path, key_path, passphrase=b"wrong")
    with pytest.raises(CertificateFileError):
        CertificateAuthority.load(cert_path, key_path)  # passphrase missing


def test_ca_load_refuses_a_key_of_another_certificate(tmp_path: Path) -> None:
    a, b = CertificateAuthority.create("a"), CertificateAuthority.create("b")
    a.save(tmp_path / "a.pem", tmp_path / "a-key.pem")
    b.save(tmp_path / "b.pem", tmp_path / "b-key.pem")
    with pytest.raises(CertificateFileError, match="does not belong"):
        CertificateAuthority.load(tmp_path / "a.pem", tmp_path / "b-key.pem")


def test_leaf_save_and_load(ca: CertificateAuthority, tmp_path: Path) -> None:
    node = ca.issue_node("bil-rpm-03")
    node.save(tmp_path / "node.pem", tmp_path / "node-key.pem")
    assert stat.S_IMODE((tmp_path / "node-key.pem").stat().st_mode) == 0o600
    assert b"ENCRYPTED" not in (tmp_path / "node-key.pem").read_bytes()
    again = IssuedCertificate.load(tmp_path / "node.pem", tmp_path / "node-key.pem")
    assert again.certificate == node.certificate
    assert again.key_pem() == node.key_pem()


def test_garbage_files_raise_file_errors(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    (tmp_path / "k.pem").write_bytes(b"nope")
    with pytest.raises(CertificateFileError):
        IssuedCertificate.load(tmp_path / "c.pem", tmp_path / "k.pem")
    with pytest.raises(CertificateFileError):
        crl_from_pem(b"not a crl")
    assert issubclass(CertificateFileError, ProvisioningError)


def test_revoke_builds_a_crl_that_grows(ca: CertificateAuthority) -> None:
    n1, n2, n3 = (ca.issue_node(f"n-{i}") for i in range(3))
    crl = ca.revoke(n1.certificate)
    crl = crl_from_pem(crl_to_pem(ca.revoke(n2.certificate, crl)))
    assert is_revoked(crl, n1.certificate) and is_revoked(crl, n2.certificate)
    assert not is_revoked(crl, n3.certificate)
    ca.check_crl(crl)
    with pytest.raises(CertificateRejected, match="revoked"):
        ca.verify(n1.certificate, crl=crl)
    assert ca.verify(n3.certificate, crl=crl).name == "n-2"


def test_crl_of_another_ca_is_refused(ca: CertificateAuthority) -> None:
    other = CertificateAuthority.create("borderlink test CA")
    node = ca.issue_node("n-9")
    forged = other.crl([(node.certificate.serial_number, dt.datetime.now(dt.UTC))])
    with pytest.raises(CertificateRejected, match="CRL"):
        ca.verify(node.certificate, crl=forged)
    with pytest.raises(CertificateRejected, match="not issued by this CA"):
        ca.revoke(other.issue_node("x").certificate)


def test_verify_refuses_other_ca_and_dates(ca: CertificateAuthority) -> None:
    other = CertificateAuthority.create("borderlink test CA")  # same subject name
    with pytest.raises(CertificateRejected, match="not signed"):
        ca.verify(other.issue_node("n").certificate)
    now = dt.datetime.now(dt.UTC)
    expired = ca.issue_node(
        "n", not_before=now - dt.timedelta(days=2), not_after=now - dt.timedelta(days=1)
    )
    with pytest.raises(CertificateRejected, match="valid"):
        ca.verify(expired.certificate)
    future = ca.issue_node("n", not_before=now + dt.timedelta(days=1))
    with pytest.raises(CertificateRejected, match="valid"):
        ca.verify(future.certificate)
