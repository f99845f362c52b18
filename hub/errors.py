"""Errors of the hub.

All derive from :class:`HubError`, itself a :class:`~borderlink.proto.errors.BorderlinkError`,
so the command line catches them in one place.
"""

from __future__ import annotations

from borderlink.proto.errors import BorderlinkError


class HubError(BorderlinkError):
    """Base class of every error raised by the hub."""
