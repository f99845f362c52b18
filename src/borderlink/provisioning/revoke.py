"""Revoking a node (``borderlink provision revoke``): both of its identities in one command.

A node has two: its TLS certificate (who is talking, checked by the hub against the CRL after
each handshake) and its Ed25519 record key (who signed, checked by the hub's ingest). A
revocation ends both, in this order:

1. **Checks, before anything changes**: the admin's TLS files, the issuing CA's key, the CRL
   file the hub reads (it must exist and be this CA's: a mistyped path must not leave the
   hub's real CRL as it was), the node's certificates (the CA directory's register of issued
   certificates, ``issued/node/<id>/``, plus any ``--cert``) and the compromise time.
2. **The certificates into the CRL** (local, replaced atomically): from the hub's next call
   on, the node's connections are refused, so nothing more arrives from it while step 3 runs.
3. **Admin.RevokeNode**: the record key revoked at the hub, which logs a revocation entry it
   signs; from that log position on nothing signed by the key is accepted, whatever time it
   claims (a key compromised since an earlier time: ``--compromised-since``).

Both steps are idempotent: a serial already in the CRL keeps its first entry, and a second
RevokeNode only moves the compromise date earlier. When step 3 fails,
:class:`RevocationIncomplete` says which half is done; running the same command again
finishes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from borderlink.common.cli import EXIT_FAILED
from borderlink.common.errors import UsageError
from borderlink.proto.identity import Identity, IdentityError, Role, identity_of
from borderlink.provisioning.ca import crl_from_pem
from borderlink.provisioning.errors import CertificateRejected, ProvisioningError
from borderlink.provisioning.trust import CaDirectory, write_crl


class RevocationIncomplete(ProvisioningError):
    """The certificates are revoked in the CRL but the hub did not revoke the record key;
    :attr:`exit_code` follows the hub's answer (3 unreachable, 22 refused: ``cli.py``)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def parse_time_ms(text: str, *, now_ms: int) -> int:
    """``--compromised-since``: Unix ms, or ISO 8601 (``2026-12-07T18:00:00Z``; no zone =
    UTC); never later than *now_ms*. :class:`UsageError` otherwise."""
    text = text.strip()
    if text.isdigit():
        value = int(text)
    else:
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"--compromised-since {text!r}: expected ISO 8601 (2026-12-07T18:00:00Z) or "
                "Unix milliseconds") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        value = int(when.timestamp() * 1000)
    if value > now_ms:
        raise UsageError(
            f"--compromised-since {text!r} is in the future: a key is revoked now, "
            "compromised since a time that has passed")
    return value


@dataclass(frozen=True)
class CrlStep:
    """What step 2 did: serials added to the CRL, serials it listed already."""

    crl: Path
    added: tuple[int, ...]
    already: tuple[int, ...]
    next_update: dt.datetime | None


def node_certificates(ca: CaDirectory, node_id: str,
                      extra: Sequence[x509.Certificate] = ()) -> list[x509.Certificate]:
    """Every certificate of ``borderlink://node/<node_id>`` this CA issued (its register)
    plus *extra* (each checked to name the node); :class:`UsageError` when none."""
    identity = Identity(Role.NODE, node_id)
    found = {c.serial_number: c for c in ca.issued_to(identity)}
    for cert in extra:
        try:
            named = identity_of(cert)
        except IdentityError as exc:
            raise UsageError(f"--cert serial {cert.serial_number:x}: {exc}") from exc
        if named != identity:
            raise UsageError(
                f"--cert serial {cert.serial_number:x} names {named.uri}, not {identity.uri}")
        found.setdefault(cert.serial_number, cert)
    if not found:
        raise UsageError(
            f"no certificate of node {node_id} in {ca.path / 'issued' / 'node' / node_id} "
            "(enrolled before the register existed, or by another CA directory?): give the "
            "node's certificate with --cert (its tls/node.pem)")
    return sorted(found.values(), key=lambda c: (c.not_valid_before_utc, c.serial_number))


def check_crl_file(ca: CaDirectory, path: Path, passphrase: bytes | None) -> None:
    """Step 1 for the CRL: it exists, reads, and this CA's issuing key signed it."""
    try:
        crl = crl_from_pem(path.read_bytes())
    except OSError as exc:
        raise UsageError(
            f"--crl {path}: {exc.strerror}; give the CRL file the hub reads ([tls] crl in "
            "hub.toml)") from exc
    try:
        ca.issuing(passphrase).check_crl(crl)
    except CertificateRejected as exc:
        raise UsageError(f"--crl {path}: {exc} (another deployment's CRL?)") from exc


def revoke_certificates(ca: CaDirectory, path: Path, certificates: Sequence[x509.Certificate],
                        passphrase: bytes | None = None) -> CrlStep:
    """Step 2: *certificates* into the CRL at *path* (idempotent)."""
    listed = {r.serial_number for r in crl_from_pem(path.read_bytes())}
    added = tuple(c.serial_number for c in certificates if c.serial_number not in listed)
    already = tuple(c.serial_number for c in certificates if c.serial_number in listed)
    crl = write_crl(ca, path, revoke=certificates, passphrase=passphrase)
    return CrlStep(path, added, already, crl.next_update_utc)


__all__ = [
    "CrlStep",
    "RevocationIncomplete",
    "check_crl_file",
    "node_certificates",
    "parse_time_ms",
    "revoke_certificates",
]
