"""Device wire formats, sans-IO: an encoder (device side) and a framer + decoder (host side).

Every module offers the same shape:

* ``encode_*(reading, ...) -> bytes`` — what the device puts on the wire (emulators use it);
* ``Framer().feed(data: bytes) -> list[bytes]`` — delimits frames in a byte stream, skipping
  and counting garbage (``framer.stats``), never raising on bad input;
* ``Decoder(...).decode(frame: bytes) -> list[Reading]`` — typed readings
  (:mod:`borderlink.hardware_profiles.readings`), or
  :class:`~borderlink.hardware_profiles.errors.FrameDecodeError` for a malformed frame.

Files (JCAMP-DX, ANDI-MS, N42.42 spectrum files) have no framer: ``parse_file`` takes the whole file's bytes and
raises :class:`~borderlink.hardware_profiles.errors.IncompleteFileError` while it is being
written. The byte-level formats are documented in ``docs/device-protocols.md``.
:func:`framer_for` and :func:`decoder_for` pick the pair a profile names.
"""

from __future__ import annotations

from typing import Any

from ._framing import FramerStats, crc16_ccitt

__all__ = ["PROTOCOL_MODULES", "FramerStats", "crc16_ccitt", "decoder_for", "framer_for"]

#: Profile protocol name -> module name in this package.
PROTOCOL_MODULES = {
    "mrz-reader-frame": "reader",
    "rpm-count-frame": "rpm",
    "sensor-cbor-hmac": "sensor",
    "nmea0183": "nmea",
    "cdr-lines": "cdr",
    "jcamp-dx": "jcamp",
    "andi-ms": "andi",
    "n42-file": "n42_spectra",
}


def _module(protocol: str) -> Any:
    import importlib

    try:
        name = PROTOCOL_MODULES[protocol]
    except KeyError:
        raise ValueError(f"unknown protocol {protocol!r}; known: {sorted(PROTOCOL_MODULES)}") from None
    return importlib.import_module(f"{__name__}.{name}")


def framer_for(protocol: str, max_frame_bytes: int | None = None) -> Any:
    """A fresh framer for a profile's ``framing.protocol`` (not for ``jcamp-dx``: files)."""
    module = _module(protocol)
    if not hasattr(module, "Framer"):
        raise ValueError(f"protocol {protocol!r} is file based; use its parse_file()")
    return module.Framer() if max_frame_bytes is None else module.Framer(max_frame_bytes=max_frame_bytes)


def decoder_for(profile: Any, **kwargs: Any) -> Any:
    """The decoder for a :class:`~borderlink.hardware_profiles.schema.Profile`."""
    return _module(profile.framing.protocol).Decoder.from_profile(profile, **kwargs)
