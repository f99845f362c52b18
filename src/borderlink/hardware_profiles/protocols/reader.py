"""The borderlink reader frame: one document's MRZ lines and UV/IR checks from a passport reader.

Byte layout (ASCII; see docs/device-protocols.md §1)::

    STX "RDR1" "|" seq "|" time_ms "|" reader_id "|" "U" uv "I" ir "|" n "|" line1 ... "|" line_n
    ETX crc CR LF

``seq`` and ``time_ms`` are decimal (device clock, Unix milliseconds), ``uv``/``ir`` are
``1`` (check passed) or ``0`` (flagged), ``n`` is 2 or 3, lines are MRZ characters
(``A-Z 0-9 <``). ``crc`` is CRC-16/CCITT-FALSE over every byte after STX up to and
including ETX, as four upper-case hex digits.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import FrameDecodeError
from ..readings import MrzRead
from ._framing import DelimitedFramer, crc16_ccitt

__all__ = ["ETX", "MAGIC", "STX", "Decoder", "Framer", "encode"]

STX, ETX = 0x02, 0x03
MAGIC = b"RDR1"
_LINE = re.compile(r"^[A-Z0-9<]{30,44}$")
_READER = re.compile(r"^[A-Z0-9-]{1,16}$")


def encode(read: MrzRead) -> bytes:
    """The frame a reader sends for *read*."""
    if not 1 <= len(read.lines) <= 3:
        raise ValueError(f"an MRZ has 2 or 3 lines, got {len(read.lines)}")
    fields = [MAGIC.decode(), str(read.seq), str(round(read.t * 1000)), read.reader_id or "R",
              f"U{int(read.uv_ok)}I{int(read.ir_ok)}", str(len(read.lines)), *read.lines]
    body = "|".join(fields).encode("ascii") + bytes([ETX])
    return bytes([STX]) + body + f"{crc16_ccitt(body):04X}".encode() + b"\r\n"


class Framer(DelimitedFramer):
    """Delimits reader frames (STX … ETX, then the CRC and CR LF) in a serial byte stream;
    skips and counts everything else."""

    starts = (bytes([STX]),)
    end = bytes([ETX])
    trailer = 6  # 4 hex + CR LF

    def __init__(self, max_frame_bytes: int = 512) -> None:
        super().__init__(max_frame_bytes)

    def accept(self, frame: bytes) -> bytes | None:
        body, trailer = frame[1:-self.trailer], frame[-self.trailer:]
        good = trailer[4:] == b"\r\n" and trailer[:4].upper() == f"{crc16_ccitt(body):04X}".encode()
        return frame if good else None


class Decoder:
    """Frames -> :class:`MrzRead` readings."""

    @classmethod
    def from_profile(cls, profile: Any, **_: Any) -> Decoder:
        return cls()

    def decode(self, frame: bytes) -> list[MrzRead]:
        try:
            text = frame[1: frame.rindex(ETX)].decode("ascii")
        except (ValueError, UnicodeDecodeError) as exc:
            raise FrameDecodeError(f"reader frame is not ASCII between STX and ETX: {frame[:40]!r}") from exc
        parts = text.split("|")
        if len(parts) < 8 or parts[0] != MAGIC.decode():
            raise FrameDecodeError(f"reader frame: expected {MAGIC.decode()} and 8+ fields, got {text[:40]!r}")
        _, seq, t_ms, reader_id, flags, count, *lines = parts
        if not (seq.isdigit() and t_ms.isdigit()):
            raise FrameDecodeError(f"reader frame: seq/time must be decimal, got {seq!r}/{t_ms!r}")
        if not _READER.match(reader_id):
            raise FrameDecodeError(f"reader frame: bad reader id {reader_id!r}")
        if not re.fullmatch(r"U[01]I[01]", flags):
            raise FrameDecodeError(f"reader frame: flags must be U0/U1 I0/I1, got {flags!r}")
        if not count.isdigit() or int(count) != len(lines) or len(lines) not in (2, 3):
            raise FrameDecodeError(f"reader frame: line count {count!r} but {len(lines)} lines")
        for line in lines:
            if not _LINE.match(line):
                raise FrameDecodeError(f"reader frame: not an MRZ line: {line!r}")
        return [MrzRead(lines=tuple(lines), uv_ok=flags[1] == "1", ir_ok=flags[3] == "1",
                        t=int(t_ms) / 1000.0, reader_id=reader_id, seq=int(seq))]
