"""Ordinary mistakes, made through the real ``borderlink`` command in real processes: each ends
with a non-zero exit, no traceback, and a last line on stderr that names the problem.

The TLS material is made here (``hub init`` twice: the hub's CA and a foreign one); a real hub
serves on loopback, so refused certificates, taken ports and unreachable hubs are the real
thing, not simulated.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from borderlink.provisioning.trust import CaDirectory


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def borderlink(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-m", "borderlink", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@dataclass
class Lab:
    root: Path
    hub: Path  # hub init folder: ca, hub, admin certificates, hub.toml
    foreign: Path  # another hub init folder: a CA the hub does not trust
    port: int
    metrics_port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def admin(self, **change: object) -> list[str]:
        admin = self.hub.parent / "hub-admin"
        files: dict[str, object] = {"cert": admin / "admin.pem", "key": admin / "admin.key",
                 "ca": self.hub / "ca.pem", "hub": self.address}  # fmt: skip
        files.update(change)
        return [x for k, v in files.items() for x in (f"--{k}", str(v))]

    def agency(self, **change: object) -> list[str]:
        files: dict[str, object] = {"cert": self.root / "sbs.pem", "key": self.root / "sbs.key"}
        return self.admin(**{**files, **change})


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("mistakes")
    port, metrics_port = _port(), _port()
    for name, listen, metrics in (("hub", port, metrics_port), ("foreign", _port(), 0)):
        done = borderlink("hub", "init", "--dir", str(root / name), "--listen",
                          f"127.0.0.1:{listen}", "--metrics-port", str(metrics))  # fmt: skip
        assert done.returncode == 0, done.stderr
    CaDirectory(root / "hub-ca").issuing().issue_agency("SBS").save(
        root / "sbs.pem", root / "sbs.key")
    CaDirectory(root / "foreign-ca").issuing().issue_agency("SBS").save(
        root / "intruder.pem", root / "intruder.key")
    # a hub configuration whose key is not its certificate's
    toml = (root / "hub" / "hub.toml").read_text()
    (root / "hub" / "mismatch.toml").write_text(toml.replace(
        'key = "hub.key"', f'key = "{root / "hub-admin" / "admin.key"}"'))  # fmt: skip
    (root / "a-file").write_text("not a folder\n")
    log = (root / "hub.log").open("w")
    hub = subprocess.Popen(
        [sys.executable, "-m", "borderlink", "hub", "serve", "--config",
         str(root / "hub" / "hub.toml")],
        stdout=subprocess.DEVNULL, stderr=log, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while "serving on port" not in (root / "hub.log").read_text():
        if hub.poll() is not None or time.monotonic() > deadline:
            hub.kill()
            pytest.fail(f"the hub did not start: {(root / 'hub.log').read_text()}")
        time.sleep(0.2)
    try:
        yield Lab(root, root / "hub", root / "foreign", port, metrics_port)
    finally:
        hub.terminate()
        hub.wait(30)
        log.close()


@dataclass(frozen=True)
class Mistake:
    name: str
    args: tuple[str, ...]
    says: tuple[str, ...]  # every one of these is in the last line of stderr
    exit_code: int
    env: tuple[tuple[str, str], ...] = ()


def mistakes(lab: Lab) -> list[Mistake]:
    r, h, f = lab.root, lab.hub, lab.foreign
    free = f"127.0.0.1:{_port()}"
    return [
        Mistake("listen port in use", ("hub", "serve", "--config", str(h / "hub.toml")),
                ("metrics", str(lab.metrics_port), "already in use"), 3),
        Mistake("gRPC port in use (metrics free)",
                ("hub", "serve", "--config", str(f / "hub.toml")), ("error",), 0),
        Mistake("hub key not its certificate's",
                ("hub", "serve", "--config", str(h / "mismatch.toml")),
                ("admin.key", "does not belong to the certificate", "hub.pem"), 2),
        Mistake("hub config missing", ("hub", "serve", "--config", str(r / "no-such.toml")),
                ("no-such.toml",), 2),
        Mistake("client key not its certificate's", ("hub", "nodes", *lab.admin(key=h / "hub.key")),
                ("hub.key", "does not belong to the certificate", "admin.pem"), 2),
        Mistake("agency key not its certificate's",
                ("agency", "query", *lab.agency(key=r / "hub-admin" / "admin.key")),
                ("admin.key", "does not belong to the certificate", "sbs.pem"), 2),
        Mistake("certificate from another CA",
                ("agency", "query", *lab.agency(cert=r / "intruder.pem", key=r / "intruder.key")),
                ("refused this certificate",), 2),
        Mistake("client trusts another CA", ("hub", "nodes", *lab.admin(ca=f / "ca.pem")),
                ("does not trust the certificate", lab.address), 2),
        Mistake("client certificate file missing",
                ("hub", "nodes", *lab.admin(cert=r / "gone.pem")),
                ("gone.pem", "no such file"), 2),
        Mistake("hub without a port", ("hub", "nodes", *lab.admin(hub="localhost")),
                ("--hub", "expected host:port", "localhost:7443"), 2),
        Mistake("hub not running", ("agency", "query", *lab.agency(hub=free)),
                ("nothing answers", free), 3),
        Mistake("negative cursor", ("agency", "query", "--cursor", "-1", *lab.agency()),
                ("--cursor", "expected 0 or more"), 2),
        Mistake("unknown record type", ("agency", "query", "--type", "no.such", *lab.agency()),
                ("no.such", "no such record type", "document.check", "radiation.occupancy"), 2),
        Mistake("log key neither key nor file",
                ("agency", "query", "--log-key", "not-a-key", *lab.agency()),
                ("--log-key", "not-a-key"), 2),
        Mistake("trusted keys not JSON",
                ("agency", "query", "--trusted-keys", str(h / "hub.toml"), *lab.agency()),
                ("trusted keys", "hub.toml"), 2),
        Mistake("bad log level in the environment", ("profiles", "list"),
                ("BORDERLINK_LOG_LEVEL", "LOUD", "invalid choice"), 2,
                (("BORDERLINK_LOG_LEVEL", "LOUD"),)),
        Mistake("bad hub address in the environment", ("hub", "nodes", *lab.admin()[:-2]),
                ("expected host:port", "localhost"), 2, (("BORDERLINK_HUB", "localhost"),)),
        Mistake("policy file missing", ("hub", "policy", str(r / "policy.toml"), *lab.admin()),
                ("policy.toml", "no such file"), 2),
        Mistake("hub init under a file", ("hub", "init", "--dir", str(r / "a-file" / "hub")),
                ("a-file", "is a file, not a folder"), 2),
        Mistake("hub init over a hub", ("hub", "init", "--dir", str(h)),
                ("hub.toml exists",), 2),
        Mistake("demo --keep is a file", ("demo", "--keep", str(r / "a-file")),
                ("--keep", "a-file", "is a file"), 2),
        Mistake("demo --keep not creatable", ("demo", "--keep", str(r / "a-file" / "work")),
                ("--keep", "a-file", "is a file"), 2),
        Mistake("audit of a missing record",
                ("audit", "verify-sign1", str(r / "record.cbor"), "--public-key", "00" * 32),
                ("record.cbor",), 1),
    ]  # fmt: skip


def test_every_mistake_gets_one_clear_line(lab: Lab) -> None:
    problems = []
    for mistake in mistakes(lab):
        if mistake.name.startswith("gRPC port in use"):
            # the foreign hub's config listens on its own port: point it at the live hub's
            toml = (lab.foreign / "hub.toml").read_text()
            listen = toml.split('listen = "', 1)[1].split('"', 1)[0]
            (lab.foreign / "hub.toml").write_text(toml.replace(listen, lab.address))
            mistake = Mistake(mistake.name, mistake.args,
                              (lab.address, "already in use"), 3)  # fmt: skip
        done = borderlink(*mistake.args, env=dict(mistake.env))
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else ""
        if done.returncode != mistake.exit_code:
            problems.append(f"{mistake.name}: exit {done.returncode}, wanted {mistake.exit_code}")
        if "Traceback" in done.stderr:
            problems.append(f"{mistake.name}: a traceback:\n{done.stderr}")
        missing = [word for word in mistake.says if word not in last]
        if missing:
            problems.append(f"{mistake.name}: last line {last!r} does not say {missing}")
    assert not problems, "\n".join(problems)


def test_log_key_and_trusted_keys_take_a_file_or_the_value(lab: Lab) -> None:
    vkey = (lab.hub / "log.vkey").read_text().strip()
    trusted = lab.root / "trusted.json"
    trusted.write_text('[{"node_id": "bil-rpm-01", "kid": "00"}]')
    for log_key in (str(lab.hub / "log.vkey"), vkey):
        for keys in (str(trusted), trusted.read_text()):
            done = borderlink("agency", "query", "--log-key", log_key, "--trusted-keys", keys,
                              *lab.agency())  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert '"records": 0' in done.stderr


def test_a_failed_demo_says_where_its_work_folder_is(lab: Lab) -> None:
    """The demo's hub cannot bind (its metrics port is taken by the live hub): the run stops
    early, and the folder with its private keys is named, not silently left behind."""
    work = lab.root / "demo-work"
    done = borderlink("demo", "--keep", str(work), "--broker", "none",
                      env={"BORDERLINK_DEMO_METRICS_PORT": str(lab.metrics_port)})  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert f"work folder {work} is kept" in done.stderr
    assert "private keys" in done.stderr
    assert (work / "hub" / "ca.key").exists() or any(work.rglob("*.key"))
    assert work.stat().st_mode & 0o077 == 0  # the kept folder holds keys and the store
    assert (work / "hub").stat().st_mode & 0o077 == 0


def test_json_logs_make_every_stderr_line_json(tmp_path: Path) -> None:
    """With --log-format json, the printed error line is a JSON object too."""
    import json

    done = borderlink("--log-format", "json", "hub", "serve", "--config",
                      str(tmp_path / "none.toml"))  # fmt: skip
    assert done.returncode == 2
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert lines and lines[-1]["level"] == "error" and "none.toml" in lines[-1]["msg"]
