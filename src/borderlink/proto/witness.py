"""Witnessing a log's checkpoints, pure functions: judge, cosign, quorum, split-view evidence.

A witness (c2sp.org/tlog-witness) remembers the last checkpoint it cosigned and cosigns a new
one only when a consistency proof shows the new tree extends the old one; the cosignature is
a timestamped Ed25519 ``cosignature/v1`` (c2sp.org/tlog-cosignature, key type 0x04) added to
the checkpoint note. Clients pin witness keys and demand a quorum of them
(:func:`open_witnessed`) before they trust a proof against a checkpoint.

When a log shows a witness a history that does not extend what it cosigned, the witness keeps
:class:`SplitView` evidence that anyone holding the log's public key can check offline
(:func:`check_split_view`): two checkpoints signed by the log plus, for different sizes, the
inclusion proof of the last leaf of the smaller tree in the larger one. The leaves left of that
leaf's path are the smaller tree's perfect subtrees, so the proof fixes the root the larger tree
gives its first ``n`` leaves (:func:`prefix_root`); when that differs from the smaller
checkpoint's root, the log has signed two trees that cannot both be true (SHA-256 collisions
aside). A consistency proof that merely fails to verify proves nothing offline (the log could
have sent noise), so it makes the witness refuse but is not called a split view.

No I/O here: bytes and values in, values or :class:`WitnessError` out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .checkpoint import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    CosignatureSigner,
    CosignatureVerifier,
    NoteVerifier,
    add_signatures,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_note,
)
from .errors import KeyFileError, ProofError, VerificationError
from .merkle import EMPTY_ROOT, verify_consistency

EVIDENCE_FORMAT = "borderlink-split-view/v1"
"""The ``format`` member of a split-view evidence file."""


class WitnessError(VerificationError):
    """A checkpoint a witness must not cosign, or a quorum that is not met."""


class RollbackError(WitnessError):
    """The checkpoint is smaller than the last one the witness cosigned."""


class InconsistentError(WitnessError):
    """The log did not prove that the checkpoint extends the last cosigned one."""


class QuorumError(WitnessError):
    """Fewer pinned witnesses cosigned the checkpoint than the client demands."""


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --------------------------------------------------------------------------- keys


def generate_cosigner_skey(name: str) -> str:
    """A new witness key as ``PRIVATE+KEY+<name>+<id>+base64(0x04 || seed)`` (the signed-note
    skey layout with the cosignature key type)."""
    seed = os.urandom(32)
    signer = CosignatureSigner(name, seed)
    blob = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + seed).decode()
    return f"PRIVATE+KEY+{name}+{signer.key_id:08x}+{blob}"


def cosigner_from_skey(skey: str) -> CosignatureSigner:
    """Read :func:`generate_cosigner_skey`'s text; the key ID is checked."""
    parts = skey.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise KeyFileError("a witness key is PRIVATE+KEY+<name>+<id>+<base64>")
    name, id_hex, blob64 = parts[2:]
    try:
        blob = base64.b64decode(blob64, validate=True)
    except ValueError:
        raise KeyFileError("witness key: the key is not base64") from None
    if len(blob) != 33 or blob[0] != ALG_COSIGNATURE_V1:
        raise KeyFileError("witness key: not an Ed25519 cosignature/v1 key (type 0x04, 32 bytes)")
    signer = CosignatureSigner(name, blob[1:])
    if f"{signer.key_id:08x}" != id_hex:
        raise KeyFileError(f"witness key: id {id_hex} does not match the key ({signer.key_id:08x})")
    return signer


def witness_verifier(vkey: str) -> CosignatureVerifier:
    """A pinned witness key (a vkey of type 0x04)."""
    return CosignatureVerifier.from_vkey(vkey.strip())


# --------------------------------------------------------------------------- Merkle helper


def prefix_root(
    leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """From the inclusion proof of leaf ``leaf_index`` in the tree of ``tree_size``, return
    (root of that tree, root of the tree of its first ``leaf_index + 1`` leaves).

    The path's left siblings are exactly the perfect subtrees left of the leaf, which make up
    the smaller tree; folded bottom-up they give its RFC 9162 root.
    """
    if not 0 <= leaf_index < tree_size:
        raise ProofError(f"leaf {leaf_index} is not in a tree of {tree_size} leaves")
    fn, sn = leaf_index, tree_size - 1
    root = prefix = bytes(leaf_hash)
    for sibling in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            root = _h(b"\x01" + sibling + root)
            prefix = _h(b"\x01" + sibling + prefix)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            root = _h(b"\x01" + root + sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    return root, prefix


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True)
class WitnessState:
    """What a witness remembers: the last checkpoint it cosigned (``signed_note`` empty and
    size 0 before the first)."""

    origin: str
    size: int = 0
    root_hash: bytes = EMPTY_ROOT
    signed_note: bytes = b""

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "size": self.size,
            "root_hash": self.root_hash.hex(),
            "signed_note": self.signed_note.decode(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WitnessState:
        try:
            return cls(
                str(data["origin"]),
                int(data["size"]),
                bytes.fromhex(data["root_hash"]),
                str(data["signed_note"]).encode(),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WitnessError(f"witness state is malformed: {exc}") from None


def judge(
    state: WitnessState,
    signed_note: bytes,
    log_key: NoteVerifier,
    consistency: Sequence[bytes],
) -> Checkpoint:
    """The checkpoint of ``signed_note`` when the witness may cosign it: signed by the log
    key, of the witness's origin, not smaller than the state, and proved (``consistency``,
    from the state's size to its size) to extend the cosigned tree. Raises
    :class:`RollbackError`, :class:`InconsistentError` or a signature/format error."""
    new = open_checkpoint(signed_note, log_key, origin=state.origin)
    if new.size < state.size:
        raise RollbackError(
            f"checkpoint of size {new.size} is smaller than the cosigned size {state.size}"
        )
    try:
        verify_consistency(state.size, new.size, list(consistency), state.root_hash, new.root_hash)
    except ProofError as exc:
        raise InconsistentError(
            f"checkpoint {new.size} is not proved consistent with cosigned {state.size}: {exc}"
        ) from None
    return new


def cosign(signed_note: bytes, signer: CosignatureSigner, timestamp: int) -> bytes:
    """``signed_note`` with this witness's cosignature/v1 added (replacing an older one)."""
    text = parse_note(signed_note).text
    return add_signatures(signed_note, signer.sign(text, timestamp))


def advance(state: WitnessState, checkpoint: Checkpoint, signed_note: bytes) -> WitnessState:
    return WitnessState(state.origin, checkpoint.size, checkpoint.root_hash, signed_note)


# --------------------------------------------------------------------------- quorum


@dataclass(frozen=True)
class Witnessed:
    """A checkpoint whose log signature checked, and which pinned witnesses cosigned it
    (name -> POSIX seconds of the cosignature)."""

    checkpoint: Checkpoint
    cosigned_by: dict[str, int] = field(default_factory=dict)


def open_witnessed(
    signed_note: bytes,
    log_key: NoteVerifier,
    *,
    origin: str | None,
    witnesses: Sequence[CosignatureVerifier] = (),
    quorum: int = 0,
) -> Witnessed:
    """Check the log's signature, then count valid cosignatures by pinned ``witnesses``;
    :class:`QuorumError` when fewer than ``quorum`` cosigned. A cosignature by an unpinned key
    does not count; a bad one by a pinned key rejects the checkpoint."""
    if quorum > len(witnesses):
        raise QuorumError(f"a quorum of {quorum} needs at least {quorum} pinned witness keys")
    checkpoint = open_checkpoint(signed_note, log_key, origin=origin, cosigners=witnesses)
    pinned = {(w.name, w.key_id) for w in witnesses}
    verified = open_note(signed_note, [log_key, *witnesses]).verified
    by: dict[str, int] = {}
    for sig in verified:
        if (sig.name, sig.key_id) in pinned:
            by[sig.name] = int.from_bytes(sig.signature[:8], "big")
    if len(by) < quorum:
        names = ", ".join(sorted(by)) or "none"
        raise QuorumError(
            f"checkpoint {checkpoint.size} is cosigned by {len(by)} pinned witness(es) ({names}); "
            f"{quorum} required"
        )
    return Witnessed(checkpoint, by)


# --------------------------------------------------------------------------- split views


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError:
        raise WitnessError(f"evidence: {what} is not base64") from None


@dataclass(frozen=True)
class SplitView:
    """Two checkpoints signed by one log key, plus what ties them together: the inclusion
    proof of leaf ``smaller.size - 1`` (``leaf_hash``) in the larger tree. ``smaller`` and
    ``larger`` may be of equal size (then no proof is needed)."""

    smaller: bytes
    larger: bytes
    leaf_hash: bytes = b""
    proof: tuple[bytes, ...] = ()
    witness: str = ""
    detected_at: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "format": EVIDENCE_FORMAT,
            "smaller": self.smaller.decode(),
            "larger": self.larger.decode(),
            "leaf_hash": self.leaf_hash.hex(),
            "proof": [h.hex() for h in self.proof],
            "witness": self.witness,
            "detected_at": self.detected_at,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1) + "\n"

    @classmethod
    def loads(cls, text: str | bytes) -> SplitView:
        try:
            data = json.loads(text)
            if data.get("format") != EVIDENCE_FORMAT:
                raise WitnessError(f"evidence format is not {EVIDENCE_FORMAT!r}")
            return cls(
                str(data["smaller"]).encode(),
                str(data["larger"]).encode(),
                bytes.fromhex(data.get("leaf_hash", "")),
                tuple(bytes.fromhex(h) for h in data.get("proof", [])),
                str(data.get("witness", "")),
                int(data.get("detected_at", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, WitnessError):
                raise
            raise WitnessError(f"evidence file is malformed: {exc}") from None


@dataclass(frozen=True)
class SplitViewReport:
    proven: bool
    reason: str
    origin: str = ""
    sizes: tuple[int, int] = (0, 0)
    roots: tuple[str, str] = ("", "")
    #: The root the larger tree gives the smaller one's leaves (hex), when sizes differ.
    larger_prefix_root: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "proven": self.proven,
            "reason": self.reason,
            "origin": self.origin,
            "sizes": list(self.sizes),
            "roots": list(self.roots),
            "larger_prefix_root": self.larger_prefix_root,
        }


def check_split_view(evidence: SplitView, log_key: NoteVerifier) -> SplitViewReport:
    """Whether ``evidence`` proves that ``log_key`` signed two irreconcilable trees."""
    try:
        a = open_checkpoint(evidence.smaller, log_key, origin=None)
        b = open_checkpoint(evidence.larger, log_key, origin=None)
    except (VerificationError, ValueError) as exc:
        return SplitViewReport(False, f"a checkpoint is not signed by the log key: {exc}")
    if a.size > b.size:
        a, b = b, a
    sizes, roots = (a.size, b.size), (a.root_hash.hex(), b.root_hash.hex())

    def rep(proven: bool, reason: str, prefix: str = "") -> SplitViewReport:
        return SplitViewReport(proven, reason, a.origin, sizes, roots, prefix)

    if a.origin != b.origin:
        return rep(False, f"the checkpoints are of two logs ({a.origin}, {b.origin})")
    if a.size == b.size:
        if a.root_hash == b.root_hash:
            return rep(False, "the two checkpoints agree")
        return rep(True, f"two roots signed for size {a.size}")
    if a.size == 0:
        ok = a.root_hash == EMPTY_ROOT
        why = "a tree of size 0 has only one root" if ok else "size 0 signed with a non-empty root"
        return rep(not ok, why)
    try:
        root, prefix = prefix_root(a.size - 1, b.size, evidence.leaf_hash, evidence.proof)
    except ProofError as exc:
        return rep(False, f"the inclusion proof is malformed: {exc}")
    if root != b.root_hash:
        return rep(False, "the inclusion proof does not lead to the larger root")
    if prefix == a.root_hash:
        return rep(False, "the larger tree extends the smaller: no split view", prefix.hex())
    return rep(
        True,
        f"the tree of size {b.size} gives its first {a.size} leaves root {prefix.hex()[:16]}…, "
        f"the log signed {a.root_hash.hex()[:16]}… for size {a.size}",
        prefix.hex(),
    )


def parse_signed_checkpoint(signed_note: bytes) -> Checkpoint:
    """The checkpoint in a signed note, signatures not checked (for display and sizes)."""
    return parse_checkpoint(parse_note(signed_note).text)


__all__ = [
    "EVIDENCE_FORMAT",
    "InconsistentError",
    "QuorumError",
    "RollbackError",
    "SplitView",
    "SplitViewReport",
    "WitnessError",
    "WitnessState",
    "Witnessed",
    "advance",
    "check_split_view",
    "cosign",
    "cosigner_from_skey",
    "generate_cosigner_skey",
    "judge",
    "open_witnessed",
    "parse_signed_checkpoint",
    "prefix_root",
    "witness_verifier",
]
