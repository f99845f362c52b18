"""The borderlink certificate authority: X.509 certificates for mutual TLS, and their revocation.

One CA per deployment issues:

* hub server certificates — subject alternative names ``localhost`` / ``127.0.0.1`` (or the
  names given), extended key usage ``serverAuth``;
* node client certificates — URI SAN ``borderlink://node/<node_id>``, CN ``<node_id>``,
  ``clientAuth``;
* agency client certificates — URI SAN ``borderlink://agency/<SBS|SCC|SMS>``;
* admin (technician) client certificates — URI SAN ``borderlink://admin/<name>``;
* site broker server certificates — URI SAN ``borderlink://broker/<name>``, ``serverAuth``
  (the site bus's Mosquitto listener, docs/site-bus.md).

The URI SAN is the identity; the hub reads it from the peer certificate
(:func:`identity_of`). TLS keys are ECDSA P-256: gRPC's BoringSSL refuses Ed25519
certificates in the TLS handshake (``NO_COMMON_SIGNATURE_ALGORITHMS``, measured with grpcio
1.85; ``tests/provisioning/test_mtls.py`` keeps checking), so :attr:`KeyType.ED25519` is only
for non-TLS uses. Record-signing keys are separate Ed25519 keys (``borderlink.proto.keys``), never these.

Revocation is a CRL (RFC 5280) the CA signs; gRPC Python cannot load CRLs into the TLS stack,
so the hub checks each peer's serial with :func:`is_revoked` after the handshake.

Constructors take data; :meth:`CertificateAuthority.create`, :meth:`~CertificateAuthority.load`
and :meth:`~CertificateAuthority.save` are the named factories and writers. Private keys are
written with mode 0600, optionally encrypted with a passphrase.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from borderlink.proto.identity import (  # AGENCIES, IDENTITY_SCHEME: re-exported
    AGENCIES,  # noqa: F401
    IDENTITY_SCHEME,  # noqa: F401
    Identity,
    Role,
    identity_of,
)
from borderlink.proto.identity import check_name as _check_name
from borderlink.provisioning.errors import (
    CertificateFileError,
    CertificateRejected,
    IdentityError,
)

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

#: Default validity of leaf certificates (days) and of the CA (days).
DEFAULT_LEAF_DAYS = 397
DEFAULT_CA_DAYS = 3650
#: Validity by role (days; docs/provisioning.md): nodes renew often, so a stolen node's
#: certificate dies on its own within a quarter.
ROLE_DAYS = {"node": 90, "agency": 365, "hub": 365, "admin": 365, "broker": 365}
#: The issuing CA (online, signs leaves and CRLs) and the root (offline, signs issuing CAs).
DEFAULT_ISSUING_DAYS = 3 * 365
#: Backdating of notBefore, to tolerate small clock differences (seconds).
BACKDATE_S = 300


class KeyType(enum.Enum):
    """Key algorithm of a CA or leaf certificate."""

    P256 = "p256"
    ED25519 = "ed25519"

    def generate(self) -> PrivateKey:
        if self is KeyType.P256:
            return ec.generate_private_key(ec.SECP256R1())
        return ed25519.Ed25519PrivateKey.generate()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sign_hash(key: PrivateKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def key_to_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM of *key*, encrypted when *passphrase* is given."""
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def key_from_pem(data: bytes, passphrase: bytes | None = None) -> PrivateKey:
    """Load a P-256 or Ed25519 private key; :class:`CertificateFileError` on anything else."""
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError) as exc:
        raise CertificateFileError(f"cannot read private key: {exc}") from exc
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise CertificateFileError(f"unsupported private key type {type(key).__name__}")


def cert_from_pem(data: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise CertificateFileError(f"cannot read certificate: {exc}") from exc


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    """Write *data* to *path* with mode 0600 (also when the file existed with wider rights)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and its private key, as the CA issued them."""

    certificate: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self, passphrase: bytes | None = None) -> bytes:
        return key_to_pem(self.key, passphrase)

    @property
    def identity(self) -> Identity:
        return identity_of(self.certificate)

    def save(
        self,
        cert_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str],
        passphrase: bytes | None = None,
    ) -> None:
        """Write the certificate (PEM, 0644) and the key (PEM, 0600)."""
        Path(cert_path).write_bytes(self.cert_pem)
        write_private(key_path, self.key_pem(passphrase))

    @classmethod
    def load(
        cls,
        cert_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str],
        passphrase: bytes | None = None,
    ) -> IssuedCertificate:
        return cls(
            cert_from_pem(Path(cert_path).read_bytes()),
            key_from_pem(Path(key_path).read_bytes(), passphrase),
        )


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate and its signing key. Issues leaves and CRLs; holds no other state."""

    certificate: x509.Certificate
    key: PrivateKey

    # -- factories ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str = "borderlink CA",
        *,
        key_type: KeyType = KeyType.P256,
        valid_days: int = DEFAULT_CA_DAYS,
        now: dt.datetime | None = None,
        path_length: int = 0,
    ) -> CertificateAuthority:
        """A new self-signed CA (path length 0: it signs leaves only; 1: a root that signs
        issuing CAs, see :meth:`issue_ca`)."""
        now = now or _now()
        key = key_type.generate()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "borderlink"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        cert = cls._ca_builder(subject, subject, key, now, valid_days, path_length).sign(
            key, _sign_hash(key)
        )
        return cls(cert, key)

    def issue_ca(
        self,
        name: str = "borderlink issuing CA",
        *,
        key_type: KeyType = KeyType.P256,
        valid_days: int = DEFAULT_ISSUING_DAYS,
        now: dt.datetime | None = None,
    ) -> CertificateAuthority:
        """An issuing CA signed by this (root) CA: path length 0, never past this CA's end."""
        now = now or _now()
        key = key_type.generate()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "borderlink"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        days = min(valid_days, (self.certificate.not_valid_after_utc - now).days)
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        cert = (
            self._ca_builder(self.certificate.subject, subject, key, now, days, 0)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
                critical=False,
            )
            .sign(self.key, _sign_hash(self.key))
        )
        return CertificateAuthority(cert, key)

    @staticmethod
    def _ca_builder(
        issuer: x509.Name,
        subject: x509.Name,
        key: PrivateKey,
        now: dt.datetime,
        valid_days: int,
        path_length: int,
    ) -> x509.CertificateBuilder:
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(seconds=BACKDATE_S))
            .not_valid_after(now + dt.timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
        )

    @classmethod
    def load(
        cls,
        cert_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str],
        passphrase: bytes | None = None,
    ) -> CertificateAuthority:
        """Read a CA saved by :meth:`save`; checks the key matches the certificate."""
        cert = cert_from_pem(Path(cert_path).read_bytes())
        key = key_from_pem(Path(key_path).read_bytes(), passphrase)
        pub = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if cert.public_key().public_bytes(der, pub) != key.public_key().public_bytes(der, pub):
            raise CertificateFileError(f"key {key_path} does not belong to certificate {cert_path}")
        return cls(cert, key)

    def save(
        self,
        cert_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str],
        passphrase: bytes | None = None,
    ) -> None:
        """Write the CA certificate (PEM) and its key (PEM, mode 0600)."""
        Path(cert_path).write_bytes(self.cert_pem)
        write_private(key_path, key_to_pem(self.key, passphrase))

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    # -- issuing --------------------------------------------------------------------------

    def issue(
        self,
        identity: Identity,
        *,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        key: PrivateKey | None = None,
        key_type: KeyType = KeyType.P256,
        valid_days: int | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        site: str = "",
        agency: str = "",
    ) -> IssuedCertificate:
        """Issue a leaf for *identity*; a new key of *key_type* unless *key* is given.

        *valid_days* defaults by role (:data:`ROLE_DAYS`); *not_before*/*not_after* override
        the window (tests make expired certificates with them).
        """
        key = key or key_type.generate()
        cert = self.sign_leaf(
            identity,
            key.public_key(),
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            valid_days=valid_days,
            not_before=not_before,
            not_after=not_after,
            site=site,
            agency=agency,
        )
        return IssuedCertificate(cert, key)

    def sign_leaf(
        self,
        identity: Identity,
        public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
        *,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        valid_days: int | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        site: str = "",
        agency: str = "",
    ) -> x509.Certificate:
        """A leaf certificate for *public_key* (the profile of docs/provisioning.md).

        Subject ``O=<agency or borderlink>, OU=<role>, L=<site>, CN=<name>``; the URI SAN
        ``borderlink://<role>/<name>`` is the identity the hub authorises on. The hub role
        and the site broker get ``serverAuth``, every other role ``clientAuth``; never past
        this CA's own end.
        """
        _check_name(identity.role, identity.name)
        if agency:
            _check_name(Role.AGENCY, agency)
        if identity.role is Role.AGENCY:
            agency = identity.name
        days = valid_days if valid_days is not None else ROLE_DAYS[identity.role.value]
        start = not_before or (_now() - dt.timedelta(seconds=BACKDATE_S))
        end = not_after or min(
            start + dt.timedelta(days=days), self.certificate.not_valid_after_utc
        )
        sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity.uri)]
        sans += [x509.DNSName(d) for d in dns_names]
        try:
            sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        except ValueError as exc:
            raise IdentityError(f"bad IP address in {list(ip_addresses)}: {exc}") from exc
        eku = (
            ExtendedKeyUsageOID.SERVER_AUTH
            if identity.role in (Role.HUB, Role.BROKER)
            else ExtendedKeyUsageOID.CLIENT_AUTH
        )
        names = [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, agency or "borderlink"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity.role.value),
        ]
        if site:
            names.append(x509.NameAttribute(NameOID.LOCALITY_NAME, site))
        names.append(x509.NameAttribute(NameOID.COMMON_NAME, identity.name))
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name(names))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
                critical=False,
            )
            .sign(self.key, _sign_hash(self.key))
        )

    def issue_hub(
        self,
        name: str = "hub",
        *,
        dns_names: Sequence[str] = ("localhost",),
        ip_addresses: Sequence[str] = ("127.0.0.1",),
        **kwargs: object,
    ) -> IssuedCertificate:
        """A hub server certificate (SAN ``localhost`` and ``127.0.0.1`` by default)."""
        return self.issue(
            Identity(Role.HUB, name),
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            **kwargs,  # type: ignore[arg-type]
        )

    def issue_node(self, node_id: str, **kwargs: object) -> IssuedCertificate:
        """A node client certificate (URI SAN ``borderlink://node/<node_id>``)."""
        return self.issue(Identity(Role.NODE, node_id), **kwargs)  # type: ignore[arg-type]

    def issue_agency(self, agency: str, **kwargs: object) -> IssuedCertificate:
        """An agency client certificate (URI SAN ``borderlink://agency/<agency>``)."""
        return self.issue(Identity(Role.AGENCY, agency), **kwargs)  # type: ignore[arg-type]

    def issue_admin(self, name: str, **kwargs: object) -> IssuedCertificate:
        """A technician's client certificate (URI SAN ``borderlink://admin/<name>``)."""
        return self.issue(Identity(Role.ADMIN, name), **kwargs)  # type: ignore[arg-type]

    # -- revocation -----------------------------------------------------------------------

    def crl(
        self,
        revoked: Iterable[tuple[int, dt.datetime]] = (),
        *,
        now: dt.datetime | None = None,
        next_update_days: int = 7,
    ) -> x509.CertificateRevocationList:
        """A CRL listing *revoked* (serial number, revocation time) pairs."""
        now = now or _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now)
            .next_update(now + dt.timedelta(days=next_update_days))
        )
        for serial, when in sorted(set(revoked)):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return builder.sign(self.key, _sign_hash(self.key))

    def revoke(
        self,
        certificate: x509.Certificate,
        crl: x509.CertificateRevocationList | None = None,
        *,
        when: dt.datetime | None = None,
    ) -> x509.CertificateRevocationList:
        """A new CRL: the entries of *crl* (if any, after checking its signature) plus *certificate*."""
        if not self.issued(certificate):
            raise CertificateRejected(
                f"certificate serial {certificate.serial_number:x} was not issued by this CA"
            )
        entries: list[tuple[int, dt.datetime]] = []
        if crl is not None:
            self.check_crl(crl)
            entries = [(r.serial_number, r.revocation_date_utc) for r in crl]
        entries.append((certificate.serial_number, when or _now()))
        return self.crl(entries)

    def issued(self, certificate: x509.Certificate) -> bool:
        """Whether this CA's key signed *certificate* (not just a CA of the same name)."""
        try:
            certificate.verify_directly_issued_by(self.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    def check_crl(self, crl: x509.CertificateRevocationList) -> None:
        """Raise :class:`CertificateRejected` unless this CA signed *crl*."""
        if crl.issuer != self.certificate.subject or not crl.is_signature_valid(
            self.certificate.public_key()  # type: ignore[arg-type]
        ):
            raise CertificateRejected("CRL not signed by this CA")

    # -- checking -------------------------------------------------------------------------

    def verify(
        self,
        certificate: x509.Certificate,
        *,
        crl: x509.CertificateRevocationList | None = None,
        now: dt.datetime | None = None,
    ) -> Identity:
        """Check *certificate* was issued by this CA, is in its validity window and not revoked.

        Returns its identity. The TLS stack already checks chain and validity during the
        handshake; this is for files (enrollment bundles) and for the CRL check after it.
        """
        now = now or _now()
        if certificate.issuer != self.certificate.subject:
            raise CertificateRejected(
                f"issuer {certificate.issuer.rfc4514_string()} is not this CA"
            )
        try:
            certificate.verify_directly_issued_by(self.certificate)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise CertificateRejected(f"not signed by this CA: {exc}") from exc
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise CertificateRejected(
                f"certificate serial {certificate.serial_number:x} valid "
                f"{certificate.not_valid_before_utc.isoformat()} .. "
                f"{certificate.not_valid_after_utc.isoformat()}, not at {now.isoformat()}"
            )
        if crl is not None:
            self.check_crl(crl)
            if is_revoked(crl, certificate):
                raise CertificateRejected(
                    f"certificate serial {certificate.serial_number:x} is revoked"
                )
        return identity_of(certificate)


def is_revoked(crl: x509.CertificateRevocationList, certificate: x509.Certificate) -> bool:
    """Whether *crl* lists *certificate*'s serial number (the caller checked the CRL's signature)."""
    return crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None


def crl_to_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


def crl_from_pem(data: bytes) -> x509.CertificateRevocationList:
    try:
        return x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise CertificateFileError(f"cannot read CRL: {exc}") from exc
