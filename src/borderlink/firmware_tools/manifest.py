"""Firmware images and their signed manifests (pure: bytes in, bytes out; no files, no tools).

An image is one CBOR map (``IMAGE_FORMAT``)::

    {"format": "borderlink.firmware-image.v1",
     "manifest": bstr,          # the manifest's deterministic CBOR (RFC 8949 §4.2)
     "envelope": bstr / null,   # COSE_Sign1 over exactly those bytes (null until signed)
     "files": {name: bstr}}     # the payload, one entry per file the target installs

The manifest follows SUIT (RFC 9019 architecture, RFC 9124 information model) in what it
states, with readable text keys: ``component``; the target class as ``vendor-id`` and
``class-id`` (RFC 4122 name-based UUIDs, as RFC 9124 §3.4/3.5 suggest); ``version``;
``sequence`` (the SUIT sequence number: a device refuses one not above its last);
``min-version`` (the oldest version it may update from); ``size`` and ``digest`` (SHA-256) of
the payload, and per file its size and SHA-256 (the deploy checks each file on the device).

The envelope is signed by a *firmware-signing* key (`firmware keygen`), never a node key or
the CA; its protected header carries a content type of its own, so a node's record can never
pass for a manifest nor a manifest for a record.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from typing import Any

import cbor2

from borderlink.common.errors import BorderlinkError
from borderlink.proto.cose import Algorithm, HeaderLabel, decode_sign1, open_sign1, sign1
from borderlink.proto.keys import SigningKey, key_id

from .errors import ImageFormatError, ImageVerificationError

__all__ = ["IMAGE_FORMAT", "MANIFEST_CONTENT_TYPE", "TARGETS", "FileEntry", "Image", "Manifest",
           "class_id", "parse_version", "payload_digest", "sign_image", "verify_image"]

IMAGE_FORMAT = "borderlink.firmware-image.v1"
MANIFEST_CONTENT_TYPE = "application/vnd.borderlink.firmware-manifest+cbor"
VENDOR_ID = uuid.uuid5(uuid.NAMESPACE_DNS, "borderlink.example")
TARGETS = ("sensor-node", "edge-agent")
COMPONENTS = {"sensor-node": "ugs-firmware", "edge-agent": "borderlink"}
_VERSION = re.compile(r"^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
MAX_IMAGE_BYTES = 64 * 1024 * 1024


def class_id(target: str) -> bytes:
    """The RFC 9124 class id of a target class (UUIDv5 under the vendor id)."""
    return uuid.uuid5(VENDOR_ID, target).bytes


def parse_version(text: str) -> tuple[int, int, int]:
    m = _VERSION.match(text)
    if not m:
        raise ImageFormatError(f"version {text!r}: expected MAJOR.MINOR.PATCH (e.g. 1.4.0)")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


@dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    sha256: bytes


def payload_digest(files: tuple[FileEntry, ...]) -> bytes:
    """SHA-256 over the file table (names, sizes, digests): binds the set, not only each file."""
    table = [[f.name, f.size, f.sha256] for f in files]
    return hashlib.sha256(cbor2.dumps(table, canonical=True)).digest()


@dataclass(frozen=True)
class Manifest:
    target: str
    version: str
    sequence: int
    min_version: str
    files: tuple[FileEntry, ...]
    extra: tuple[tuple[str, Any], ...] = ()  # target-specific facts (config schema, deps)

    @property
    def component(self) -> str:
        return COMPONENTS[self.target]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def digest(self) -> bytes:
        return payload_digest(self.files)

    def to_dict(self) -> dict[str, Any]:
        return {"manifest-version": 1, "component": self.component,
                "vendor-id": VENDOR_ID.bytes, "class-id": class_id(self.target),
                "target": self.target, "version": self.version, "sequence": self.sequence,
                "min-version": self.min_version, "size": self.size, "digest": self.digest,
                "files": [{"name": f.name, "size": f.size, "sha256": f.sha256}
                          for f in self.files],
                **dict(self.extra)}

    def encode(self) -> bytes:
        return cbor2.dumps(self.to_dict(), canonical=True)

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        try:
            m = cbor2.loads(data)
        except Exception as exc:  # cbor2 raises several types on garbage
            raise ImageFormatError(f"manifest is not CBOR: {exc}") from exc
        if not isinstance(m, dict) or m.get("manifest-version") != 1:
            raise ImageFormatError("manifest: not a version-1 manifest map")
        try:
            target = str(m["target"])
            files = tuple(FileEntry(str(f["name"]), int(f["size"]), bytes(f["sha256"]))
                          for f in m["files"])
            known = {"manifest-version", "component", "vendor-id", "class-id", "target",
                     "version", "sequence", "min-version", "size", "digest", "files"}
            manifest = cls(target, str(m["version"]), int(m["sequence"]), str(m["min-version"]),
                           files, tuple(sorted((k, v) for k, v in m.items() if k not in known)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ImageFormatError(f"manifest: missing or bad field {exc}") from exc
        if target not in TARGETS:
            raise ImageFormatError(f"manifest: unknown target {target!r} (one of {TARGETS})")
        parse_version(manifest.version)
        parse_version(manifest.min_version)
        if m.get("vendor-id") != VENDOR_ID.bytes or m.get("class-id") != class_id(target):
            raise ImageFormatError(f"manifest: vendor/class id are not those of {target!r}")
        if m.get("size") != manifest.size or m.get("digest") != manifest.digest:
            raise ImageFormatError("manifest: size or digest disagree with its file table")
        if m.get("component") != manifest.component:
            raise ImageFormatError(f"manifest: component {m.get('component')!r} is not "
                                   f"{manifest.component!r}")
        return manifest


@dataclass(frozen=True)
class Image:
    manifest_bytes: bytes
    envelope: bytes | None
    files: dict[str, bytes]

    @classmethod
    def create(cls, target: str, version: str, sequence: int, min_version: str,
               files: dict[str, bytes], extra: dict[str, Any] | None = None) -> Image:
        if target not in TARGETS:
            raise ImageFormatError(f"target {target!r}: one of {', '.join(TARGETS)}")
        if parse_version(min_version) > parse_version(version):
            raise ImageFormatError(f"min-version {min_version} is above version {version}")
        if sequence < 1:
            raise ImageFormatError(f"sequence {sequence}: must be 1 or more")
        for name in files:
            if not _NAME.match(name):
                raise ImageFormatError(f"file name {name!r}: letters, digits, _ . - only")
        entries = tuple(FileEntry(n, len(b), hashlib.sha256(b).digest())
                        for n, b in sorted(files.items()))
        manifest = Manifest(target, version, sequence, min_version, entries,
                            tuple(sorted((extra or {}).items())))
        return cls(manifest.encode(), None, dict(files))

    @property
    def manifest(self) -> Manifest:
        return Manifest.decode(self.manifest_bytes)

    def encode(self) -> bytes:
        return cbor2.dumps({"format": IMAGE_FORMAT, "manifest": self.manifest_bytes,
                            "envelope": self.envelope, "files": self.files}, canonical=True)

    @classmethod
    def decode(cls, data: bytes) -> Image:
        if len(data) > MAX_IMAGE_BYTES:
            raise ImageFormatError(f"image of {len(data)} bytes exceeds {MAX_IMAGE_BYTES}")
        try:
            m = cbor2.loads(data)
        except Exception as exc:  # cbor2 raises several types on garbage
            raise ImageFormatError(f"image is not CBOR: {exc}") from exc
        if not isinstance(m, dict) or m.get("format") != IMAGE_FORMAT:
            raise ImageFormatError(f"not a firmware image (format {IMAGE_FORMAT!r} expected)")
        manifest, envelope, files = m.get("manifest"), m.get("envelope"), m.get("files")
        if not isinstance(manifest, bytes) or not isinstance(files, dict) or not (
                envelope is None or isinstance(envelope, bytes)):
            raise ImageFormatError("image: manifest, envelope or files of the wrong type")
        if not all(isinstance(k, str) and isinstance(v, bytes) for k, v in files.items()):
            raise ImageFormatError("image: files must map names to bytes")
        return cls(manifest, envelope, files)


def _protected(key: SigningKey) -> bytes:
    return cbor2.dumps({int(HeaderLabel.ALG): int(Algorithm.ED25519),
                        int(HeaderLabel.CONTENT_TYPE): MANIFEST_CONTENT_TYPE,
                        int(HeaderLabel.KID): key.kid}, canonical=True)


def sign_image(image: Image, key: SigningKey) -> Image:
    """The image with its envelope: the firmware-signing key over the manifest bytes."""
    Manifest.decode(image.manifest_bytes)  # refuse to sign a manifest that does not decode
    envelope = sign1(image.manifest_bytes, key, protected_bytes=_protected(key))
    return Image(image.manifest_bytes, envelope, image.files)


def verify_image(image: Image, public_key: bytes, *, target: str | None = None) -> Manifest:
    """Every check a device makes before it installs: signature by *public_key* over exactly
    the manifest bytes, the content type, the target, each file's size and digest, no file
    more or less than the manifest lists. Returns the manifest."""
    if image.envelope is None:
        raise ImageVerificationError("image is not signed (run `borderlink firmware sign`)")
    try:
        message = decode_sign1(image.envelope)
        if message.protected.get(int(HeaderLabel.CONTENT_TYPE)) != MANIFEST_CONTENT_TYPE:
            raise ImageVerificationError("envelope: not a firmware manifest signature "
                                         f"(content type {MANIFEST_CONTENT_TYPE!r} expected)")
        open_sign1(image.envelope, public_key)
    except ImageVerificationError:
        raise
    except BorderlinkError as exc:
        raise ImageVerificationError(f"envelope: {exc} (firmware key "
                                     f"{key_id(public_key).hex()})") from exc
    if message.payload != image.manifest_bytes:
        raise ImageVerificationError("envelope signs other manifest bytes than the image's")
    manifest = Manifest.decode(image.manifest_bytes)
    if target is not None and manifest.target != target:
        raise ImageVerificationError(f"image is for {manifest.target!r}, not {target!r}")
    listed = {f.name: f for f in manifest.files}
    if set(listed) != set(image.files):
        raise ImageVerificationError(
            f"image files {sorted(image.files)} differ from the manifest's {sorted(listed)}")
    for name, data in image.files.items():
        entry = listed[name]
        if len(data) != entry.size or hashlib.sha256(data).digest() != entry.sha256:
            raise ImageVerificationError(f"file {name!r}: size or SHA-256 differs from the "
                                         "manifest's (tampered or truncated)")
    return manifest
