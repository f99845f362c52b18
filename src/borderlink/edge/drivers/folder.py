"""``file:///<folder>?settle_s=1&poll_s=1&atomic=0&quarantine=<dir>`` — a folder an instrument exports to.

Each completed file is returned whole (one item = one frame for the protocol's file decoder)
and then moved to ``<folder>/processed/``. A file still being written is never returned:

* names that writers use while writing are ignored: dot files, ``*.tmp``, ``*.part``,
  ``*.partial``, ``*~`` — an instrument that writes atomically (write, fsync, rename; query
  ``atomic=1``) makes a file visible only when complete;
* otherwise (``atomic=0``, the default, safe for both) a file must keep the same size and
  modification time for ``settle_s`` seconds, seen on two polls;
* the runner may pass ``is_complete(bytes) -> bool`` (the protocol's own end marker, e.g.
  JCAMP-DX ``##END=``): a file that settled but fails it is counted as a partial file and
  looked at again when it changes; one that stays incomplete for ``give_up_s`` is moved to
  ``<folder>/rejected/`` and counted.

Bad input never blocks the folder. A settled file over ``max_file_bytes`` (the profile's
``framing.max_frame_bytes``) is moved to the quarantine folder unread; one that ``is_complete``
refuses with an exception (the decoder's error: a malformed or implausible file) is moved there
with that error as the reason. Either way the scan goes on with the next file, and the runner
takes each :class:`Quarantined` once (:meth:`FolderTransport.take_quarantined`) to record one
fault naming the file. The quarantine folder (query ``quarantine=``, default
``<folder>/quarantine/``: the same file system, so the move is one rename) is created 0700;
it is never scanned, so a quarantined file stays there across restarts until a technician moves
it back into ``<folder>`` to offer it again. No move ever overwrites: a name already taken gets
a ``.1``, ``.2`` … before its suffix.

``partial_files`` counts half-written files seen; ``rejected_files`` those given up;
``quarantined_files`` those quarantined. A missing folder is a disconnected device (a network
share gone).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import DeviceDisconnectedError

log = logging.getLogger(__name__)

_WRITING_SUFFIXES = (".tmp", ".part", ".partial", "~")
PROCESSED = "processed"
REJECTED = "rejected"
QUARANTINE = "quarantine"


@dataclass(frozen=True)
class Quarantined:
    """A file taken out of the watched folder as bad input: where it went and why."""

    name: str
    path: Path
    reason: str
    #: The note that says this fault is still owed (``None``: the file could not be moved).
    note: Path | None = None


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float
    first_seen: float
    incomplete: bool = False


class FolderTransport:
    stream = False

    def __init__(self, url: str, folder: Path, *, settle_s: float = 1.0, poll_s: float = 1.0,
                 atomic: bool = False, give_up_s: float = 600.0,
                 is_complete: Callable[[bytes], bool] | None = None,
                 max_file_bytes: int | None = None, quarantine: Path | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.folder = folder
        self.settle_s = settle_s
        self.poll_s = poll_s
        self.atomic = atomic
        self.give_up_s = give_up_s
        self.is_complete = is_complete
        self.max_file_bytes = max_file_bytes
        self.quarantine = quarantine if quarantine is not None else folder / QUARANTINE
        self.clock = clock
        self.partial_files = 0
        self.rejected_files = 0
        self.quarantined_files = 0
        self._quarantined: list[Quarantined] = []
        self._seen: dict[str, _Seen] = {}
        # Files that could not be moved (a read-only share, a full disk): (size, mtime) when
        # tried; skipped while unchanged, so they neither block the scan nor repeat
        self._stuck: dict[str, tuple[int, int]] = {}
        self._owed: set[Path] = set()  # quarantined files whose fault is not yet recorded
        self._last_poll = -1e18
        self._connected = False

    def connect(self) -> None:
        if not self.folder.is_dir():
            raise DeviceDisconnectedError(f"{self.url}: folder {self.folder} is not there")
        (self.folder / PROCESSED).mkdir(exist_ok=True)
        self._recover_unreported()
        self._connected = True

    def read(self, timeout_s: float) -> list[bytes]:
        if not self._connected:
            raise DeviceDisconnectedError(f"{self.url}: not connected")
        wait = self._last_poll + self.poll_s - self.clock()
        if wait > 0:
            time.sleep(min(wait, timeout_s))
            if self._last_poll + self.poll_s > self.clock():
                return []
        self._last_poll = self.clock()
        try:
            return self._scan()
        except FileNotFoundError as exc:
            self._connected = False
            raise DeviceDisconnectedError(f"{self.url}: folder went away: {exc}") from exc

    def _scan(self) -> list[bytes]:
        now = self.clock()
        out: list[bytes] = []
        present = set()
        with os.scandir(self.folder) as entries:
            names = sorted((e.name, e) for e in entries if e.is_file(follow_symlinks=False))
        for name, entry in names:
            if name.startswith(".") or name.endswith(_WRITING_SUFFIXES):
                continue
            present.add(name)
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if self._stuck.get(name) == (st.st_size, st.st_mtime_ns):
                continue
            self._stuck.pop(name, None)
            seen = self._seen.get(name)
            if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
                if seen is not None and not seen.incomplete:
                    self.partial_files += 1  # it grew between two polls: half-written
                first = seen.first_seen if seen else now
                self._seen[name] = seen = _Seen(st.st_size, st.st_mtime_ns, now, first)
                if not self.atomic:
                    continue
            elif not self.atomic and now - seen.since < self.settle_s:
                continue
            elif seen.incomplete:
                if now - seen.first_seen >= self.give_up_s:
                    del self._seen[name]
                    self.rejected_files += 1
                    try:
                        self._move(name, REJECTED)
                    except OSError as exc:
                        log.error("%s: %s not moved to %s/: %s", self.url, name, REJECTED, exc)
                        self._stuck[name] = (st.st_size, st.st_mtime_ns)
                continue
            if self.max_file_bytes is not None and st.st_size > self.max_file_bytes:
                # unread: a file this size is not an export of this instrument
                self._quarantine(name, st, f"{st.st_size} bytes exceeds the profile's limit "
                                           f"of {self.max_file_bytes} bytes (unread)")
                continue
            try:
                data = (self.folder / name).read_bytes()
            except FileNotFoundError:
                continue  # taken away between the listing and the read
            except OSError as exc:
                self._quarantine(name, st, f"cannot be read: {exc.strerror or exc}")
                continue
            try:
                complete = self.is_complete is None or self.is_complete(data)
            except Exception as exc:  # any refusal of the decoder: bad input, set it aside
                self._quarantine(name, st, f"{type(exc).__name__}: {exc}")
                continue
            if not complete:
                if not seen.incomplete:
                    self.partial_files += 1
                seen.incomplete = True
                continue
            del self._seen[name]
            try:
                self._move(name, PROCESSED)
            except OSError as exc:  # returned once; never again while it stays unchanged
                log.error("%s: %s read but not moved to %s/: %s", self.url, name, PROCESSED, exc)
                self._stuck[name] = (st.st_size, st.st_mtime_ns)
            out.append(data)
        for name in set(self._seen) - present:
            del self._seen[name]
        for name in set(self._stuck) - present:
            del self._stuck[name]
        return out

    def _quarantine(self, name: str, st: os.stat_result, reason: str) -> None:
        self._seen.pop(name, None)
        try:
            if not self.quarantine.is_dir():
                self.quarantine.mkdir(mode=0o700, parents=True)
                os.chmod(self.quarantine, 0o700)  # whatever the umask: lab results, owner only
            note: Path | None = None

            def owe(target: Path) -> None:
                nonlocal note
                note = _note_for(target)
                _write_note(note, name, reason)

            path = _move_unique(self.folder / name, self.quarantine, before=owe)
        except OSError as exc:  # still reported once, and skipped until it changes
            path, note = self.folder / name, None
            reason += (f"; could not be moved to {self.quarantine}: {exc.strerror or exc}, "
                       "left in place and skipped while unchanged")
            self._stuck[name] = (st.st_size, st.st_mtime_ns)
        self.quarantined_files += 1
        self._quarantined.append(Quarantined(name, path, reason, note))
        self._owed.add(path)

    def take_quarantined(self) -> list[Quarantined]:
        """Files quarantined since the last call (each is returned once); after recording the
        fault the caller says so with :meth:`reported`."""
        taken, self._quarantined = self._quarantined, []
        return taken

    def reported(self, item: Quarantined) -> None:
        """The fault of *item* is durable: its note goes, a restart will not report it again."""
        self._owed.discard(item.path)
        if item.note is not None:
            item.note.unlink(missing_ok=True)

    def _recover_unreported(self) -> None:
        """Faults owed when the agent last stopped (killed between the move and the record):
        each note in the quarantine is reported again, once."""
        if not self.quarantine.is_dir():
            return
        for note in sorted(self.quarantine.glob(".*" + _NOTE_SUFFIX)):
            target = note.with_name(note.name[1:-len(_NOTE_SUFFIX)])
            try:
                name, reason = _read_note(note)
                size = target.stat().st_size
            except (OSError, ValueError):
                note.unlink(missing_ok=True)  # a torn note or no file: nothing to report
                continue
            if target in self._owed:
                continue
            if size == 0 and (self.folder / name).exists():  # stopped before the move itself
                target.unlink()
                note.unlink()
                continue
            self._owed.add(target)
            self._quarantined.append(Quarantined(name, target, reason + " (found after a restart)",
                                                 note))

    def _move(self, name: str, where: str) -> None:
        target = self.folder / where
        target.mkdir(exist_ok=True)
        _move_unique(self.folder / name, target)

    def close(self) -> None:
        self._connected = False


_NOTE_SUFFIX = ".fault-owed"


def _note_for(target: Path) -> Path:
    return target.with_name(f".{target.name}{_NOTE_SUFFIX}")


def _write_note(note: Path, name: str, reason: str) -> None:
    tmp = note.with_name(note.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"name": name, "reason": reason}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, note)


def _read_note(note: Path) -> tuple[str, str]:
    data = json.loads(note.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) \
            or not isinstance(data.get("reason"), str) or "/" in data["name"]:
        raise ValueError(f"{note}: not a quarantine note")
    return data["name"], data["reason"]


def _move_unique(source: Path, folder: Path,
                 before: Callable[[Path], None] | None = None) -> Path:
    """Move *source* into *folder* under its name, or ``stem.N.suffix`` if that is taken.

    The target name is claimed first with ``O_EXCL`` and only then replaced by the file, so two
    files of one name (an instrument that reuses ``sample.jdx``) never overwrite each other.
    *before* is called with the claimed target just before the move.
    """
    stem, suffix = os.path.splitext(source.name)
    for n in range(100_000):
        target = folder / (source.name if n == 0 else f"{stem}.{n}{suffix}")
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            continue
        try:
            if before is not None:
                before(target)
            os.replace(source, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                os.unlink(target)
                if before is not None:
                    _note_for(target).unlink(missing_ok=True)
                raise
            shutil.copyfile(source, target)  # quarantine on another file system
            os.unlink(source)
        return target
    raise FileExistsError(f"{folder}: no free name for {source.name}")


def from_url(url: str, **options: object) -> FolderTransport:
    parts = urlsplit(url)
    path = unquote(parts.netloc + parts.path)
    if not path:
        raise ValueError(f"{url}: a folder URL is file:///path/to/folder")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"settle_s", "poll_s", "atomic", "give_up_s", "quarantine"}
    if unknown:
        raise ValueError(f"{url}: unknown folder options {sorted(unknown)}")
    try:
        kwargs = {k: float(query[k]) for k in ("settle_s", "poll_s", "give_up_s") if k in query}
    except ValueError as exc:
        raise ValueError(f"{url}: settle_s, poll_s and give_up_s are seconds") from exc
    atomic = query.get("atomic", options.pop("atomic", False))
    atomic = atomic in (True, "1", "true", "yes")
    is_complete = options.pop("is_complete", None)
    max_file_bytes = options.pop("max_file_bytes", None)
    for k in ("settle_s", "poll_s"):
        if k in options and k not in kwargs:
            kwargs[k] = float(options.pop(k))  # type: ignore[arg-type]
    quarantine = Path(query["quarantine"]) if query.get("quarantine") else None
    return FolderTransport(url, Path(path), atomic=atomic,
                           is_complete=is_complete,  # type: ignore[arg-type]
                           max_file_bytes=max_file_bytes,  # type: ignore[arg-type]
                           quarantine=quarantine, **kwargs)  # type: ignore[arg-type]
