"""Errors of the edge agent.

All derive from :class:`EdgeError`, itself a :class:`~borderlink.proto.errors.BorderlinkError`,
so the command line catches them in one place. Split by cause: bad configuration, a journal
that cannot be trusted, a device link broken by the world, a downlink item that failed
verification, a processor that is not available for a device class.
"""

from __future__ import annotations

from borderlink.proto.errors import BorderlinkError


class EdgeError(BorderlinkError):
    """Base class of every error raised by the edge agent."""


class ConfigError(EdgeError, ValueError):
    """A node configuration file that is missing, unreadable or invalid (names file and key)."""

    exit_code = 2  # wrong usage: the operator's file


class JournalError(EdgeError):
    """The journal database cannot be opened or written."""


class JournalFullError(JournalError):
    """The disk under the journal is full: the append did not happen (the chain is where it
    was); the caller keeps the decisions and retries, thinned, when space returns."""


class JournalCorruptError(JournalError):
    """The journal holds records that do not form one chain (a gap or a broken link)."""


class DeviceError(EdgeError):
    """A device link problem."""


class DeviceDisconnectedError(DeviceError):
    """The device went away (pty closed, TCP reset, folder gone); the driver reconnects."""


class DeviceClosedError(DeviceError):
    """The transport was closed by us (shutdown); reading stops."""


class DownlinkError(EdgeError):
    """A downlink item that was not applied."""


class DownlinkVerificationError(DownlinkError):
    """A downlink item whose signature, issuer, target or version does not check out."""


class DownlinkRollbackError(DownlinkVerificationError):
    """A downlink item whose version is not newer than the one held."""


class ProcessorUnavailableError(EdgeError):
    """No processor is registered (or installed) for a profile's device class."""


class UplinkError(EdgeError):
    """The hub refused the stream or a record."""


class ProcessorError(EdgeError):
    """A processor was given data it cannot use (a bad configuration or reference list)."""


class MrzFormatError(ProcessorError, ValueError):
    """MRZ lines that are no ICAO 9303 format: wrong line count or length, bad characters."""


class WatchlistError(ProcessorError, ValueError):
    """A watchlist that does not match ``borderlink.watchlist.v1`` or a wrong device key."""


class GeometryError(ProcessorError, ValueError):
    """A border line or sector polygon that cannot be used for geofencing."""
