"""The Enrollment gRPC service (``borderlink provision serve``): tokens in, certificates out.

A registration authority beside the issuing CA, not inside the hub: the hub never holds a
CA key (it verifies, it does not issue). The service

* listens on its own port (default 7444) with **server-only TLS**, because a node being
  enrolled has no client certificate; its server certificate chain includes the root, so a
  node can find the root it pins by fingerprint before it trusts anything;
* checks the token (store of hashes, single use), the proof that the node holds its record
  key and the TLS key of its certificate request, and a per-peer rate limit;
* enrols the node at the hub with ``Admin.EnrollNode`` over mutual TLS, as the admin
  identity ``borderlink://admin/enrollment-service`` (certificate made in memory at start
  from the issuing CA), so the hub's own checks, key history and log apply as for any
  enrolment;
* signs the node's TLS certificate and answers with the chain, the trust bundle and the
  node's site, agency, profile and hub addresses.

Every attempt is logged with the peer, the node id and the outcome.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from borderlink.proto.errors import KeyFileError, VerificationError
from borderlink.proto.identity import Identity, IdentityError, Role, check_name
from borderlink.proto.keys import verify_ed25519
from borderlink.proto.v1 import (
    GRPC_MESSAGE_OPTIONS,
    admin_pb2,
    admin_pb2_grpc,
    enrollment_pb2,
    enrollment_pb2_grpc,
)
from borderlink.provisioning.ca import CertificateAuthority, IssuedCertificate
from borderlink.provisioning.errors import TokenError
from borderlink.provisioning.tokens import TokenStore
from borderlink.provisioning.trust import pem

log = logging.getLogger("borderlink.provisioning.enrollment")

DEFAULT_ENROLL_PORT = 7444
REASON_KEY = "borderlink-reason"
SERVICE_ADMIN = "enrollment-service"


def proof_transcript(node_id: str, record_public_key: bytes, tls_csr_der: bytes) -> bytes:
    """What the node's record key signs to show it holds it (enrollment.proto)."""
    return (b"borderlink-enroll-v1\0" + node_id.encode() + b"\0" + record_public_key
            + hashlib.sha256(tls_csr_der).digest())


class RateLimiter:
    """A token bucket per peer host: *burst* attempts, refilled at *per_minute*."""

    def __init__(self, per_minute: float = 10.0, burst: int = 5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_s = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, peer: str) -> bool:
        now = self.clock()
        with self._lock:
            level, since = self._buckets.get(peer, (self.burst, now))
            level = min(self.burst, level + (now - since) * self.rate_s)
            if level < 1.0:
                self._buckets[peer] = (level, now)
                return False
            self._buckets[peer] = (level - 1.0, now)
            return True


def peer_host(context: grpc.ServicerContext) -> str:
    """``ipv4:127.0.0.1:5555`` -> ``ipv4:127.0.0.1`` (the bucket is per host, not per port)."""
    peer = context.peer()
    return peer.rsplit(":", 1)[0] if peer.count(":") >= 2 else peer


@dataclass(frozen=True)
class HubLink:
    """Where and how the service enrols nodes at the hub (``Admin.EnrollNode``)."""

    address: str
    trust_pem: bytes
    admin: IssuedCertificate
    admin_chain_pem: bytes
    node_addresses: tuple[str, ...]
    timeout_s: float = 10.0

    def channel(self) -> grpc.Channel:
        creds = grpc.ssl_channel_credentials(
            root_certificates=self.trust_pem,
            private_key=self.admin.key_pem(),
            certificate_chain=self.admin_chain_pem,
        )
        return grpc.secure_channel(self.address, creds, options=GRPC_MESSAGE_OPTIONS)


class EnrollmentServicer(enrollment_pb2_grpc.EnrollmentServicer):
    def __init__(
        self,
        *,
        tokens: TokenStore,
        issuing: CertificateAuthority,
        trust_pem: bytes,
        hub: HubLink,
        limiter: RateLimiter | None = None,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.tokens = tokens
        self.issuing = issuing
        self.trust_pem = trust_pem
        self.hub = hub
        self.limiter = limiter or RateLimiter()
        self.clock_ms = clock_ms
        self._channel = hub.channel()
        self._admin = admin_pb2_grpc.AdminStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _refuse(self, context: grpc.ServicerContext, code: grpc.StatusCode, reason: str,
                message: str, **fields: object) -> None:
        log.warning("enrolment refused", extra={"reason": reason, "error": message, **fields})
        context.set_trailing_metadata(((REASON_KEY, reason),))
        context.abort(code, message)

    def _check_request(self, request: enrollment_pb2.EnrollRequest,
                       context: grpc.ServicerContext, peer: str) -> x509.CertificateSigningRequest:
        def bad(message: str) -> None:
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "bad-request", message,
                         peer=peer, node_id=request.node_id)

        try:
            check_name(Role.NODE, request.node_id)
        except IdentityError as exc:
            bad(str(exc))
        try:
            csr = x509.load_der_x509_csr(request.tls_csr_der)
        except ValueError as exc:
            bad(f"tls_csr_der is not a PKCS#10 request: {exc}")
        if not csr.is_signature_valid:
            bad("the TLS certificate request's signature does not verify")
        key = csr.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
                key.curve, ec.SECP256R1):
            bad("the TLS key must be ECDSA P-256 (what gRPC's TLS accepts)")
        if len(request.record_public_key) != 32:
            bad("record_public_key must be a raw 32-byte Ed25519 key")
        try:
            verify_ed25519(bytes(request.record_public_key),
                           proof_transcript(request.node_id, bytes(request.record_public_key),
                                            bytes(request.tls_csr_der)),
                           bytes(request.record_key_proof))
        except (VerificationError, KeyFileError, InvalidSignature, ValueError) as exc:
            bad(f"record key proof does not verify: {exc}")
        return csr

    def Enroll(self, request: enrollment_pb2.EnrollRequest,
               context: grpc.ServicerContext) -> enrollment_pb2.EnrollResponse:
        peer = peer_host(context)
        fields = {"peer": peer, "node_id": request.node_id}
        log.info("enrolment attempt", extra=fields)
        if not self.limiter.allow(peer):
            self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "rate-limited",
                         "too many enrolment attempts from this address; wait a minute",
                         **fields)
        csr = self._check_request(request, context, peer)
        now = self.clock_ms()
        secret = bytes(request.token_secret)
        try:
            grant = self.tokens.claim(secret, request.node_id, by=peer, now_ms=now)
        except TokenError as exc:
            code = (grpc.StatusCode.UNAUTHENTICATED if exc.reason == "token-unknown"
                    else grpc.StatusCode.PERMISSION_DENIED)
            self._refuse(context, code, exc.reason, str(exc), **fields)
        identity = Identity(Role.NODE, request.node_id)
        cert = self.issuing.sign_leaf(identity, csr.public_key(),  # type: ignore[arg-type]
                                      site=grant.site, agency=grant.agency)
        try:
            info = self._admin.EnrollNode(
                admin_pb2.EnrollNodeRequest(
                    node_id=request.node_id,
                    public_key=bytes(request.record_public_key),
                    certificate_der=cert.public_bytes(Encoding.DER),
                    site=grant.site,
                    agency=grant.agency,
                    hardware_profile=grant.profile,
                ),
                timeout=self.hub.timeout_s,
            )
        except grpc.RpcError as exc:
            status = exc.code()  # type: ignore[attr-defined]
            detail = exc.details()  # type: ignore[attr-defined]
            if status == grpc.StatusCode.ALREADY_EXISTS:
                self._refuse(context, grpc.StatusCode.ALREADY_EXISTS, "node-exists",
                             f"the hub refused: {detail} (revoke it first to re-enrol)",
                             **fields)
            self.tokens.release(secret)  # the hub's fault, not the token holder's
            self._refuse(context, grpc.StatusCode.UNAVAILABLE, "hub-unavailable",
                         f"the hub did not enrol the node ({status.name}: {detail}); "
                         "the token stays valid, try again", **fields)
        log.info("node enrolled", extra={**fields, "site": grant.site, "agency": grant.agency,
                                         "profile": grant.profile,
                                         "serial": f"{cert.serial_number:x}"})
        return enrollment_pb2.EnrollResponse(
            certificate_chain_pem=pem(cert, self.issuing.certificate),
            trust_bundle_pem=self.trust_pem,
            site=grant.site,
            agency=grant.agency,
            hardware_profile=grant.profile,
            hub_addresses=list(self.hub.node_addresses),
            enrolled_at_unix_ms=info.enrolled_at_unix_ms or now,
        )


class EnrollmentServer:
    """The service on its own port: server-only TLS with a certificate made at start."""

    def __init__(self, servicer: EnrollmentServicer, server_chain_pem: bytes,
                 server_key_pem: bytes, listen: str, max_workers: int = 8) -> None:
        self.servicer = servicer
        self.listen = listen
        self._creds = grpc.ssl_server_credentials([(server_key_pem, server_chain_pem)])
        self._max_workers = max_workers
        self._server: grpc.Server | None = None
        self.port: int | None = None

    @classmethod
    def create(
        cls,
        *,
        tokens: TokenStore,
        issuing: CertificateAuthority,
        root: x509.Certificate,
        trust_pem: bytes,
        hub_address: str,
        node_hub_addresses: Sequence[str],
        listen: str,
        dns_names: Sequence[str] = ("localhost",),
        ip_addresses: Sequence[str] = ("127.0.0.1",),
        limiter: RateLimiter | None = None,
    ) -> EnrollmentServer:
        """Issue the service's server and admin certificates (in memory only) and wire it up."""
        server_cert = issuing.issue(Identity(Role.HUB, "enrollment"), dns_names=dns_names,
                                    ip_addresses=ip_addresses)
        admin = issuing.issue(Identity(Role.ADMIN, SERVICE_ADMIN))
        hub = HubLink(hub_address, trust_pem, admin, pem(admin.certificate, issuing.certificate),
                      tuple(node_hub_addresses) or (hub_address,))
        servicer = EnrollmentServicer(tokens=tokens, issuing=issuing, trust_pem=trust_pem,
                                      hub=hub, limiter=limiter)
        chain = pem(server_cert.certificate, issuing.certificate, root)
        return cls(servicer, chain, server_cert.key_pem(), listen)

    def start(self) -> int:
        server = grpc.server(futures.ThreadPoolExecutor(self._max_workers,
                                                        thread_name_prefix="enroll"),
                             options=GRPC_MESSAGE_OPTIONS)
        enrollment_pb2_grpc.add_EnrollmentServicer_to_server(self.servicer, server)
        port = server.add_secure_port(self.listen, self._creds)
        if port == 0:
            raise OSError(f"cannot listen on {self.listen}")
        server.start()
        self._server, self.port = server, port
        log.info("enrollment serving", extra={"port": port})
        return port

    def stop(self, grace_s: float = 1.0) -> None:
        if self._server is not None:
            self._server.stop(grace_s).wait(grace_s + 1)
        self.servicer.close()


__all__ = ["DEFAULT_ENROLL_PORT", "EnrollmentServer", "EnrollmentServicer", "RateLimiter",
           "proof_transcript"]
