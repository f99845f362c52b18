"""Bring up the demo site: certificates, the hub, the devices' emulators and the edge agents.

Every part is a separate process talking to the others as in the field: the hub over gRPC with
mutual TLS, the emulators over ptys, TCP sockets and export folders, the agents to the site
broker over MQTT. The demo process only provisions, starts, watches and stops them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from borderlink.common.cli import env_default
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.simulator import load_scenario
from borderlink.hub.policy import EXAMPLE_POLICY
from borderlink.hub_init import admin_dir, init_hub_dir
from borderlink.proto.errors import BorderlinkError
from borderlink.proto.keys import SigningKey
from borderlink.provisioning.ca import CertificateAuthority
from borderlink.provisioning.trust import CaDirectory

from .linkcut import LinkRelay

AGENCIES = ("SBS", "SCC", "SMS")
#: Which agency owns the records of each device class (docs/design.md's device table).
OWNER = {
    "document_reader": "SBS",
    "radiation_portal_monitor": "SCC",
    "radionuclide_identifier": "SCC",
    "ground_sensor": "SBS",
    "patrol_radio": "SBS",
    "telephony": "SBS",
    "gc_fid": "SCC",
    "gc_ms": "SCC",
}
POLICY = EXAMPLE_POLICY


class DemoError(BorderlinkError):
    """The demo could not bring a part up; the message says which and where its log is."""


@dataclass
class Node:
    node_id: str
    device_id: str
    profile: str
    device_class: str
    agency: str
    options: dict[str, object]
    directory: Path
    key: SigningKey
    url: str = ""
    relay: LinkRelay | None = None
    process: subprocess.Popen[bytes] | None = None
    #: The journal's path, relative to the node's folder (the fault suite puts some on a
    #: small filesystem of their own).
    journal: str = "journal.db"

    @property
    def journal_path(self) -> Path:
        return self.directory / self.journal

    @property
    def config(self) -> Path:
        return self.directory / "node.toml"

    @property
    def status_file(self) -> Path:
        return self.directory / "status.json"


@dataclass
class Site:
    """The running demo: its work folder, processes and nodes."""

    work: Path
    scenario_name: str
    seed: int
    speed: float
    broker: tuple[str, int] | None
    python: str = sys.executable
    hub_port: int = 0
    #: The hub's Prometheus /metrics port on 127.0.0.1 (env BORDERLINK_DEMO_METRICS_PORT;
    #: default a free port), on as in ``hub init``.
    metrics_port: int = 0
    nodes: list[Node] = field(default_factory=list)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    site_id: str = ""
    scenario_duration_s: float = 0.0
    backlog: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    #: The deployment's CA once provisioned (the fault suite issues an attacker's certificates).
    ca: CertificateAuthority | None = None
    #: The hub's store as the demo reads it (a storage URL); empty: the hub folder's SQLite
    #: file, as ``hub init`` configures it.
    storage_url: str = ""
    #: The interpreter arguments that start the process *name* in place of ``-m borderlink``
    #: (the fault suite runs some under a wall clock of its own); None: ``-m borderlink``.
    launcher: Callable[[str], list[str]] | None = None

    # -- paths ---------------------------------------------------------------------------

    @property
    def hub_dir(self) -> Path:
        return self.work / "hub"

    @property
    def ca_dir(self) -> Path:
        """The deployment's CA, beside the hub's folder and not in it (as ``hub init`` keeps it)."""
        return self.work / "ca"

    @property
    def hub_address(self) -> str:
        return f"127.0.0.1:{self.hub_port}"

    @property
    def store_url(self) -> str:
        """Where the hub keeps its records, to read them from outside the hub process."""
        return self.storage_url or f"sqlite:///{self.hub_dir / 'hub.db'}"

    @property
    def sim_dir(self) -> Path:
        return self.work / "sim"

    def agency_files(self, agency: str) -> tuple[Path, Path]:
        base = self.work / "agencies" / agency
        return base / "agency.pem", base / "agency.key"

    def log_path(self, name: str) -> Path:
        return self.work / "logs" / f"{name}.log"

    # -- provisioning --------------------------------------------------------------------

    def provision(self) -> None:
        """The technician's part: CA, hub, agencies, and per node a key, certificate, config."""
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        self.hub_port = _free_port()
        self.metrics_port = int(env_default("DEMO_METRICS_PORT", 0)) or _free_port()
        init_hub_dir(self.hub_dir, listen=self.hub_address, metrics_port=self.metrics_port,
                     ca_dir=self.ca_dir)
        ca = self.ca = CaDirectory(self.ca_dir).issuing()
        for agency in AGENCIES:
            cert_path, key_path = self.agency_files(agency)
            cert_path.parent.mkdir(parents=True, exist_ok=True)
            ca.issue_agency(agency).save(cert_path, key_path)
        scenario = load_scenario(self.scenario_name)
        self.site_id = f"AZ-{scenario.site}"
        self.scenario_duration_s = float(scenario.duration_s)
        for spec in scenario.devices:
            profile = load_profile(spec.profile)
            node_id = spec.id.lower()
            directory = self.work / "nodes" / node_id
            directory.mkdir(parents=True, exist_ok=True)
            key = SigningKey.generate()
            key.write_pem(directory / "signing.pem")
            ca.issue_node(node_id).save(directory / "node.pem", directory / "node.key")
            shutil.copy(self.hub_dir / "ca.pem", directory / "ca.pem")
            options = dict(spec.options)
            if "unit" in options and "sector" in options:
                options["unit_sectors"] = {str(options["unit"]): str(options["sector"])}
            self.nodes.append(Node(
                node_id, spec.id, profile.name, profile.device_class,
                OWNER.get(profile.device_class, "SBS"), options, directory, key))

    # -- processes -----------------------------------------------------------------------

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.log_path(name), "ab")  # noqa: SIM115 - the child keeps it
        process = subprocess.Popen(
            [self.python, *(self.launcher(name) if self.launcher else ["-m", "borderlink"]),
             "--log-format", "json", *args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.work, start_new_session=True,
        )
        log.close()
        self.processes[name] = process
        return process

    def _cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.python, "-m", "borderlink", *args], capture_output=True,
                              text=True, timeout=timeout, cwd=self.work, check=False)

    def start_hub(self) -> None:
        self._spawn("hub", "hub", "serve", "--config", str(self.hub_dir / "hub.toml"))
        _wait_for_port(self.hub_port, 30.0, self.processes["hub"], self.log_path("hub"))

    def admin_args(self) -> list[str]:
        admin = admin_dir(self.hub_dir)
        return ["--hub", self.hub_address, "--cert", str(admin / "admin.pem"),
                "--key", str(admin / "admin.key"), "--ca", str(self.hub_dir / "ca.pem")]

    def enroll_all(self) -> None:
        """Enrol every node and load the federation policy, as a technician would."""

        def enroll(node: Node) -> subprocess.CompletedProcess[str]:
            return self._cli("hub", "enroll", node.node_id, "--public-key", node.key.public_hex,
                             "--site", self.site_id, "--agency", node.agency, "--profile",
                             node.profile, "--node-cert", str(node.directory / "node.pem"),
                             *self.admin_args())

        with ThreadPoolExecutor(max_workers=4) as pool:
            for node, done in zip(self.nodes, pool.map(enroll, self.nodes), strict=True):
                if done.returncode != 0:
                    raise DemoError(f"enrolling {node.node_id} failed: {done.stderr.strip()}")
        done = self._cli("hub", "policy", str(POLICY), *self.admin_args())
        if done.returncode != 0:
            raise DemoError(f"loading the federation policy failed: {done.stderr.strip()}")

    def start_devices(self, start_delay_s: float, duration_s: float | None) -> None:
        """The scenario's emulators, in one simulator process; waits for their endpoints."""
        args = ["simulate", "run", self.scenario_name, "--out", str(self.sim_dir),
                "--speed", f"{self.speed:g}", "--seed", str(self.seed), "--start", "now",
                "--start-delay", f"{start_delay_s:g}"]
        if duration_s is not None:
            args += ["--duration", f"{duration_s:g}"]
        process = self._spawn("simulator", *args)
        devices_file = self.sim_dir / "devices.json"
        deadline = time.monotonic() + 60
        while not devices_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise DemoError(f"the device emulators did not start; see {self.log_path('simulator')}")
            time.sleep(0.1)
        time.sleep(0.1)  # written in one call; let it land
        devices = json.loads(devices_file.read_text())
        for node in self.nodes:
            node.url = devices[node.device_id]["url"]

    def start_agents(self) -> None:
        hub_host, hub_port = "127.0.0.1", self.hub_port
        for node in self.nodes:
            node.relay = LinkRelay(node.node_id, (hub_host, hub_port)).start()
            node.config.write_text(_node_toml(node, self))
            self.spawn_agent(node)

    def spawn_agent(self, node: Node) -> subprocess.Popen[bytes]:
        """Start (or restart) *node*'s edge agent on its written configuration."""
        node.process = self._spawn(f"edge-{node.node_id}", "edge", "run", "--config",
                                   str(node.config))
        return node.process

    def read_status(self, node: Node) -> dict[str, object]:
        try:
            return json.loads(node.status_file.read_text())
        except (OSError, ValueError):
            return {}

    def check_alive(self) -> list[str]:
        """Names of the demo's processes that died."""
        dead = [name for name, p in self.processes.items()
                if name != "simulator" and p.poll() is not None]
        return dead

    def stop(self, name: str, timeout: float = 20.0) -> int | None:
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return process.returncode if process else None
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait(5)

    def stop_all(self) -> None:
        for name in [n for n in self.processes if n.startswith("edge-")]:
            self.stop(name)
        self.stop("simulator", 5)
        self.stop("hub")
        for node in self.nodes:
            if node.relay is not None:
                node.relay.close()


def _node_toml(node: Node, site: Site) -> str:
    broker = ("[broker]\nenabled = false\n" if site.broker is None else
              f'[broker]\nhost = "{site.broker[0]}"\nport = {site.broker[1]}\n')
    processor = "".join(f"{key} = {_toml_value(value)}\n" for key, value in node.options.items())
    unit = node.options.get("unit", "")
    return f"""# {node.node_id}: {node.profile} ({node.device_class}), written by borderlink demo
[node]
id = "{node.node_id}"
site = "{site.site_id}"
signing_key = "signing.pem"

[tls]
ca = "ca.pem"
cert = "node.pem"
key = "node.key"
server_name = "localhost"

[device]
profile = "{node.profile}"
url = "{node.url}"
unit_id = "{unit}"

[processor]
{processor}
[hub]
addresses = ["{node.relay.address if node.relay else site.hub_address}"]
linger_ms = 50
retry_initial_s = 0.3
retry_max_s = 2.0
connect_timeout_s = 3.0

{broker}
[journal]
path = "{node.journal}"

[status]
path = "status.json"
interval_s = 0.5
"""


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise DemoError(f"cannot write {value!r} into a node configuration")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
            raise DemoError(f"the hub exited with status {process.returncode}"
                            f"{': ' + said[-1] if said else ''} (its log: {log})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise DemoError(f"the hub did not listen on port {port} within {timeout:g} s; see {log}")
