"""Two ``borderlink hub serve`` processes on one PostgreSQL schema.

A test node ingests through hub A; hub A is SIGKILLed mid-ingest; the node switches to hub B
and resumes where B says. Nothing is lost or duplicated, the sequencer moves to B, and the
consistency proofs B serves hold from A's checkpoints to B's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from borderlink.hub.storage import open_storage
from borderlink.proto.checkpoint import NoteSigner, open_checkpoint
from borderlink.proto.merkle import verify_consistency
from borderlink.proto.v1 import admin_pb2, admin_pb2_grpc, transparency_pb2, transparency_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))
from hubkit import ORIGIN, Pki, Stream, TestNode, envelope, pg_schema, pg_schema_url

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(d: Path, name: str, port: int, storage_url: str) -> Path:
    path = d / f"{name}.toml"
    path.write_text(
        f"""
[server]
listen = "127.0.0.1:{port}"
grace_s = 1.0

[tls]
cert = "pki/hub.pem"
key = "pki/hub.key"
ca = "pki/ca.pem"
crl = "pki/crl.pem"

[storage]
url = "{storage_url}"

[log]
origin = "{ORIGIN}"
signing_key = "log.skey"
checkpoint_interval_s = 0.2

[limits]
hello_timeout_s = 2.0
downlink_poll_s = 0.5
"""
    )
    return path


def _serve(config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "borderlink",
            "--log-format",
            "json",
            "hub",
            "serve",
            "--config",
            str(config),
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        cwd=config.parent,
    )


def _wait_serving(pki: Pki, port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hub exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with pki.channel(port, pki.admin) as ch:
                resp = health_pb2_grpc.HealthStub(ch).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
                if resp.status == health_pb2.HealthCheckResponse.SERVING:
                    return
        except grpc.RpcError:
            time.sleep(0.1)
    raise AssertionError(f"hub on {port} not serving: {log.read_text()[-2000:]}")


def _checkpoint(pki: Pki, port: int, node_cert, at_least: int = 0):
    deadline = time.monotonic() + 10
    with pki.channel(port, node_cert) as ch:
        stub = transparency_pb2_grpc.TransparencyStub(ch)
        while True:
            try:
                cp = stub.GetCheckpoint(transparency_pb2.GetCheckpointRequest(), timeout=2)
                if cp.tree_size >= at_least:
                    return cp
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"no checkpoint >= {at_least} on port {port}")
            time.sleep(0.05)


def test_kill_one_replica_mid_ingest_nothing_lost_or_duplicated(tmp_path: Path) -> None:
    pki = Pki.make(tmp_path / "pki")
    signer = NoteSigner.generate(ORIGIN)
    (tmp_path / "log.skey").write_text(signer.skey + "\n")
    with pg_schema() as schema:
        url = pg_schema_url(schema)
        ports = [_free_port(), _free_port()]
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        procs = [
            _serve(_config(tmp_path, name, port, url), log)
            for name, port, log in zip(("a", "b"), ports, logs, strict=True)
        ]
        try:
            for proc, port, log in zip(procs, ports, logs, strict=True):
                _wait_serving(pki, port, proc, log)
            node = TestNode.make(pki, "bil-dr-30")
            with pki.channel(ports[0], pki.admin) as ch:
                admin_pb2_grpc.AdminStub(ch).EnrollNode(
                    admin_pb2.EnrollNodeRequest(
                        node_id=node.node_id,
                        public_key=node.key.public,
                        site=node.site,
                        agency="SBS",
                        record_types=node.registry.names(),
                    ),
                    timeout=5,
                )
            records = node.records(600)
            batch = 25
            acked = 0
            switches = []
            cp_before = None
            killed = False
            target = 0
            batch_id = 0
            while acked < len(records):
                stream = Stream(pki.channel(ports[target], node.cert))
                stream.hello(node, journal_seq=len(records))
                msg = stream.recv(timeout=5)
                if msg is None or msg.WhichOneof("msg") != "resume":
                    target = 1 - target
                    switches.append(("no-resume", ports[target]))
                    continue
                next_seq = msg.resume.next_seq
                assert next_seq >= acked + 1 - batch  # the hub never forgets an acknowledged record
                acked = next_seq - 1
                pos = acked
                in_flight = 0
                try:
                    while acked < len(records):
                        while in_flight < 4 and pos < len(records):
                            batch_id += 1
                            chunk = records[pos : pos + batch]
                            stream.batch(batch_id, [envelope(r) for r in chunk])
                            pos += len(chunk)
                            in_flight += 1
                        reply = stream.recv(timeout=5)
                        if reply is None:
                            raise ConnectionError(stream.error)
                        kind = reply.WhichOneof("msg")
                        assert kind != "reject", reply.reject
                        if kind == "ack":
                            in_flight -= 1
                            acked = max(acked, reply.ack.highest_contiguous_seq)
                            if not killed and acked >= 200:
                                cp_before = _checkpoint(pki, ports[0], node.cert, at_least=1)
                                os.kill(procs[0].pid, signal.SIGKILL)
                                procs[0].wait(5)
                                killed = True
                    stream.close()
                except ConnectionError:
                    switches.append((acked, ports[1 - target]))
                    target = 1 - target
            assert killed and switches, "the node never had to switch hubs"
            # B took the sequencer over and checkpointed everything.
            cp_after = _checkpoint(pki, ports[1], node.cert, at_least=len(records))
            verifier = signer.verifier
            a = open_checkpoint(cp_before.signed_note, verifier, origin=ORIGIN)
            b = open_checkpoint(cp_after.signed_note, verifier, origin=ORIGIN)
            assert b.size == len(records)
            with pki.channel(ports[1], node.cert) as ch:
                proof = transparency_pb2_grpc.TransparencyStub(ch).GetConsistencyProof(
                    transparency_pb2.GetConsistencyProofRequest(
                        first_size=a.size, second_size=b.size
                    ),
                    timeout=5,
                )
            verify_consistency(a.size, b.size, list(proof.hashes), a.root_hash, b.root_hash)
            # Nothing lost, nothing duplicated: seq 1..600 once each, one leaf each.
            store = open_storage(url)
            try:
                assert store.log_state().size == len(records)
                page = store.scan_records(0, limit=1000, with_disclosures=False)
                assert [r.seq for r in page.records] == list(range(1, len(records) + 1))
                assert [r.record for r in page.records] == [r.raw for r in records]
                assert store.list_equivocations() == []
            finally:
                store.close()
            # B shuts down gracefully on SIGTERM and publishes its last checkpoint.
            procs[1].send_signal(signal.SIGTERM)
            assert procs[1].wait(15) == 0
            assert "final checkpoint" in logs[1].read_text() or "stopped" in logs[1].read_text()
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(5)
