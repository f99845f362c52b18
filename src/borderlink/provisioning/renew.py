"""The node's side of certificate renewal (``borderlink provision renew``, renewal.py).

1. Read the node's folder as ``provision enroll`` wrote it (``node.toml``: ``[node] id``,
   ``signing_key``, ``[tls] cert``, ``key``, ``ca``; paths relative to the file).
2. Make a new TLS key (P-256) here, sign the renewal transcript with the current TLS key and
   the record key, and ask the Enrollment service, trusting only the node's own bundle
   (``[tls] ca``: the deployment's root, pinned at enrolment).
3. Check the answer (a certificate for the new key, naming this node, chaining to the root).
4. Write the new pair beside the old one (``tls/node-<serial>.pem``/``.key``), then switch
   ``node.toml``'s ``[tls] cert``/``key`` to it in one atomic replace: until that moment the
   old pair is what the node uses, after it the new one. The old private key is then deleted
   (retired) and its certificate kept under ``tls/retired/``. The agent reads its TLS files
   when it starts: restart it to use the new certificate (the old one stays valid until it
   expires, unless revoked).
"""

from __future__ import annotations

import os
import re
import shutil
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from borderlink.proto.identity import IdentityError, Role, identity_of
from borderlink.proto.keys import SigningKey
from borderlink.proto.v1 import GRPC_MESSAGE_OPTIONS, enrollment_pb2, enrollment_pb2_grpc
from borderlink.provisioning.ca import key_from_pem, key_to_pem, write_private
from borderlink.provisioning.enroll import BAD_ANSWER, NODE_TOML, _rpc_reason, fsync_dir
from borderlink.provisioning.errors import EnrollmentError
from borderlink.provisioning.renewal import renewal_transcript
from borderlink.provisioning.trust import certificates_from_pem, pem

NOT_A_NODE = "not-a-node"


@dataclass(frozen=True)
class NodeFiles:
    """The files of an enrolled node, from its ``node.toml``."""

    directory: Path
    node_id: str
    signing_key: Path
    cert: Path
    key: Path
    ca: Path

    @classmethod
    def read(cls, directory: Path) -> NodeFiles:
        config = directory / NODE_TOML
        try:
            doc = tomllib.loads(config.read_text())
            base = config.parent
            return cls(directory, str(doc["node"]["id"]),
                       base / doc["node"]["signing_key"], base / doc["tls"]["cert"],
                       base / doc["tls"]["key"], base / doc["tls"]["ca"])
        except OSError as exc:
            raise EnrollmentError(NOT_A_NODE, f"{config}: {exc.strerror}: is {directory} an "
                                  "enrolled node's folder?") from exc
        except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
            raise EnrollmentError(NOT_A_NODE, f"{config}: no [node] id/signing_key and "
                                  f"[tls] cert/key/ca ({exc})") from exc


def _spki(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def make_renewal(files: NodeFiles, *, now_ms: int) -> tuple[
        ec.EllipticCurvePrivateKey, enrollment_pb2.RenewRequest]:
    """A new TLS key and the request proving the current key and the record key."""
    try:
        chain_pem = files.cert.read_bytes()
        current = certificates_from_pem(chain_pem)[0]
        current_key = key_from_pem(files.key.read_bytes())
        record_key = SigningKey.read_pem(files.signing_key)
    except (OSError, ValueError, IndexError) as exc:
        raise EnrollmentError(NOT_A_NODE, f"cannot read the node's keys: {exc}") from exc
    if not isinstance(current_key, ec.EllipticCurvePrivateKey) or \
            _spki(current_key.public_key()) != _spki(current.public_key()):
        raise EnrollmentError(NOT_A_NODE, f"{files.key} is not the key of {files.cert}")
    new_key = ec.generate_private_key(ec.SECP256R1())
    csr_der = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                           files.node_id)]))
               .sign(new_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    transcript = renewal_transcript(files.node_id, now_ms,
                                    current.public_bytes(serialization.Encoding.DER), csr_der)
    return new_key, enrollment_pb2.RenewRequest(
        node_id=files.node_id, current_chain_pem=chain_pem, tls_csr_der=csr_der,
        time_unix_ms=now_ms,
        tls_key_proof=current_key.sign(transcript, ec.ECDSA(hashes.SHA256())),
        record_key_proof=record_key.sign(transcript))


def check_renewed(answer: enrollment_pb2.RenewResponse, files: NodeFiles,
                  new_key: ec.EllipticCurvePrivateKey) -> list[x509.Certificate]:
    """The new chain, once it is for *new_key*, names this node and chains to a root of the
    node's own trust bundle; ``bad-answer`` otherwise."""
    def bad(message: str) -> EnrollmentError:
        return EnrollmentError(BAD_ANSWER, f"the renewal answer is not usable: {message}")

    try:
        chain = certificates_from_pem(answer.certificate_chain_pem)
        trusted = certificates_from_pem(files.ca.read_bytes())
    except (OSError, ValueError) as exc:
        raise bad(str(exc)) from exc
    if len(chain) < 2 or _spki(chain[0].public_key()) != _spki(new_key.public_key()):
        raise bad("the certificate is not for the new TLS key")
    leaf, issuer = chain
    try:
        named = identity_of(leaf)
        leaf.verify_directly_issued_by(issuer)
    except (IdentityError, ValueError, TypeError, InvalidSignature) as exc:
        raise bad(f"the certificate does not check out: {exc!r}") from exc
    roots = [c for c in trusted if c.issuer == c.subject]
    if not any(_issued_by(issuer, root) for root in roots):
        raise bad("the issuing CA does not chain to the node's trusted root")
    if named.role is not Role.NODE or named.name != files.node_id:
        raise bad(f"the certificate names {named.uri}, not borderlink://node/{files.node_id}")
    return chain


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _set_tls_paths(text: str, cert: str, key: str) -> str:
    """*text* (node.toml) with ``[tls] cert`` and ``key`` set; other lines as they were."""
    out, section, done = [], "", set()
    for line in text.splitlines(keepends=True):
        header = re.match(r"\s*\[([^\]]+)\]", line)
        if header:
            section = header.group(1).strip()
        elif section == "tls":
            for name, value in (("cert", cert), ("key", key)):
                if re.match(rf"\s*{name}\s*=", line):
                    line = f'{name} = "{value}"\n'
                    done.add(name)
        out.append(line)
    if done != {"cert", "key"}:
        raise EnrollmentError(NOT_A_NODE, "node.toml's [tls] has no cert = / key = lines to "
                              "update")
    return "".join(out)


def install_renewed(files: NodeFiles, new_key: ec.EllipticCurvePrivateKey,
                    chain: list[x509.Certificate]) -> Path:
    """Write the new pair, switch node.toml to it atomically, retire the old key; returns
    the new certificate's path."""
    tls = files.cert.parent
    stem = f"node-{chain[0].serial_number:x}"
    cert_path, key_path = tls / f"{stem}.pem", tls / f"{stem}.key"
    write_private(key_path, key_to_pem(new_key))
    tmp = tls / f".{stem}.pem.tmp"
    tmp.write_bytes(pem(*chain))
    os.replace(tmp, cert_path)
    config = files.directory / NODE_TOML
    text = _set_tls_paths(config.read_text(), os.path.relpath(cert_path, config.parent),
                          os.path.relpath(key_path, config.parent))
    staged = config.with_name(f".{NODE_TOML}.tmp")
    staged.write_text(text)
    os.replace(staged, config)  # the switch: from here on the node uses the new pair
    fsync_dir(files.directory)
    retired = tls / "retired"
    retired.mkdir(mode=0o700, exist_ok=True)
    if files.cert.resolve() != cert_path.resolve():
        shutil.move(str(files.cert), retired / files.cert.name)
    if files.key.resolve() != key_path.resolve():
        files.key.unlink()  # the old private key retired: nothing can use it any more
    return cert_path


def renew(directory: Path, *, address: str, timeout_s: float = 15.0) -> Path:
    """Renew the TLS certificate of the node in *directory* through the Enrollment service
    at *address*; returns the new certificate's path."""
    files = NodeFiles.read(directory)
    new_key, request = make_renewal(files, now_ms=int(time.time() * 1000))
    try:
        trust = files.ca.read_bytes()
    except OSError as exc:
        raise EnrollmentError(NOT_A_NODE, f"{files.ca}: {exc.strerror}") from exc
    creds = grpc.ssl_channel_credentials(root_certificates=trust)
    with grpc.secure_channel(address, creds, options=GRPC_MESSAGE_OPTIONS) as channel:
        try:
            answer = enrollment_pb2_grpc.EnrollmentStub(channel).Renew(request,
                                                                       timeout=timeout_s)
        except grpc.RpcError as exc:
            raise EnrollmentError(_rpc_reason(exc),
                                  f"renewal refused: {exc.details()}") from exc  # type: ignore[attr-defined]
    return install_renewed(files, new_key, check_renewed(answer, files, new_key))


__all__ = ["NodeFiles", "check_renewed", "install_renewed", "make_renewal", "renew"]
