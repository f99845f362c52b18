"""A client of MicroPython's raw REPL (the protocol mpremote speaks), over any byte stream
with ``read(n)`` / ``write(b)`` and a read timeout (a pyserial port).

mpremote's own serial transport is not used: it toggles RTS/DTR on open, which a pty refuses
(the ioctl fails), and the unix port is reachable only over a pty.

Protocol: Ctrl-C twice interrupts what runs; Ctrl-A enters the raw REPL (banner
``raw REPL; CTRL-B to exit`` then ``>``); code is sent followed by Ctrl-D; the device answers
``OK``, the output, Ctrl-D, the error output, Ctrl-D, then ``>`` again. Ctrl-B leaves the raw
REPL; Ctrl-D at the friendly prompt soft-resets a board (the unix port exits).
"""

from __future__ import annotations

import time
from typing import Protocol

from .errors import DeviceError

__all__ = ["RawRepl", "Stream"]


class Stream(Protocol):
    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...


class RawRepl:
    def __init__(self, stream: Stream, *, timeout_s: float = 10.0) -> None:
        self.stream = stream
        self.timeout_s = timeout_s

    def _read_until(self, marker: bytes, what: str) -> bytes:
        buf = bytearray()
        deadline = time.monotonic() + self.timeout_s
        while not buf.endswith(marker):
            if time.monotonic() > deadline:
                raise DeviceError(f"no {what} from the device within {self.timeout_s:g} s "
                                  f"(got {bytes(buf[-60:])!r})")
            buf += self.stream.read(1)
        return bytes(buf)

    def enter(self) -> None:
        self.stream.write(b"\r\x03\x03")
        time.sleep(0.1)
        self.stream.write(b"\r\x01")
        self._read_until(b"raw REPL; CTRL-B to exit\r\n>", "raw REPL banner")

    def exec(self, code: str) -> bytes:
        """Run *code* on the device; its printed output, or :class:`DeviceError` with its
        traceback when it raised."""
        self.stream.write(code.encode("utf-8") + b"\x04")
        ok = self._read_until(b"OK", "OK")
        if not ok.endswith(b"OK"):
            raise DeviceError(f"device did not accept the code: {ok!r}")
        out = self._read_until(b"\x04", "output")[:-1]
        err = self._read_until(b"\x04", "error output")[:-1]
        self._read_until(b">", "prompt")
        if err:
            raise DeviceError(f"device raised: {err.decode('utf-8', 'replace').strip()}")
        return out

    def soft_reset(self) -> None:
        """Leave the raw REPL and soft-reset (a board reboots into main.py)."""
        self.stream.write(b"\x02")
        self._read_until(b">>> ", "friendly prompt")
        self.stream.write(b"\x04")
