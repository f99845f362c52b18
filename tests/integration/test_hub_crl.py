"""The CRL is required and fails closed, through the real ``borderlink hub serve`` process.

A revocation signed by ``borderlink provision crl --revoke`` is used at the hub's next call
(no restart); a deleted CRL or one past its next update refuses every client instead of
re-admitting the certificates it revoked; a hub configured without a CRL, or with an expired
one, does not start.
"""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from borderlink.provisioning.ca import crl_to_pem
from borderlink.provisioning.trust import CaDirectory


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "borderlink", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    d, port = tmp_path / "hub", _port()
    done = _cli("hub", "init", "--dir", str(d), "--listen", f"127.0.0.1:{port}",
                "--metrics-port", "0")
    assert done.returncode == 0, done.stderr
    assert (d / "crl.pem").is_file() and 'crl = "crl.pem"' in (d / "hub.toml").read_text()
    log = tmp_path / "hub.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "borderlink", "hub", "serve", "--config",
                                 str(d / "hub.toml")], stdout=subprocess.DEVNULL, stderr=fh)
    a = tmp_path / "hub-admin"
    creds = grpc.ssl_channel_credentials((d / "ca.pem").read_bytes(),
                                         (a / "admin.key").read_bytes(),
                                         (a / "admin.pem").read_bytes())
    deadline = time.monotonic() + 30
    while True:  # health is not behind the CRL check: it says when the hub serves
        try:
            with grpc.secure_channel(f"127.0.0.1:{port}", creds) as ch:
                health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1)
            break
        except grpc.RpcError:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    try:
        yield d, tmp_path / "hub-ca", port
    finally:
        proc.terminate()
        proc.wait(20)


def _nodes(d: Path, port: int, who: str = "admin") -> subprocess.CompletedProcess[str]:
    a = d.parent / f"{d.name}-admin"  # where hub init puts the technician's credentials
    return _cli("hub", "nodes", "--hub", f"127.0.0.1:{port}", "--cert", str(a / f"{who}.pem"),
                "--key", str(a / f"{who}.key"), "--ca", str(d / "ca.pem"))


def test_a_revocation_is_used_at_once_and_a_missing_or_expired_crl_fails_closed(site) -> None:  # type: ignore[no-untyped-def]
    d, ca_dir, port = site
    admins = d.parent / f"{d.name}-admin"
    issued = _cli("provision", "cert", "admin", "tech2", "--dir", str(ca_dir), "--out", str(admins))
    assert issued.returncode == 0, issued.stderr
    assert _nodes(d, port).returncode == 0 and _nodes(d, port, "tech2").returncode == 0

    # Revoked by re-signing the CRL: refused at the very next call, the other admin still in.
    revoked = _cli("provision", "crl", "--dir", str(ca_dir), "--out", str(d / "crl.pem"),
                   "--revoke", str(admins / "tech2.pem"))
    assert revoked.returncode == 0 and "1 revoked" in revoked.stdout, revoked.stderr
    refused = _nodes(d, port, "tech2")
    assert refused.returncode != 0 and "revoked" in refused.stderr.strip().splitlines()[-1]
    assert "Traceback" not in refused.stderr
    assert _nodes(d, port).returncode == 0

    # Deleting the CRL must not re-admit what it revoked: everyone is refused meanwhile.
    saved = (d / "crl.pem").read_bytes()
    (d / "crl.pem").unlink()
    for who in ("tech2", "admin"):
        gone = _nodes(d, port, who)
        assert gone.returncode != 0 and "CRL" in gone.stderr, gone.stderr
    (d / "crl.pem").write_bytes(saved)
    assert _nodes(d, port).returncode == 0 and _nodes(d, port, "tech2").returncode != 0

    # A CRL past its next update is not believed either.
    issuing = CaDirectory(ca_dir).issuing()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    (d / "crl.pem").write_bytes(crl_to_pem(issuing.crl(now=old, next_update_days=1)))
    expired = _nodes(d, port)
    assert expired.returncode != 0 and "expired" in expired.stderr, expired.stderr

    # Signed again in time: the hub takes it at the next call.
    again = _cli("provision", "crl", "--dir", str(ca_dir), "--out", str(d / "crl.pem"))
    assert again.returncode == 0, again.stderr
    assert _nodes(d, port).returncode == 0


def test_a_hub_does_not_start_without_a_crl_or_with_an_expired_one(tmp_path: Path) -> None:
    d = tmp_path / "hub"
    assert _cli("hub", "init", "--dir", str(d), "--listen", f"127.0.0.1:{_port()}",
                "--metrics-port", "0").returncode == 0
    config = d / "hub.toml"
    good = config.read_text()
    config.write_text(good.replace('crl = "crl.pem"\n', ""))
    started = _cli("hub", "serve", "--config", str(config))
    assert started.returncode == 2 and "tls.crl: a CRL is required" in started.stderr
    config.write_text(good)
    issuing = CaDirectory(tmp_path / "hub-ca").issuing()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    (d / "crl.pem").write_bytes(crl_to_pem(issuing.crl(now=old, next_update_days=1)))
    started = _cli("hub", "serve", "--config", str(config))
    assert started.returncode == 2 and "expired" in started.stderr, started.stderr
    assert "Traceback" not in started.stderr
