"""Errors of hardware profiles, emulators and the scenario simulator.

This package imports only the bottom layer (``borderlink.common``, see docs/design.md), so its
base class derives from the one root every borderlink error shares.
"""

from __future__ import annotations

from borderlink.common.errors import BorderlinkError


class HardwareProfileError(BorderlinkError):
    """Base class of every error raised by hardware profiles, emulators and the simulator."""


class ProfileValidationError(HardwareProfileError, ValueError):
    """A profile or scenario file that does not match its schema; names the file and key."""


class ProfileNotFoundError(HardwareProfileError, LookupError):
    """No shipped profile or scenario of that name, and no such file."""


class ScenarioError(ProfileValidationError):
    """A scenario file that does not match its schema (names the file and key)."""


class FrameDecodeError(HardwareProfileError, ValueError):
    """A frame the framer delimited whose content is malformed (bad field, bad checksum …)."""


class FrameAuthenticationError(FrameDecodeError):
    """A sensor frame whose HMAC tag does not verify with the sensor's key (or no key known)."""


class UndatedSentenceError(FrameDecodeError):
    """An NMEA sentence with a time but no date (GGA) before any dated sentence or date hint."""


class ImplausibleValueError(FrameDecodeError):
    """A numeric field that is NaN, infinite or outside what any device could report."""


class UnsafeDocumentError(FrameDecodeError):
    """An XML document that declares a DTD or entities (in whatever encoding it is written)."""


class IncompleteFileError(FrameDecodeError):
    """An export file that is still being written (no end marker yet): try again later."""


class UnknownTransportError(HardwareProfileError, ValueError):
    """A transport URL whose scheme no emulator or driver handles."""


class EmulatorClosedError(HardwareProfileError):
    """The emulator was closed by us; reading or writing after ``close()``."""
