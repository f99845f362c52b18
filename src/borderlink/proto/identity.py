"""borderlink identities as certificates name them: ``borderlink://<role>/<name>`` URI SANs.

The CA (``borderlink.provisioning.ca``) writes these identities into certificates; the hub
reads them from the peer certificate after the TLS handshake (:func:`identity_of`). Both
import this module, so the hub never needs the CA code.

* ``borderlink://hub/<name>`` — a hub server;
* ``borderlink://node/<node_id>`` — an edge node;
* ``borderlink://agency/<SBS|SCC|SMS>`` — an agency client;
* ``borderlink://admin/<name>`` — a technician;
* ``borderlink://broker/<name>`` — a site's MQTT broker (a TLS server of the site bus only; no
  hub service authorises such a peer).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from cryptography import x509

from .errors import BorderlinkError

#: URI scheme of identities in certificates.
IDENTITY_SCHEME = "borderlink"
#: Agencies of the pilot; agency certificates name one of them.
AGENCIES = ("SBS", "SCC", "SMS")
#: Identity names: node ids, admin names. Letters, digits, ``.-_``; 1..64 characters.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class IdentityError(BorderlinkError, ValueError):
    """A name that is not a valid borderlink identity (node id, agency, identity URI)."""


class Role(enum.Enum):
    """What a certificate lets its holder be."""

    HUB = "hub"
    NODE = "node"
    AGENCY = "agency"
    ADMIN = "admin"
    BROKER = "broker"


@dataclass(frozen=True)
class Identity:
    """A peer's borderlink identity, as named by its certificate's URI SAN."""

    role: Role
    name: str

    @property
    def uri(self) -> str:
        return f"{IDENTITY_SCHEME}://{self.role.value}/{self.name}"

    @classmethod
    def parse(cls, uri: str) -> Identity:
        """Parse ``borderlink://<role>/<name>``; :class:`IdentityError` names the bad part."""
        prefix = f"{IDENTITY_SCHEME}://"
        if not uri.startswith(prefix):
            raise IdentityError(f"not a borderlink identity URI: {uri!r}")
        role_s, sep, name = uri[len(prefix) :].partition("/")
        if not sep:
            raise IdentityError(f"identity URI without a name: {uri!r}")
        try:
            role = Role(role_s)
        except ValueError:
            raise IdentityError(f"unknown role {role_s!r} in {uri!r}") from None
        return cls(role, check_name(role, name))


def check_name(role: Role, name: str) -> str:
    """*name* if it is a valid name for *role*; :class:`IdentityError` otherwise."""
    if role is Role.AGENCY:
        if name not in AGENCIES:
            raise IdentityError(f"unknown agency {name!r}; expected one of {', '.join(AGENCIES)}")
    elif not _NAME_RE.fullmatch(name):
        raise IdentityError(
            f"bad {role.value} name {name!r}: 1-64 of letters, digits, '.', '-', '_'"
        )
    return name


def identity_of(certificate: x509.Certificate) -> Identity:
    """The single ``borderlink://`` URI SAN of *certificate*, parsed."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise IdentityError("certificate has no subject alternative name") from None
    uris = [
        u
        for u in san.get_values_for_type(x509.UniformResourceIdentifier)
        if u.startswith(f"{IDENTITY_SCHEME}://")
    ]
    if len(uris) != 1:
        raise IdentityError(f"expected one borderlink:// URI SAN, found {uris}")
    return Identity.parse(uris[0])


def identity_of_pem(pem: bytes) -> Identity:
    """:func:`identity_of` for a PEM certificate (what gRPC's auth context holds)."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise IdentityError(f"cannot read peer certificate: {exc}") from exc
    return identity_of(certificate)


__all__ = [
    "AGENCIES",
    "IDENTITY_SCHEME",
    "Identity",
    "IdentityError",
    "Role",
    "check_name",
    "identity_of",
    "identity_of_pem",
]
