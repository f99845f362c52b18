"""Edge agent figures, each beside a ceiling measured in the same run.

    python benchmarks/bench_edge.py [--json FILE] [--seconds S] [--max-frames N]
                                    [--soak-s S] [--backlog N]

What runs: a real pty (the device side writes NMEA RMC sentences, byte-exact from the
protocol encoder), the agent's own DeviceRunner (reader thread, bounded queue, processor
thread), Recorder and Journal (SQLite WAL, synchronous=FULL) in this process; the real hub
(``borderlink.hub.server.HubServer``, SQLite) in a child process over gRPC + mutual TLS; the
real Mosquitto broker at 127.0.0.1:1883 for the alert figure.

The processor is a pass-through (one ``radio.position`` per fix, one ``radio.emergency`` per
emergency), so every frame makes one record: the figures are the agent's machinery, not a
processor's decisions (issue 6 measures those).

Figures (issue 4):
* frame -> durable signed record, p50/p99, at 100 frames/s and at the maximum the pty
  sustains (latency from the byte write on the device side to the journal's fsync return);
  ceiling: one fsynced SQLite insert (WAL, FULL) in the same run.
* frame -> alert at an MQTT subscriber, p99 (20 emergencies/s).
* sustained records/s through the whole agent with the uplink on (records acknowledged by
  the hub), beside the raw single-core Ed25519 sign rate of PyNaCl; bar >= 0.50.
* catch-up of a backlog: records/s the hub acknowledges, beside the hub's ingest rate of the
  same records sent by a bare gRPC client in the same run; bar >= 0.60.
* resident memory over a soak at 100 frames/s with the uplink on (start, max, end), in this
  process and of a real ``borderlink edge run`` process.
"""

from __future__ import annotations

import argparse
import os
import queue
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import nacl.bindings

sys.path.insert(0, str(Path(__file__).parent))
import grpc
from _common import Report

from borderlink.edge.device import DeviceRunner
from borderlink.edge.drivers import open_url
from borderlink.edge.journal import Journal
from borderlink.edge.processors.base import AlertLevel, Decision
from borderlink.edge.recorder import Recorder
from borderlink.edge.uplink import TlsMaterial, Uplink, UplinkConfig
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.protocols import nmea
from borderlink.hardware_profiles.readings import NmeaFix, RadioStatus
from borderlink.proto.keys import SigningKey
from borderlink.proto.record_types import default_registry
from borderlink.proto.v1 import (
    GRPC_MESSAGE_OPTIONS,
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    sync_pb2,
    sync_pb2_grpc,
)
from borderlink.provisioning.ca import CertificateAuthority

NODE = "bench-radio-01"
SITE = "BENCH"
T0 = 1_790_000_000.0


# --------------------------------------------------------------------------- pieces
class PassThrough:
    """One record per reading (fix -> radio.position, emergency -> radio.emergency alarm)."""

    def feed(self, r: Any) -> list[Decision]:
        if isinstance(r, NmeaFix):
            return [Decision("radio.position", {"unit": "P1", "lat": r.lat, "lon": r.lon,
                                                "fix_ms": round(r.t * 1000)}, r.t)]
        if isinstance(r, RadioStatus) and r.emergency:
            return [Decision("radio.emergency", {"unit": r.unit_id, "message": "bench",
                                                 "fix_ms": round(r.t * 1000)}, r.t,
                             AlertLevel.ALARM)]
        return []

    def tick(self, now: float) -> list[Decision]:
        return []


def fix_bytes(i: int) -> bytes:
    return nmea.encode_rmc(NmeaFix(t=T0 + i * 0.01, unit_id="P1", lat=39.4 + (i % 1000) * 1e-5,
                                   lon=48.5, valid=True, sentence="RMC"))


def emergency_bytes(i: int) -> bytes:
    return nmea.encode_status(RadioStatus(t=T0 + i * 0.01, unit_id="P1", emergency=True,
                                          state="emergency", lat=39.4, lon=48.5))


def fix_ms(i: int) -> int:
    # what the decoder makes of fix_bytes(i): NMEA time has centiseconds
    return round(round(T0 + i * 0.01, 2) * 1000)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


class Rig:
    """A pty device + the agent's runner/recorder/journal in this process."""

    def __init__(self, tmp: Path, key: SigningKey, name: str) -> None:
        self.master, slave = os.openpty()
        import tty

        tty.setraw(slave)
        self.path = os.ttyname(slave)
        os.close(slave)
        self.journal = Journal.open(tmp / f"{name}.db", max_bytes=1 << 34)
        self.recorder = Recorder.for_journal(key, self.journal, node_id=NODE, site=SITE,
                                             registry=default_registry())
        self.sent: dict[int, float] = {}  # fix_ms -> monotonic write time
        self.latency: list[float] = []
        self.done = 0
        self.runner = DeviceRunner(open_url(f"serial://{self.path}?baud=115200"),
                                   framer_factory=nmea.Framer,
                                   decoder=nmea.Decoder(unit_id="P1"), processor=PassThrough(),
                                   recorder=self.recorder, queue_frames=65536, tick_s=1.0)
        self.runner.on_recorded = self._on_recorded

    def _on_recorded(self, received_at: float, items: list[Any]) -> None:
        for item in items:
            t = self.sent.pop(item.signed.record.body.get("fix_ms"), None)
            if t is not None:
                self.latency.append(item.durable_at - t)
        self.done += len(items)

    def start(self) -> None:
        self.runner.start()
        while self.runner.health.state != "connected":
            time.sleep(0.01)

    def write(self, i: int, data: bytes) -> None:
        self.sent[fix_ms(i)] = time.monotonic()
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def stop(self) -> None:
        self.runner.stop()
        os.close(self.master)
        self.journal.close()


def paced(rig: Rig, rate: float, seconds: float, start: int = 0,
          make: Any = fix_bytes) -> int:
    n = int(rate * seconds)
    t_start = time.monotonic()
    for k in range(n):
        target = t_start + k / rate
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        rig.write(start + k, make(start + k))
    return n


def wait(cond: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return False


# --------------------------------------------------------------------------- hub child
def serve_hub(directory: str) -> None:
    """Child process: the real hub on 127.0.0.1:0 (SQLite); prints its port; runs until stdin ends."""
    from borderlink.hub.auth import PeerAuth
    from borderlink.hub.server import HubServer
    from borderlink.hub.storage import open_storage
    from borderlink.proto.checkpoint import NoteSigner
    from borderlink.provisioning.ca import cert_from_pem

    d = Path(directory)
    creds = grpc.ssl_server_credentials([((d / "hub.key").read_bytes(),
                                          (d / "hub.pem").read_bytes())],
                                        root_certificates=(d / "ca.pem").read_bytes(),
                                        require_client_auth=True)
    server = HubServer(storage=open_storage(f"sqlite://{d / 'hub.db'}"),
                       signer=NoteSigner.generate("bench.example/log"),
                       auth=PeerAuth(cert_from_pem((d / "ca.pem").read_bytes())),
                       server_credentials=creds, listen="127.0.0.1:0",
                       origin="bench.example/log", checkpoint_interval_s=1.0, grace_s=0.5)
    port = server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0.5)


class HubChild:
    def __init__(self, tmp: Path, ca: CertificateAuthority, name: str) -> None:
        d = tmp / name
        d.mkdir()
        (d / "ca.pem").write_bytes(ca.cert_pem)
        ca.issue_hub().save(d / "hub.pem", d / "hub.key")
        self.admin = ca.issue_admin("bench")
        self.ca = ca
        self.proc = subprocess.Popen([sys.executable, __file__, "--_hub", str(d)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.address = f"127.0.0.1:{self.port}"

    def channel(self, cert: Any) -> grpc.Channel:
        creds = grpc.ssl_channel_credentials(self.ca.cert_pem, cert.key_pem(), cert.cert_pem)
        return grpc.secure_channel(self.address, creds, options=GRPC_MESSAGE_OPTIONS)

    def enroll(self, node_id: str, public: bytes) -> None:
        with self.channel(self.admin) as ch:
            admin_pb2_grpc.AdminStub(ch).EnrollNode(admin_pb2.EnrollNodeRequest(
                node_id=node_id, public_key=public, site=SITE, agency="SBS",
                hardware_profile="patrol-radio",
                record_types=load_profile("patrol-radio").produces), timeout=10)

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(15)


def raw_ingest_rate(hub: HubChild, cert: Any, node_id: str,
                    batches: Iterable[sync_pb2.RecordBatch], last_seq: int) -> float:
    """Records/s the hub acknowledges from a bare client sending ready-made batches, 8 in flight.

    *batches* may be a generator (built page by page from a journal): memory stays bounded.
    """
    out: queue.Queue[Any] = queue.Queue(maxsize=16)
    acked = threading.Event()

    def requests() -> Any:
        yield sync_pb2.EdgeMessage(hello=sync_pb2.Hello(node_id=node_id,
                                                        node_time_unix_ms=int(time.time() * 1000)))
        while True:
            item = out.get()
            if item is None:
                return
            yield item

    with hub.channel(cert) as ch:
        call = sync_pb2_grpc.SyncStub(ch).Stream(requests())
        window = threading.Semaphore(8)
        start = 0.0

        def read() -> None:
            for msg in call:
                if msg.WhichOneof("msg") == "ack":
                    window.release()
                    if msg.ack.highest_contiguous_seq >= last_seq:
                        acked.set()
                        return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        start = time.perf_counter()
        n = 0
        for b in batches:
            window.acquire()
            n += len(b.envelopes)
            out.put(sync_pb2.EdgeMessage(batch=b))
        acked.wait(3600)
        elapsed = time.perf_counter() - start
        out.put(None)
        call.cancel()
    return n / elapsed


def proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def agent_soak(tmp: Path, ca: CertificateAuthority, hub: HubChild, seconds: float) -> str:
    """RSS of a real `borderlink edge run` process (real RadioProcessor, broker, uplink on)."""
    import tty

    d = tmp / "soak"
    d.mkdir()
    node = "bench-soak-01"
    key = SigningKey.generate()
    key.write_pem(d / "sign.pem")
    (d / "ca.pem").write_bytes(ca.cert_pem)
    ca.issue_node(node).save(d / "node.pem", d / "node.key")
    hub.enroll(node, key.public)
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)
    (d / "node.toml").write_text(f"""
[node]
id = "{node}"
site = "{SITE}"
signing_key = "sign.pem"
[tls]
ca = "ca.pem"
cert = "node.pem"
key = "node.key"
[device]
profile = "patrol-radio"
url = "serial://{path}?baud=115200"
unit_id = "P1"
[hub]
addresses = ["{hub.address}"]
[journal]
path = "journal.db"
[status]
interval_s = 1.0
""")
    proc = subprocess.Popen([sys.executable, "-m", "borderlink", "edge", "run", "--config",
                             str(d / "node.toml")], stderr=(d / "agent.log").open("wb"))
    samples: list[float] = []
    try:
        time.sleep(3.0)
        t_start = time.monotonic()
        k = 0
        next_sample = t_start
        while time.monotonic() - t_start < seconds:
            now = time.monotonic()
            if now >= next_sample:
                samples.append(proc_rss_mb(proc.pid))
                next_sample += 5.0
            delay = t_start + k / 100 - now
            if delay > 0:
                time.sleep(delay)
            data = emergency_bytes(k) if k % 1000 == 999 else \
                nmea.encode_rmc(NmeaFix(t=T0 + k * 0.5, unit_id="P1",
                                        lat=39.40 + (k % 2000) * 2e-6, lon=48.50, valid=True,
                                        sentence="RMC", speed_kn=1.0, course_deg=0.0))
            os.write(master, data)
            k += 1
        samples.append(proc_rss_mb(proc.pid))
        from borderlink.edge.journal import read_stats

        st = read_stats(d / "journal.db")
    finally:
        proc.send_signal(subprocess.signal.SIGTERM)  # type: ignore[attr-defined]
        proc.wait(30)
        os.close(master)
    first_half = samples[: max(1, len(samples) // 2)]
    second_half = samples[len(samples) // 2:]
    return (f"agent process RSS over {seconds:.0f} s at 100 frames/s (real radio processor, "
            f"broker, uplink on; {k} frames, {st['tip_seq']} records, {st['last_acked_seq']} "
            f"acked): start {samples[0]:.1f} MB, max {max(samples):.1f} MB, end "
            f"{samples[-1]:.1f} MB, mean 1st half {sum(first_half) / len(first_half):.1f} MB, "
            f"2nd half {sum(second_half) / len(second_half):.1f} MB (bar: <= 80 MB, flat)")


# --------------------------------------------------------------------------- main
def journal_batches(journal: Journal, limit: int) -> Iterator[sync_pb2.RecordBatch]:
    """The journal's first *limit* records as sync batches of 256, one page at a time."""
    seq, batch_id = 1, 0
    while seq <= limit:
        page = journal.read_from(seq, max_records=min(256, limit - seq + 1))
        if not page:
            return
        batch_id += 1
        yield sync_pb2.RecordBatch(batch_id=batch_id, envelopes=[
            common_pb2.Envelope(record=r.raw, disclosures=list(r.disclosures)) for r in page])
        seq = page[-1].seq + 1


def catch_up(tmp: Path, ca: CertificateAuthority, n: int, bare_sample: int, report: Report,
             extra: list[str]) -> None:
    """Catch-up of an *n*-record backlog vs the hub's ingest rate of the very same records.

    Each runs against a fresh hub child (same setup), the bare client first, on the first
    *bare_sample* records (0: all). Memory stays bounded: records go into the journal in
    chunks of 500, the bare client's batches are built page by page, the uplink streams pages.
    """
    node2 = "bench-radio-02"
    key2 = SigningKey.generate()
    journal = Journal.open(tmp / "backlog.db", max_bytes=1 << 36)
    rec = Recorder.for_journal(key2, journal, node_id=node2, site=SITE,
                               registry=default_registry())
    t = time.perf_counter()
    for start in range(0, n, 500):
        rec.record_many([Decision("radio.position", {"unit": "P2", "lat": 39.4, "lon": 48.5,
                                                     "fix_ms": i}, T0 + i)
                         for i in range(start, min(n, start + 500))])
    gen_rate = n / (time.perf_counter() - t)
    cert2 = ca.issue_node(node2)
    sample = n if bare_sample <= 0 else min(n, bare_sample)
    hub_b = HubChild(tmp, ca, "hub-bare")
    try:
        hub_b.enroll(node2, key2.public)
        raw_ingest = raw_ingest_rate(hub_b, cert2, node2, journal_batches(journal, sample),
                                     sample)
    finally:
        hub_b.stop()
    hub_c = HubChild(tmp, ca, "hub-catchup")
    rss_peak = 0.0
    try:
        hub_c.enroll(node2, key2.public)
        up2 = Uplink(UplinkConfig((hub_c.address,), linger_ms=0), TlsMaterial(
            ca.cert_pem, cert2.cert_pem, cert2.key_pem()), journal, node_id=node2)
        rss_before = rss_peak = rss_mb()
        t = time.perf_counter()
        up2.start()
        deadline = time.monotonic() + max(600.0, n / 1000)
        while journal.last_acked_seq < n and time.monotonic() < deadline:
            rss_peak = max(rss_peak, rss_mb())
            time.sleep(0.05)
        catchup = journal.last_acked_seq / (time.perf_counter() - t)
        rss_after = rss_mb()
        rss_peak = max(rss_peak, rss_after)
        up2.stop()
    finally:
        hub_c.stop()
    journal.close()
    report.add(f"catch-up records/s ({n:,} backlog)", catchup, "/s",
               "hub ingest, bare client", raw_ingest, bar=0.6)
    what = "the same records" if sample == n else f"the first {sample:,} of the same records"
    extra.append(f"catch-up of {n:,} records: {catchup:,.0f}/s vs hub ingest of {what} from a "
                 f"bare client {raw_ingest:,.0f}/s (fresh hub each) = "
                 f"{catchup / raw_ingest:.0%}; backlog generated at {gen_rate:,.0f}/s")
    extra.append(f"catch-up RSS: start {rss_before:.1f} MB, peak {rss_peak:.1f} MB, end "
                 f"{rss_after:.1f} MB (bounded: pages of one batch)")


def agent_figures(args: argparse.Namespace, tmp: Path, key: SigningKey,
                  ca: CertificateAuthority, report: Report, extra: list[str],
                  rss_samples: list[tuple[float, float]]) -> None:
    """Every figure but the catch-up: ceilings, recorder, frame->durable, soaks, sustained."""
    # -- ceilings ----------------------------------------------------------------------
    _, secret = nacl.bindings.crypto_sign_seed_keypair(os.urandom(32))
    msg = os.urandom(260)  # about a position record's Sig_structure
    n = 20000
    t = time.perf_counter()
    for _ in range(n):
        nacl.bindings.crypto_sign(msg, secret)
    raw_sign = n / (time.perf_counter() - t)
    import sqlite3

    db = sqlite3.connect(tmp / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, raw BLOB)")
    lat = []
    blob = os.urandom(300)
    for i in range(2000):
        t = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?, ?)", (i, blob))
        db.execute("COMMIT")
        lat.append(time.perf_counter() - t)
    db.close()
    raw_fsync_p50, raw_fsync_p99 = pct(lat, 50), pct(lat, 99)
    extra.append(f"raw Ed25519 sign (PyNaCl, 1 core, 260-byte message): {raw_sign:,.0f}/s")
    extra.append(f"raw fsynced SQLite insert (WAL, FULL): p50 {raw_fsync_p50 * 1e3:.3f} ms, "
                 f"p99 {raw_fsync_p99 * 1e3:.3f} ms")

    # -- recorder alone (sign + chain + fsynced journal, groups of 64): where the time goes
    j0 = Journal.open(tmp / "recorder-only.db", max_bytes=1 << 34)
    r0 = Recorder.for_journal(key, j0, node_id=NODE, site=SITE, registry=default_registry())
    decisions = [Decision("radio.position", {"unit": "P1", "lat": 39.4, "lon": 48.5,
                                             "fix_ms": i}, T0 + i) for i in range(64)]
    t = time.perf_counter()
    for _ in range(args.max_frames // 64):
        r0.record_many(decisions)
    recorder_rate = (args.max_frames // 64) * 64 / (time.perf_counter() - t)
    j0.close()
    report.add("recorder only records/s (groups of 64)", recorder_rate, "/s",
               "raw Ed25519 sign/s", raw_sign)

    # -- frame -> durable at 100 frames/s ----------------------------------------------------
    rig = Rig(tmp, key, "paced")
    rig.start()
    cpu0 = time.process_time()  # the agent's threads all run in this process (Rig)
    sent = paced(rig, 100.0, args.seconds)
    wait(lambda: rig.done >= sent, 30)
    cpu_per_record = (time.process_time() - cpu0) / max(1, rig.done)
    report.add("agent CPU/record @100/s (us)", cpu_per_record * 1e6, "us", "raw Ed25519 sign (us)",
               1e6 / raw_sign, higher_is_better=False)
    extra.append(f"agent CPU @100 frames/s: {cpu_per_record * 1e6:,.0f} us per record "
                 f"({cpu_per_record * 100:.1%} of one core), raw sign {1e6 / raw_sign:.0f} us "
                 "(the paced writer standing in for the device is included)")
    p50, p99 = pct(rig.latency, 50), pct(rig.latency, 99)
    report.add("frame->durable p50 @100/s (us)", p50 * 1e6, "us", "fsynced insert p50 (us)",
               raw_fsync_p50 * 1e6, higher_is_better=False)
    report.add("frame->durable p99 @100/s (us)", p99 * 1e6, "us", "fsynced insert p99 (us)",
               raw_fsync_p99 * 1e6, higher_is_better=False)
    extra.append(f"frame->durable @100/s: {len(rig.latency)} frames, p50 {p50 * 1e3:.2f} ms, "
                 f"p99 {p99 * 1e3:.2f} ms, max {max(rig.latency) * 1e3:.2f} ms "
                 f"(bar: p99 <= 5 ms)")
    rig.stop()
    rss_samples.append((time.monotonic(), rss_mb()))

    # -- frame -> durable at the maximum -------------------------------------------------------
    rig = Rig(tmp, key, "max")
    rig.start()
    t = time.perf_counter()
    for i in range(args.max_frames):
        rig.write(i, fix_bytes(i))
    wait(lambda: rig.done >= args.max_frames, 120)
    rate = rig.done / (time.perf_counter() - t)
    dropped = rig.runner.health.faults["overload"]
    p50, p99 = pct(rig.latency, 50), pct(rig.latency, 99)
    extra.append(f"frame->durable at max: {rate:,.0f} frames/s sustained, p50 "
                 f"{p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms (queueing included), "
                 f"{dropped} dropped")
    report.add("frames->durable records/s at max", rate, "/s", "raw Ed25519 sign/s", raw_sign)
    rig.stop()
    rss_samples.append((time.monotonic(), rss_mb()))

    # -- alert at an MQTT subscriber ---------------------------------------------------------------
    try:
        import paho.mqtt.client as mqtt

        from borderlink.edge.sitebus import SiteBus, SiteBusConfig

        rig = Rig(tmp, key, "alert")
        site = f"BENCH{os.getpid()}"
        bus = SiteBus(SiteBusConfig(), node_id=NODE, site=site)
        rig.recorder.add_listener(bus.on_recorded)
        bus.start()
        if not bus.connected.wait(5):
            raise RuntimeError("Mosquitto is not reachable at 127.0.0.1:1883")
        got: list[float] = []
        import json as _json

        sent_at: dict[int, float] = {}
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)

        def on_message(c: Any, u: Any, m: Any) -> None:
            now = time.monotonic()
            body = _json.loads(m.payload)["body"]
            t0 = sent_at.get(body["fix_ms"])
            if t0 is not None:
                got.append(now - t0)

        sub.on_message = on_message
        sub.connect("127.0.0.1", 1883)
        sub.subscribe(f"borderlink/{site}/{NODE}/alert", qos=1)
        sub.loop_start()
        time.sleep(0.3)
        rig.start()
        n_alerts = int(20 * max(5.0, args.seconds / 2))
        t_start = time.monotonic()
        for k in range(n_alerts):
            delay = t_start + k / 20 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent_at[fix_ms(k)] = time.monotonic()
            rig.write(k, emergency_bytes(k))
        wait(lambda: len(got) >= n_alerts, 20)
        a50, a99 = pct(got, 50), pct(got, 99)
        report.add("frame->MQTT alert p99 (us)", a99 * 1e6, "us", "frame->durable p99 (us)",
                   pct(rig.latency, 99) * 1e6, higher_is_better=False)
        extra.append(f"frame->alert at subscriber: {len(got)}/{n_alerts} alerts, p50 "
                     f"{a50 * 1e3:.2f} ms, p99 {a99 * 1e3:.2f} ms (bar: p99 <= 20 ms)")
        sub.disconnect()
        sub.loop_stop()
        bus.stop()
        rig.stop()
    except (OSError, RuntimeError) as exc:
        extra.append(f"frame->alert: NOT MEASURED ({exc})")

    # -- sustained with the uplink on (hub in a child process) --------------------------------------
    hub = HubChild(tmp, ca, "hub1")
    try:
        hub.enroll(NODE, key.public)
        node_cert = ca.issue_node(NODE)
        tls = TlsMaterial(ca.cert_pem, node_cert.cert_pem, node_cert.key_pem())
        rig = Rig(tmp, key, "uplink")
        up = Uplink(UplinkConfig((hub.address,), linger_ms=20), tls, rig.journal, node_id=NODE,
                    recorder=rig.recorder)
        rig.recorder.add_listener(up.notify)
        up.start()
        rig.start()
        t = time.perf_counter()
        for i in range(args.max_frames):
            rig.write(i, fix_bytes(i))
        wait(lambda: rig.done >= args.max_frames, 300)
        durable = rig.done / (time.perf_counter() - t)
        wait(lambda: rig.journal.last_acked_seq >= args.max_frames, 300)
        sustained = rig.journal.last_acked_seq / (time.perf_counter() - t)
        report.add("records/s durable, uplink on", durable, "/s", "raw Ed25519 sign/s",
                   raw_sign, bar=0.5)
        report.add("records/s acked by hub, uplink on", sustained, "/s", "raw Ed25519 sign/s",
                   raw_sign, bar=0.5)
        extra.append(f"whole agent with uplink: {rig.done} records durable at {durable:,.0f}/s, "
                     f"acked by the hub (child process, same 2 cores) at {sustained:,.0f}/s")

        # -- soak: RSS at 100 frames/s with the uplink on
        soak_start = rss_mb()
        k0 = args.max_frames
        t_end = time.monotonic() + args.soak_s
        samples = [soak_start]
        while time.monotonic() < t_end:
            k0 += paced(rig, 100.0, 5.0, start=k0)
            samples.append(rss_mb())
            rss_samples.append((time.monotonic(), samples[-1]))
        extra.append(f"RSS over a {args.soak_s:.0f} s soak at 100 frames/s, uplink on: start "
                     f"{soak_start:.1f} MB, max {max(samples):.1f} MB, end {samples[-1]:.1f} MB "
                     f"(bar: <= 80 MB, flat; process also holds the benchmark's own data)")
        up.stop()
        rig.stop()
        extra.append(agent_soak(tmp, ca, hub, args.agent_soak_s))
    finally:
        hub.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", help="append the figures to this JSON file")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the 100 frames/s run")
    ap.add_argument("--max-frames", type=int, default=20000, help="frames of the max-rate runs")
    ap.add_argument("--soak-s", type=float, default=60.0, help="RSS soak length (s)")
    ap.add_argument("--agent-soak-s", type=float, default=120.0,
                    help="length of the agent-process RSS soak (s); 600 for the issue's figure")
    ap.add_argument("--catchup-records", "--backlog", dest="backlog", type=int, default=20000,
                    metavar="N", help="records of the catch-up run (1000000 for the issue's "
                    "figure; memory stays bounded)")
    ap.add_argument("--bare-sample", type=int, default=0, metavar="N",
                    help="measure the hub's bare-client ingest on the first N records only "
                         "(0: all of them)")
    ap.add_argument("--catchup-only", action="store_true",
                    help="run only the catch-up figure (with its ceiling)")
    ap.add_argument("--_hub", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._hub:
        serve_hub(args._hub)
        return 0

    report = Report("edge agent")
    extra: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-edge-"))
    key = SigningKey.generate()
    rss_samples: list[tuple[float, float]] = [(0.0, rss_mb())]

    ca = CertificateAuthority.create("bench CA")
    try:
        if not args.catchup_only:
            agent_figures(args, tmp, key, ca, report, extra, rss_samples)
        catch_up(tmp, ca, args.backlog, args.bare_sample, report, extra)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # 1.5 GB after a 1,000,000-record catch-up

    report.print()
    print()
    for line in extra:
        print("  " + line)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS of the benchmark process: {peak:.1f} MB; samples "
          f"{', '.join(f'{m:.0f}' for _, m in rss_samples)} MB")
    report.rows.append({"figure": "notes", "lines": extra})
    report.write_json(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
