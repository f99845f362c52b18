"""Telephony/IP unit lines: call detail records (``CDR``) and link status (``LNK``).

ASCII lines ending CR LF, fields separated by ``|``, a CRC trailer
(docs/device-protocols.md §5)::

    CDR|1|<exchange>|<seq>|<end_ms>|<start_ms>|<duration_ms>|<caller>|<callee>|<trunk>|<dir>|<disp>|<mos>*HHHH
    LNK|1|<exchange>|<time_ms>|<link>|<state>|<latency_ms>|<loss_pct>|<jitter_ms>|<rx_kbps>|<tx_kbps>*HHHH

``HHHH`` is CRC-16/CCITT-FALSE over the bytes before ``*``, upper-case hex. Empty optional
values are ``-``. ``dir`` is ``in``/``out``/``internal``; ``disp`` is
``answered``/``no_answer``/``busy``/``failed``; ``state`` is ``up``/``down``/``degraded``.
"""

from __future__ import annotations

from typing import Any

from ..errors import FrameDecodeError
from ..readings import CallDetailRecord, LinkStatus
from ._framing import DelimitedFramer, crc16_ccitt

__all__ = ["Decoder", "Framer", "encode_cdr", "encode_link"]

_DIRS = {"in", "out", "internal"}
_DISPS = {"answered", "no_answer", "busy", "failed"}
_STATES = {"up", "down", "degraded"}


def _opt(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def _line(fields: list[str]) -> bytes:
    for f in fields:
        if "|" in f or "*" in f or "\r" in f or "\n" in f:
            raise ValueError(f"field {f!r} holds a separator")
    body = "|".join(fields).encode("ascii")
    return body + f"*{crc16_ccitt(body):04X}\r\n".encode()


def encode_cdr(c: CallDetailRecord) -> bytes:
    return _line(["CDR", "1", c.exchange_id, str(c.seq), str(round(c.t * 1000)), str(round(c.start * 1000)),
                  str(round(c.duration_s * 1000)), c.caller, c.callee, c.trunk, c.direction,
                  c.disposition, _opt(c.mos, "{:.2f}")])


def encode_link(s: LinkStatus) -> bytes:
    return _line(["LNK", "1", s.exchange_id, str(round(s.t * 1000)), s.link_id, s.state,
                  _opt(s.latency_ms), _opt(s.loss_pct, "{:.2f}"), _opt(s.jitter_ms), _opt(s.rx_kbps),
                  _opt(s.tx_kbps)])


class Framer(DelimitedFramer):
    """Lines from a record tag to the newline with a good CRC; everything else is counted as
    garbage or bad checksum (a line may start with noise: the frame starts at its tag)."""

    starts = (b"CDR|", b"LNK|")
    end = b"\n"

    def __init__(self, max_frame_bytes: int = 512) -> None:
        super().__init__(max_frame_bytes)

    def accept(self, frame: bytes) -> bytes | None:
        text = frame.rstrip(b"\r\n")
        star = text.rfind(b"*")
        if star < 0 or len(text) != star + 5 or text[star + 1:].upper() != \
                f"{crc16_ccitt(text[:star]):04X}".encode():
            return None
        return text


def _num(value: str) -> float | None:
    if value == "-":
        return None
    return float(value)


class Decoder:
    """Lines -> :class:`CallDetailRecord` / :class:`LinkStatus`."""

    @classmethod
    def from_profile(cls, profile: Any, **_: Any) -> Decoder:
        return cls()

    def decode(self, frame: bytes) -> list[CallDetailRecord | LinkStatus]:
        try:
            text = frame.decode("ascii")
        except UnicodeDecodeError as exc:
            raise FrameDecodeError(f"CDR: not ASCII: {frame[:40]!r}") from exc
        text = text.rsplit("*", 1)[0]
        f = text.split("|")
        try:
            if f[0] == "CDR" and f[1] == "1" and len(f) == 13:
                if f[10] not in _DIRS or f[11] not in _DISPS:
                    raise FrameDecodeError(f"CDR: bad direction/disposition {f[10]!r}/{f[11]!r}")
                return [CallDetailRecord(t=int(f[4]) / 1000, exchange_id=f[2], seq=int(f[3]),
                                         start=int(f[5]) / 1000, duration_s=int(f[6]) / 1000, caller=f[7],
                                         callee=f[8], trunk=f[9], direction=f[10], disposition=f[11],
                                         mos=_num(f[12]))]
            if f[0] == "LNK" and f[1] == "1" and len(f) == 11:
                if f[5] not in _STATES:
                    raise FrameDecodeError(f"LNK: bad state {f[5]!r}")
                return [LinkStatus(t=int(f[3]) / 1000, exchange_id=f[2], link_id=f[4], state=f[5],
                                   latency_ms=_num(f[6]), loss_pct=_num(f[7]), jitter_ms=_num(f[8]),
                                   rx_kbps=_num(f[9]), tx_kbps=_num(f[10]))]
        except ValueError as exc:
            if isinstance(exc, FrameDecodeError):
                raise
            raise FrameDecodeError(f"CDR/LNK: bad number in {text[:60]!r}") from exc
        raise FrameDecodeError(f"CDR/LNK: unknown line {text[:60]!r}")
