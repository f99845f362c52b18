"""Errors of firmware images and their deployment.

All derive from :class:`FirmwareError`, itself a :class:`~borderlink.common.errors.BorderlinkError`,
so the command line catches them in one place.
"""

from __future__ import annotations

from borderlink.common.errors import BorderlinkError


class FirmwareError(BorderlinkError):
    """Base class of every error raised by firmware images and their deployment."""


class ImageFormatError(FirmwareError, ValueError):
    """An image or manifest that is not what `firmware build` writes (bad data)."""


class ImageVerificationError(FirmwareError):
    """A signature, digest, size or target that does not check out."""


class BuildError(FirmwareError):
    """An image cannot be built from these inputs (missing tool, bad input file)."""


class DeviceError(FirmwareError):
    """The device answered wrongly, failed a command, or stopped answering."""
