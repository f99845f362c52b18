"""Signed tree heads as C2SP checkpoints (https://c2sp.org/tlog-checkpoint), pure functions.

A checkpoint is a signed note (:mod:`borderlink.proto.note`) whose text is::

    borderlink.example/hub/bilasuvar        <- origin (the log's identity)
    1234                                    <- tree size, canonical decimal
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=   <- base64 RFC 6962 root (32 bytes)
    (optional, non-empty extension lines)

as read by github.com/transparency-dev/formats/log, the Go checksum database clients and the
witnesses. A checkpoint has no time field: the standard way to say when a tree head was
signed is a timestamped cosignature (``sign_checkpoint(..., cosigner=, timestamp=)``).

Errors: malformed text raises :class:`CheckpointFormatError` (a ``NoteFormatError``, so a
``ValueError``); signature problems :class:`NoteSignatureError`; a valid checkpoint of
another log than expected :class:`CheckpointError`.

The signed-note API is re-exported here, so ``borderlink.proto.checkpoint`` alone covers
tree heads end to end.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import CheckpointError, CheckpointFormatError, NoteKeyError, NoteSignatureError
from .note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    CosignatureSigner,
    CosignatureVerifier,
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    VerifiedNote,
    _b64decode,
    _b64encode,
    _check_text,
    add_signatures,
    cosignature_timestamp,
    format_note,
    key_id,
    open_note,
    parse_note,
    parse_vkey,
    sign_note,
)

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "MAX_TREE_SIZE",
    "ROOT_HASH_SIZE",
    "Checkpoint",
    "CosignatureSigner",
    "CosignatureVerifier",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "VerifiedNote",
    "add_signatures",
    "cosignature_timestamp",
    "format_checkpoint",
    "format_note",
    "key_id",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint",
    "parse_note",
    "parse_vkey",
    "sign_checkpoint",
    "sign_note",
]

MAX_TREE_SIZE = (1 << 64) - 1
"""Tree sizes are uint64 in every checkpoint implementation."""

ROOT_HASH_SIZE = 32
"""Bytes of an RFC 6962 SHA-256 root hash."""

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


# --------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, the tree size and its RFC 6962 root hash, plus
    optional opaque extension lines (not recommended by the spec: monitors cannot audit
    them)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise CheckpointFormatError("checkpoint origin must be a non-empty string")
        if "\n" in self.origin:
            raise CheckpointFormatError("checkpoint origin must be one line")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise CheckpointFormatError(f"tree size must be an int, got {type(self.size).__name__}")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointFormatError(f"tree size {self.size} is outside 0..2**64-1")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != ROOT_HASH_SIZE:
            raise CheckpointFormatError(
                f"root hash must be {ROOT_HASH_SIZE} bytes, got {len(self.root_hash)}"
            )
        for i, ext in enumerate(self.extensions):
            if not isinstance(ext, str) or not ext or "\n" in ext:
                raise CheckpointFormatError(f"extension line {i} must be a non-empty single line")

    def body(self) -> str:
        """The note text of this checkpoint (:func:`format_checkpoint`)."""
        return format_checkpoint(self)


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """``origin\\nsize\\nbase64(root)\\n[extension\\n...]`` — the text a log signs."""
    lines = [checkpoint.origin, str(checkpoint.size), _b64encode(checkpoint.root_hash)]
    text = "\n".join([*lines, *checkpoint.extensions]) + "\n"
    _check_text(text, CheckpointFormatError)
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text (what :attr:`VerifiedNote.text` holds). Strict: canonical
    decimal size, canonical base64 of exactly 32 bytes, no empty line."""
    if not isinstance(text, str):
        raise CheckpointFormatError(f"checkpoint text must be str, got {type(text).__name__}")
    _check_text(text, CheckpointFormatError)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointFormatError(
            f"checkpoint has {len(lines)} lines; origin, size and root hash are required"
        )
    origin, size_s, root_s, *extensions = lines
    if not origin:
        raise CheckpointFormatError("checkpoint origin line is empty")
    if not _DECIMAL.fullmatch(size_s):
        raise CheckpointFormatError(
            f"tree size {size_s[:40]!r} is not a decimal number without leading zeros"
        )
    size = int(size_s)
    if size > MAX_TREE_SIZE:
        raise CheckpointFormatError(f"tree size {size_s[:40]} does not fit in 64 bits")
    root = _b64decode(root_s, "checkpoint root hash", CheckpointFormatError)
    if len(root) != ROOT_HASH_SIZE:
        raise CheckpointFormatError(
            f"checkpoint root hash is {len(root)} bytes, expected {ROOT_HASH_SIZE}"
        )
    for i, ext in enumerate(extensions):
        if not ext:
            raise CheckpointFormatError(f"checkpoint extension line {i} is empty")
    return Checkpoint(origin, size, root, tuple(extensions))


def sign_checkpoint(
    checkpoint: Checkpoint,
    *signers: NoteSigner,
    cosigner: CosignatureSigner | None = None,
    timestamp: int | None = None,
) -> bytes:
    """The signed note of ``checkpoint``. The log's key name should equal the origin.

    With ``cosigner`` and ``timestamp`` a timestamped cosignature is added too: the
    standard way (c2sp.org/tlog-cosignature) to state when the tree head was signed.
    """
    text = format_checkpoint(checkpoint)
    signed = sign_note(text, *signers)
    if cosigner is not None or timestamp is not None:
        if cosigner is None or timestamp is None:
            raise NoteKeyError("a timestamped cosignature needs both cosigner and timestamp")
        signed = add_signatures(signed, cosigner.sign(text, timestamp))
    return signed


def open_checkpoint(
    data: bytes | str,
    verifier: NoteVerifier,
    *,
    origin: str | None,
    cosigners: Sequence[NoteVerifier] = (),
) -> Checkpoint:
    """Verify a signed checkpoint by the log key ``verifier`` and parse it.

    ``origin`` is the log identity expected on the first line (pass ``None`` only to accept
    any). ``cosigners`` are further known keys (witnesses) whose signatures, when present,
    must verify; the log's own signature is always required.
    """
    opened = open_note(data, [verifier, *cosigners])
    if not any(s.name == verifier.name and s.key_id == verifier.key_id for s in opened.verified):
        raise NoteSignatureError(
            f"checkpoint is not signed by the log key {verifier.name}+{verifier.key_id:08x}"
        )
    checkpoint = parse_checkpoint(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(
            f"checkpoint origin {checkpoint.origin[:80]!r} is not the expected {origin!r}"
        )
    return checkpoint
