"""``tcp://<host>:<port>`` — a TCP client to a device that serves its stream.

A closed or reset connection raises :class:`~borderlink.edge.errors.DeviceDisconnectedError`;
the runner calls ``connect()`` again after its back-off.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from ..errors import DeviceDisconnectedError


class TcpTransport:
    stream = True

    def __init__(self, url: str, host: str, port: int, *, connect_timeout_s: float = 3.0,
                 read_chunk: int = 65536) -> None:
        self.url = url
        self.host = host
        self.port = port
        self.connect_timeout_s = connect_timeout_s
        self.read_chunk = read_chunk
        self._sock: socket.socket | None = None

    def connect(self) -> None:
        self.close()
        try:
            sock = socket.create_connection((self.host, self.port), self.connect_timeout_s)
        except OSError as exc:
            raise DeviceDisconnectedError(f"{self.url}: cannot connect: {exc}") from exc
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._sock = sock

    def read(self, timeout_s: float) -> list[bytes]:
        sock = self._sock
        if sock is None:
            raise DeviceDisconnectedError(f"{self.url}: not connected")
        try:
            sock.settimeout(timeout_s)
            data = sock.recv(self.read_chunk)
        except TimeoutError:
            return []
        except OSError as exc:
            self.close()
            raise DeviceDisconnectedError(f"{self.url}: connection broken: {exc}") from exc
        if not data:
            self.close()
            raise DeviceDisconnectedError(f"{self.url}: device closed the connection")
        return [data]

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def from_url(url: str, **options: object) -> TcpTransport:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url}: bad TCP port") from exc
    if not parts.hostname or port is None:
        raise ValueError(f"{url}: a TCP URL is tcp://host:port")
    return TcpTransport(url, parts.hostname, port)
