"""Who is calling: the peer's identity from its TLS client certificate, checked against the CRL.

gRPC has verified the certificate chain and validity during the handshake
(``require_client_auth=True``); gRPC Python cannot load a CRL into the TLS stack, so every
RPC asks :class:`PeerAuth` which identity the peer certificate names and whether the CA has
revoked it. The CRL file is re-read when its modification time changes, and its signature is
checked against the CA certificate before it is believed.
"""

from __future__ import annotations

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
        except FileNotFoundError:
            return None
        with self._lock:
            if mtime != self._crl_mtime:
                data = self.crl_path.read_bytes()
                try:
                    crl = x509.load_pem_x509_crl(data)
                except ValueError as exc:
                    raise CrlError(f"cannot read CRL {self.crl_path}: {exc}") from exc
                if crl.issuer != self.ca_certificate.subject or not crl.is_signature_valid(
                    self.ca_certificate.public_key()  # type: ignore[arg-type]
                ):
                    raise CrlError(f"CRL {self.crl_path} is not signed by the hub's CA")
                self._crl, self._crl_mtime = crl, mtime
            return self._crl

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
