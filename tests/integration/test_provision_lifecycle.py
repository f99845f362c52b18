"""The life of an enrolled node through the CLI, against the real ``hub serve`` and
``provision serve`` processes.

* ``provision revoke``: one command, after which the node's own TLS certificate is refused by
  the hub and a record its key signed is refused as REVOKED even over a TLS identity the CRL
  does not cover; idempotent, a revocation whose hub step fails says it is half done and
  finishes when run again, and bad input changes nothing.
* ``provision renew``: a new TLS key and certificate without a token; the chain keeps syncing
  under it, the old private key is gone; revoked, expired, foreign and wrong-key renewals are
  refused with their exit codes and nothing switched.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from borderlink.proto.identity import Identity, Role
from borderlink.proto.keys import SigningKey
from borderlink.proto.record_types import default_registry
from borderlink.proto.v1 import GRPC_MESSAGE_OPTIONS, sync_pb2
from borderlink.provisioning.ca import IssuedCertificate, cert_from_pem, crl_from_pem, key_from_pem
from borderlink.provisioning.trust import CaDirectory, pem

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hub.hubkit import Stream, TestNode, envelope

BOOT = {"software": "borderlink test", "profile": "patrol-radio"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "borderlink", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def _wait(cond: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@dataclass
class Site:
    root: Path
    hub_port: int
    enroll_port: int

    @property
    def ca(self) -> CaDirectory:
        return CaDirectory(self.root / "ca")

    @property
    def crl(self) -> Path:
        return self.root / "hub/crl.pem"

    def admin(self, hub: str | None = None) -> list[str]:
        a = self.root / "hub-admin"
        return ["--hub", hub or f"127.0.0.1:{self.hub_port}", "--cert", str(a / "admin.pem"),
                "--key", str(a / "admin.key"), "--ca", str(self.root / "hub/ca.pem")]

    def revoke(self, node: str, *extra: str, hub: str | None = None,
               crl: Path | None = None) -> subprocess.CompletedProcess[str]:
        return _cli("provision", "revoke", "--node", node, "--reason", "stolen from the lane",
                    "--ca-dir", str(self.ca.path), "--crl", str(crl or self.crl),
                    *self.admin(hub), *extra)

    def enrolled(self, node: str) -> Path:
        done = _cli("provision", "token", "create", "--dir", str(self.ca.path), "--node", node,
                    "--site", "AZ-BIL", "--agency", "SBS", "--profile", "patrol-radio",
                    "--record-types", "radio.position", "--json", "--no-qr")
        assert done.returncode == 0, done.stderr
        folder = self.root / node
        done = _cli("provision", "enroll", "--hub", f"127.0.0.1:{self.enroll_port}", "--token",
                    json.loads(done.stdout)["token"], "--dir", str(folder))
        assert done.returncode == 0, done.stderr
        return folder

    def hub_node(self, node: str) -> dict[str, object]:
        done = _cli("hub", "nodes", *self.admin(), "--include-revoked", "--json")
        assert done.returncode == 0, done.stderr
        return next(n for n in json.loads(done.stdout) if n["node_id"] == node)

    def channel(self, chain_pem: bytes, key_pem: bytes) -> grpc.Channel:
        creds = grpc.ssl_channel_credentials((self.root / "hub/ca.pem").read_bytes(), key_pem,
                                             chain_pem)
        return grpc.secure_channel(f"127.0.0.1:{self.hub_port}", creds,
                                   options=GRPC_MESSAGE_OPTIONS)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("revoke")
    hub_port, enroll_port = _free_port(), _free_port()
    assert _cli("provision", "ca", "init", "--dir", str(root / "ca")).returncode == 0
    done = _cli("hub", "init", "--dir", str(root / "hub"), "--ca-dir", str(root / "ca"),
                "--listen", f"127.0.0.1:{hub_port}", "--metrics-port", "0")
    assert done.returncode == 0, done.stderr
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    hub = subprocess.Popen([sys.executable, "-m", "borderlink", "hub", "serve", "--config",
                            str(root / "hub/hub.toml")], stderr=(root / "hub.log").open("ab"),
                           stdout=subprocess.DEVNULL, env=env)
    ra = subprocess.Popen([sys.executable, "-m", "borderlink", "provision", "serve", "--dir",
                           str(root / "ca"), "--hub", f"127.0.0.1:{hub_port}", "--listen",
                           f"127.0.0.1:{enroll_port}", "--burst", "100"],
                          stderr=(root / "ra.log").open("ab"), stdout=subprocess.DEVNULL,
                          env=env)
    try:
        _wait(lambda: _listening(hub_port) and _listening(enroll_port), "services up")
        yield Site(root, hub_port, enroll_port)
    finally:
        for proc in (ra, hub):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        print((root / "hub.log").read_text()[-3000:])


def _node(folder: Path, cert: IssuedCertificate | None = None) -> TestNode:
    """The enrolled node as the hub's test kit drives it: its own record key and (unless
    *cert* is given) its own TLS certificate, as ``provision enroll`` wrote them."""
    key = SigningKey.read_pem(folder / "keys/record-signing.pem")
    own = IssuedCertificate(cert_from_pem((folder / "tls/node.pem").read_bytes()),
                            key_from_pem((folder / "tls/node.key").read_bytes()))
    return TestNode(folder.name, key, cert or own, registry=default_registry(),
                    profile="patrol-radio", t0=int(time.time() * 1000) - 5_000)


def _stream(site: Site, node: TestNode, chain_pem: bytes) -> Stream:
    stream = Stream(site.channel(chain_pem, node.cert.key_pem()))
    stream.hello(node, journal_seq=node.chain.next_seq - 1)
    return stream


def test_one_command_revokes_the_certificate_and_the_record_key(site: Site) -> None:
    folder = site.enrolled("bil-radio-31")
    node = _node(folder)
    own_chain = (folder / "tls/node.pem").read_bytes()
    stream = _stream(site, node, own_chain)
    stream.until("resume")
    stream.batch(1, [envelope(node.record("node.boot", BOOT))])
    ack, _ = stream.until("ack")
    assert ack.ack.highest_contiguous_seq == 1
    stream.close()

    done = site.revoke(node.node_id, "--compromised-since", "2026-01-01T00:00:00Z")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    serial = f"{node.cert.certificate.serial_number:x}"
    assert out["certificates_revoked"] == [serial] and out["certificates_already_revoked"] == []
    assert out["kid"] == node.key.kid.hex()
    crl = crl_from_pem(site.crl.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(node.cert.certificate.serial_number)
    info = site.hub_node(node.node_id)
    assert info["revoked_at_ms"] == 1767225600000  # the compromise time given

    # Its own certificate: refused by the hub at the next connection.
    refused = _stream(site, node, own_chain)
    err = refused.ended(10)
    assert err is not None and err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in (err.details() or "")

    # Its record key, even over a TLS identity the CRL does not cover (a certificate the
    # register never saw): the record is refused as REVOKED, nothing stored.
    other = site.ca.issuing().issue(Identity(Role.NODE, node.node_id))
    thief = _node(folder, other)
    thief.chain = node.chain
    stream = _stream(site, thief, pem(other.certificate, site.ca.issuing_certificate))
    stream.until("resume")
    stream.batch(2, [envelope(thief.record("node.boot", BOOT))])
    rej, _ = stream.until("reject")
    assert rej.reject.reason == sync_pb2.REJECT_REASON_REVOKED, rej
    stream.cancel()
    assert site.hub_node(node.node_id)["last_seq"] == 1

    # Run again: idempotent (nothing added to the CRL, the hub's date kept).
    again = site.revoke(node.node_id)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["certificates_revoked"] == [] and second["certificates_already_revoked"] == [serial]
    assert len(list(crl_from_pem(site.crl.read_bytes()))) == len(list(crl))
    assert site.hub_node(node.node_id)["revoked_at_ms"] == 1767225600000


def test_a_half_done_revocation_is_reported_and_finished_by_running_it_again(site: Site) -> None:
    folder = site.enrolled("bil-radio-32")
    cert = x509.load_pem_x509_certificate((folder / "tls/node.pem").read_bytes())

    # The hub unreachable: the CRL is written (the node is cut off), the key is not revoked.
    down = site.revoke("bil-radio-32", hub=f"127.0.0.1:{_free_port()}")
    assert down.returncode == 3, down.stderr
    last = down.stderr.strip().splitlines()[-1]
    assert "revocation half done" in last and "run the same command again" in last
    assert "Traceback" not in down.stderr
    assert crl_from_pem(site.crl.read_bytes()).get_revoked_certificate_by_serial_number(
        cert.serial_number)
    assert site.hub_node("bil-radio-32")["revoked_at_ms"] is None

    # Run again with the hub there: finished, the CRL entry not doubled.
    done = site.revoke("bil-radio-32")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["certificates_already_revoked"] == [f"{cert.serial_number:x}"]
    assert site.hub_node("bil-radio-32")["revoked_at_ms"] is not None
    serials = [r.serial_number for r in crl_from_pem(site.crl.read_bytes())]
    assert serials.count(cert.serial_number) == 1

    # The hub refusing (a node the CA issued for but the hub never enrolled): exit 22.
    stray = site.ca.issuing().issue(Identity(Role.NODE, "bil-radio-99"))
    site.ca.record_issued(stray.certificate)
    refused = site.revoke("bil-radio-99")
    assert refused.returncode == 22, refused.stderr
    assert "half done" in refused.stderr and "NOT_FOUND" in refused.stderr


def test_bad_input_changes_nothing(site: Site, tmp_path: Path) -> None:
    folder = site.enrolled("bil-radio-33")
    before = site.crl.read_bytes()

    def nothing_changed(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
        assert result.returncode == code, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and text in lines[0], result.stderr
        assert site.crl.read_bytes() == before
        assert site.hub_node("bil-radio-33")["revoked_at_ms"] is None

    nothing_changed(site.revoke("bil-nobody-01"), 2, "no certificate of node bil-nobody-01")
    nothing_changed(site.revoke("bil-radio-33", crl=tmp_path / "typo.pem"), 2, "typo.pem")
    nothing_changed(site.revoke("bil-radio-33", "--compromised-since", "2999-01-01T00:00Z"), 2,
                    "in the future")
    nothing_changed(site.revoke("bil-radio-33", "--compromised-since", "last tuesday"), 2,
                    "ISO 8601")
    other = site.enrolled("bil-radio-34")
    nothing_changed(site.revoke("bil-radio-33", "--node-cert", str(other / "tls/node.pem")), 2,
                    "names borderlink://node/bil-radio-34")
    foreign = tmp_path / "foreign-ca"
    assert _cli("provision", "ca", "init", "--dir", str(foreign)).returncode == 0
    alien = tmp_path / "alien-crl.pem"
    assert _cli("provision", "crl", "--dir", str(foreign), "--out", str(alien)).returncode == 0
    nothing_changed(site.revoke("bil-radio-33", crl=alien), 2, "not signed by this CA")
    assert (folder / "node.toml").exists()


def _tls_pair(folder: Path) -> tuple[Path, Path]:
    doc = tomllib.loads((folder / "node.toml").read_text())
    return folder / doc["tls"]["cert"], folder / doc["tls"]["key"]


def test_a_renewed_certificate_keeps_syncing_and_the_old_key_is_retired(site: Site) -> None:
    folder = site.enrolled("bil-radio-41")
    node = _node(folder)
    stream = _stream(site, node, (folder / "tls/node.pem").read_bytes())
    stream.until("resume")
    stream.batch(1, [envelope(node.record("node.boot", BOOT))])
    assert stream.until("ack")[0].ack.highest_contiguous_seq == 1
    stream.close()
    old = x509.load_pem_x509_certificate((folder / "tls/node.pem").read_bytes())

    done = _cli("provision", "renew", "--hub", f"127.0.0.1:{site.enroll_port}", "--dir",
                str(folder))
    assert done.returncode == 0, done.stderr
    cert_path, key_path = _tls_pair(folder)
    assert done.stdout.strip() == str(cert_path) and cert_path.name != "node.pem"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert not (folder / "tls/node.key").exists()  # the old private key is gone
    assert (folder / "tls/retired/node.pem").read_bytes().startswith(b"-----BEGIN CERT")
    new = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert new.serial_number != old.serial_number and new.public_key() != old.public_key()
    assert new.subject == old.subject  # same node, site and agency
    assert {c.serial_number for c in site.ca.issued_to(Identity(Role.NODE, node.node_id))} \
        == {old.serial_number, new.serial_number}  # revoke finds both

    # The new pair: the chain goes on from where it was.
    renewed = IssuedCertificate(new, key_from_pem(key_path.read_bytes()))
    node.cert = renewed
    stream = _stream(site, node, cert_path.read_bytes())
    resume, _ = stream.until("resume")
    assert resume.resume.next_seq == 2
    stream.batch(2, [envelope(node.record("node.boot", BOOT))])
    assert stream.until("ack")[0].ack.highest_contiguous_seq == 2
    stream.close()
    # ... and renewing again works from the renewed files.
    assert _cli("provision", "renew", "--hub", f"127.0.0.1:{site.enroll_port}", "--dir",
                str(folder)).returncode == 0


def test_renewal_refusals(site: Site, tmp_path: Path) -> None:
    def renew(folder: Path) -> subprocess.CompletedProcess[str]:
        return _cli("provision", "renew", "--hub", f"127.0.0.1:{site.enroll_port}", "--dir",
                    str(folder))

    def refused(folder: Path, code: int, reason: str) -> None:
        before = (folder / "node.toml").read_bytes()
        result = renew(folder)
        assert result.returncode == code, (result.returncode, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and reason in lines[0], result.stderr
        assert (folder / "node.toml").read_bytes() == before  # nothing switched

    # A revoked node.
    folder = site.enrolled("bil-radio-42")
    assert site.revoke("bil-radio-42").returncode == 0
    refused(folder, 25, "node-revoked")

    # An expired certificate needs a new token.
    folder = site.enrolled("bil-radio-43")
    now = dt.datetime.now(dt.UTC)
    record_key = SigningKey.read_pem(folder / "keys/record-signing.pem")
    expired = site.ca.issuing().issue(Identity(Role.NODE, "bil-radio-43"),
                                      not_before=now - dt.timedelta(days=91),
                                      not_after=now - dt.timedelta(days=1))
    (folder / "tls/node.pem").write_bytes(pem(expired.certificate, site.ca.issuing_certificate))
    (folder / "tls/node.key").write_bytes(expired.key_pem())
    refused(folder, 23, "cert-expired")

    # A record key that is not the one the hub holds (a stolen TLS key alone renews nothing).
    folder = site.enrolled("bil-radio-44")
    SigningKey.generate().write_pem(tmp_path / "other.pem")
    os.replace(tmp_path / "other.pem", folder / "keys/record-signing.pem")
    refused(folder, 18, "bad-request")
    del record_key

    # A certificate of another deployment.
    foreign = tmp_path / "foreign-ca"
    assert _cli("provision", "ca", "init", "--dir", str(foreign)).returncode == 0
    folder = site.enrolled("bil-radio-45")
    alien = CaDirectory(foreign).issuing().issue(Identity(Role.NODE, "bil-radio-45"))
    (folder / "tls/node.pem").write_bytes(pem(alien.certificate))
    (folder / "tls/node.key").write_bytes(alien.key_pem())
    refused(folder, 18, "bad-request")

    # Not a node's folder.
    result = renew(tmp_path / "empty")
    assert result.returncode == 2 and "not-a-node" in result.stderr


def test_list_shows_status_key_and_certificate_expiry_soonest_first(site: Site) -> None:
    soon_folder, later_folder = site.enrolled("bil-radio-51"), site.enrolled("bil-radio-52")
    assert site.revoke("bil-radio-52").returncode == 0
    # bil-radio-51's newest certificate expires in 5 days (a renewal with a short lifetime).
    short = site.ca.issuing().issue(Identity(Role.NODE, "bil-radio-51"), valid_days=5)
    site.ca.record_issued(short.certificate)

    def listed(*extra: str) -> subprocess.CompletedProcess[str]:
        return _cli("provision", "list", "--ca-dir", str(site.ca.path), *site.admin(), *extra)

    done = listed("--json")
    assert done.returncode == 0, done.stderr
    rows = {r["node_id"]: r for r in json.loads(done.stdout)}
    order = [r["node_id"] for r in json.loads(done.stdout)]
    assert order[0] == "bil-radio-51"  # the soonest expiry first
    soon, later = rows["bil-radio-51"], rows["bil-radio-52"]
    assert soon["cert_serial"] == f"{short.certificate.serial_number:x}"
    assert soon["cert_warning"] is True and 4 < soon["cert_days_left"] <= 5
    assert soon["status"] == "active" and later["status"] == "revoked"
    assert later["cert_warning"] is False and 89 < later["cert_days_left"] <= 90
    assert soon["kid"] == SigningKey.read_pem(
        soon_folder / "keys/record-signing.pem").kid.hex()
    assert later["revoked_at"] is not None and later_folder.exists()

    text = listed()
    assert text.returncode == 0, text.stderr
    line = next(ln for ln in text.stdout.splitlines() if ln.startswith("bil-radio-51"))
    assert "!" in line and "\x1b[" not in text.stdout  # marked; no colour off a terminal
    assert "bil-radio-52" not in listed("--active-only").stdout

    down = _cli("provision", "list", *site.admin(hub=f"127.0.0.1:{_free_port()}"))
    assert down.returncode == 3 and "Traceback" not in down.stderr
    assert len(down.stderr.strip().splitlines()) == 1
