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


class CaDirectoryError(ProvisioningError):
    """A CA directory that is missing a file, would be overwritten, or whose key is locked."""


class TokenError(ProvisioningError):
    """An enrolment token that is malformed, unknown, expired, used or for another node.

    :attr:`reason` is the machine-readable cause (``docs/provisioning.md`` lists them) that
    the enrolment service sends as gRPC trailing metadata and ``provision enroll`` maps to
    its exit code.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class EnrollmentError(ProvisioningError):
    """Enrolment refused or impossible; :attr:`reason` as for :class:`TokenError`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
