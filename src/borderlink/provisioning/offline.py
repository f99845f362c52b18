"""Enrolment of an air-gapped node through two files on a USB stick.

1. On the node, ``provision enroll --offline --out REQ --token TOKEN``: the keys are made
   here and wait in ``pending/`` (0700, keys 0600); ``REQ`` is a CBOR map with the node id,
   the token secret, the record public key with its proof, the TLS certificate request and
   the fingerprint of the root the token names. Nothing in it is a private key.
2. At the CA, ``provision sign-request REQ --out BUNDLE --hub ADDR``: the same checks and the
   same single use of the token as online (:class:`~borderlink.provisioning.registrar.Registrar`),
   the node enrolled at the hub, and ``BUNDLE`` written: one CBOR map
   ``{"manifest": bstr, "signature": bstr, "signer": bstr}``, the manifest (CBOR, see
   :func:`manifest_of`) signed ECDSA-SHA256 by the issuing CA whose DER is ``signer``.
3. On the node, ``provision enroll --bundle BUNDLE``: the signer must chain to the pinned
   root, the signature must verify, and the manifest must answer *this* node's pending
   request (its id, its record key, the SHA-256 of its request) before anything is written;
   then the files are installed as online, ``node.toml`` last, and ``pending/`` removed.
   The node runs and records at once; its first connection syncs from record 1.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from borderlink.proto.keys import SigningKey
from borderlink.proto.v1 import enrollment_pb2
from borderlink.provisioning.ca import key_from_pem, key_to_pem, write_private
from borderlink.provisioning.enroll import (
    FILES,
    NODE_CONFIGURED,
    PENDING,
    NodeSettings,
    check_folder,
    fsync_dir,
    install,
    make_request,
)
from borderlink.provisioning.errors import EnrollmentError
from borderlink.provisioning.registrar import Registrar
from borderlink.provisioning.trust import CaDirectory, certificates_from_pem, fingerprint

REQUEST_TYPE = "borderlink-enroll-request-v1"
MANIFEST_TYPE = "borderlink-node-bundle-v1"
BUNDLE_INVALID = "bundle-invalid"
BUNDLE_OTHER_NODE = "bundle-other-node"
NO_PENDING = "no-pending-request"
REQUEST_INVALID = "bad-request"
CA_MISMATCH = "ca-mismatch"
MAX_FILE_BYTES = 1024 * 1024


def _read_cbor(path: Path, reason: str, what: str) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EnrollmentError(reason, f"cannot read {what} {path}: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise EnrollmentError(reason, f"{what} {path} is {len(data)} bytes, not a {what}")
    try:
        value = cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, EOFError) as exc:
        raise EnrollmentError(reason, f"{what} {path} is not CBOR: {exc}") from exc
    if not isinstance(value, dict):
        raise EnrollmentError(reason, f"{what} {path}: expected a CBOR map")
    return value


def _field(doc: dict[str, Any], key: str, kind: type, reason: str, what: str) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        raise EnrollmentError(reason, f"{what}: field {key!r} missing or not {kind.__name__}")
    return value


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# -- 1. on the node -------------------------------------------------------------------------

def write_request(directory: Path, out: Path, *, token_secret: bytes, node_id: str,
                  ca_fingerprint: str) -> Path:
    """Make the keys into ``directory/pending`` and the request into *out*."""
    directory.mkdir(parents=True, exist_ok=True)
    check_folder(directory)
    record_key, tls_key, request = make_request(node_id, token_secret)
    document = cbor2.dumps({
        "type": REQUEST_TYPE, "node_id": node_id, "token_secret": token_secret,
        "record_public_key": record_key.public, "record_key_proof": request.record_key_proof,
        "tls_csr_der": request.tls_csr_der, "ca_fingerprint": ca_fingerprint,
    }, canonical=True)
    staging = Path(tempfile.mkdtemp(prefix=".pending-", dir=directory))
    try:
        record_key.write_pem(staging / "record-signing.pem")
        write_private(staging / "tls.key", key_to_pem(tls_key))
        (staging / "request.cbor").write_bytes(document)
        os.rename(staging, directory / PENDING)
        fsync_dir(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _write_atomic(out, document)
    return out


# -- 2. at the CA ---------------------------------------------------------------------------

def manifest_of(request: dict[str, Any], registrar_answer: Any, hub_addresses: list[str],
                trust_pem: bytes, request_bytes: bytes) -> dict[str, Any]:
    done = registrar_answer
    return {
        "type": MANIFEST_TYPE, "node_id": request["node_id"],
        "record_public_key": request["record_public_key"],
        "request_sha256": hashlib.sha256(request_bytes).digest(),
        "site": done.grant.site, "agency": done.grant.agency, "profile": done.grant.profile,
        "hub_addresses": hub_addresses, "enrolled_at_ms": done.enrolled_at_ms,
        "certificate_chain_pem": done.chain_pem, "trust_bundle_pem": trust_pem,
    }


def sign_request(ca: CaDirectory, registrar: Registrar, request_path: Path, out: Path, *,
                 now_ms: int) -> Path:
    """Check and register the request at *request_path*; write the signed bundle to *out*."""
    request_bytes = request_path.read_bytes() if request_path.is_file() else b""
    req = _read_cbor(request_path, REQUEST_INVALID, "enrolment request")
    what = f"enrolment request {request_path}"
    if req.get("type") != REQUEST_TYPE:
        raise EnrollmentError(REQUEST_INVALID, f"{what}: not a {REQUEST_TYPE}")
    node_id = _field(req, "node_id", str, REQUEST_INVALID, what)
    if _field(req, "ca_fingerprint", str, REQUEST_INVALID, what) != ca.fingerprint:
        raise EnrollmentError(CA_MISMATCH, f"{what} names another deployment's root CA")
    done = registrar.register(
        token_secret=_field(req, "token_secret", bytes, REQUEST_INVALID, what),
        node_id=node_id,
        record_public_key=_field(req, "record_public_key", bytes, REQUEST_INVALID, what),
        record_key_proof=_field(req, "record_key_proof", bytes, REQUEST_INVALID, what),
        tls_csr_der=_field(req, "tls_csr_der", bytes, REQUEST_INVALID, what),
        by=f"offline request {request_path.name}", now_ms=now_ms)
    manifest = cbor2.dumps(manifest_of(req, done, list(registrar.hub.node_addresses),
                                       ca.trust_pem, request_bytes), canonical=True)
    issuing = registrar.issuing
    assert isinstance(issuing.key, ec.EllipticCurvePrivateKey)
    signature = issuing.key.sign(manifest, ec.ECDSA(hashes.SHA256()))
    bundle = cbor2.dumps({"manifest": manifest, "signature": signature,
                          "signer": issuing.certificate.public_bytes(serialization.Encoding.DER)},
                         canonical=True)
    _write_atomic(out, bundle)
    return out


# -- 3. on the node, again ------------------------------------------------------------------

def install_bundle(directory: Path, bundle_path: Path,
                   settings: NodeSettings | None = None) -> Path:
    """Verify the bundle against the pending request and install the node's files."""
    pending = directory / PENDING
    if not (pending / "request.cbor").is_file():
        raise EnrollmentError(NO_PENDING, f"{directory} has no pending offline request "
                              "(provision enroll --offline --out REQ first)")
    present = [name for name in FILES if (directory / name).exists()]
    if present:
        raise EnrollmentError(NODE_CONFIGURED, f"{directory} already holds "
                              f"{', '.join(present)}; never overwritten")
    request_bytes = (pending / "request.cbor").read_bytes()
    request = cbor2.loads(request_bytes)
    record_key = SigningKey.read_pem(pending / "record-signing.pem")
    tls_key = key_from_pem((pending / "tls.key").read_bytes())
    assert isinstance(tls_key, ec.EllipticCurvePrivateKey)
    what = f"bundle {bundle_path}"
    doc = _read_cbor(bundle_path, BUNDLE_INVALID, "bundle")
    manifest_bytes = _field(doc, "manifest", bytes, BUNDLE_INVALID, what)
    signature = _field(doc, "signature", bytes, BUNDLE_INVALID, what)
    try:
        signer = x509.load_der_x509_certificate(_field(doc, "signer", bytes, BUNDLE_INVALID,
                                                       what))
        manifest = cbor2.loads(manifest_bytes)
        trust = certificates_from_pem(_field(manifest, "trust_bundle_pem", bytes,
                                             BUNDLE_INVALID, what))
    except (ValueError, cbor2.CBORDecodeError, TypeError) as exc:
        raise EnrollmentError(BUNDLE_INVALID, f"{what}: {exc}") from exc
    roots = [c for c in trust if fingerprint(c) == request["ca_fingerprint"]]
    if not roots:
        raise EnrollmentError(BUNDLE_INVALID, f"{what} is not from this deployment "
                              "(its trust bundle lacks the token's root)")
    root = roots[0]
    try:
        signer.verify_directly_issued_by(root)
        key = signer.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(signature, manifest_bytes, ec.ECDSA(hashes.SHA256()))
    except (ValueError, TypeError, InvalidSignature, AssertionError) as exc:
        raise EnrollmentError(BUNDLE_INVALID, f"{what}: the signature of the issuing CA "
                              "under the pinned root does not verify (tampered?)") from exc
    if manifest.get("type") != MANIFEST_TYPE:
        raise EnrollmentError(BUNDLE_INVALID, f"{what}: not a {MANIFEST_TYPE}")
    node_id = request["node_id"]
    if (manifest.get("node_id") != node_id
            or manifest.get("record_public_key") != record_key.public
            or manifest.get("request_sha256") != hashlib.sha256(request_bytes).digest()):
        raise EnrollmentError(BUNDLE_OTHER_NODE, f"{what} answers another request (node "
                              f"{manifest.get('node_id')!r}), not this node's {node_id!r}")
    answer = enrollment_pb2.EnrollResponse(
        certificate_chain_pem=_field(manifest, "certificate_chain_pem", bytes,
                                     BUNDLE_INVALID, what),
        trust_bundle_pem=manifest["trust_bundle_pem"],
        site=_field(manifest, "site", str, BUNDLE_INVALID, what),
        agency=_field(manifest, "agency", str, BUNDLE_INVALID, what),
        hardware_profile=_field(manifest, "profile", str, BUNDLE_INVALID, what),
        hub_addresses=[str(a) for a in _field(manifest, "hub_addresses", list,
                                              BUNDLE_INVALID, what)],
        enrolled_at_unix_ms=int(manifest.get("enrolled_at_ms", 0)))
    config = install(directory, node_id, record_key, tls_key, answer, root,
                     settings or NodeSettings())
    shutil.rmtree(pending, ignore_errors=True)
    return config


__all__ = ["install_bundle", "sign_request", "write_request"]
