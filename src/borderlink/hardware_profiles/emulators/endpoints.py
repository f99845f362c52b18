"""Where an emulator puts its bytes: a real pseudo-terminal, a TCP server on 127.0.0.1, a folder.

Every endpoint has ``open()``, ``poll(now)`` (accept clients, finish pending files, reconnect
after a disconnect), ``disconnect(seconds, now)``, ``close()`` and ``url(profile)`` — the URL
the edge agent is configured with. Writes never block the emulator: a serial line with nobody
listening drops bytes, a TCP client that does not read is dropped, both counted.
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
import tty
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EmulatorClosedError, UnknownTransportError

__all__ = ["EndpointStats", "FolderEndpoint", "PtyEndpoint", "TcpEndpoint", "endpoint_for"]


@dataclass
class EndpointStats:
    bytes_written: int = 0
    bytes_dropped: int = 0
    writes: int = 0
    disconnects: int = 0
    reconnects: int = 0
    clients: int = 0
    files: int = 0
    partial_files: int = 0
    history: list[str] = field(default_factory=list)


class _Base:
    def __init__(self) -> None:
        self.stats = EndpointStats()
        self.reconnect_at: float | None = None
        self.closed = False

    @property
    def connected(self) -> bool:
        return self.reconnect_at is None and not self.closed

    def disconnect(self, seconds: float, now: float) -> None:
        if self.closed:
            raise EmulatorClosedError("endpoint closed")
        self._down()
        self.stats.disconnects += 1
        self.reconnect_at = now + max(0.0, seconds)

    def poll(self, now: float) -> None:
        if self.reconnect_at is not None and now >= self.reconnect_at and not self.closed:
            self.reconnect_at = None
            self.open()
            self.stats.reconnects += 1

    def _down(self) -> None:  # pragma: no cover - overridden
        pass

    def open(self) -> None:  # pragma: no cover - overridden
        pass


class PtyEndpoint(_Base):
    """A pseudo-terminal: the emulator holds the master, the edge opens the slave path like a
    USB serial adapter. ``link`` (optional) is a stable symlink re-pointed after a reconnect,
    as udev names a re-plugged adapter."""

    def __init__(self, link: str | Path | None = None) -> None:
        super().__init__()
        self.link = Path(link) if link else None
        self.master: int | None = None
        self.slave: int | None = None
        self.path = ""

    def open(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master, self.slave = master, slave
        self.path = os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            tmp.unlink(missing_ok=True)
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link)
        self.stats.history.append(f"open {self.path}")

    @property
    def device_path(self) -> str:
        return str(self.link) if self.link is not None else self.path

    def url(self, profile: Any) -> str:
        return profile.transport.url(port=self.device_path)

    def write(self, data: bytes) -> int:
        if self.closed:
            raise EmulatorClosedError("pty endpoint closed")
        if self.master is None or not self.connected:
            self.stats.bytes_dropped += len(data)
            return 0
        self._drain()
        sent = 0
        while sent < len(data):
            try:
                sent += os.write(self.master, data[sent:])
            except BlockingIOError:
                break  # nobody reads: the line overruns
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EAGAIN):
                    break
                raise
        self.stats.bytes_written += sent
        self.stats.bytes_dropped += len(data) - sent
        self.stats.writes += 1
        return sent

    def _drain(self) -> None:
        """Discard what the host wrote to the device (commands are not emulated)."""
        assert self.master is not None
        try:
            while os.read(self.master, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _down(self) -> None:
        for fd in (self.master, self.slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = None
        self.stats.history.append("disconnect")

    def close(self) -> None:
        if not self.closed:
            self._down()
            self.closed = True
            if self.link is not None and self.link.is_symlink():
                self.link.unlink(missing_ok=True)


class TcpEndpoint(_Base):
    """A TCP server on 127.0.0.1: every connected client gets the device's byte stream."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, send_timeout_s: float = 0.5) -> None:
        super().__init__()
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise UnknownTransportError(f"emulators listen on loopback only, not {host!r}")
        self.host = host
        self.port = port
        self.send_timeout_s = send_timeout_s
        self.listener: socket.socket | None = None
        self.clients: list[socket.socket] = []

    def open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(8)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self.listener = sock
        self.stats.history.append(f"listen {self.host}:{self.port}")

    def url(self, profile: Any) -> str:
        return profile.transport.url(host=self.host, port=self.port)

    def poll(self, now: float) -> None:
        super().poll(now)
        if self.listener is None:
            return
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, OSError):
                break
            conn.settimeout(self.send_timeout_s)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.clients.append(conn)
            self.stats.clients += 1

    def write(self, data: bytes) -> int:
        if self.closed:
            raise EmulatorClosedError("tcp endpoint closed")
        if not self.connected:
            self.stats.bytes_dropped += len(data)
            return 0
        self.poll(0.0)
        for conn in list(self.clients):
            try:
                conn.sendall(data)
            except OSError:  # timeout (client not reading), reset, broken pipe
                self.clients.remove(conn)
                conn.close()
        self.stats.writes += 1
        if self.clients:
            self.stats.bytes_written += len(data)
        else:
            self.stats.bytes_dropped += len(data)
        return len(data) if self.clients else 0

    def _down(self) -> None:
        for conn in self.clients:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self.clients = []
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        self.stats.history.append("disconnect")

    def close(self) -> None:
        if not self.closed:
            self._down()
            self.closed = True


class FolderEndpoint(_Base):
    """Writes export files into a folder, atomically (temporary name + rename) or in chunks
    in place, as the instrument does. While "disconnected" (share unavailable) files queue up
    and are written when it comes back."""

    def __init__(self, folder: str | Path, atomic: bool = True, chunk_delay_s: float = 0.2) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.atomic = atomic
        self.chunk_delay_s = chunk_delay_s
        self.pending: list[tuple[float, Path, bytes]] = []  # (when, path, rest to append)
        self.queued: list[tuple[str, bytes, float]] = []

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        queued, self.queued = self.queued, []
        for name, data, half in queued:
            self.write_file(name, data, 0.0, half)

    def url(self, profile: Any) -> str:
        return profile.transport.url(folder=str(self.folder.resolve()))

    def write_file(self, name: str, data: bytes, now: float, half_written_s: float = 0.0) -> None:
        if self.closed:
            raise EmulatorClosedError("folder endpoint closed")
        if not self.connected:
            self.queued.append((name, data, half_written_s))
            return
        path = self.folder / name
        self.stats.files += 1
        self.stats.writes += 1
        if self.atomic and not half_written_s:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.folder)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
            self.stats.bytes_written += len(data)
            return
        cut = len(data) // 2 if half_written_s else min(len(data), 64 * 1024)
        with open(path, "wb") as fh:
            fh.write(data[:cut])
        self.stats.bytes_written += cut
        if cut < len(data):
            self.stats.partial_files += 1
            self.pending.append((now + (half_written_s or self.chunk_delay_s), path, data[cut:]))

    def poll(self, now: float) -> None:
        super().poll(now)
        due = [p for p in self.pending if p[0] <= now]
        self.pending = [p for p in self.pending if p[0] > now]
        for _, path, rest in due:
            chunk = rest[: 64 * 1024] if not self.atomic else rest
            with open(path, "ab") as fh:
                fh.write(chunk)
            self.stats.bytes_written += len(chunk)
            if len(chunk) < len(rest):
                self.pending.append((now + self.chunk_delay_s, path, rest[len(chunk):]))

    def flush(self) -> None:
        """Finish every partial file now (at shutdown)."""
        while self.pending:
            self.poll(float("inf"))

    def _down(self) -> None:
        self.stats.history.append("disconnect")

    def close(self) -> None:
        if not self.closed:
            self.flush()
            self.closed = True


def endpoint_for(profile: Any, *, port: int | None = None, link: str | Path | None = None,
                 folder: str | Path | None = None) -> PtyEndpoint | TcpEndpoint | FolderEndpoint:
    """The endpoint that serves *profile*'s transport (serial -> pty, tcp -> server, file -> folder)."""
    scheme = profile.transport.scheme
    if scheme == "serial":
        return PtyEndpoint(link)
    if scheme == "tcp":
        return TcpEndpoint("127.0.0.1", int(profile.transport.param("port", 0)) if port is None else port)
    if scheme == "file":
        if folder is None:
            folder = tempfile.mkdtemp(prefix=f"borderlink-{profile.name}-")
        return FolderEndpoint(folder, atomic=profile.transport.atomic_write)
    raise UnknownTransportError(f"no emulator endpoint for scheme {scheme!r} (serial, tcp, file)")
