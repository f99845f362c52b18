"""The firmware supervisor: owns the two slots, runs the edge agent from the active one, and
installs firmware offers with a trial that commits or rolls back.

It runs beside the agent (``borderlink firmware supervise --node-config node.toml --slots DIR``)
and never imports it: the agent verifies a downlink item from the hub (issuer-signed, see
``edge/downlink.py``) and writes it to ``<downlink.dir>/firmware.cose``; the supervisor reads the
offer there, whose content names the image (``{"source": path, "size": n}``), fetches the image
resumably, checks it under the firmware-signing key pinned in ``[firmware] signing_key`` (not a
node key, not the CA) and installs it (:mod:`.install`).

Health of a trial (the new version starts, records, reaches a hub): within
``[firmware] health_deadline_s`` the child is still running and the agent's journal holds a
``node.boot`` record appended after the switch that the hub has acknowledged. Otherwise the
child is stopped, the trial dropped and the committed slot started again.

Each step is appended to ``<slots>/events.jsonl`` (fsynced) as the node event it stands for
(``node.firmware_offered|refused|installing|committed|rolled_back``).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import cbor2

from borderlink.proto.cose import decode_sign1
from borderlink.proto.errors import BorderlinkError

from .errors import FirmwareError
from .install import InstallRefused, Slots, check_offer, fetch_resumable

__all__ = ["Supervisor", "SupervisorConfig", "load_supervisor_config"]


@dataclass(frozen=True)
class SupervisorConfig:
    node_config: Path
    slots: Path
    signing_key: bytes
    target: str
    health_deadline_s: float
    offer_path: Path
    journal_path: Path
    poll_s: float = 0.2
    #: Cap on the download's pace (0: none); ``[firmware] download_rate_bytes_per_s``.
    download_rate_bytes_per_s: float = 0.0


def load_supervisor_config(node_config: Path, slots: Path) -> SupervisorConfig:
    try:
        data = tomllib.loads(node_config.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FirmwareError(f"{node_config}: {exc}") from exc
    fw = data.get("firmware")
    if not isinstance(fw, dict) or not isinstance(fw.get("signing_key"), str):
        raise FirmwareError(f"{node_config}: [firmware] signing_key (64 hex digits: the "
                            "firmware-signing public key) is required to supervise")
    try:
        key = bytes.fromhex(fw["signing_key"])
    except ValueError as exc:
        raise FirmwareError(f"{node_config}: [firmware] signing_key is not hex") from exc
    if len(key) != 32:
        raise FirmwareError(f"{node_config}: [firmware] signing_key must be 32 bytes")
    try:
        # relative paths are the agent's: against the folder of node.toml
        downlink_dir = node_config.parent / Path(data["downlink"]["dir"]).expanduser()
        journal = node_config.parent / Path(data["journal"]["path"]).expanduser()
    except (KeyError, TypeError) as exc:
        raise FirmwareError(f"{node_config}: [downlink] dir and [journal] path are needed "
                            "to supervise") from exc
    rate = fw.get("download_rate_bytes_per_s", 0)
    if not isinstance(rate, (int, float)) or rate < 0:
        raise FirmwareError(f"{node_config}: [firmware] download_rate_bytes_per_s must be a "
                            f"number >= 0 (0: no cap), not {rate!r}")
    return SupervisorConfig(node_config, slots, key, str(fw.get("target", "edge-agent")),
                            float(fw.get("health_deadline_s", 30)),
                            downlink_dir / "firmware.cose", journal,
                            download_rate_bytes_per_s=float(rate))


def image_path(source: str) -> Path:
    """Where an offer's ``source`` names the image: a path or a ``file://`` URL (a folder the
    operator syncs to the node, removable media); other schemes are refused by name."""
    if "://" not in source:
        return Path(source)
    url = urlsplit(source)
    if url.scheme != "file" or url.netloc not in ("", "localhost"):
        raise FirmwareError(f"offer source {source!r}: only a path or a file:// URL is "
                            "fetched by this node")
    return Path(unquote(url.path))


_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel kill the child when *parent* dies (Linux), so a
    ``kill -9`` of the supervisor never leaves an agent running that the next supervisor
    would start a second time on the same journal and device."""
    if not sys.platform.startswith("linux"):
        return None

    def preexec() -> None:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # it died before the request took effect
            os._exit(1)

    return preexec


def _journal_state(path: Path) -> tuple[int, int]:
    """(tip seq, highest acked node.boot seq) of the agent's journal; (0, 0) if none yet."""
    if not path.exists():
        return 0, 0
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            tip = con.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0]
            boot = con.execute("SELECT coalesce(max(seq), 0) FROM records "
                               "WHERE type='node.boot' AND acked=1").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0, 0
    return int(tip), int(boot)


class Supervisor:
    def __init__(self, config: SupervisorConfig) -> None:
        self.config = config
        self.slots = Slots(config.slots)
        self.child: subprocess.Popen[bytes] | None = None
        self._handled_offer: bytes | None = None
        self._stop = False

    # -- events ---------------------------------------------------------------------------

    def event(self, record_type: str, body: dict[str, Any]) -> None:
        self.config.slots.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"type": record_type, "time_ms": int(time.time() * 1000),
                           "body": {k: v.hex() if isinstance(v, bytes) else v
                                    for k, v in body.items()}}) + "\n"
        fd = os.open(self.config.slots / "events.jsonl",
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        print(f"supervisor: {line.strip()}", file=sys.stderr, flush=True)

    # -- the child ------------------------------------------------------------------------

    def _start(self, slot: str | None) -> None:
        env = dict(os.environ)
        env["BORDERLINK_FIRMWARE_EVENTS"] = str(self.config.slots / "events.jsonl")
        if slot is not None:
            lib = str(self.slots.slot(slot) / "lib")
            env["PYTHONPATH"] = lib + (os.pathsep + env["PYTHONPATH"]
                                       if env.get("PYTHONPATH") else "")
        self.child = subprocess.Popen(
            [sys.executable, "-m", "borderlink", "edge", "run", "--config",
             str(self.config.node_config)], env=env, preexec_fn=_die_with(os.getpid()))

    def _stop_child(self) -> None:
        if self.child is None:
            return
        if self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)
            try:
                self.child.wait(10)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
        self.child = None

    def _start_active(self) -> None:
        state = self.slots.load()
        self._start(state.active if state.active in state.versions else None)

    # -- offers ---------------------------------------------------------------------------

    def _read_offer(self) -> tuple[bytes, dict[str, Any]] | None:
        try:
            signed = self.config.offer_path.read_bytes()
        except FileNotFoundError:
            return None
        if signed == self._handled_offer:
            return None
        state = self.slots.load()
        if state.offer == hashlib.sha256(signed).digest() and not state.interrupted:
            self._handled_offer = signed  # taken up before a restart: nothing new
            return None
        try:
            payload = cbor2.loads(decode_sign1(signed).payload)
            content = payload["content"]
            if not isinstance(content, dict):
                raise TypeError("content is not a map")
        except (BorderlinkError, cbor2.CBORDecodeError, KeyError, TypeError, ValueError) as exc:
            self._handled_offer = signed
            self.event("node.firmware_refused", {"reason": "malformed",
                                                 "detail": f"offer unreadable: {exc}"})
            return None
        return signed, content

    def _refuse(self, offer: bytes, body: dict[str, Any]) -> None:
        self.slots.refused(offer)
        self.event("node.firmware_refused", body)

    def handle_offer(self, signed: bytes, content: dict[str, Any]) -> None:
        self._handled_offer = signed
        offer = hashlib.sha256(signed).digest()
        state = self.slots.load()
        partial = self.config.slots / "download" / (offer.hex() + ".part")
        try:
            source, size = image_path(str(content.get("source", ""))), int(content["size"])
            have = partial.stat().st_size if partial.exists() else 0
            if 0 < have < size:
                print(f"supervisor: download resumed at {have} of {size} bytes",
                      file=sys.stderr, flush=True)
            with open(source, "rb") as f:
                def read_at(offset: int, n: int) -> bytes:
                    f.seek(offset)
                    return f.read(n)
                image_bytes = fetch_resumable(
                    read_at, size, partial,
                    rate_bytes_per_s=self.config.download_rate_bytes_per_s)
        except (OSError, FirmwareError, KeyError, TypeError, ValueError) as exc:
            # not remembered across a restart: the next supervisor tries the download again
            self.event("node.firmware_refused", {"reason": "download", "detail": str(exc)})
            return
        # An install accepted but not finished (killed between accept and the trial marker)
        # is taken up again when the same offer is read after the restart.
        interrupted = state.interrupted and state.offer == offer
        try:
            want = content.get("sha256")
            got = hashlib.sha256(image_bytes).digest()
            if want is not None and want != got:
                raise InstallRefused("bad_signature_or_digest",
                                     f"the image's SHA-256 {got.hex()[:16]}… is not the "
                                     f"{bytes(want).hex()[:16]}… the offer names")
            manifest = check_offer(image_bytes, self.config.signing_key,
                                   target=self.config.target,
                                   highest_sequence=state.highest_sequence - interrupted,
                                   running_version=state.running_version)
        except InstallRefused as exc:
            partial.unlink(missing_ok=True)
            self._refuse(offer, exc.body())
            return
        self.event("node.firmware_offered", {"version": manifest.version,
                                             "sequence": manifest.sequence,
                                             "digest": manifest.digest})
        self.slots.accept(manifest, offer)
        self.event("node.firmware_installing", {"version": manifest.version,
                                                "sequence": manifest.sequence,
                                                "slot": state.inactive})
        self.slots.install(image_bytes, manifest)
        partial.unlink(missing_ok=True)
        self.run_trial()

    def run_trial(self) -> None:
        state = self.slots.load()
        assert state.trial is not None
        info = state.versions[state.trial]
        self._stop_child()
        tip_before, _ = _journal_state(self.config.journal_path)
        self.slots.start_trial()
        self._start(state.trial)
        assert self.child is not None
        deadline = time.monotonic() + self.config.health_deadline_s
        reason = f"no acknowledged node.boot within {self.config.health_deadline_s:g} s"
        while time.monotonic() < deadline:
            code = self.child.poll()
            if code is not None:
                reason = f"exited with status {code} during its trial"
                break
            if _journal_state(self.config.journal_path)[1] > tip_before:
                self.slots.commit()
                self.event("node.firmware_committed", {
                    "version": info["version"], "sequence": info["sequence"],
                    "slot": state.trial, "previous": state.running_version or "factory"})
                return
            time.sleep(self.config.poll_s)
        self._stop_child()
        self.slots.rollback()
        self.event("node.firmware_rolled_back", {"version": info["version"], "reason": reason,
                                                 "running": state.running_version or "factory"})
        self._start_active()

    # -- main loop ------------------------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "_stop", True))
        state, rolled = self.slots.resolve_on_start()
        if rolled is not None:
            self.event("node.firmware_rolled_back", {
                "version": rolled, "reason": "the supervisor stopped during its trial",
                "running": state.running_version or "factory"})
        if state.trial is not None:
            self.run_trial()  # installed and marked, never started: run its trial now
        else:
            self._start_active()
        try:
            while not self._stop:
                offer = self._read_offer()
                if offer is not None:
                    self.handle_offer(*offer)
                if self.child is not None and self.child.poll() is not None:
                    time.sleep(1.0)  # the committed agent died: start it again, not in a spin
                    self._start_active()
                time.sleep(self.config.poll_s)
        finally:
            self._stop_child()
        return 0
