"""Errors of provisioning (CA, enrollment, node bundles).

All derive from :class:`ProvisioningError`, itself a :class:`~borderlink.proto.errors.BorderlinkError`,
so the command line catches them in one place.
"""

from __future__ import annotations

from borderlink.proto.errors import BorderlinkError


class ProvisioningError(BorderlinkError):
    """Base class of every error raised by provisioning (CA, enrollment, node bundles)."""
