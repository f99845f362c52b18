"""Pieces every framer shares: its counters and the CRC used by the proprietary formats."""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass


@dataclass
class FramerStats:
    """What a framer has seen so far (mutable; the driver reports it as device health).

    ``garbage_bytes`` counts bytes skipped while resynchronising (line noise, partial frames,
    dropped bytes), ``bad_checksum`` frames whose checksum failed, ``oversize`` frames longer
    than the limit, ``frames`` good frames returned.
    """

    frames: int = 0
    garbage_bytes: int = 0
    bad_checksum: int = 0
    oversize: int = 0
    resyncs: int = 0

    def skip(self, count: int) -> None:
        if count > 0:
            self.garbage_bytes += count
            self.resyncs += 1


def crc16_ccitt(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor.

    Check value: ``crc16_ccitt(b"123456789") == 0x29B1``. (The standard library's
    ``binascii.crc_hqx`` is exactly this CRC when seeded with 0xFFFF.)
    """
    return binascii.crc_hqx(data, crc)


class MarkedFramer:
    """The framing both binary proprietary formats share: a sync marker, a header that gives
    the length, and a CRC-16/CCITT over everything after the marker in the frame's last two
    bytes. Resynchronises byte by byte on garbage, a bad header or a bad CRC, and counts it.

    A subclass sets :attr:`marker` and :attr:`header` and says, in :meth:`frame_length`,
    how long the frame starting at the buffer's head is, or that its header is impossible.
    """

    marker: bytes = b""
    header: struct.Struct = struct.Struct("")

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.stats = FramerStats()
        self._buf = bytearray()

    def frame_length(self, buf: bytearray) -> int | None:
        """Total length of the frame whose header starts *buf*; ``None``: not a frame here."""
        raise NotImplementedError

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        buf = self._buf
        marker = self.marker
        out: list[bytes] = []
        while True:
            start = buf.find(marker)
            if start < 0:
                keep = 1 if buf.endswith(marker[:1]) else 0
                self.stats.skip(len(buf) - keep)
                del buf[: len(buf) - keep]
                break
            if start:
                self.stats.skip(start)
                del buf[:start]
            if len(buf) < self.header.size:
                break
            total = self.frame_length(buf)
            if total is None:
                self.stats.skip(1)
                del buf[:1]
                continue
            if len(buf) < total:
                break
            frame = bytes(buf[:total])
            (crc,) = struct.unpack_from(">H", frame, total - 2)
            if crc != crc16_ccitt(frame[len(marker): total - 2]):
                self.stats.bad_checksum += 1
                self.stats.skip(1)
                del buf[:1]
                continue
            del buf[:total]
            self.stats.frames += 1
            out.append(frame)
        return out


class DelimitedFramer:
    """The framing the text-like formats share: a frame begins with one of :attr:`starts`
    and ends with :attr:`end`, followed by :attr:`trailer` more bytes (a checksum after the
    end byte). Everything between frames is garbage, skipped and counted; a start seen again
    before the end means the frame was cut short, and the framer resynchronises on it.

    A subclass says in :meth:`accept` what a complete frame yields (``None``: its checksum or
    content is bad, and it is counted as a bad checksum).
    """

    starts: tuple[bytes, ...] = ()
    end: bytes = b"\n"
    trailer: int = 0

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.stats = FramerStats()
        self._buf = bytearray()

    def accept(self, frame: bytes) -> bytes | None:
        """What the complete *frame* (start to trailer) yields, or ``None`` if it is bad."""
        raise NotImplementedError

    def _find_start(self, buf: bytearray, at: int) -> int:
        found = [i for i in (buf.find(s, at) for s in self.starts) if i >= 0]
        return min(found) if found else -1

    def _partial_start(self, buf: bytearray) -> int:
        """How many bytes at the end of *buf* may be the beginning of a start marker, which
        the next read completes: kept, not counted as garbage."""
        longest = max(len(s) for s in self.starts)
        for n in range(min(longest - 1, len(buf)), 0, -1):
            if any(s.startswith(buf[-n:]) for s in self.starts):
                return n
        return 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        buf = self._buf
        out: list[bytes] = []
        while True:
            start = self._find_start(buf, 0)
            if start < 0:
                keep = self._partial_start(buf)
                self.stats.skip(len(buf) - keep)
                del buf[: len(buf) - keep]
                break
            if start:
                self.stats.skip(start)
                del buf[:start]
            end = buf.find(self.end, 1)
            nxt = self._find_start(buf, 1)
            if 0 < nxt and (end < 0 or nxt < end):
                self.stats.skip(nxt)  # a frame cut short: resync on the next start
                del buf[:nxt]
                continue
            if end < 0:
                if len(buf) > self.max_frame_bytes:
                    self.stats.oversize += 1
                    self.stats.skip(len(buf))
                    buf.clear()
                break
            total = end + len(self.end) + self.trailer
            if len(buf) < total:
                break
            frame = bytes(buf[:total])
            if total > self.max_frame_bytes:
                self.stats.oversize += 1
                self.stats.skip(total)
                del buf[:total]
                continue
            accepted = self.accept(frame)
            if accepted is None:
                # One byte only: a damaged trailer may hold the start of the next frame.
                self.stats.bad_checksum += 1
                self.stats.skip(1)
                del buf[:1]
                continue
            del buf[:total]
            self.stats.frames += 1
            out.append(accepted)
        return out
