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

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures

import grpc
from cryptography import x509

from borderlink.proto.identity import Identity, Role
from borderlink.proto.v1 import GRPC_MESSAGE_OPTIONS, enrollment_pb2, enrollment_pb2_grpc
from borderlink.provisioning.ca import CertificateAuthority
from borderlink.provisioning.errors import EnrollmentError, TokenError
from borderlink.provisioning.registrar import HubLink, Registrar, proof_transcript
from borderlink.provisioning.tokens import TokenStore
from borderlink.provisioning.trust import pem

log = logging.getLogger("borderlink.provisioning.enrollment")

DEFAULT_ENROLL_PORT = 7444
REASON_KEY = "borderlink-reason"


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


class EnrollmentServicer(enrollment_pb2_grpc.EnrollmentServicer):
    def __init__(
        self,
        registrar: Registrar,
        trust_pem: bytes,
        *,
        limiter: RateLimiter | None = None,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.registrar = registrar
        self.trust_pem = trust_pem
        self.limiter = limiter or RateLimiter()
        self.clock_ms = clock_ms

    def close(self) -> None:
        self.registrar.close()

    def _refuse(self, context: grpc.ServicerContext, code: grpc.StatusCode, reason: str,
                message: str, **fields: object) -> None:
        log.warning("enrolment refused", extra={"reason": reason, "error": message, **fields})
        context.set_trailing_metadata(((REASON_KEY, reason),))
        context.abort(code, message)

    def Enroll(self, request: enrollment_pb2.EnrollRequest,
               context: grpc.ServicerContext) -> enrollment_pb2.EnrollResponse:
        peer = peer_host(context)
        fields = {"peer": peer, "node_id": request.node_id}
        log.info("enrolment attempt", extra=fields)
        if not self.limiter.allow(peer):
            self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "rate-limited",
                         "too many enrolment attempts from this address; wait a minute",
                         **fields)
        try:
            done = self.registrar.register(
                token_secret=bytes(request.token_secret), node_id=request.node_id,
                record_public_key=bytes(request.record_public_key),
                record_key_proof=bytes(request.record_key_proof),
                tls_csr_der=bytes(request.tls_csr_der), by=peer, now_ms=self.clock_ms())
        except (TokenError, EnrollmentError) as exc:
            self._refuse(context, _STATUS.get(exc.reason, grpc.StatusCode.PERMISSION_DENIED),
                         exc.reason, str(exc), **fields)
        grant = done.grant
        log.info("node enrolled", extra={**fields, "site": grant.site, "agency": grant.agency,
                                         "profile": grant.profile,
                                         "serial": f"{done.certificate.serial_number:x}"})
        return enrollment_pb2.EnrollResponse(
            certificate_chain_pem=done.chain_pem,
            trust_bundle_pem=self.trust_pem,
            site=grant.site,
            agency=grant.agency,
            hardware_profile=grant.profile,
            hub_addresses=list(self.registrar.hub.node_addresses),
            enrolled_at_unix_ms=done.enrolled_at_ms,
        )


    def Renew(self, request: enrollment_pb2.RenewRequest,
              context: grpc.ServicerContext) -> enrollment_pb2.RenewResponse:
        peer = peer_host(context)
        fields = {"peer": peer, "node_id": request.node_id}
        log.info("renewal attempt", extra=fields)
        if not self.limiter.allow(peer):
            self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "rate-limited",
                         "too many attempts from this address; wait a minute", **fields)
        try:
            cert = self.registrar.renew(
                node_id=request.node_id, current_chain_pem=bytes(request.current_chain_pem),
                csr_der=bytes(request.tls_csr_der), time_ms=request.time_unix_ms,
                tls_key_proof=bytes(request.tls_key_proof),
                record_key_proof=bytes(request.record_key_proof), now_ms=self.clock_ms())
        except EnrollmentError as exc:
            self._refuse(context, _STATUS.get(exc.reason, grpc.StatusCode.PERMISSION_DENIED),
                         exc.reason, str(exc), **fields)
        log.info("certificate renewed", extra={**fields, "serial": f"{cert.serial_number:x}"})
        return enrollment_pb2.RenewResponse(
            certificate_chain_pem=pem(cert, self.registrar.issuing.certificate),
            trust_bundle_pem=self.trust_pem)


#: gRPC status of each refusal (docs/provisioning.md); the rest are PERMISSION_DENIED.
_STATUS = {
    "token-unknown": grpc.StatusCode.UNAUTHENTICATED,
    "bad-request": grpc.StatusCode.INVALID_ARGUMENT,
    "node-exists": grpc.StatusCode.ALREADY_EXISTS,
    "hub-unavailable": grpc.StatusCode.UNAVAILABLE,
    "not-enrolled": grpc.StatusCode.NOT_FOUND,
    "stale-proof": grpc.StatusCode.INVALID_ARGUMENT,
}


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
        on_issued: Callable[[x509.Certificate], object] | None = None,
    ) -> EnrollmentServer:
        """Issue the service's server and admin certificates (in memory only) and wire it up."""
        server_cert = issuing.issue(Identity(Role.HUB, "enrollment"), dns_names=dns_names,
                                    ip_addresses=ip_addresses)
        hub = HubLink.issued(issuing, trust_pem, hub_address, tuple(node_hub_addresses))
        servicer = EnrollmentServicer(Registrar(tokens, issuing, hub, on_issued=on_issued),
                                      trust_pem,
                                      limiter=limiter)
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
           "proof_transcript"]  # proof_transcript: re-exported for the node side
