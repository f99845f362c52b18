"""Who is calling: the peer's identity from its TLS client certificate, checked against the CRL.

gRPC has verified the certificate chain and validity during the handshake
(``require_client_auth=True``); gRPC Python cannot load a CRL into the TLS stack, so every
RPC asks :class:`PeerAuth` which identity the peer certificate names and whether the CA has
revoked it. The CRL file is re-read when its modification time changes (so a CRL signed again
by ``borderlink provision crl`` is used at the next call), and its signature is checked against
the CA certificate before it is believed. Fail closed: a CRL that is missing, unreadable, not
signed by the CA or past its next update refuses every call (UNAVAILABLE, logged) until it is
put right. (A ``PeerAuth`` without a CRL path checks no revocation: only tests build one.)
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import grpc
from cryptography import x509

from borderlink.hub.errors import HubError
from borderlink.proto.identity import Identity, IdentityError, Role, identity_of

log = logging.getLogger("borderlink.hub.auth")


class CrlError(HubError):
    """A CRL file that cannot be read or is not signed by the hub's CA."""


class PeerAuth:
    """Identity and revocation checks for RPC handlers. Thread-safe."""

    def __init__(self, ca_certificate: x509.Certificate, crl_path: Path | None = None) -> None:
        self.ca_certificate = ca_certificate
        self.crl_path = crl_path
        self._lock = threading.Lock()
        self._crl: x509.CertificateRevocationList | None = None
        self._crl_mtime: float | None = None

    @classmethod
    def from_files(cls, ca_path: Path, crl_path: Path | None = None) -> PeerAuth:
        return cls(x509.load_pem_x509_certificate(ca_path.read_bytes()), crl_path)

    def _current_crl(self) -> x509.CertificateRevocationList | None:
        if self.crl_path is None:
            return None
        try:
            mtime = os.stat(self.crl_path).st_mtime
        except OSError as exc:
            # Fail closed: a deleted CRL must not re-admit the certificates it revoked.
            raise CrlError(f"CRL {self.crl_path} is unreadable ({exc.strerror}): every "
                           "client is refused until it is back") from exc
        with self._lock:
            if mtime != self._crl_mtime:
                try:
                    crl = x509.load_pem_x509_crl(self.crl_path.read_bytes())
                except OSError as exc:
                    raise CrlError(f"CRL {self.crl_path} is unreadable ({exc.strerror})") from exc
                except ValueError as exc:
                    raise CrlError(f"cannot read CRL {self.crl_path}: {exc}") from exc
                if crl.issuer != self.ca_certificate.subject or not crl.is_signature_valid(
                    self.ca_certificate.public_key()  # type: ignore[arg-type]
                ):
                    raise CrlError(f"CRL {self.crl_path} is not signed by the hub's CA")
                self._crl, self._crl_mtime = crl, mtime
            current = self._crl
        assert current is not None  # loaded above whenever the mtime was new
        next_update = current.next_update_utc
        if next_update is None or next_update <= dt.datetime.now(dt.UTC):
            # Past its next update a CRL may be missing revocations made since: not believed.
            raise CrlError(
                f"CRL {self.crl_path} expired at {next_update.isoformat() if next_update else '?'}"
                ": every client is refused until it is signed again (borderlink provision crl)"
            )
        return current

    def check(self) -> None:
        """Raise :class:`CrlError` now if the CRL would refuse every call (at hub start)."""
        self._current_crl()

    def peer_certificate(self, context: grpc.ServicerContext) -> x509.Certificate:
        pems = context.auth_context().get("x509_pem_cert")
        if not pems:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "no client certificate")
        return x509.load_pem_x509_certificate(pems[0])

    def identify(
        self, context: grpc.ServicerContext, roles: Iterable[Role] | None = None
    ) -> Identity:
        """The caller's identity; aborts UNAUTHENTICATED (no/unknown identity or revoked
        certificate) or PERMISSION_DENIED (a role not in *roles*)."""
        cert = self.peer_certificate(context)
        try:
            identity = identity_of(cert)
        except IdentityError as exc:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"client certificate: {exc}")
        try:
            crl = self._current_crl()
        except CrlError as exc:
            log.error("crl unusable", extra={"error": str(exc)})
            context.abort(grpc.StatusCode.UNAVAILABLE, f"hub cannot check revocation: {exc}")
        if crl is not None and crl.get_revoked_certificate_by_serial_number(cert.serial_number):
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                f"client certificate serial {cert.serial_number:x} ({identity.uri}) is revoked",
            )
        if roles is not None:
            allowed = tuple(roles)
            if identity.role not in allowed:
                context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{identity.uri} may not call this service "
                    f"(needs {' or '.join(r.value for r in allowed)})",
                )
        return identity


__all__ = ["CrlError", "PeerAuth"]
