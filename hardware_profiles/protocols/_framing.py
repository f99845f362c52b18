"""Pieces every framer shares: its counters and the CRC used by the proprietary formats."""

from __future__ import annotations

import binascii
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
