"""Downlink items from the hub: verified by the node itself, applied atomically.

The hub only carries a downlink item; it is signed by its *issuer* (an agency's downlink key:
SMS for watchlists, the operator for configuration and firmware offers). The node trusts a
fixed set of issuer keys per kind (node configuration, ``[downlink.keys]``), never the hub.

The signed payload is a COSE_Sign1 (Ed25519) whose payload is a deterministic CBOR map::

    {"kind": "watchlist" | "config" | "firmware",
     "version": uint,          # monotonic per (kind, target)
     "target": text,           # a node id, "site:<site>" or "*"
     "issuer": text,           # e.g. "SMS"
     "content": any}           # the watchlist, the config bundle, the firmware manifest

:class:`DownlinkVerifier` (pure: bytes and values in, an item or a typed error out) checks the
signature under a trusted key of that kind (found by the key id in the protected header), that
the signed kind/version/target equal the envelope's (the hub cannot relabel an item), that the
target is this node, and that the version is newer than the one held (never going back).
:class:`DownlinkStore` applies a verified item atomically: the signed bytes are written to a
temporary file, fsynced and renamed over ``<dir>/<kind>.cose`` (the folder fsynced too), then
the held version is updated in the journal's meta table. A crash in between leaves either the
old or the new item in place, never a mix; a re-delivery of the same version is then simply
applied again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2

from borderlink.proto.cose import decode_sign1, verify_sign1
from borderlink.proto.downlink import DOWNLINK_KINDS, sign_downlink
from borderlink.proto.errors import BorderlinkError
from borderlink.proto.keys import key_id

from .errors import DownlinkError, DownlinkRollbackError, DownlinkVerificationError

__all__ = ["KINDS", "DownlinkItem", "DownlinkStore", "DownlinkVerifier", "record_firmware_events",
           "sign_downlink"]

#: DownlinkKind enum value (sync.proto) <-> name.
KINDS = DOWNLINK_KINDS
KIND_NUMBERS = {v: k for k, v in KINDS.items()}
MAX_DOWNLINK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DownlinkItem:
    kind: str
    version: int
    target: str
    issuer: str
    content: Any
    signed: bytes  # the COSE_Sign1 exactly as received

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.signed).digest()


class DownlinkVerifier:
    """Trusted issuer keys per kind: ``{"watchlist": {"SMS": public_key, …}, …}``."""

    def __init__(self, trusted: Mapping[str, Mapping[str, bytes]], *, node_id: str,
                 site: str) -> None:
        unknown = set(trusted) - set(KIND_NUMBERS)
        if unknown:
            raise ValueError(f"unknown downlink kinds {sorted(unknown)}; known: "
                             f"{sorted(KIND_NUMBERS)}")
        self._by_kid = {
            kind: {key_id(pub): (issuer, pub) for issuer, pub in keys.items()}
            for kind, keys in trusted.items()}
        self.node_id = node_id
        self.site = site

    def verify(self, kind: str, version: int, signed: bytes, target: str,
               held_version: int) -> DownlinkItem:
        if len(signed) > MAX_DOWNLINK_BYTES:
            raise DownlinkVerificationError(f"{kind} v{version}: {len(signed)} bytes, over 1 MiB")
        keys = self._by_kid.get(kind)
        if not keys:
            raise DownlinkVerificationError(f"no issuer key is trusted for {kind!r} items")
        try:
            message = decode_sign1(signed, max_bytes=MAX_DOWNLINK_BYTES)
        except BorderlinkError as exc:
            raise DownlinkVerificationError(f"{kind} v{version}: not a COSE_Sign1: {exc}") from exc
        found = keys.get(message.kid) if message.kid is not None else None
        if found is None:
            raise DownlinkVerificationError(
                f"{kind} v{version}: signed by key id "
                f"{message.kid.hex()[:16] if message.kid else 'none'}…, not a trusted "
                f"{kind} issuer")
        issuer, public = found
        try:
            verify_sign1(message, public)
        except BorderlinkError as exc:
            raise DownlinkVerificationError(
                f"{kind} v{version}: signature of {issuer} does not verify: {exc}") from exc
        try:
            payload = cbor2.loads(message.payload)
        except (cbor2.CBORDecodeError, ValueError) as exc:
            raise DownlinkVerificationError(f"{kind} v{version}: payload is not CBOR") from exc
        if not isinstance(payload, Mapping):
            raise DownlinkVerificationError(f"{kind} v{version}: payload must be a map")
        signed_view = (payload.get("kind"), payload.get("version"), payload.get("target"))
        if signed_view != (kind, version, target):
            raise DownlinkVerificationError(
                f"{kind} v{version} for {target!r}: the signed item says {signed_view!r}")
        if payload.get("issuer") != issuer:
            raise DownlinkVerificationError(
                f"{kind} v{version}: names issuer {payload.get('issuer')!r} but is signed by "
                f"{issuer!r}")
        if target not in ("*", f"site:{self.site}", self.node_id):
            raise DownlinkVerificationError(f"{kind} v{version}: for {target!r}, not this node")
        if version <= held_version:
            raise DownlinkRollbackError(
                f"{kind} v{version} is not newer than the v{held_version} held")
        return DownlinkItem(kind, version, target, issuer, payload.get("content"), signed)


    def verify_held(self, kind: str, signed: bytes) -> DownlinkItem:
        """Re-verify an item applied earlier (read back from the store at start-up)."""
        try:
            payload = cbor2.loads(decode_sign1(signed, max_bytes=MAX_DOWNLINK_BYTES).payload)
            version, target = int(payload["version"]), str(payload["target"])
        except (BorderlinkError, cbor2.CBORDecodeError, ValueError, KeyError, TypeError) as exc:
            raise DownlinkVerificationError(f"held {kind} item is unreadable: {exc}") from exc
        return self.verify(kind, version, signed, target, version - 1)


class DownlinkStore:
    """Applied items on disk and their versions in the journal's meta table."""

    def __init__(self, folder: Path, journal: Any) -> None:
        self.folder = Path(folder)
        self.journal = journal

    def held_version(self, kind: str) -> int:
        return int(self.journal.get_meta(f"downlink.{kind}.version", 0))

    def versions(self) -> dict[str, int]:
        return {kind: self.held_version(kind) for kind in KIND_NUMBERS}

    def path(self, kind: str) -> Path:
        return self.folder / f"{kind}.cose"

    def apply(self, item: DownlinkItem) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(item.kind)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            try:
                os.write(fd, item.signed)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
            dfd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            raise DownlinkError(f"{target}: cannot apply {item.kind} v{item.version}: "
                                f"{exc.strerror}") from exc
        self.journal.set_meta(f"downlink.{item.kind}.version", item.version)

    def load(self, kind: str) -> bytes | None:
        try:
            return self.path(kind).read_bytes()
        except FileNotFoundError:
            return None


#: Set by the firmware supervisor for the agent it starts: its append-only log of install steps.
FIRMWARE_EVENTS_ENV = "BORDERLINK_FIRMWARE_EVENTS"
_FIRMWARE_EVENT_BYTES = ("digest", "sha256")


def record_firmware_events(path: Path, journal: Any,
                           record_event: Callable[[str, dict[str, Any]], Any]) -> int:
    """Record as the node's own ``node.firmware_*`` events the supervisor's install steps the
    agent has not recorded yet (its offset into the log is kept in the journal's meta table).
    At least once: a crash between recording and moving the offset records a step twice."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return 0
    offset = int(journal.get_meta("firmware.events.offset", 0))
    if offset > len(data):  # a new slots folder: its log starts again
        offset = 0
    end = data.rfind(b"\n") + 1  # a line the supervisor is still writing waits
    count = 0
    for line in data[offset:end].splitlines():
        try:
            event = json.loads(line)
            record_type, body = str(event["type"]), dict(event["body"])
            if not record_type.startswith("node.firmware_"):
                raise ValueError(f"not a firmware event: {record_type!r}")
            for name in _FIRMWARE_EVENT_BYTES:
                if name in body:
                    body[name] = bytes.fromhex(body[name])
        except (ValueError, KeyError, TypeError):
            continue  # a line this agent cannot read is skipped, never blocks the ones after
        record_event(record_type, body)
        count += 1
    if end > offset:
        journal.set_meta("firmware.events.offset", end)
    return count
