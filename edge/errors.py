"""Errors of the edge agent.

All derive from :class:`EdgeError`, itself a :class:`~borderlink.proto.errors.BorderlinkError`,
so the command line catches them in one place.
"""

from __future__ import annotations

from borderlink.proto.errors import BorderlinkError


class EdgeError(BorderlinkError):
    """Base class of every error raised by the edge agent."""
