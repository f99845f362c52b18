"""TLS material of every mutual-TLS party (hub, edge agent, agency and admin clients), checked
before gRPC sees it, and a probe that names why a TLS connection to the hub failed.

gRPC reports a key that does not belong to its certificate as "Failed to bind to address" on
the server and "Failed to create security handshaker" on a client, and a certificate the hub
refused as "Socket closed". :func:`read_tls_files` says instead which key and which
certificate do not match; :func:`probe_tls` repeats the handshake with :mod:`ssl` to tell
"nothing listens there" from "the hub refused this certificate" from "this side does not
trust the hub's certificate".
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from borderlink.common.errors import UsageError

__all__ = ["TlsFiles", "TlsMaterialError", "probe_tls", "read_tls_files"]


class TlsMaterialError(UsageError):
    """A certificate, key or CA file that cannot be used; names the file(s) and why."""


@dataclass(frozen=True)
class TlsFiles:
    """PEM bytes of one party's certificate chain, its private key and the CA it trusts."""

    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes


def _read(path: str | os.PathLike[str] | None, what: str, option: str) -> bytes:
    if not path:
        raise TlsMaterialError(f"{what} is required ({option})")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        from borderlink.common.diagnose import explain_os_error

        raise TlsMaterialError(str(explain_os_error(exc, f"{what}"))) from exc


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def read_tls_files(
    cert: str | os.PathLike[str] | None,
    key: str | os.PathLike[str] | None,
    ca: str | os.PathLike[str] | None,
    *,
    options: tuple[str, str, str] = ("--cert", "--key", "--ca"),
) -> TlsFiles:
    """Read and check the three files: each is PEM of its kind, and the key is the private
    half of the certificate's public key. *options* name where each path came from."""
    cert_pem = _read(cert, "the certificate", options[0])
    key_pem = _read(key, "the private key", options[1])
    ca_pem = _read(ca, "the CA certificate", options[2])
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise TlsMaterialError(f"certificate {cert}: not a PEM certificate ({exc})") from exc
    try:
        x509.load_pem_x509_certificates(ca_pem)
    except ValueError as exc:
        raise TlsMaterialError(f"CA certificate {ca}: not a PEM certificate ({exc})") from exc
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TlsMaterialError(
            f"private key {key}: not an unencrypted PEM private key ({exc})"
        ) from exc
    if _spki(private.public_key()) != _spki(certificate.public_key()):
        raise TlsMaterialError(
            f"the key {key} does not belong to the certificate {cert} "
            f"({certificate.subject.rfc4514_string() or 'no subject'}): their public keys differ"
        )
    return TlsFiles(cert_pem, key_pem, ca_pem)


def _alert(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc).lower().replace("_", " ")


def probe_tls(
    address: str, tls: TlsFiles, *, server_name: str | None = None, timeout_s: float = 5.0
) -> str:
    """Connect to *address* (``host:port``) as gRPC would and say what happens, in words:
    ``nothing listens …``, ``the hub refused this certificate …``, ``this side does not trust
    the hub's certificate …``, or ``TLS handshake succeeded`` (the failure was elsewhere)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout_s)
    except OSError as exc:
        return f"nothing answers at {address} ({exc.strerror or exc})"
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=tls.ca_pem.decode())
    context.set_alpn_protocols(["h2"])
    with tempfile.TemporaryDirectory(prefix="borderlink-probe-") as folder:
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_file.write_bytes(tls.cert_pem)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(tls.key_pem)
        context.load_cert_chain(cert_file, key_file)
    try:
        with context.wrap_socket(sock, server_hostname=server_name or host) as conn:
            # TLS 1.3: the server checks the client's certificate after the client's side of
            # the handshake is done, so its refusal arrives as an alert on the first read.
            conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            conn.settimeout(timeout_s)
            try:
                first = conn.recv(1)
            except ssl.SSLError as exc:
                return f"the hub at {address} refused this certificate (TLS alert: {_alert(exc)})"
            except (OSError, TimeoutError):
                first = b"?"
            if not first:  # gRPC's server closes without an alert when it refuses a client
                return (
                    f"the hub at {address} refused this certificate (it closed the connection "
                    "after the TLS handshake: not issued by the CA the hub trusts, expired or "
                    "revoked)"
                )
            return f"TLS handshake with {address} succeeded"
    except ssl.SSLCertVerificationError as exc:
        return (
            f"this side does not trust the certificate of {address}: "
            f"{exc.verify_message or _alert(exc)} (check --ca, or the name the hub's "
            "certificate is issued for)"
        )
    except ssl.SSLError as exc:
        return f"TLS handshake with {address} failed: {_alert(exc)}"
    except OSError as exc:
        return f"the connection to {address} broke during the TLS handshake ({exc})"
    finally:
        sock.close()


def explain_hub_failure(exc: Exception, address: str, tls: TlsFiles | None) -> Exception:
    """A gRPC error from a call to the hub, explained; an UNAVAILABLE one with the TLS probe's
    finding, so that a refused certificate is not reported as "Socket closed"."""
    from borderlink.common.diagnose import explain_rpc_error

    error = explain_rpc_error(exc, f"hub {address}")
    name = getattr(exc.code(), "name", "")  # type: ignore[attr-defined]
    if name != "UNAVAILABLE" or tls is None:
        return error
    finding = probe_tls(address, tls)
    if "refused this certificate" in finding or "does not trust" in finding:
        return TlsMaterialError(finding)
    if finding.startswith("nothing answers"):
        return type(error)(f"hub {address}: UNAVAILABLE: {finding}")
    return type(error)(f"{error}; {finding}")
