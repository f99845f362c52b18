"""Errors of provisioning (CA, enrollment, node bundles).

All derive from :class:`ProvisioningError`, itself a :class:`~borderlink.proto.errors.BorderlinkError`,
so the command line catches them in one place.
"""

from __future__ import annotations

from borderlink.proto.errors import BorderlinkError
from borderlink.proto.identity import IdentityError as _IdentityError


class ProvisioningError(BorderlinkError):
    """Base class of every error raised by provisioning (CA, enrollment, node bundles)."""


class CertificateFileError(ProvisioningError, ValueError):
    """A certificate, key or CRL file that cannot be read (wrong format, wrong passphrase)."""


#: A name that is not a valid borderlink identity; defined beside the identities in
#: ``borderlink.proto.identity`` (the hub raises it too), re-exported here.
IdentityError = _IdentityError


class CertificateRejected(ProvisioningError):
    """A certificate that does not check out: other issuer, bad signature, expired, revoked."""
