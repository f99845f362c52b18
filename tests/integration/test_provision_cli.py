"""What a technician does, through the CLI and real processes: `provision ca init`, `hub init`
and `hub serve`, `provision serve`, `token create`, `enroll` into an empty folder, then
`edge run` on the written node.toml syncing to the hub over mutual TLS; and every refusal an
attacker would try (reused, expired, unknown, other node's token; a foreign deployment's
token; an impostor service holding the public root; a node id already enrolled; a tampered
proof), each with its exit code and nothing written on the node.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cbor2
import grpc
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from borderlink.hardware_profiles.emulators import Emulator, PtyEndpoint
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.protocols import nmea
from borderlink.hardware_profiles.readings import NmeaFix, RadioStatus
from borderlink.hardware_profiles.simulator.model import Emission
from borderlink.hub.storage import open_storage
from borderlink.proto.chain import verify_chain
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import verify_record
from borderlink.proto.v1 import enrollment_pb2, enrollment_pb2_grpc
from borderlink.provisioning.enroll import pinned_root
from borderlink.provisioning.enrollment_service import REASON_KEY, EnrollmentServer, RateLimiter
from borderlink.provisioning.tokens import Token, TokenStore
from borderlink.provisioning.trust import CaDirectory, init_ca_directory, pem

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edge._mqtt import require_broker, unique_site

pytestmark = pytest.mark.mqtt


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "borderlink", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def wait_for(cond: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@dataclass
class Deployment:
    root: Path
    ca: CaDirectory
    hub_port: int
    enroll_port: int
    site: str

    @property
    def enroll_address(self) -> str:
        return f"127.0.0.1:{self.enroll_port}"

    def token(self, node: str, *, expires: str = "1h", ca_dir: Path | None = None,
              profile: str = "patrol-radio") -> dict[str, str]:
        done = _cli("provision", "token", "create", "--dir", str(ca_dir or self.ca.path),
                    "--node", node, "--site", self.site, "--agency", "SBS", "--profile",
                    profile, "--expires", expires, "--json",
                    "--png", str(self.root / f"{node}-{time.monotonic_ns()}.png"))
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    def enroll(self, token: str, folder: Path, *extra: str,
               address: str | None = None) -> subprocess.CompletedProcess[str]:
        return _cli("provision", "enroll", "--hub", address or self.enroll_address,
                    "--token", token, "--dir", str(folder), *extra)

    def enroll_offline(self, token: str, folder: Path,
                       out: Path) -> subprocess.CompletedProcess[str]:
        return _cli("provision", "enroll", "--offline", "--out", str(out), "--token", token,
                    "--dir", str(folder))

    def hub_node(self, node: str) -> dict[str, object] | None:
        done = _cli("hub", "nodes", "--hub", f"127.0.0.1:{self.hub_port}",
                    "--cert", str(self.root / "hub-admin/admin.pem"),
                    "--key", str(self.root / "hub-admin/admin.key"),
                    "--ca", str(self.root / "hub/ca.pem"), "--json")
        assert done.returncode == 0, done.stderr
        return next((n for n in json.loads(done.stdout) if n["node_id"] == node), None)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require_broker()
    root = tmp_path_factory.mktemp("deployment")
    hub_port, enroll_port = _free_port(), _free_port()
    pw = root / "root-passphrase"
    pw.write_text("kept in the safe\n")
    done = _cli("provision", "ca", "init", "--dir", str(root / "ca"),
                "--root-passphrase-file", str(pw))
    assert done.returncode == 0, done.stderr
    done = _cli("hub", "init", "--dir", str(root / "hub"), "--ca-dir", str(root / "ca"),
                "--listen", f"127.0.0.1:{hub_port}", "--metrics-port", "0")
    assert done.returncode == 0, done.stderr
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    hub = subprocess.Popen([sys.executable, "-m", "borderlink", "hub", "serve", "--config",
                            str(root / "hub/hub.toml")], stderr=(root / "hub.log").open("ab"),
                           stdout=subprocess.DEVNULL, env=env)
    ra = subprocess.Popen([sys.executable, "-m", "borderlink", "provision", "serve", "--dir",
                           str(root / "ca"), "--hub", f"127.0.0.1:{hub_port}", "--listen",
                           f"127.0.0.1:{enroll_port}", "--burst", "100"], stderr=(root / "ra.log").open("ab"),
                          stdout=subprocess.DEVNULL, env=env)
    try:
        wait_for(lambda: _listening(hub_port) and _listening(enroll_port), what="services up")
        yield Deployment(root, CaDirectory(root / "ca"), hub_port, enroll_port, unique_site())
    finally:
        for proc in (ra, hub):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        print((root / "ra.log").read_text()[-4000:])


def _untouched(folder: Path) -> None:
    """A refused enrolment leaves nothing behind."""
    assert not folder.exists() or sorted(p.name for p in folder.iterdir()) == []


def test_an_empty_folder_becomes_a_syncing_node_through_the_cli(deployment: Deployment,
                                                                tmp_path: Path) -> None:
    node = "bil-radio-07"
    token = deployment.token(node)
    assert token["ca_fingerprint"] == deployment.ca.fingerprint
    assert Path(token["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    emulator = Emulator("P1", load_profile("patrol-radio"), PtyEndpoint(tmp_path / "ttyRADIO"))
    emulator.open()
    folder = tmp_path / "node"
    done = deployment.enroll(token["token"], folder, "--device-url", emulator.url(),
                             "--unit-id", "P1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(folder / "node.toml")
    for secret in ("keys/record-signing.pem", "tls/node.key"):
        assert stat.S_IMODE((folder / secret).stat().st_mode) == 0o600
    assert not list(folder.glob(".enroll-*"))
    record_key = SigningKey.read_pem(folder / "keys/record-signing.pem")
    enrolled = deployment.hub_node(node)
    assert enrolled is not None and enrolled["site"] == deployment.site
    assert enrolled["agency"] == "SBS" and enrolled["profile"] == "patrol-radio"
    assert enrolled["keys"][0]["public_key"] == record_key.public.hex()  # type: ignore[index]

    agent = subprocess.Popen(
        [sys.executable, "-m", "borderlink", "edge", "run", "--config", str(folder / "node.toml")],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "agent.log").open("ab"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    storage = open_storage(f"sqlite://{deployment.root / 'hub/hub.db'}")
    try:
        def device_connected() -> bool:
            try:
                st = json.loads((folder / "state/status.json").read_text())
            except (OSError, ValueError):
                return False
            return bool(st["device"]["state"] == "connected")

        wait_for(device_connected, what="device connected")
        t0 = time.time()
        for i in range(1, 4):
            fix = NmeaFix(t=t0 + 10 * i, unit_id="P1", lat=39.46 + i * 1e-4, lon=48.5,
                          valid=True, sentence="RMC", speed_kn=3.0, course_deg=0.0)
            emulator.emit(Emission(time.time(), "P1", (fix,), nmea.encode_rmc(fix)))
        alarm = RadioStatus(t=t0 + 50, unit_id="P1", emergency=True, state="emergency",
                            lat=39.46, lon=48.5)
        emulator.emit(Emission(time.time(), "P1", (alarm,), nmea.encode_status(alarm)))

        def positions() -> list[str]:
            head = storage.chain_head(node).seq
            rows = [storage.get_record(node, s) for s in range(1, head + 1)]
            return [verify_record(r.record, record_key.public).record.record_type
                    for r in rows if r is not None]

        wait_for(lambda: "radio.emergency" in positions(), what="records at the hub")
        head = storage.chain_head(node).seq
        records = [verify_record(storage.get_record(node, s).record,  # type: ignore[union-attr]
                                 record_key.public).record for s in range(1, head + 1)]
        assert verify_chain(records, node).ok
        assert records[0].record_type == "node.boot" and records[0].site == deployment.site
    finally:
        agent.terminate()
        agent.wait(15)
        storage.close()
        emulator.close()
        print((tmp_path / "agent.log").read_text()[-4000:])


def test_refusals_as_an_attacker_tries_them(deployment: Deployment, tmp_path: Path) -> None:
    def refused(result: subprocess.CompletedProcess[str], code: int, reason: str,
                folder: Path) -> None:
        assert result.returncode == code, (result.returncode, result.stderr)
        assert reason in result.stderr
        _untouched(folder)

    # The genuine enrolment, then the same token again (replay): refused, token-used.
    first = deployment.token("bil-doc-01")
    assert deployment.enroll(first["token"], tmp_path / "a").returncode == 0
    refused(deployment.enroll(first["token"], tmp_path / "b"), 12, "token-used", tmp_path / "b")

    # A second valid token for the enrolled id: the hub refuses, node-exists.
    again = deployment.token("bil-doc-01")
    refused(deployment.enroll(again["token"], tmp_path / "c"), 15, "node-exists",
            tmp_path / "c")

    # A token for one node used to claim another id.
    other = deployment.token("bil-doc-02")
    refused(deployment.enroll(other["token"], tmp_path / "d", "--node", "bil-doc-99"), 13,
            "token-other-node", tmp_path / "d")
    assert deployment.hub_node("bil-doc-99") is None
    # ... and the token is still good for its own node.
    assert deployment.enroll(other["token"], tmp_path / "d").returncode == 0

    # A guessed secret with the right fingerprint.
    guessed = str(Token("bil-doc-03", os.urandom(20), deployment.ca.fingerprint))
    refused(deployment.enroll(guessed, tmp_path / "e"), 10, "token-unknown", tmp_path / "e")

    # An expired token.
    short = deployment.token("bil-doc-04", expires="1s")
    expiry = time.time() + 1.0
    wait_for(lambda: time.time() > expiry + 0.2, what="token expiry")
    refused(deployment.enroll(short["token"], tmp_path / "f"), 11, "token-expired",
            tmp_path / "f")

    # A token of another deployment (its own root) against this service: not our hub.
    foreign = init_ca_directory(tmp_path / "foreign-ca")
    alien = deployment.token("bil-doc-05", ca_dir=foreign.path)
    refused(deployment.enroll(alien["token"], tmp_path / "g"), 14, "ca-mismatch",
            tmp_path / "g")
    # A --ca-fingerprint that disagrees with the token's.
    good = deployment.token("bil-doc-06")
    refused(deployment.enroll(good["token"], tmp_path / "h", "--ca-fingerprint",
                              foreign.fingerprint), 14, "ca-mismatch", tmp_path / "h")

    # An impostor service that presents the deployment's (public) root beside a certificate
    # of its own CA: the fingerprint is found, the TLS handshake under it fails.
    impostor = EnrollmentServer.create(
        tokens=TokenStore.open(tmp_path / "impostor.db"), issuing=foreign.issuing(),
        root=deployment.ca.root_certificate, trust_pem=deployment.ca.trust_pem,
        hub_address=f"127.0.0.1:{deployment.hub_port}", node_hub_addresses=(),
        listen="127.0.0.1:0")
    port = impostor.start()
    try:
        assert pinned_root(f"127.0.0.1:{port}", deployment.ca.fingerprint) == \
            deployment.ca.root_certificate
        refused(deployment.enroll(good["token"], tmp_path / "i", address=f"127.0.0.1:{port}"),
                14, "ca-mismatch", tmp_path / "i")
    finally:
        impostor.stop()
    # The secret never reached the impostor: the token still works at the real service.
    assert deployment.enroll(good["token"], tmp_path / "j").returncode == 0

    # A folder that already holds a node is never overwritten.
    fresh = deployment.token("bil-doc-07")
    before = (tmp_path / "j/node.toml").read_bytes()
    result = deployment.enroll(fresh["token"], tmp_path / "j")
    assert result.returncode == 16 and "node-configured" in result.stderr
    assert (tmp_path / "j/node.toml").read_bytes() == before

    # A request whose record-key proof does not verify (keys swapped in transit).
    token = Token.parse(fresh["token"])
    root = pinned_root(deployment.enroll_address, deployment.ca.fingerprint)
    creds = grpc.ssl_channel_credentials(root_certificates=pem(root))
    with grpc.secure_channel(deployment.enroll_address, creds) as channel:
        with pytest.raises(grpc.RpcError) as exc:
            enrollment_pb2_grpc.EnrollmentStub(channel).Enroll(enrollment_pb2.EnrollRequest(
                token_secret=token.secret, node_id="bil-doc-07",
                record_public_key=SigningKey.generate().public, record_key_proof=b"\0" * 64,
                tls_csr_der=b"not a csr"), timeout=10)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert dict(exc.value.trailing_metadata())[REASON_KEY] == "bad-request"
    assert deployment.enroll(fresh["token"], tmp_path / "k").returncode == 0  # not used up


def test_attempts_are_rate_limited_per_peer(deployment: Deployment, tmp_path: Path) -> None:
    limited = EnrollmentServer.create(
        tokens=TokenStore.open(deployment.ca.path / "tokens.db"), issuing=deployment.ca.issuing(),
        root=deployment.ca.root_certificate, trust_pem=deployment.ca.trust_pem,
        hub_address=f"127.0.0.1:{deployment.hub_port}", node_hub_addresses=(),
        listen="127.0.0.1:0", limiter=RateLimiter(per_minute=0.001, burst=2))
    port = limited.start()
    try:
        guesses = [str(Token("bil-x", os.urandom(20), deployment.ca.fingerprint))
                   for _ in range(3)]
        codes = [deployment.enroll(g, tmp_path / f"n{i}", address=f"127.0.0.1:{port}")
                 for i, g in enumerate(guesses)]
        assert [c.returncode for c in codes] == [10, 10, 17]
        assert "rate-limited" in codes[2].stderr
        # Rate-limited even with a genuine token, which stays usable elsewhere.
        real = deployment.token("bil-rate-01")
        assert deployment.enroll(real["token"], tmp_path / "r",
                                 address=f"127.0.0.1:{port}").returncode == 17
        assert deployment.enroll(real["token"], tmp_path / "r").returncode == 0
    finally:
        limited.stop()


def test_air_gapped_node_through_a_request_and_a_signed_bundle(deployment: Deployment,
                                                               tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    hub = f"127.0.0.1:{deployment.hub_port}"

    def offline_request(node: str) -> tuple[Path, Path]:
        folder, req = tmp_path / node, usb / f"{node}.req"
        done = deployment.enroll_offline(deployment.token(node)["token"], folder, req)
        assert done.returncode == 0, done.stderr
        return folder, req

    folder, req = offline_request("bil-lab-01")
    assert not (folder / "node.toml").exists()
    assert stat.S_IMODE((folder / "pending/record-signing.pem").stat().st_mode) == 0o600
    assert b"PRIVATE" not in req.read_bytes()
    bundle = usb / "bil-lab-01.bundle"
    done = _cli("provision", "sign-request", str(req), "--dir", str(deployment.ca.path),
                "--out", str(bundle), "--hub", hub)
    assert done.returncode == 0, done.stderr
    assert deployment.hub_node("bil-lab-01") is not None
    # The request replayed at the CA: its token is used.
    again = _cli("provision", "sign-request", str(req), "--dir", str(deployment.ca.path),
                 "--out", str(usb / "again.bundle"), "--hub", hub)
    assert again.returncode == 12 and "token-used" in again.stderr

    def install(path: Path, into: Path = folder) -> subprocess.CompletedProcess[str]:
        return _cli("provision", "enroll", "--bundle", str(path), "--dir", str(into))

    def nothing_installed(into: Path = folder) -> None:
        assert sorted(p.name for p in into.iterdir()) == ["pending"]

    # Tampered: one byte of the manifest changed (the site), signature kept.
    doc = cbor2.loads(bundle.read_bytes())
    manifest = cbor2.loads(doc["manifest"])
    forged = dict(doc, manifest=cbor2.dumps({**manifest, "site": "AZ-OTHER"}, canonical=True))
    (usb / "tampered.bundle").write_bytes(cbor2.dumps(forged))
    result = install(usb / "tampered.bundle")
    assert result.returncode == 19 and "bundle-invalid" in result.stderr
    nothing_installed()
    # Foreign: the genuine manifest re-signed by another CA's issuing key.
    foreign = init_ca_directory(tmp_path / "foreign-ca").issuing()
    resigned = {"manifest": doc["manifest"],
                "signature": foreign.key.sign(doc["manifest"],  # type: ignore[call-arg,union-attr]
                                              ec.ECDSA(hashes.SHA256())),
                "signer": foreign.certificate.public_bytes(Encoding.DER)}
    (usb / "foreign.bundle").write_bytes(cbor2.dumps(resigned))
    result = install(usb / "foreign.bundle")
    assert result.returncode == 19 and "bundle-invalid" in result.stderr
    nothing_installed()
    (usb / "garbage.bundle").write_bytes(b"\xff not cbor")
    assert install(usb / "garbage.bundle").returncode == 19
    nothing_installed()
    # Another node's genuine bundle.
    other_folder, other_req = offline_request("bil-lab-02")
    other_bundle = usb / "bil-lab-02.bundle"
    assert _cli("provision", "sign-request", str(other_req), "--dir", str(deployment.ca.path),
                "--out", str(other_bundle), "--hub", hub).returncode == 0
    result = install(other_bundle)
    assert result.returncode == 20 and "bundle-other-node" in result.stderr
    nothing_installed()
    # No pending request at all.
    assert install(bundle, tmp_path / "empty").returncode == 21

    # The genuine bundle: installed, pending gone, and the node syncs from record 1.
    result = install(bundle)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["keys", "node.toml", "tls"]
    record_key = SigningKey.read_pem(folder / "keys/record-signing.pem")
    agent = subprocess.Popen(
        [sys.executable, "-m", "borderlink", "edge", "run", "--config", str(folder / "node.toml")],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "agent.log").open("ab"))
    storage = open_storage(f"sqlite://{deployment.root / 'hub/hub.db'}")
    try:
        wait_for(lambda: storage.chain_head("bil-lab-01").seq >= 1, what="record 1 at the hub")
        first = storage.get_record("bil-lab-01", 1)
        assert first is not None
        assert verify_record(first.record, record_key.public).record.record_type == "node.boot"
    finally:
        agent.terminate()
        agent.wait(15)
        storage.close()
