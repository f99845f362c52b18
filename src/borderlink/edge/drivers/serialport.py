"""``serial://<device path>?baud=9600&parity=N&bytesize=8&stopbits=1`` — a serial port.

Opened with pyserial; a pseudo-terminal (pty) slave works exactly like a USB adapter. When
the device goes away (the adapter unplugged, the pty's master closed) a read fails and
:class:`~borderlink.edge.errors.DeviceDisconnectedError` is raised; ``connect()`` then
succeeds again once the path is back (a udev ``/dev/serial/by-id/…`` link, or any symlink).
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import serial

from ..errors import DeviceDisconnectedError

_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD,
           "M": serial.PARITY_MARK, "S": serial.PARITY_SPACE}
_STOP = {"1": serial.STOPBITS_ONE, "1.5": serial.STOPBITS_ONE_POINT_FIVE,
         "2": serial.STOPBITS_TWO}


class SerialTransport:
    stream = True

    def __init__(self, url: str, port: str, *, baud: int = 9600, parity: str = "N",
                 bytesize: int = 8, stopbits: str = "1", read_chunk: int = 4096) -> None:
        if parity not in _PARITY:
            raise ValueError(f"{url}: parity must be one of {sorted(_PARITY)}, got {parity!r}")
        if stopbits not in _STOP:
            raise ValueError(f"{url}: stopbits must be 1, 1.5 or 2, got {stopbits!r}")
        if bytesize not in (5, 6, 7, 8):
            raise ValueError(f"{url}: bytesize must be 5..8, got {bytesize}")
        self.url = url
        self.port = port
        self.baud = baud
        self.parity = parity
        self.bytesize = bytesize
        self.stopbits = stopbits
        self.read_chunk = read_chunk
        self._serial: serial.Serial | None = None

    def connect(self) -> None:
        self.close()
        try:
            self._serial = serial.Serial(
                self.port, baudrate=self.baud, parity=_PARITY[self.parity],
                bytesize=self.bytesize, stopbits=_STOP[self.stopbits], timeout=0.1,
                exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceDisconnectedError(f"{self.url}: cannot open {self.port}: {exc}") from exc

    def read(self, timeout_s: float) -> list[bytes]:
        port = self._serial
        if port is None:
            raise DeviceDisconnectedError(f"{self.url}: not connected")
        try:
            port.timeout = timeout_s
            data = port.read(max(1, port.in_waiting or 1))
            if data and port.in_waiting:
                data += port.read(min(port.in_waiting, self.read_chunk))
        except (serial.SerialException, OSError, TypeError) as exc:
            # pyserial raises TypeError from a read racing a close on some platforms
            self.close()
            raise DeviceDisconnectedError(f"{self.url}: device went away: {exc}") from exc
        return [data] if data else []

    def close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass


def from_url(url: str, **options: object) -> SerialTransport:
    parts = urlsplit(url)
    path = unquote(parts.netloc + parts.path)
    if not path:
        raise ValueError(f"{url}: a serial URL needs a device path, e.g. serial:///dev/ttyUSB0")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"baud", "parity", "bytesize", "stopbits"}
    if unknown:
        raise ValueError(f"{url}: unknown serial options {sorted(unknown)}")
    try:
        baud = int(query.get("baud", 9600))
        bytesize = int(query.get("bytesize", 8))
    except ValueError as exc:
        raise ValueError(f"{url}: baud and bytesize must be integers") from exc
    stop = query.get("stopbits", "1")
    stop = {"1.0": "1", "2.0": "2"}.get(stop, stop)
    return SerialTransport(url, path, baud=baud, parity=query.get("parity", "N").upper(),
                           bytesize=bytesize, stopbits=stop)
