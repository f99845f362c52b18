"""Green-border sensor frames: a CBOR map with an HMAC-SHA256 tag under the sensor's own key.

Frame (docs/device-protocols.md §3)::

    offset size  field
    0      2     magic 0xB5 0x4E
    2      1     version (1)
    3      1     key version (which of the sensor's keys made the tag)
    4      2     CBOR payload length L (big-endian, 1 .. 400)
    6      L     payload: a CBOR map with text keys (below)
    6+L    32    HMAC-SHA256(sensor key, bytes 2 .. 6+L-1)
    38+L   2     CRC-16/CCITT-FALSE over bytes 2 .. 38+L-1 (line noise, told apart from forgery)

Payload keys: ``n`` node id (text), ``s`` sensor id (text), ``q`` frame counter (uint,
per sensor, for replay detection), ``t`` time (uint, Unix ms, node clock), ``e`` event
(``detect`` / ``heartbeat`` / ``boot`` / ``fault``), ``k`` sensor kind (``seismic`` /
``pir`` / ``magnetic``), ``v`` raw value (int; scaled by the profile's channel), ``p`` chainage
(int, m), ``o`` offset from the border line (int, m, + inland), optional ``b`` battery (mV)
and ``d`` detail (text). The node (MicroPython) builds the map with keys in this order.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable
from typing import Any

import cbor2

from ..errors import FrameAuthenticationError, FrameDecodeError
from ..readings import SensorFrame
from ._framing import MarkedFramer, crc16_ccitt

__all__ = ["MAGIC", "TAG_BYTES", "Decoder", "Framer", "demo_sensor_key", "encode"]

MAGIC = b"\xb5\x4e"
VERSION = 1
TAG_BYTES = 32
MAX_PAYLOAD = 400
_HEAD = struct.Struct(">2sBBH")
DEFAULT_SCALES = {"seismic": 0.01, "magnetic": 0.1, "pir": 1.0}
_DEMO_MASTER = b"borderlink demo UGS master secret -- never deploy"


def demo_sensor_key(sensor_id: str) -> bytes:
    """The *demo* key of a sensor (emulators, tests). Real keys come from provisioning."""
    return hmac.new(_DEMO_MASTER, sensor_id.encode("utf-8"), hashlib.sha256).digest()


def encode(frame: SensorFrame, key: bytes, key_version: int = 1,
           scales: dict[str, float] | None = None) -> bytes:
    """The node's frame for *frame*, tagged with *key*."""
    scale = (scales or DEFAULT_SCALES).get(frame.kind, 1.0)
    payload: dict[str, Any] = {"n": frame.node_id, "s": frame.sensor_id, "q": frame.seq,
                               "t": round(frame.t * 1000), "e": frame.event, "k": frame.kind,
                               "v": round(frame.value / scale), "p": round(frame.position_m),
                               "o": round(frame.offset_m)}
    if frame.battery_mv is not None:
        payload["b"] = frame.battery_mv
    if frame.detail:
        payload["d"] = frame.detail
    body = cbor2.dumps(payload)
    if len(body) > MAX_PAYLOAD:
        raise ValueError(f"sensor payload of {len(body)} bytes exceeds {MAX_PAYLOAD}")
    signed = _HEAD.pack(MAGIC, VERSION, key_version, len(body))[2:] + body
    tag = hmac.new(key, signed, hashlib.sha256).digest()
    return MAGIC + signed + tag + struct.pack(">H", crc16_ccitt(signed + tag))


class Framer(MarkedFramer):
    """Delimits sensor frames by magic, length and CRC; the tag is the decoder's business."""

    marker = MAGIC
    header = _HEAD

    def __init__(self, max_frame_bytes: int = 512) -> None:
        super().__init__(max_frame_bytes)

    def frame_length(self, buf: bytearray) -> int | None:
        _, version, _, length = _HEAD.unpack_from(buf)
        total = _HEAD.size + length + TAG_BYTES + 2
        if version != VERSION or not 0 < length <= MAX_PAYLOAD or total > self.max_frame_bytes:
            if version == VERSION and length > MAX_PAYLOAD:
                self.stats.oversize += 1
            return None
        return total



class Decoder:
    """Frames -> :class:`SensorFrame`, after checking the tag with the sensor's key.

    *key_lookup* maps ``(sensor_id, key_version)`` to the key (``None``: unknown sensor).
    A wrong or unknown key raises :class:`FrameAuthenticationError`; replayed or old
    counters (``q`` not above the last accepted one of that sensor) also raise it.
    """

    def __init__(self, key_lookup: Callable[[str, int], bytes | None],
                 scales: dict[str, float] | None = None) -> None:
        self.key_lookup = key_lookup
        self.scales = dict(DEFAULT_SCALES if scales is None else scales)
        self.last_seq: dict[str, int] = {}

    @classmethod
    def from_profile(cls, profile: Any, key_lookup: Callable[[str, int], bytes | None] | None = None,
                     **_: Any) -> Decoder:
        scales = {c.name: c.scale for c in profile.channels}
        if key_lookup is None:
            if profile.setting("hmac_key_source") != "demo-derived":
                raise ValueError("this profile needs a key_lookup for its sensor keys")

            def demo_lookup(sensor_id: str, _version: int) -> bytes | None:
                return demo_sensor_key(sensor_id)

            key_lookup = demo_lookup
        return cls(key_lookup, scales)

    def decode(self, frame: bytes) -> list[SensorFrame]:
        if len(frame) < _HEAD.size + TAG_BYTES + 2 or frame[:2] != MAGIC:
            raise FrameDecodeError(f"sensor: not a frame: {frame[:8].hex()}")
        _, _, key_version, length = _HEAD.unpack_from(frame)
        body = frame[_HEAD.size: _HEAD.size + length]
        tag = frame[_HEAD.size + length: _HEAD.size + length + TAG_BYTES]
        try:
            data = cbor2.loads(body)
        except Exception as exc:  # cbor2 raises several types on garbage
            raise FrameDecodeError(f"sensor: payload is not CBOR: {exc}") from exc
        if not isinstance(data, dict):
            raise FrameDecodeError("sensor: payload is not a CBOR map")
        try:
            sensor_id = str(data["s"])
            fields = (str(data["n"]), int(data["q"]), int(data["t"]), str(data["e"]), str(data["k"]),
                      int(data["v"]), int(data.get("p", 0)), int(data.get("o", 0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise FrameDecodeError(f"sensor: missing or bad field {exc}") from exc
        key = self.key_lookup(sensor_id, key_version)
        if key is None:
            raise FrameAuthenticationError(f"sensor {sensor_id!r}: no key version {key_version}")
        expected = hmac.new(key, frame[2: _HEAD.size + length], hashlib.sha256).digest()
        if not hmac.compare_digest(expected, tag):
            raise FrameAuthenticationError(f"sensor {sensor_id!r}: HMAC tag does not verify")
        node_id, seq, t_ms, event, kind, raw, pos, off = fields
        last = self.last_seq.get(sensor_id)
        if last is not None and seq <= last and event != "boot":
            raise FrameAuthenticationError(f"sensor {sensor_id!r}: counter {seq} not above {last} (replay?)")
        self.last_seq[sensor_id] = seq
        battery = data.get("b")
        return [SensorFrame(t=t_ms / 1000.0, node_id=node_id, sensor_id=sensor_id, seq=seq, event=event,
                            kind=kind, value=raw * self.scales.get(kind, 1.0), position_m=float(pos),
                            offset_m=float(off), battery_mv=int(battery) if battery is not None else None,
                            detail=str(data.get("d", "")))]
