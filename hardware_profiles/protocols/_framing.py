"""Pieces every framer shares: its counters and the CRC used by the proprietary formats."""

from __future__ import annotations

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


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _table()


def crc16_ccitt(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor.

    Check value: ``crc16_ccitt(b"123456789") == 0x29B1``.
    """
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc
