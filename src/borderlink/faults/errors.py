"""Errors of the fault suite."""

from __future__ import annotations

from borderlink.common.errors import BorderlinkError


class FaultSuiteError(BorderlinkError):
    """The suite could not run a round (a part did not come up, a fault could not be injected,
    the site did not drain); the message says which."""
