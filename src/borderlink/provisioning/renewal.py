"""Certificate renewal without a visit: an enrolled node gets a new TLS certificate for a new
TLS key before its certificate expires (``Enrollment.Renew``, ``borderlink provision renew``).

No token: the node proves who it is with what enrolment gave it. The request carries its
current certificate, a certificate request for the new key, the node's time, and the renewal
transcript (enrollment.proto) signed twice: by the current certificate's key (what mutual TLS
would prove) and by the record key the hub holds for the node (so a stolen TLS key alone renews
nothing). The service checks, in :func:`check_renewal` (pure) and then at the hub:

* the current certificate is this issuing CA's, names ``borderlink://node/<id>`` and is
  within its validity (an expired one needs a new token: ``cert-expired``);
* the node's time is within :data:`MAX_SKEW_MS` of the service's (``stale-proof``: a replayed
  request is refused after five minutes, and replaying it sooner gives a certificate for a
  key only the node holds);
* both proofs verify, the new key is P-256 and not the current one (``bad-request``);
* at the hub (``Admin.ListNodes``): the node is enrolled (``not-enrolled``), not revoked
  (``node-revoked``), and the record proof is by the key the hub holds.

The new certificate keeps the node's enrolled site and agency and is kept in the CA
directory's register, so ``provision revoke`` finds it. The hub needs no news of it: it
authorises on the identity in the certificate and checks the CRL.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from borderlink.proto.errors import KeyFileError, VerificationError
from borderlink.proto.identity import Identity, IdentityError, Role, check_name
from borderlink.proto.keys import verify_ed25519
from borderlink.provisioning.ca import CertificateAuthority
from borderlink.provisioning.errors import CertificateRejected, EnrollmentError
from borderlink.provisioning.trust import certificates_from_pem

CERT_EXPIRED = "cert-expired"
NOT_ENROLLED = "not-enrolled"
NODE_REVOKED = "node-revoked"
STALE_PROOF = "stale-proof"
BAD_REQUEST = "bad-request"
#: How far the node's clock may be from the service's when it signs (ms).
MAX_SKEW_MS = 5 * 60 * 1000


def renewal_transcript(node_id: str, time_ms: int, current_der: bytes, csr_der: bytes) -> bytes:
    """What both of the node's keys sign to renew (enrollment.proto, RenewRequest)."""
    return (b"borderlink-renew-v1\0" + node_id.encode() + b"\0"
            + time_ms.to_bytes(8, "big", signed=True) + hashlib.sha256(current_der).digest()
            + hashlib.sha256(csr_der).digest())


def _spki(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_renewal(
    issuing: CertificateAuthority,
    *,
    node_id: str,
    current_chain_pem: bytes,
    csr_der: bytes,
    time_ms: int,
    tls_key_proof: bytes,
    now_ms: int,
) -> tuple[x509.Certificate, x509.CertificateSigningRequest]:
    """The current certificate and the new key's CSR, once everything but the hub's part
    checks out; :class:`EnrollmentError` with the cause otherwise (pure: no I/O)."""
    def refuse(reason: str, message: str) -> EnrollmentError:
        return EnrollmentError(reason, message)

    try:
        check_name(Role.NODE, node_id)
        current = certificates_from_pem(current_chain_pem)[0]
    except (IdentityError, ValueError, IndexError) as exc:
        raise refuse(BAD_REQUEST, f"node id or current certificate: {exc}") from exc
    now = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC)
    try:
        named = issuing.verify(current, now=now)
    except CertificateRejected as exc:
        if current.not_valid_after_utc < now and issuing.issued(current):
            raise refuse(CERT_EXPIRED, f"{exc}: an expired certificate is not renewed; "
                         "re-enrol the node with a new token") from exc
        raise refuse(BAD_REQUEST, f"the current certificate: {exc}") from exc
    except IdentityError as exc:
        raise refuse(BAD_REQUEST, f"the current certificate: {exc}") from exc
    if named != Identity(Role.NODE, node_id):
        raise refuse(BAD_REQUEST, f"the current certificate names {named.uri}, not "
                     f"borderlink://node/{node_id}")
    if abs(time_ms - now_ms) > MAX_SKEW_MS:
        raise refuse(STALE_PROOF, f"the request was signed at {time_ms} ms, the service's "
                     f"clock says {now_ms} ms (over {MAX_SKEW_MS // 1000} s apart)")
    try:
        csr = x509.load_der_x509_csr(csr_der)
    except ValueError as exc:
        raise refuse(BAD_REQUEST, f"the new key's certificate request: {exc}") from exc
    new_key = csr.public_key()
    if not csr.is_signature_valid or not isinstance(new_key, ec.EllipticCurvePublicKey) \
            or not isinstance(new_key.curve, ec.SECP256R1):
        raise refuse(BAD_REQUEST, "the certificate request must be a self-signed P-256 key")
    if _spki(new_key) == _spki(current.public_key()):
        raise refuse(BAD_REQUEST, "the new TLS key is the current one: renew for a new key")
    transcript = renewal_transcript(node_id, time_ms,
                                    current.public_bytes(serialization.Encoding.DER), csr_der)
    key = current.public_key()
    try:
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise InvalidSignature("the current certificate's key is not ECDSA")
        key.verify(tls_key_proof, transcript, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise refuse(BAD_REQUEST, "the proof by the current certificate's key does not "
                     "verify") from exc
    return current, csr


def check_record_proof(public_key: bytes, node_id: str, time_ms: int, current_der: bytes,
                       csr_der: bytes, proof: bytes) -> None:
    """The record-key proof against the key the hub holds; ``bad-request`` otherwise."""
    try:
        verify_ed25519(public_key, renewal_transcript(node_id, time_ms, current_der, csr_der),
                       proof)
    except (VerificationError, KeyFileError, InvalidSignature, ValueError) as exc:
        raise EnrollmentError(BAD_REQUEST, "the proof by the node's record key does not "
                              f"verify with the key the hub holds: {exc}") from exc


__all__ = [
    "MAX_SKEW_MS",
    "check_record_proof",
    "check_renewal",
    "renewal_transcript",
]
