"""Install an edge-agent release into the inactive of two slots, with a trial and rollback.

Layout of the slots folder (owned by the supervisor, one writer)::

    state.cbor          the only source of truth: active slot, trial, highest accepted sequence
    a/ b/               the two slots, each one unpacked release plus its manifest
    download/<digest>.part   an image being fetched, appended chunk by chunk (fsynced)

Every change of ``state.cbor`` is written to a temporary file, fsynced, renamed over it and the
folder fsynced, so a ``kill -9`` or a power cut leaves the old or the new state, never a mix.
The order of an install makes every crash point bootable:

1. the offer is checked (signature under the pinned firmware-signing key, target class,
   sequence above the highest accepted one, every file's digest) and the sequence is made
   durable *before* anything is unpacked, so a replay of the same or an older offer is refused
   even after a crash;
2. the files are unpacked into ``<slot>.new`` and renamed over the inactive slot (the active
   slot is never touched);
3. the state names the inactive slot as ``trial`` (the active slot stays the committed one);
4. the supervisor starts the trial; it commits (``active = trial``) when the new version is
   healthy within the deadline, or rolls back (drops the trial) otherwise.

A start that finds a trial marker it did not set itself resolves it as a failed trial: the new
version was running when the supervisor died, it has not proven itself, so the committed slot
boots (see :meth:`Slots.resolve_on_start`).
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cbor2

from .errors import FirmwareError, ImageVerificationError
from .manifest import Image, Manifest, parse_version, verify_image

__all__ = ["InstallRefused", "Slots", "SlotState", "check_offer", "fetch_resumable"]

SLOTS = ("a", "b")
CHUNK = 64 * 1024


class InstallRefused(FirmwareError):
    """An offer refused before any install step; *reason* is recorded."""

    def __init__(self, reason: str, detail: str, manifest: Manifest | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.manifest = manifest  # when the image could be read: its version and sequence

    def body(self) -> dict[str, Any]:
        """The ``node.firmware_refused`` body: reason, detail, and what the image claims."""
        body: dict[str, Any] = {"reason": self.reason, "detail": self.detail}
        if self.manifest is not None:
            body.update(version=self.manifest.version, sequence=self.manifest.sequence)
        return body


@dataclass(frozen=True)
class SlotState:
    active: str
    highest_sequence: int
    versions: dict[str, dict[str, Any]]  # slot -> {"version", "sequence", "digest"}
    trial: str | None = None
    trial_started: bool = False
    done_sequence: int = 0  # the last sequence whose install ended (committed or rolled back)
    #: SHA-256 of the last offer (the signed downlink item) taken up: accepted or refused. The
    #: same offer read again after a restart is not handled twice (no spurious "replay").
    offer: bytes | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"active": self.active, "highest_sequence": self.highest_sequence,
                "versions": self.versions, "trial": self.trial,
                "trial_started": self.trial_started, "done_sequence": self.done_sequence,
                "offer": self.offer}

    @property
    def interrupted(self) -> bool:
        """An offer accepted (its sequence durable) whose install never reached the trial."""
        return self.highest_sequence > self.done_sequence and self.trial is None

    @property
    def inactive(self) -> str:
        return SLOTS[1 - SLOTS.index(self.active)]

    @property
    def running_version(self) -> str | None:
        info = self.versions.get(self.active)
        return str(info["version"]) if info else None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def check_offer(image_bytes: bytes, public_key: bytes, *, target: str,
                highest_sequence: int, running_version: str | None) -> Manifest:
    """Every check before a byte is installed; raises :class:`InstallRefused` with a reason."""
    try:
        image = Image.decode(image_bytes)
        manifest = image.manifest
    except FirmwareError as exc:
        raise InstallRefused("malformed", str(exc)) from exc
    if manifest.target != target:
        raise InstallRefused("wrong_target", f"image is for {manifest.target!r}, this node "
                             f"is {target!r}", manifest)
    try:
        verify_image(image, public_key, target=target)
    except ImageVerificationError as exc:
        raise InstallRefused("bad_signature_or_digest", str(exc), manifest) from exc
    if manifest.sequence <= highest_sequence:
        reason = "replay" if manifest.sequence == highest_sequence else "downgrade"
        raise InstallRefused(reason, f"sequence {manifest.sequence} is not above the "
                             f"{highest_sequence} already accepted", manifest)
    if running_version is not None and (
            parse_version(running_version) < parse_version(manifest.min_version)):
        raise InstallRefused("min_version", f"{manifest.version} updates from "
                             f"{manifest.min_version} or later, this node runs "
                             f"{running_version}", manifest)
    return manifest


def fetch_resumable(read_at: Callable[[int, int], bytes], size: int, partial: Path, *,
                    rate_bytes_per_s: float = 0.0) -> bytes:
    """Fetch *size* bytes through ``read_at(offset, n)`` into *partial*, resuming from what a
    previous (interrupted) fetch left there; each chunk is fsynced before the next is asked
    for, so a power cut loses at most the chunk in flight. A positive *rate_bytes_per_s*
    caps the pace (a node on a narrow link leaves room for its records)."""
    partial.parent.mkdir(parents=True, exist_ok=True)
    chunk_size = CHUNK if rate_bytes_per_s <= 0 else max(1024, min(CHUNK, int(rate_bytes_per_s
                                                                             / 4)))
    fd = os.open(partial, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        have = os.fstat(fd).st_size
        if have > size:  # not ours (a different image under the same name): start again
            os.ftruncate(fd, 0)
            have = 0
        os.lseek(fd, have, os.SEEK_SET)
        started, start_have = time.monotonic(), have
        while have < size:
            chunk = read_at(have, min(chunk_size, size - have))
            if not chunk:
                raise FirmwareError(f"download stopped at {have} of {size} bytes")
            os.write(fd, chunk)
            os.fsync(fd)
            have += len(chunk)
            if rate_bytes_per_s > 0:
                ahead = (have - start_have) / rate_bytes_per_s - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        os.lseek(fd, 0, os.SEEK_SET)
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    finally:
        os.close(fd)


def _unpack(image: Image, manifest: Manifest, dest: Path) -> None:
    """The image's files, and each ``.whl`` unpacked beside them into ``lib/`` (a wheel is a
    zip laid out as site-packages; pure-Python wheels run from it on ``PYTHONPATH``)."""
    dest.mkdir(parents=True)
    for name, data in image.files.items():
        path = dest / name
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if name.endswith(".whl"):
            with zipfile.ZipFile(io.BytesIO(data)) as wheel:
                wheel.extractall(dest / "lib")
    with open(dest / "manifest.cbor", "wb") as f:
        f.write(image.manifest_bytes)
        f.flush()
        os.fsync(f.fileno())
    for folder, _dirs, _files in os.walk(dest):
        _fsync_dir(Path(folder))


class Slots:
    """The two slots and their state; one process (the supervisor) owns a folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.state_path = self.root / "state.cbor"

    def slot(self, name: str) -> Path:
        return self.root / name

    def load(self) -> SlotState:
        try:
            raw = cbor2.loads(self.state_path.read_bytes())
        except FileNotFoundError:
            return SlotState("a", 0, {})
        except (cbor2.CBORDecodeError, ValueError) as exc:
            raise FirmwareError(f"{self.state_path}: unreadable slot state: {exc}") from exc
        return SlotState(str(raw["active"]), int(raw["highest_sequence"]),
                         dict(raw["versions"]), raw.get("trial"),
                         bool(raw.get("trial_started")), int(raw.get("done_sequence", 0)),
                         raw.get("offer"))

    def save(self, state: SlotState) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.state_path, cbor2.dumps(state.to_dict(), canonical=True))

    def resolve_on_start(self) -> tuple[SlotState, str | None]:
        """At start: a trial that had been started (and so ran without committing before this
        process died) is rolled back; a trial written but never started is kept to be run.
        Returns the state and the version rolled back, if any."""
        state = self.load()
        if state.trial is not None and state.trial_started:
            rolled = state.versions.get(state.trial, {}).get("version")
            state = self._drop_trial(state)
            return state, str(rolled) if rolled else None
        return state, None

    def _drop_trial(self, state: SlotState) -> SlotState:
        versions = dict(state.versions)
        if state.trial is not None:
            versions.pop(state.trial, None)
        new = replace(state, versions=versions, trial=None, trial_started=False,
                      done_sequence=state.highest_sequence)
        self.save(new)
        return new

    def accept(self, manifest: Manifest, offer: bytes | None = None) -> SlotState:
        """Make the offer's sequence durable before unpacking (a replay stays refused);
        *offer* is the SHA-256 of the signed offer it came in."""
        state = self.load()
        new = replace(state, highest_sequence=manifest.sequence,
                      offer=offer if offer is not None else state.offer)
        self.save(new)
        return new

    def refused(self, offer: bytes) -> SlotState:
        """Remember a refused offer, so that reading it again after a restart is no event."""
        new = replace(self.load(), offer=offer)
        self.save(new)
        return new

    def install(self, image_bytes: bytes, manifest: Manifest) -> SlotState:
        """Unpack into the inactive slot and mark it as the trial."""
        state = self.load()
        image = Image.decode(image_bytes)
        target = self.slot(state.inactive)
        staging = target.with_name(f"{target.name}.new")
        _rmtree(staging)
        _unpack(image, manifest, staging)
        _rmtree(target)
        os.replace(staging, target)
        _fsync_dir(self.root)
        versions = dict(state.versions)
        versions[state.inactive] = {"version": manifest.version, "sequence": manifest.sequence,
                                    "digest": manifest.digest}
        new = replace(state, versions=versions, trial=state.inactive, trial_started=False)
        self.save(new)
        return new

    def start_trial(self) -> SlotState:
        state = self.load()
        new = replace(state, trial_started=True)
        self.save(new)
        return new

    def commit(self) -> SlotState:
        state = self.load()
        if state.trial is None:
            raise FirmwareError("no trial to commit")
        new = replace(state, active=state.trial, trial=None, trial_started=False,
                      done_sequence=state.highest_sequence)
        self.save(new)
        return new

    def rollback(self) -> SlotState:
        return self._drop_trial(self.load())


def _rmtree(path: Path) -> None:
    if not path.exists():
        return
    for folder, dirs, files in os.walk(path, topdown=False):
        for name in files:
            os.unlink(os.path.join(folder, name))
        for name in dirs:
            os.rmdir(os.path.join(folder, name))
    os.rmdir(path)
