# The green-border sensor frame (docs/device-protocols.md §3):
#   magic B5 4E | version 1 | key version | payload length (2, big-endian) | CBOR payload
#   | HMAC-SHA256(sensor key, bytes 2 .. end of payload) | CRC-16/CCITT-FALSE over bytes 2 .. end of tag
# MicroPython has no hmac module: HMAC (RFC 2104) is built on hashlib.sha256 here.
import hashlib

import ugs_cbor

MAGIC = b"\xb5\x4e"
VERSION = 1
MAX_PAYLOAD = 400
_BLOCK = 64


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(message)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def crc16_ccitt(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def build(pairs: list[tuple[str, object]], key: bytes, key_version: int) -> bytes:
    """The whole frame for a payload given as (key, value) pairs in the documented order."""
    body = ugs_cbor.encode_map(pairs)
    if len(body) > MAX_PAYLOAD:
        raise ValueError("payload too long")
    signed = bytes((VERSION, key_version)) + len(body).to_bytes(2, "big") + body
    tag = hmac_sha256(key, signed)
    return MAGIC + signed + tag + crc16_ccitt(signed + tag).to_bytes(2, "big")
