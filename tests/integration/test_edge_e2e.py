"""End to end: emulator on a real pty -> `borderlink edge run` (a real process) -> Mosquitto
(a subscriber sees the alert) and the real hub (HubServer over mutual TLS, SQLite storage);
the link is cut and restored, the agent is killed with SIGKILL and restarted; every record the
hub holds verifies, the chain has no gap, fork or duplicate.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from borderlink.edge.downlink import sign_downlink
from borderlink.edge.journal import read_stats
from borderlink.hardware_profiles.emulators import Emulator, PtyEndpoint
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.protocols import nmea
from borderlink.hardware_profiles.readings import NmeaFix, RadioStatus
from borderlink.hardware_profiles.simulator.model import Emission
from borderlink.hub.auth import PeerAuth
from borderlink.hub.server import HubServer
from borderlink.hub.storage import open_storage
from borderlink.hub.sync_service import SyncLimits
from borderlink.proto.chain import verify_chain
from borderlink.proto.checkpoint import NoteSigner
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import decode_record, verify_record
from borderlink.proto.record_types import default_registry
from borderlink.proto.v1 import GRPC_MESSAGE_OPTIONS, admin_pb2, admin_pb2_grpc, sync_pb2
from borderlink.provisioning.ca import CertificateAuthority

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edge._mqtt import Subscriber, require_broker, unique_site

pytestmark = pytest.mark.mqtt

NODE = "bil-radio-01"
ORIGIN = "borderlink.example/AZ/log"


def wait_for(cond: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class RealHub:
    """The hub's own server (borderlink.hub.server.HubServer) on one port and SQLite file."""

    def __init__(self, ca: CertificateAuthority, db: Path) -> None:
        self.ca = ca
        self.cert = ca.issue_hub()
        self.admin_cert = ca.issue_admin("tech1")
        self.db = db
        self.signer = NoteSigner.generate(ORIGIN)
        self.server: HubServer | None = None
        self.port = 0

    def start(self) -> None:
        creds = grpc.ssl_server_credentials([(self.cert.key_pem(), self.cert.cert_pem)],
                                            root_certificates=self.ca.cert_pem,
                                            require_client_auth=True)
        self.server = HubServer(
            storage=open_storage(f"sqlite://{self.db}"), signer=self.signer,
            auth=PeerAuth(self.ca.certificate), server_credentials=creds,
            listen=f"127.0.0.1:{self.port}", origin=ORIGIN,
            limits=SyncLimits(hello_timeout_s=2.0, downlink_poll_s=0.2),
            checkpoint_interval_s=0.1, grace_s=0.2)
        self.port = self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(0.2)
            self.server = None

    def enroll(self, node_id: str, public_key: bytes, site: str) -> None:
        creds = grpc.ssl_channel_credentials(self.ca.cert_pem, self.admin_cert.key_pem(),
                                             self.admin_cert.cert_pem)
        with grpc.secure_channel(f"127.0.0.1:{self.port}", creds,
                                 options=GRPC_MESSAGE_OPTIONS) as ch:
            admin_pb2_grpc.AdminStub(ch).EnrollNode(admin_pb2.EnrollNodeRequest(
                node_id=node_id, public_key=public_key, site=site, agency="SBS",
                hardware_profile="patrol-radio",
                record_types=load_profile("patrol-radio").produces), timeout=5)

    def publish_downlink(self, item: object) -> None:
        creds = grpc.ssl_channel_credentials(self.ca.cert_pem, self.admin_cert.key_pem(),
                                             self.admin_cert.cert_pem)
        with grpc.secure_channel(f"127.0.0.1:{self.port}", creds,
                                 options=GRPC_MESSAGE_OPTIONS) as ch:
            admin_pb2_grpc.AdminStub(ch).PublishDownlink(
                admin_pb2.PublishDownlinkRequest(downlink=item), timeout=5)

    def head(self, node_id: str) -> int:
        assert self.server is not None
        return self.server.storage.chain_head(node_id).seq

    def records(self, node_id: str, upto: int) -> list[bytes]:
        assert self.server is not None
        out = []
        for seq in range(1, upto + 1):
            stored = self.server.storage.get_record(node_id, seq)
            assert stored is not None, f"hub lacks record {seq}"
            out.append(stored.record)
        return out


@pytest.fixture
def site() -> Iterator[str]:
    require_broker()
    s = unique_site()
    yield s
    cleaner = Subscriber()
    for leaf in ("birth", "status"):
        cleaner.publish(f"borderlink/{s}/{NODE}/{leaf}", None, retain=True)
    cleaner.close()


def _agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "borderlink", "--log-level", "INFO", "edge", "run",
         "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=log.open("ab"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: os.umask(0o000))  # the journal is owner-only whatever the umask


def test_pty_device_to_broker_and_hub_through_outage_and_kill_9(tmp_path: Path,
                                                                site: str) -> None:
    ca = CertificateAuthority.create("e2e CA")
    key = SigningKey.generate()
    key.write_pem(tmp_path / "sign.pem")
    sms = SigningKey.generate()  # the SMS downlink key the node trusts for watchlists
    node_tls = ca.issue_node(NODE)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    node_tls.save(tmp_path / "node.pem", tmp_path / "node.key")
    hub = RealHub(ca, tmp_path / "hub.db")
    hub.start()
    hub.enroll(NODE, key.public, site)

    profile = load_profile("patrol-radio")
    emulator = Emulator("P1", profile, PtyEndpoint(tmp_path / "ttyRADIO"))
    emulator.open()
    t0 = time.time()
    n = [0]

    def emit(reading: NmeaFix | RadioStatus) -> None:
        data = nmea.encode_rmc(reading) if isinstance(reading, NmeaFix) else \
            nmea.encode_status(reading)
        emulator.emit(Emission(time.time(), "P1", (reading,), data))

    def fix() -> None:
        n[0] += 1
        emit(NmeaFix(t=t0 + 10 * n[0], unit_id="P1", lat=39.46 + n[0] * 1e-4, lon=48.50,
                     valid=True, sentence="RMC", speed_kn=3.0, course_deg=0.0))

    def emergency() -> None:
        n[0] += 1
        emit(RadioStatus(t=t0 + 10 * n[0], unit_id="P1", emergency=True, state="emergency",
                         lat=39.46, lon=48.50))

    config = tmp_path / "node.toml"
    config.write_text(f"""
[node]
id = "{NODE}"
site = "{site}"
signing_key = "sign.pem"
[tls]
ca = "ca.pem"
cert = "node.pem"
key = "node.key"
[device]
profile = "patrol-radio"
url = "{emulator.url()}"
unit_id = "P1"
reconnect_s = 0.1
[hub]
addresses = ["127.0.0.1:{hub.port}"]
linger_ms = 10
retry_initial_s = 0.1
retry_max_s = 0.5
connect_timeout_s = 1.0
[broker]
port = 1883
keepalive_s = 5
[journal]
path = "state/journal.db"
[downlink.keys.watchlist]
SMS = "{sms.public.hex()}"
[status]
interval_s = 0.2
""")
    journal = tmp_path / "state/journal.db"
    log = tmp_path / "agent.log"

    def wait_device(proc: subprocess.Popen[bytes]) -> None:
        def connected() -> bool:
            try:
                st = json.loads((tmp_path / "state/status.json").read_text())
            except (OSError, ValueError):
                return False
            return st.get("pid") == proc.pid and st["device"]["state"] == "connected"

        wait_for(connected, what="device connected")
    sub = Subscriber(f"borderlink/{site}/{NODE}/#")
    agent = _agent(config, log)
    try:
        birth = sub.next(f"borderlink/{site}/{NODE}/birth", timeout=15,
                         where=lambda d: d["state"] == "online")
        assert birth["node"] == NODE
        wait_for(lambda: journal.exists() and read_stats(journal)["tip_seq"] >= 1,
                 what="node.boot")
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in journal.parent.iterdir()
                 if p.name.startswith("journal.db")}  # fmt: skip
        assert {"journal.db", "journal.db-wal"} <= set(modes) and set(modes.values()) == {0o600}
        assert stat.S_IMODE(journal.parent.stat().st_mode) == 0o700
        wait_device(agent)  # the device is opened after the boot record
        for _ in range(4):
            fix()
        emergency()
        alert = sub.next(f"borderlink/{site}/{NODE}/alert")
        assert alert["type"] == "radio.emergency" and alert["level"] == "alarm"
        raw = base64.b64decode(alert["record_b64"])
        assert verify_record(raw, key.public).record.seq == alert["seq"]
        # An anonymous client acknowledges: this development broker logs nobody in, so the
        # node takes no acknowledgement (tests/edge/test_sitebus_auth.py runs the
        # authenticated bus, where a console's acknowledgement becomes a record).
        for topic in (f"borderlink/{site}/console/cc-1/ack", f"borderlink/{site}/console/ack"):
            sub.publish(topic, {"node": NODE, "seq": alert["seq"], "action": "seen"})
        wait_for(lambda: read_stats(journal)["last_acked_seq"] == read_stats(journal)["tip_seq"]
                 == hub.head(NODE), what="hub holds everything")

        # A watchlist signed by SMS, published at the hub, reaches the node and is applied.
        hub.publish_downlink(sync_pb2.Downlink(
            kind=sync_pb2.DOWNLINK_KIND_WATCHLIST, version=1, target=NODE,
            signed_payload=sign_downlink(sms, kind="watchlist", version=1, target=NODE,
                                         issuer="SMS", content={"documents": ["C01234567"]})))
        wait_for(lambda: (tmp_path / "state/downlink/watchlist.cose").exists(),
                 what="watchlist applied")

        # -- the link to the hub is cut: recording and alerting go on ------------------------
        hub.stop()
        cut_at = read_stats(journal)["tip_seq"]
        for _ in range(3):
            fix()
        emergency()
        alert2 = sub.next(f"borderlink/{site}/{NODE}/alert",
                          where=lambda d: d["seq"] > alert["seq"])
        assert alert2["seq"] > cut_at
        status = subprocess.run(
            [sys.executable, "-m", "borderlink", "edge", "status", "--config", str(config),
             "--json"], check=False, capture_output=True, text=True, timeout=30)
        assert status.returncode == 0, status.stderr
        st = json.loads(status.stdout)
        assert st["link"]["state"] != "up"
        assert st["journal"]["unsynced_records"] >= 1
        assert st["device"]["state"] == "connected"

        # -- restored: catch-up with no loss and no duplicate ------------------------------------
        hub.start()
        wait_for(lambda: hub.head(NODE) == read_stats(journal)["tip_seq"]
                 == read_stats(journal)["last_acked_seq"], what="catch-up")
        tip = hub.head(NODE)
        assert tip >= alert2["seq"]

        # -- kill -9 the agent at full speed, restart: the chain continues ----------------------
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        killed_tip = read_stats(journal)["tip_seq"]
        agent = _agent(config, log)
        wait_for(lambda: read_stats(journal)["tip_seq"] > killed_tip, what="boot after kill")
        wait_device(agent)
        emergency()
        alert3 = sub.next(f"borderlink/{site}/{NODE}/alert",
                          where=lambda d: d["seq"] > killed_tip)
        wait_for(lambda: hub.head(NODE) == read_stats(journal)["tip_seq"] >= alert3["seq"],
                 what="sync after restart")

        final = hub.head(NODE)
        records = [verify_record(raw, key.public, registry=default_registry()).record
                   for raw in hub.records(NODE, final)]
        report = verify_chain(records, NODE)
        assert report.ok, report.findings
        assert [r.seq for r in records] == list(range(1, final + 1))
        types = [r.record_type for r in records]
        assert types.count("radio.emergency") == 3
        assert types.count("node.boot") == 2 and "alert.ack" not in types
        applied = [r.body for r in records if r.record_type == "node.downlink_applied"]
        assert [(a["kind"], a["version"], a["issuer"]) for a in applied] == [
            ("watchlist", 1, "SMS")]
        boots = [r for r in records if r.record_type == "node.boot"]
        assert boots[1].body["resumed_seq"] == killed_tip == boots[1].seq - 1
        assert "radio.position" in types
        assert {records[s - 1].record_type for s in (alert["seq"], alert2["seq"],
                                                      alert3["seq"])} == {"radio.emergency"}
        stored = decode_record(hub.records(NODE, alert2["seq"])[-1])
        assert stored.raw == base64.b64decode(alert2["record_b64"])  # one record, one set of bytes
    finally:
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(10)
            except subprocess.TimeoutExpired:
                agent.kill()
        sub.close()
        emulator.close()
        hub.stop()
        print(log.read_text()[-6000:])  # shown by pytest when the test failed
