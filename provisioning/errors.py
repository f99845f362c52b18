"""Errors of provisioning (CA, enrollment, node bundles).

All derive from :class:`ProvisioningError`, itself a :class:`~borderlink.proto.errors.BorderlinkError`,
so the command line catches them in one place.
"""

from __future__ import annotations

from borderlink.proto.errors import BorderlinkError


class ProvisioningError(BorderlinkError):
    """Base class of every error raised by provisioning (CA, enrollment, node bundles)."""


class CertificateFileError(ProvisioningError, ValueError):
    """A certificate, key or CRL file that cannot be read (wrong format, wrong passphrase)."""


class IdentityError(ProvisioningError, ValueError):
    """A name that is not a valid borderlink identity (node id, agency, identity URI)."""


class CertificateRejected(ProvisioningError):
    """A certificate that does not check out: other issuer, bad signature, expired, revoked."""
