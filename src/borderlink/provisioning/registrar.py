"""The registration step shared by online enrolment and signed offline requests: check the
proofs, use the token once, sign the node's TLS certificate and enrol the node at the hub.

Transport-free: the Enrollment gRPC service (``enrollment_service.py``) and ``provision
sign-request`` (``offline.py``) call :meth:`Registrar.register` and turn its
:class:`~borderlink.provisioning.errors.EnrollmentError` / ``TokenError`` (each with a
``reason``) into a gRPC status or an exit code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from borderlink.proto.errors import KeyFileError, VerificationError
from borderlink.proto.identity import Identity, IdentityError, Role, check_name
from borderlink.proto.keys import verify_ed25519
from borderlink.proto.v1 import GRPC_MESSAGE_OPTIONS, admin_pb2, admin_pb2_grpc
from borderlink.provisioning.ca import CertificateAuthority, IssuedCertificate
from borderlink.provisioning.errors import EnrollmentError
from borderlink.provisioning.tokens import TokenGrant, TokenStore
from borderlink.provisioning.trust import pem

BAD_REQUEST = "bad-request"
NODE_EXISTS = "node-exists"
HUB_UNAVAILABLE = "hub-unavailable"
#: The admin identity under which enrolments reach the hub.
SERVICE_ADMIN = "enrollment-service"


def proof_transcript(node_id: str, record_public_key: bytes, tls_csr_der: bytes) -> bytes:
    """What the node's record key signs to show it holds it (enrollment.proto)."""
    return (b"borderlink-enroll-v1\0" + node_id.encode() + b"\0" + record_public_key
            + hashlib.sha256(tls_csr_der).digest())


def check_request(node_id: str, record_public_key: bytes, record_key_proof: bytes,
                  tls_csr_der: bytes) -> x509.CertificateSigningRequest:
    """The CSR, once the node id, the CSR's self-signature (P-256) and the record-key proof
    check out; :class:`EnrollmentError` (``bad-request``) naming what does not."""
    def bad(message: str) -> EnrollmentError:
        return EnrollmentError(BAD_REQUEST, message)

    try:
        check_name(Role.NODE, node_id)
    except IdentityError as exc:
        raise bad(str(exc)) from exc
    try:
        csr = x509.load_der_x509_csr(tls_csr_der)
    except ValueError as exc:
        raise bad(f"the TLS certificate request is not PKCS#10: {exc}") from exc
    if not csr.is_signature_valid:
        raise bad("the TLS certificate request's signature does not verify")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve,
                                                                        ec.SECP256R1):
        raise bad("the TLS key must be ECDSA P-256 (what gRPC's TLS accepts)")
    if len(record_public_key) != 32:
        raise bad("the record public key must be a raw 32-byte Ed25519 key")
    try:
        verify_ed25519(record_public_key,
                       proof_transcript(node_id, record_public_key, tls_csr_der),
                       record_key_proof)
    except (VerificationError, KeyFileError, InvalidSignature, ValueError) as exc:
        raise bad(f"the record key proof does not verify: {exc}") from exc
    return csr


@dataclass(frozen=True)
class HubLink:
    """Where and how nodes are enrolled at the hub (``Admin.EnrollNode`` over mutual TLS)."""

    address: str
    trust_pem: bytes
    admin: IssuedCertificate
    admin_chain_pem: bytes
    node_addresses: tuple[str, ...]
    timeout_s: float = 10.0

    @classmethod
    def issued(cls, issuing: CertificateAuthority, trust_pem: bytes, address: str,
               node_addresses: tuple[str, ...] = ()) -> HubLink:
        """A link with an admin certificate made now, in memory only, by *issuing*."""
        admin = issuing.issue(Identity(Role.ADMIN, SERVICE_ADMIN))
        return cls(address, trust_pem, admin, pem(admin.certificate, issuing.certificate),
                   node_addresses or (address,))

    def channel(self) -> grpc.Channel:
        creds = grpc.ssl_channel_credentials(
            root_certificates=self.trust_pem,
            private_key=self.admin.key_pem(),
            certificate_chain=self.admin_chain_pem,
        )
        return grpc.secure_channel(self.address, creds, options=GRPC_MESSAGE_OPTIONS)


@dataclass(frozen=True)
class Registration:
    certificate: x509.Certificate
    chain_pem: bytes
    grant: TokenGrant
    enrolled_at_ms: int


class Registrar:
    """Tokens, the issuing CA and the hub link; :meth:`register` is the one decision."""

    def __init__(self, tokens: TokenStore, issuing: CertificateAuthority, hub: HubLink, *,
                 on_issued: Callable[[x509.Certificate], object] | None = None) -> None:
        self.tokens = tokens
        self.issuing = issuing
        self.hub = hub
        #: Told of every certificate signed, before it is handed out (the CA directory's
        #: register of issued certificates, which ``provision revoke`` reads).
        self.on_issued = on_issued
        self._channel = hub.channel()
        self._admin = admin_pb2_grpc.AdminStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def register(self, *, token_secret: bytes, node_id: str, record_public_key: bytes,
                 record_key_proof: bytes, tls_csr_der: bytes, by: str,
                 now_ms: int) -> Registration:
        csr = check_request(node_id, record_public_key, record_key_proof, tls_csr_der)
        grant = self.tokens.claim(token_secret, node_id, by=by, now_ms=now_ms)
        cert = self.issuing.sign_leaf(Identity(Role.NODE, node_id),
                                      csr.public_key(),  # type: ignore[arg-type]
                                      site=grant.site, agency=grant.agency)
        if self.on_issued is not None:
            self.on_issued(cert)
        try:
            info = self._admin.EnrollNode(
                admin_pb2.EnrollNodeRequest(
                    node_id=node_id, public_key=record_public_key,
                    certificate_der=cert.public_bytes(Encoding.DER), site=grant.site,
                    agency=grant.agency, hardware_profile=grant.profile,
                    record_types=grant.record_types),
                timeout=self.hub.timeout_s)
        except grpc.RpcError as exc:
            status, detail = exc.code(), exc.details()  # type: ignore[attr-defined]
            if status == grpc.StatusCode.ALREADY_EXISTS:
                raise EnrollmentError(
                    NODE_EXISTS, f"the hub refused: {detail} (revoke it first to re-enrol)"
                ) from exc
            self.tokens.release(token_secret)  # the hub's fault, not the token holder's
            raise EnrollmentError(
                HUB_UNAVAILABLE, f"the hub did not enrol the node ({status.name}: {detail}); "
                "the token stays valid, try again") from exc
        return Registration(cert, pem(cert, self.issuing.certificate), grant,
                            info.enrolled_at_unix_ms or now_ms)

    def renew(self, *, node_id: str, current_chain_pem: bytes, csr_der: bytes, time_ms: int,
              tls_key_proof: bytes, record_key_proof: bytes, now_ms: int) -> x509.Certificate:
        """A new certificate for an enrolled, unrevoked node (renewal.py says what is checked);
        :class:`EnrollmentError` with the cause otherwise."""
        from borderlink.provisioning.renewal import (
            NODE_REVOKED,
            NOT_ENROLLED,
            check_record_proof,
            check_renewal,
        )

        current, csr = check_renewal(self.issuing, node_id=node_id,
                                     current_chain_pem=current_chain_pem, csr_der=csr_der,
                                     time_ms=time_ms, tls_key_proof=tls_key_proof,
                                     now_ms=now_ms)
        try:
            listed = self._admin.ListNodes(admin_pb2.ListNodesRequest(include_revoked=True),
                                           timeout=self.hub.timeout_s)
        except grpc.RpcError as exc:
            raise EnrollmentError(
                HUB_UNAVAILABLE, f"cannot ask the hub about node {node_id} "
                f"({exc.code().name}: {exc.details()})") from exc  # type: ignore[attr-defined]
        node = next((n for n in listed.nodes if n.node_id == node_id), None)
        if node is None:
            raise EnrollmentError(NOT_ENROLLED, f"the hub has no node {node_id}")
        if node.revoked_at_unix_ms:
            raise EnrollmentError(NODE_REVOKED, f"node {node_id} is revoked at the hub: "
                                  "re-enrol it with a new token")
        check_record_proof(bytes(node.public_key), node_id, time_ms,
                           current.public_bytes(Encoding.DER), csr_der, record_key_proof)
        cert = self.issuing.sign_leaf(Identity(Role.NODE, node_id),
                                      csr.public_key(),  # type: ignore[arg-type]
                                      site=node.site, agency=node.agency)
        if self.on_issued is not None:
            self.on_issued(cert)
        return cert


__all__ = ["HubLink", "Registrar", "Registration", "check_request", "proof_transcript"]
