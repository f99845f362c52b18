"""From nothing to a running hub with the commands an operator types:
``hub init`` → ``hub serve`` → ``hub enroll`` / ``hub nodes`` → a node syncs → SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from borderlink.cli import main
from borderlink.hub.storage import open_storage
from borderlink.proto.checkpoint import NoteVerifier, open_checkpoint
from borderlink.proto.keys import SigningKey
from borderlink.provisioning.ca import IssuedCertificate
from borderlink.provisioning.trust import CaDirectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))
from hubkit import Stream, TestNode, envelope


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_init_serve_enroll_sync_and_stop(tmp_path: Path, capsys) -> None:
    d, a = tmp_path / "hub", tmp_path / "hub-admin"
    port = _port()
    assert (
        main(
            ["hub", "init", "--dir", str(d), "--listen", f"127.0.0.1:{port}", "--metrics-port", "0"]
        )
        == 0
    )
    assert main(["hub", "init", "--dir", str(d)]) == 2  # never overwrites
    capsys.readouterr()
    assert (d / "log.skey").stat().st_mode & 0o077 == 0
    log = (tmp_path / "hub.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "borderlink", "hub", "serve", "--config", str(d / "hub.toml")],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        ca = CaDirectory(tmp_path / "hub-ca").issuing()
        admin = IssuedCertificate.load(a / "admin.pem", a / "admin.key")
        creds = grpc.ssl_channel_credentials(ca.cert_pem, admin.key_pem(), admin.cert_pem)
        deadline = time.monotonic() + 20
        while True:
            try:
                with grpc.secure_channel(f"127.0.0.1:{port}", creds) as ch:
                    health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1)
                break
            except grpc.RpcError:
                assert proc.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "hub.log"
                ).read_text()
                time.sleep(0.1)
        conn = [
            "--hub",
            f"127.0.0.1:{port}",
            "--cert",
            str(a / "admin.pem"),
            "--key",
            str(a / "admin.key"),
            "--ca",
            str(d / "ca.pem"),
        ]
        node = TestNode(
            node_id="ast-dr-01",
            key=SigningKey.generate(),
            cert=ca.issue_node("ast-dr-01"),
            site="AZ-AST",
        )
        assert (
            main(
                [
                    "hub",
                    "enroll",
                    node.node_id,
                    "--public-key",
                    node.key.public.hex(),
                    "--site",
                    "AZ-AST",
                    "--agency",
                    "SBS",
                    "--record-types",
                    "document.check",
                    *conn,
                ]
            )
            == 0
        )
        creds_n = grpc.ssl_channel_credentials(ca.cert_pem, node.cert.key_pem(), node.cert.cert_pem)
        stream = Stream(grpc.secure_channel(f"127.0.0.1:{port}", creds_n))
        stream.hello(node, journal_seq=3)
        stream.until("resume")
        stream.batch(1, [envelope(r) for r in node.records(3)])
        assert stream.until("ack")[0].ack.highest_contiguous_seq == 3
        stream.close()
        capsys.readouterr()
        assert main(["hub", "nodes", "--json", *conn]) == 0
        (row,) = json.loads(capsys.readouterr().out)
        assert row["node_id"] == "ast-dr-01" and row["last_seq"] == 3 and row["backlog"] == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    store = open_storage(f"sqlite://{d / 'hub.db'}")
    try:
        cp = store.latest_checkpoint()
        verifier = NoteVerifier.from_vkey((d / "log.vkey").read_text().strip())
        assert (
            open_checkpoint(cp.signed_note, verifier, origin="borderlink.example/AZ/log").size == 3
        )
    finally:
        store.close()


def _wait_serving(port: int, creds: grpc.ChannelCredentials, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            with grpc.secure_channel(f"127.0.0.1:{port}", creds) as ch:
                health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1)
            return
        except grpc.RpcError:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_hub_folder_and_store_are_owner_only_and_the_ca_lives_apart(tmp_path: Path,
                                                                     umask: int) -> None:
    """``hub init`` and ``hub serve`` run under a permissive umask: the hub folder is 0700, the
    store and its WAL/SHM files 0600 while the hub writes them, and the CA is made beside the
    hub folder (its root and issuing keys never inside it), as ``init`` says on stderr."""
    d, a = tmp_path / "hub", tmp_path / "hub-admin"
    port = _port()

    def run(*args: str, **kw: object) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "borderlink", *args],
                                preexec_fn=lambda: os.umask(umask), **kw)  # type: ignore[call-overload]  # fmt: skip

    init = run("hub", "init", "--dir", str(d), "--listen", f"127.0.0.1:{port}",
               "--metrics-port", "0", stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    out, err = init.communicate(timeout=60)
    assert init.returncode == 0, err
    ca_dir = tmp_path / "hub-ca"
    assert f"made the deployment's CA in {ca_dir}, outside the hub folder" in err.decode()
    assert f"move {ca_dir / 'root.key'} offline" in err.decode()
    assert sorted(p.name for p in d.iterdir()) == [
        "ca.pem", "clock.vkey", "crl.pem", "hub.key", "hub.pem", "hub.toml", "log.skey",
        "log.vkey"]
    assert (ca_dir / "root.key").is_file() and _mode(ca_dir) == 0o700
    assert _mode(d) == 0o700
    assert all(_mode(d / k) == 0o600 for k in ("hub.key", "log.skey"))
    assert _mode(a) == 0o700 and _mode(a / "admin.key") == 0o600
    assert f"admin.pem/admin.key are in {a}" in err.decode()
    # a CA inside the hub folder is refused, and nothing is written
    inside = run("hub", "init", "--dir", str(tmp_path / "h2"), "--ca-dir",
                 str(tmp_path / "h2" / "ca"), stderr=subprocess.PIPE)  # fmt: skip
    assert inside.wait(60) == 2 and b"inside the hub folder" in inside.stderr.read()  # type: ignore[union-attr]
    assert not (tmp_path / "h2" / "ca").exists()

    log = tmp_path / "hub.log"
    with log.open("wb") as fh:
        proc = run("hub", "serve", "--config", str(d / "hub.toml"), stdout=subprocess.DEVNULL,
                   stderr=fh)  # fmt: skip
    try:
        ca = CaDirectory(ca_dir).issuing()
        admin = IssuedCertificate.load(a / "admin.pem", a / "admin.key")
        _wait_serving(port, grpc.ssl_channel_credentials(ca.cert_pem, admin.key_pem(),
                                                         admin.cert_pem), proc, log)  # fmt: skip
        node = TestNode(node_id="ast-dr-02", key=SigningKey.generate(),
                        cert=ca.issue_node("ast-dr-02"), site="AZ-AST")  # fmt: skip
        conn = ["--hub", f"127.0.0.1:{port}", "--cert", str(a / "admin.pem"), "--key",
                str(a / "admin.key"), "--ca", str(d / "ca.pem")]  # fmt: skip
        assert main(["hub", "enroll", node.node_id, "--public-key", node.key.public.hex(),
                     "--site", "AZ-AST", "--agency", "SBS", "--record-types", "document.check",
                     *conn]) == 0  # fmt: skip
        stream = Stream(grpc.secure_channel(
            f"127.0.0.1:{port}",
            grpc.ssl_channel_credentials(ca.cert_pem, node.cert.key_pem(), node.cert.cert_pem)))
        stream.hello(node, journal_seq=2)
        stream.until("resume")
        stream.batch(1, [envelope(r) for r in node.records(2)])
        assert stream.until("ack")[0].ack.highest_contiguous_seq == 2
        stream.close()
        store = {p.name: _mode(p) for p in d.iterdir() if p.name.startswith("hub.db")}
        assert {"hub.db", "hub.db-wal", "hub.db-shm"} <= set(store), store
        assert set(store.values()) == {0o600}, store
        assert _mode(d) == 0o700
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
