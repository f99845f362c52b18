"""A deployment's trust root on disk: the CA directory ``borderlink provision ca init`` makes.

Two CAs, so that the key everything hangs on can live offline:

* the **root** (``root.pem`` / ``root.key``, path length 1) signs issuing CAs and nothing
  else; after ``ca init`` its key is needed again only to rotate the issuing CA, so it goes
  onto a USB stick in a safe (the commands that need it say so when it is missing);
* the **issuing CA** (``issuing.pem`` / ``issuing.key``, path length 0) signs hub, agency,
  admin and node certificates and the CRL; it stays with the enrolment service.

``trust.pem`` is the bundle every party trusts (issuing CA first, then the root: the hub's
``[tls] ca`` reads the first as the CRL issuer), and ``fingerprint`` the SHA-256 of the
root's DER, which enrolment tokens carry so a node pins the deployment without trusting on
first use. Private keys are written 0600, optionally encrypted with a passphrase.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from borderlink.proto.identity import Identity, Role, identity_of
from borderlink.provisioning.ca import (
    DEFAULT_CA_DAYS,
    DEFAULT_ISSUING_DAYS,
    CertificateAuthority,
    IssuedCertificate,
    cert_from_pem,
    crl_from_pem,
    crl_to_pem,
    key_to_pem,
    write_private,
)
from borderlink.provisioning.errors import (
    CaDirectoryError,
    CertificateFileError,
    CertificateRejected,
)

ROOT_CERT, ROOT_KEY = "root.pem", "root.key"
ISSUING_CERT, ISSUING_KEY = "issuing.pem", "issuing.key"
TRUST_BUNDLE = "trust.pem"
FINGERPRINT = "fingerprint"
#: Every leaf the issuing CA signs, ``issued/<role>/<name>/<serial hex>.pem`` (what
#: ``provision revoke --node`` finds a node's certificates by; openssl's index.txt in files).
ISSUED = "issued"


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, 64 lowercase hex digits (what tokens carry)."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def normalise_fingerprint(text: str) -> str:
    """*text* as 64 lowercase hex digits (colons and case as openssl prints them are fine)."""
    fp = text.replace(":", "").strip().lower()
    if len(fp) != 64 or any(c not in "0123456789abcdef" for c in fp):
        raise CaDirectoryError(f"a CA fingerprint is 64 hex digits (SHA-256), got {text!r}")
    return fp


def pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def certificates_from_pem(data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateFileError(f"cannot read certificates: {exc}") from exc


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class CaDirectory:
    """The files of one deployment's trust root under :attr:`path` (see the module doc)."""

    path: Path

    def _file(self, name: str) -> Path:
        return self.path / name

    @property
    def root_certificate(self) -> x509.Certificate:
        return self._read_cert(ROOT_CERT)

    @property
    def issuing_certificate(self) -> x509.Certificate:
        return self._read_cert(ISSUING_CERT)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.root_certificate)

    @property
    def trust_pem(self) -> bytes:
        """The bundle parties trust: issuing CA(s), newest first, then the root."""
        bundle = self._file(TRUST_BUNDLE)
        if bundle.exists():
            return bundle.read_bytes()
        return pem(self.issuing_certificate, self.root_certificate)

    def _read_cert(self, name: str) -> x509.Certificate:
        path = self._file(name)
        try:
            return cert_from_pem(path.read_bytes())
        except OSError as exc:
            raise CaDirectoryError(
                f"{path}: {exc.strerror}; is {self.path} a CA directory "
                "(borderlink provision ca init --dir …)?"
            ) from exc

    def _load_ca(self, cert: str, key: str, passphrase: bytes | None) -> CertificateAuthority:
        key_path = self._file(key)
        if not key_path.exists():
            raise CaDirectoryError(
                f"{key_path} is missing (kept offline?): put it back for this command"
            )
        try:
            return CertificateAuthority.load(self._file(cert), key_path, passphrase)
        except CertificateFileError as exc:
            hint = "" if passphrase else " (encrypted? give its passphrase file)"
            raise CaDirectoryError(f"{key_path}: {exc}{hint}") from exc

    def issuing(self, passphrase: bytes | None = None) -> CertificateAuthority:
        """The issuing CA with its key (signs leaves and CRLs)."""
        return self._load_ca(ISSUING_CERT, ISSUING_KEY, passphrase)

    def root(self, passphrase: bytes | None = None) -> CertificateAuthority:
        """The root with its key: only :func:`rotate_issuing` needs it."""
        return self._load_ca(ROOT_CERT, ROOT_KEY, passphrase)

    def record_issued(self, certificate: x509.Certificate) -> Path:
        """Keep *certificate* (a leaf this CA signed) in the register of issued certificates,
        so that it can be revoked by its identity later (:meth:`issued_to`)."""
        named = identity_of(certificate)
        folder = self._file(ISSUED) / named.role.value / named.name
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / f"{certificate.serial_number:x}.pem"
        _write_public(path, pem(certificate))
        return path

    def issued_to(self, identity: Identity) -> list[x509.Certificate]:
        """The certificates :meth:`record_issued` kept for *identity*, oldest first."""
        folder = self._file(ISSUED) / identity.role.value / identity.name
        found = [cert_from_pem(p.read_bytes()) for p in sorted(folder.glob("*.pem"))]
        return sorted(found, key=lambda c: (c.not_valid_before_utc, c.serial_number))

    def chain_of(self, issued: IssuedCertificate) -> bytes:
        """PEM of *issued*'s certificate followed by the issuing CA (what a peer presents)."""
        return pem(issued.certificate, self.issuing_certificate)

    def issue(
        self,
        identity: Identity,
        out_dir: Path,
        *,
        passphrase: bytes | None = None,
        key_passphrase: bytes | None = None,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        valid_days: int | None = None,
        site: str = "",
        stem: str | None = None,
    ) -> tuple[Path, Path]:
        """Issue a leaf for *identity* into ``out_dir/<stem>.pem`` (chain) and ``.key``
        (0600, encrypted with *key_passphrase* if given; *stem* defaults to the name);
        refuses to overwrite either."""
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = stem or (identity.name if identity.role is not Role.AGENCY
                        else identity.name.lower())
        cert_path, key_path = out_dir / f"{stem}.pem", out_dir / f"{stem}.key"
        for p in (cert_path, key_path):
            if p.exists():
                raise CaDirectoryError(f"{p} exists; never overwritten (move it away first)")
        issued = self.issuing(passphrase).issue(
            identity,
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            valid_days=valid_days,
            site=site,
        )
        write_private(key_path, issued.key_pem(key_passphrase))
        _write_public(cert_path, self.chain_of(issued))
        self.record_issued(issued.certificate)
        return cert_path, key_path


#: How long a CRL is believed: a hub refuses every client once it is past (fail closed), so
#: it must be re-signed (``borderlink provision crl``) before then.
DEFAULT_CRL_DAYS = 30


def write_crl(
    ca: CaDirectory,
    path: Path,
    *,
    revoke: Sequence[x509.Certificate] = (),
    next_update_days: int = DEFAULT_CRL_DAYS,
    passphrase: bytes | None = None,
) -> x509.CertificateRevocationList:
    """Sign a fresh CRL with the issuing CA into *path*: the entries of the CRL already there
    (its signature checked first) plus *revoke* (a serial listed already keeps its first
    revocation date: signing again is idempotent). Replaced atomically, so a hub that re-reads
    the file on change never sees half of it."""
    issuing = ca.issuing(passphrase)
    entries: list[tuple[int, dt.datetime]] = []
    if path.exists():
        old = crl_from_pem(path.read_bytes())
        try:
            issuing.check_crl(old)
        except CertificateRejected as exc:
            raise CaDirectoryError(f"{path}: {exc}; not extended") from exc
        entries = [(r.serial_number, r.revocation_date_utc) for r in old]
    for certificate in revoke:
        if not issuing.issued(certificate):
            raise CaDirectoryError(
                f"certificate serial {certificate.serial_number:x} ({certificate.subject.rfc4514_string()}) "
                "was not issued by this CA's issuing key"
            )
        if certificate.serial_number not in {serial for serial, _ in entries}:
            entries.append((certificate.serial_number, dt.datetime.now(dt.UTC)))
    crl = issuing.crl(entries, next_update_days=next_update_days)
    _write_public(path, crl_to_pem(crl))
    return crl


def init_ca_directory(
    directory: Path,
    *,
    name: str = "borderlink",
    root_passphrase: bytes | None = None,
    issuing_passphrase: bytes | None = None,
    root_days: int = DEFAULT_CA_DAYS,
    issuing_days: int = DEFAULT_ISSUING_DAYS,
) -> CaDirectory:
    """Make a root and an issuing CA in *directory*; refuses a directory that has a root.

    The folder is made 0700 whatever the umask: it holds the keys that issue every identity.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca = CaDirectory(directory)
    if (directory / ROOT_CERT).exists() or (directory / ROOT_KEY).exists():
        raise CaDirectoryError(f"{directory} already holds a root CA; init never overwrites one")
    os.chmod(directory, 0o700)
    root = CertificateAuthority.create(f"{name} root CA", valid_days=root_days, path_length=1)
    issuing = root.issue_ca(f"{name} issuing CA", valid_days=issuing_days)
    write_private(directory / ROOT_KEY, key_to_pem(root.key, root_passphrase))
    write_private(directory / ISSUING_KEY, key_to_pem(issuing.key, issuing_passphrase))
    _write_public(directory / ROOT_CERT, root.cert_pem)
    _write_public(directory / ISSUING_CERT, issuing.cert_pem)
    _write_public(directory / TRUST_BUNDLE, ca.trust_pem)
    (directory / FINGERPRINT).write_text(ca.fingerprint + "\n")
    return ca


def rotate_issuing(
    ca: CaDirectory,
    *,
    root_passphrase: bytes | None = None,
    issuing_passphrase: bytes | None = None,
    valid_days: int = DEFAULT_ISSUING_DAYS,
) -> x509.Certificate:
    """A new issuing CA signed by the root (its key must be back for this); the old issuing
    certificate stays in ``trust.pem`` after the new one, so certificates it signed keep
    working until they expire. Returns the new issuing certificate."""
    root = ca.root(root_passphrase)
    old = [c for c in certificates_from_pem(ca._file(TRUST_BUNDLE).read_bytes())
           if c != root.certificate]
    cn = ca.issuing_certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    issuing = root.issue_ca(str(cn[0].value) if cn else "borderlink issuing CA",
                            valid_days=valid_days)
    write_private(ca._file(ISSUING_KEY), key_to_pem(issuing.key, issuing_passphrase))
    _write_public(ca._file(ISSUING_CERT), issuing.cert_pem)
    _write_public(ca._file(TRUST_BUNDLE), pem(issuing.certificate, *old, root.certificate))
    return issuing.certificate


__all__ = [
    "CaDirectory",
    "fingerprint",
    "init_ca_directory",
    "normalise_fingerprint",
    "rotate_issuing",
]
