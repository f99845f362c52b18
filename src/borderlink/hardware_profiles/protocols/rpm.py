"""Radiation portal monitor stream: binary count frames and N42.42 reports (proprietary framing).

Frame (big-endian; docs/device-protocols.md §2)::

    offset size  field
    0      2     sync 0xAA 0x55
    2      1     version (1)
    3      1     type: 0x01 counts, 0x03 N42.42 report (UTF-8 XML), 0x04 heartbeat
    4      2     payload length L (0 .. 65000)
    6      4     frame sequence number (wraps at 2**32)
    10     L     payload
    10+L   2     CRC-16/CCITT-FALSE over bytes 2 .. 10+L-1 (version … payload)

Counts payload: u64 time (Unix ms, device clock), 4 bytes lane (ASCII, right-padded with
spaces), u8 flags (bit 0 occupied), u16 vehicle speed (0.1 km/h, 0xFFFF none), u8 panel
count N, then N x (u8 panel, u16 gamma_low, u16 gamma_high, u16 neutron).
Heartbeat payload: u64 time, 4 bytes lane, u8 status bits (bit 0 tamper, bit 1 detector fault).
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import FrameDecodeError
from ..readings import CountSample, OccupancyReport
from . import n42
from ._framing import MarkedFramer, crc16_ccitt

__all__ = [
    "SYNC",
    "T_COUNTS",
    "T_HEARTBEAT",
    "T_N42",
    "Decoder",
    "Framer",
    "encode_counts",
    "encode_heartbeat",
    "encode_report",
]

SYNC = b"\xaa\x55"
VERSION = 1
T_COUNTS, T_N42, T_HEARTBEAT = 0x01, 0x03, 0x04
_HEADER = struct.Struct(">2sBBHI")
MAX_PAYLOAD = 65000


def _frame(kind: int, seq: int, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"RPM payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    head = _HEADER.pack(SYNC, VERSION, kind, len(payload), seq & 0xFFFFFFFF)
    body = head[2:] + payload
    return SYNC + body + struct.pack(">H", crc16_ccitt(body))


def _lane(lane: str) -> bytes:
    return lane.encode("ascii")[:4].ljust(4)


def encode_counts(samples: list[CountSample] | tuple[CountSample, ...], seq: int = 0,
                  speed_kmh: float | None = None) -> bytes:
    """One counts frame holding one sample per panel (all with the same time and lane)."""
    first = samples[0]
    speed = 0xFFFF if speed_kmh is None else min(round(speed_kmh * 10), 0xFFFE)
    payload = struct.pack(">Q4sBHB", round(first.t * 1000), _lane(first.lane), int(first.occupied),
                          speed, len(samples))
    for s in samples:
        payload += struct.pack(">BHHH", s.panel, min(s.gamma_low, 0xFFFF), min(s.gamma_high, 0xFFFF),
                               min(s.neutron, 0xFFFF))
    return _frame(T_COUNTS, seq, payload)


def encode_report(report: OccupancyReport, seq: int = 0) -> bytes:
    return _frame(T_N42, seq, n42.encode_report(report))


def encode_heartbeat(t: float, lane: str, status: int = 0, seq: int = 0) -> bytes:
    return _frame(T_HEARTBEAT, seq, struct.pack(">Q4sB", round(t * 1000), _lane(lane), status))


class Framer(MarkedFramer):
    """Delimits RPM frames: sync, header, payload, CRC; resynchronises on garbage."""

    marker = SYNC
    header = _HEADER

    def __init__(self, max_frame_bytes: int = 65536) -> None:
        super().__init__(max_frame_bytes)

    def frame_length(self, buf: bytearray) -> int | None:
        _, version, kind, length, _ = _HEADER.unpack_from(buf)
        total = _HEADER.size + length + 2
        if version != VERSION or kind not in (T_COUNTS, T_N42, T_HEARTBEAT) or \
                length > MAX_PAYLOAD or total > self.max_frame_bytes:
            if total > self.max_frame_bytes and version == VERSION:
                self.stats.oversize += 1
            return None
        return total



class Decoder:
    """Frames -> :class:`CountSample` (one per panel) or :class:`OccupancyReport`.

    Heartbeats decode to nothing (the driver sees the link is alive from the framer).
    """

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.last_status = 0

    @classmethod
    def from_profile(cls, profile: Any, **_: Any) -> Decoder:
        return cls(interval_s=float(profile.framing.param("sample_interval_s", 0.1)))

    def decode(self, frame: bytes) -> list[CountSample | OccupancyReport]:
        if len(frame) < _HEADER.size + 2 or frame[:2] != SYNC:
            raise FrameDecodeError(f"RPM: not a frame: {frame[:16].hex()}")
        _, _, kind, length, seq = _HEADER.unpack_from(frame)
        payload = frame[_HEADER.size: _HEADER.size + length]
        if kind == T_N42:
            return [n42.parse_report(payload)]
        try:
            if kind == T_HEARTBEAT:
                _, _, self.last_status = struct.unpack(">Q4sB", payload)
                return []
            t_ms, lane, flags, _speed, count = struct.unpack_from(">Q4sBHB", payload)
            if len(payload) != 16 + 7 * count:
                raise FrameDecodeError(f"RPM: counts payload of {len(payload)} bytes for {count} panels")
            lane_s = lane.decode("ascii").strip()
            out: list[CountSample | OccupancyReport] = []
            for i in range(count):
                panel, lo, hi, neu = struct.unpack_from(">BHHH", payload, 16 + 7 * i)
                out.append(CountSample(t=t_ms / 1000.0, lane=lane_s, panel=panel, gamma_low=lo,
                                       gamma_high=hi, neutron=neu, occupied=bool(flags & 1), seq=seq,
                                       interval_s=self.interval_s))
            return out
        except (struct.error, UnicodeDecodeError) as exc:
            raise FrameDecodeError(f"RPM: malformed payload of type {kind}") from exc
