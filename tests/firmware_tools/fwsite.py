"""A real hub process (``hub init`` + ``borderlink hub serve``), one edge node under the real
firmware supervisor (``borderlink firmware supervise`` running ``borderlink edge run``) and a
technician who offers images with ``borderlink firmware offer``: the parts of an update."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from borderlink.demo.firmware import release_image
from borderlink.firmware_tools.install import Slots
from borderlink.hub.storage import open_storage
from borderlink.hub_init import admin_dir, init_hub_dir
from borderlink.proto.chain import verify_chain
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import Record, decode_record, verify_record
from borderlink.provisioning.trust import CaDirectory

PY = sys.executable
NODE = "bil-lab-01"
SITE = "AZ-BIL"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out ({timeout:g} s) waiting for {what}")


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "borderlink", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


@dataclass
class FirmwareSite:
    root: Path
    fw_key: SigningKey = field(default_factory=SigningKey.generate)
    issuer_key: SigningKey = field(default_factory=SigningKey.generate)
    port: int = 0
    hub: subprocess.Popen[bytes] | None = None
    supervisor: subprocess.Popen[bytes] | None = None
    offers: int = 0
    node_key: SigningKey = field(default_factory=SigningKey.generate)

    @property
    def hub_dir(self) -> Path:
        return self.root / "hub"

    @property
    def node_dir(self) -> Path:
        return self.root / "node"

    @property
    def slots(self) -> Path:
        return self.node_dir / "slots"

    def admin_args(self) -> list[str]:
        admin = admin_dir(self.hub_dir)
        return ["--hub", f"127.0.0.1:{self.port}", "--cert", str(admin / "admin.pem"),
                "--key", str(admin / "admin.key"), "--ca", str(self.hub_dir / "ca.pem")]

    # -- the hub --------------------------------------------------------------------------

    def start_hub(self) -> None:
        self.port = free_port()
        init_hub_dir(self.hub_dir, listen=f"127.0.0.1:{self.port}", metrics_port=None,
                     ca_dir=self.root / "ca")
        log = (self.root / "hub.log").open("ab")
        self.hub = subprocess.Popen([PY, "-m", "borderlink", "hub", "serve", "--config",
                                     str(self.hub_dir / "hub.toml")], stdout=log, stderr=log)

        def listening() -> bool:
            assert self.hub is not None and self.hub.poll() is None, (
                self.root / "hub.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False
        wait_for(listening, 30, "the hub to listen")

    # -- the node -------------------------------------------------------------------------

    def provision_node(self, *, health_deadline_s: float = 20,
                       download_rate_bytes_per_s: float = 0) -> None:
        d = self.node_dir
        (d / "spool").mkdir(parents=True)
        key = self.node_key
        key.write_pem(d / "signing.pem")
        CaDirectory(self.root / "ca").issuing().issue_node(NODE).save(d / "node.pem",
                                                                       d / "node.key")
        (d / "ca.pem").write_bytes((self.hub_dir / "ca.pem").read_bytes())
        done = cli("hub", "enroll", NODE, "--public-key", key.public_hex, "--site", SITE,
                   "--agency", "SCC", "--profile", "gc-fid-gc2010", "--node-cert",
                   str(d / "node.pem"), *self.admin_args())
        assert done.returncode == 0, done.stderr
        (d / "node.toml").write_text(f"""[node]
id = "{NODE}"
site = "{SITE}"
signing_key = "signing.pem"

[tls]
ca = "ca.pem"
cert = "node.pem"
key = "node.key"
server_name = "localhost"

[device]
profile = "gc-fid-gc2010"
url = "file://{d / 'spool'}"

[hub]
addresses = ["127.0.0.1:{self.port}"]
linger_ms = 20
retry_initial_s = 0.2
retry_max_s = 1.0
connect_timeout_s = 3.0

[broker]
enabled = false

[journal]
path = "journal.db"

[status]
path = "status.json"
interval_s = 0.3

[downlink]
dir = "downlink"

[downlink.keys.firmware]
OPS = "{self.issuer_key.public_hex}"

[firmware]
signing_key = "{self.fw_key.public_hex}"
target = "edge-agent"
health_deadline_s = {health_deadline_s}
download_rate_bytes_per_s = {download_rate_bytes_per_s}
""")

    def start_supervisor(self) -> subprocess.Popen[bytes]:
        log = (self.root / "supervisor.log").open("ab")
        self.supervisor = subprocess.Popen(
            [PY, "-m", "borderlink", "firmware", "supervise", "--node-config",
             str(self.node_dir / "node.toml"), "--slots", str(self.slots)],
            stdout=log, stderr=log, start_new_session=True)
        return self.supervisor

    def supervisor_log(self) -> str:
        return (self.root / "supervisor.log").read_text(errors="replace")

    def agent_pid(self) -> int | None:
        """The `borderlink edge run` the supervisor runs (its only child)."""
        assert self.supervisor is not None
        try:
            children = Path(f"/proc/{self.supervisor.pid}/task/{self.supervisor.pid}/children")
            pids = [int(p) for p in children.read_text().split()]
        except (OSError, ValueError):
            return None
        return pids[0] if pids else None

    def kill_supervisor(self) -> int | None:
        """kill -9 of the supervisor alone; returns the pid of the agent it was running."""
        assert self.supervisor is not None
        agent = self.agent_pid()
        self.supervisor.kill()
        self.supervisor.wait()
        return agent

    def stop(self) -> None:
        for p in (self.supervisor, self.hub):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    # -- the technician -------------------------------------------------------------------

    def image(self, version: str, sequence: int, key: SigningKey | None = None) -> bytes:
        return release_image(self.root / f"build-{version}-{sequence}", key or self.fw_key,
                             version=version, sequence=sequence)

    def offer(self, image: bytes) -> dict[str, Any]:
        self.offers += 1
        path = self.root / f"offer-{self.offers}.blfw"
        path.write_bytes(image)
        done = cli("firmware", "offer", str(path), "--target", NODE, "--issuer", "OPS",
                   "--issuer-key", str(self.issuer_key_file()), *self.admin_args())
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    def issuer_key_file(self) -> Path:
        path = self.root / "ops-downlink.pem"
        if not path.exists():
            self.issuer_key.write_pem(path)
        return path

    # -- what the node and the hub hold ---------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        try:
            text = (self.slots / "events.jsonl").read_text()
        except FileNotFoundError:
            return []
        return [json.loads(x) for x in text.splitlines() if x.strip()]

    def state(self) -> Any:
        return Slots(self.slots).load()

    def hub_records(self) -> list[Record]:
        storage = open_storage(f"sqlite:///{self.hub_dir / 'hub.db'}")
        try:
            rows = storage.scan_records(0, limit=100_000).records
        finally:
            storage.close()
        return [decode_record(r.record) for r in rows]

    def hub_has(self, record_type: str, **body: Any) -> list[Record]:
        return [r for r in self.hub_records() if r.record_type == record_type
                and all(r.body.get(k) == v for k, v in body.items())]

    def check_hub_chain(self) -> list[Record]:
        """The node's records at the hub: one unbroken chain, each signed by the node key
        (the factory agent's and the new release's alike)."""
        records = [r for r in self.hub_records() if r.node_id == NODE]
        assert verify_chain(records).ok
        for r in records:
            verify_record(r.raw, self.node_key.public)
        return records
