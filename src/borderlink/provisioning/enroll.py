"""The node's side of enrolment (``borderlink provision enroll``): from an empty folder and a
token to a complete ``node.toml`` that ``borderlink edge run`` accepts as is.

1. Make the record key (Ed25519) and the TLS key (P-256) here; private keys never leave.
2. Find the deployment's root without trusting anyone: read the chain the enrolment server
   presents and keep the certificate whose SHA-256 is the token's fingerprint (a self-signed
   CA). Then open gRPC with that root alone, so TLS itself proves the server chains to it.
   A server that does not present it, or whose certificate does not chain to it, is refused.
3. Send the token secret, the record public key with a proof of possession and a certificate
   request for the TLS key; check the answer (our key, our id, chains to the pinned root).
4. Write every file into a temporary folder beside the target, then rename into place,
   ``node.toml`` last: a refusal or a crash leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from borderlink.proto.identity import IdentityError, Role, identity_of
from borderlink.proto.keys import SigningKey
from borderlink.proto.v1 import GRPC_MESSAGE_OPTIONS, enrollment_pb2, enrollment_pb2_grpc
from borderlink.provisioning.ca import key_to_pem, write_private
from borderlink.provisioning.enrollment_service import REASON_KEY
from borderlink.provisioning.errors import EnrollmentError
from borderlink.provisioning.registrar import proof_transcript
from borderlink.provisioning.trust import certificates_from_pem, pem

#: Causes of a refusal raised on the node (besides the service's, enrollment.proto).
CA_MISMATCH = "ca-mismatch"
HUB_UNREACHABLE = "hub-unreachable"
BAD_ANSWER = "bad-answer"
NODE_CONFIGURED = "node-configured"

NODE_TOML = "node.toml"
FILES = ("keys", "tls", NODE_TOML)
#: Where an offline request's keys wait for their bundle (offline.py).
PENDING = "pending"


@dataclass(frozen=True)
class NodeSettings:
    """What the technician may add to the written ``node.toml``."""

    device_url: str | None = None
    unit_id: str = ""
    broker_host: str = "127.0.0.1"
    broker_port: int = 1883
    journal: str = "state/journal.db"


def _split(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise EnrollmentError("bad-address", f"expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def presented_chain(address: str, timeout_s: float = 10.0) -> list[bytes]:
    """DER certificates the TLS server at *address* presents, unverified (we verify next)."""
    host, port = _split(address)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # only to read the chain; nothing is sent on this link
    ctx.set_alpn_protocols(["h2"])
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as tls:
            getter: Any = getattr(tls, "get_unverified_chain", None)
            chain = getter() if getter else tls._sslobj.get_unverified_chain()  # type: ignore[attr-defined]
    except OSError as exc:
        raise EnrollmentError(HUB_UNREACHABLE, f"cannot reach {address}: {exc}") from exc
    return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
            for c in chain or []]


def pinned_root(address: str, fp: str, timeout_s: float = 10.0) -> x509.Certificate:
    """The root CA with SHA-256 *fp* from the chain the server presents; :class:`EnrollmentError`
    (``ca-mismatch``) when it is not there."""
    for der in presented_chain(address, timeout_s):
        if hashlib.sha256(der).hexdigest() == fp:
            cert = x509.load_der_x509_certificate(der)
            try:
                cert.verify_directly_issued_by(cert)
            except (ValueError, TypeError, InvalidSignature):
                break
            return cert
    raise EnrollmentError(
        CA_MISMATCH,
        f"the server at {address} does not present the CA with fingerprint {fp} "
        "(the token's): not this deployment's hub, refusing to talk to it",
    )


def _check_answer(answer: enrollment_pb2.EnrollResponse, node_id: str, root: x509.Certificate,
                  tls_key: ec.EllipticCurvePrivateKey) -> tuple[list[x509.Certificate], bytes]:
    def bad(message: str) -> EnrollmentError:
        return EnrollmentError(BAD_ANSWER, f"the enrolment answer is not usable: {message}")

    try:
        chain = certificates_from_pem(answer.certificate_chain_pem)
        bundle = certificates_from_pem(answer.trust_bundle_pem)
    except ValueError as exc:
        raise bad(str(exc)) from exc
    if len(chain) < 2 or root not in bundle:
        raise bad("it lacks the certificate chain or the pinned root")
    leaf, issuer = chain[0], chain[1]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if leaf.public_key().public_bytes(der, spki) != tls_key.public_key().public_bytes(der, spki):
        raise bad("the certificate is not for this node's TLS key")
    try:
        named = identity_of(leaf)
        leaf.verify_directly_issued_by(issuer)
        issuer.verify_directly_issued_by(root)
    except (IdentityError, ValueError, TypeError, InvalidSignature) as exc:
        raise bad(f"the certificate does not chain to the pinned root: {exc}") from exc
    if named.role is not Role.NODE or named.name != node_id:
        raise bad(f"the certificate names {named.uri}, not borderlink://node/{node_id}")
    return chain, pem(*bundle)


def node_toml(node_id: str, answer: enrollment_pb2.EnrollResponse, settings: NodeSettings) -> str:
    """A complete ``node.toml`` for the files :func:`enroll` writes (edge/config.py's keys)."""
    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    device = [f"profile = {q(answer.hardware_profile)}"]
    if settings.device_url:
        device.append(f"url = {q(settings.device_url)}")
    if settings.unit_id:
        device.append(f"unit_id = {q(settings.unit_id)}")
    addresses = ", ".join(q(a) for a in answer.hub_addresses)
    return "\n".join([
        f"# Written by `borderlink provision enroll`: node {node_id}, agency {answer.agency},",
        f"# enrolled at hub time {answer.enrolled_at_unix_ms} ms. Keys were made on this node.",
        "[node]", f"id = {q(node_id)}", f"site = {q(answer.site)}",
        'signing_key = "keys/record-signing.pem"', "",
        "[tls]", 'ca = "tls/ca.pem"', 'cert = "tls/node.pem"', 'key = "tls/node.key"', "",
        "[device]", *device, "",
        "[hub]", f"addresses = [{addresses}]", "",
        "[broker]", f"host = {q(settings.broker_host)}", f"port = {settings.broker_port}", "",
        "[journal]", f"path = {q(settings.journal)}", "",
    ])


def _rpc_reason(exc: grpc.RpcError) -> str:
    for key, value in exc.trailing_metadata() or ():  # type: ignore[attr-defined]
        if key == REASON_KEY:
            return str(value)
    details = str(exc.details()).lower()  # type: ignore[attr-defined]
    if any(word in details for word in ("ssl", "handshake", "certificate")):
        return CA_MISMATCH  # the pinned root is there but the server's chain is not under it
    if exc.code() == grpc.StatusCode.UNAVAILABLE:  # type: ignore[attr-defined]
        return HUB_UNREACHABLE
    return "refused"


def check_folder(directory: Path) -> None:
    """:class:`EnrollmentError` (``node-configured``) unless *directory* holds no node yet."""
    present = [name for name in (*FILES, PENDING) if (directory / name).exists()]
    if present:
        raise EnrollmentError(
            NODE_CONFIGURED,
            f"{directory} already holds {', '.join(present)}: enrol into an empty folder "
            "(a node re-enrols with a new token into a new folder, keeping the old journal)",
        )


def make_request(node_id: str, token_secret: bytes) -> tuple[
        SigningKey, ec.EllipticCurvePrivateKey, enrollment_pb2.EnrollRequest]:
    """New record and TLS keys, and the request proving both (enrollment.proto)."""
    record_key = SigningKey.generate()
    tls_key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
           .sign(tls_key, hashes.SHA256()))
    csr_der = csr.public_bytes(serialization.Encoding.DER)
    request = enrollment_pb2.EnrollRequest(
        token_secret=token_secret, node_id=node_id, record_public_key=record_key.public,
        record_key_proof=record_key.sign(proof_transcript(node_id, record_key.public, csr_der)),
        tls_csr_der=csr_der)
    return record_key, tls_key, request


def enroll(
    directory: Path,
    *,
    address: str,
    token_secret: bytes,
    node_id: str,
    ca_fingerprint: str,
    settings: NodeSettings = NodeSettings(),
    timeout_s: float = 15.0,
) -> Path:
    """Enrol this node through the service at *address*; returns the written ``node.toml``."""
    directory.mkdir(parents=True, exist_ok=True)
    check_folder(directory)
    record_key, tls_key, request = make_request(node_id, token_secret)
    root = pinned_root(address, ca_fingerprint, timeout_s)
    creds = grpc.ssl_channel_credentials(root_certificates=pem(root))
    with grpc.secure_channel(address, creds, options=GRPC_MESSAGE_OPTIONS) as channel:
        try:
            answer = enrollment_pb2_grpc.EnrollmentStub(channel).Enroll(request,
                                                                        timeout=timeout_s)
        except grpc.RpcError as exc:
            raise EnrollmentError(_rpc_reason(exc),
                                  f"enrolment refused: {exc.details()}") from exc  # type: ignore[attr-defined]
    return install(directory, node_id, record_key, tls_key, answer, root, settings)


def install(directory: Path, node_id: str, record_key: SigningKey,
            tls_key: ec.EllipticCurvePrivateKey, answer: enrollment_pb2.EnrollResponse,
            root: x509.Certificate, settings: NodeSettings) -> Path:
    """Check *answer* against the pinned *root* and our keys, then write the node's files
    through a staging folder, ``node.toml`` last."""
    chain, bundle = _check_answer(answer, node_id, root, tls_key)
    staging = Path(tempfile.mkdtemp(prefix=".enroll-", dir=directory))
    try:
        (staging / "keys").mkdir(mode=0o700)
        (staging / "tls").mkdir(mode=0o700)
        record_key.write_pem(staging / "keys" / "record-signing.pem")
        write_private(staging / "tls" / "node.key", key_to_pem(tls_key))
        (staging / "tls" / "node.pem").write_bytes(pem(*chain))
        (staging / "tls" / "ca.pem").write_bytes(bundle)
        (staging / NODE_TOML).write_text(node_toml(node_id, answer, settings))
        for name in FILES:  # node.toml last: its presence means the rest is there
            os.rename(staging / name, directory / name)
        fsync_dir(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory / NODE_TOML


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["NodeSettings", "check_folder", "enroll", "install", "make_request", "node_toml",
           "pinned_root", "presented_chain"]
