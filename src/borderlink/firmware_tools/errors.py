"""Errors of firmware images and their deployment.

All derive from :class:`FirmwareError`, itself a :class:`~borderlink.proto.errors.BorderlinkError`,
so the command line catches them in one place.
"""

from __future__ import annotations

from borderlink.proto.errors import BorderlinkError


class FirmwareError(BorderlinkError):
    """Base class of every error raised by firmware images and their deployment."""
