"""Errors of the record contract, split by cause.

Every error borderlink raises derives from :class:`BorderlinkError` (defined in the bottom
layer, :mod:`borderlink.common.errors`, and re-exported here); every package's base exception
subclasses it.
Bad data is also a :class:`ValueError`, so callers that only know the standard library
still catch it.
"""

from __future__ import annotations

from borderlink.common.errors import BorderlinkError


class RecordDecodeError(BorderlinkError, ValueError):
    """Bytes that are not a well-formed record: bad CBOR, wrong structure, over a limit."""


class RecordEncodeError(BorderlinkError, ValueError):
    """A value that cannot become a record: body not valid for its type, bad header values."""


class VerificationError(BorderlinkError):
    """A well-formed message whose signature, key, digest or chain does not check out."""


class ChainError(VerificationError):
    """A hash-chain segment with a gap, a reordering, a changed record or a fork."""


class KeyFileError(BorderlinkError, ValueError):
    """A key file or encoded key that cannot be read (wrong format, wrong passphrase)."""


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof that does not verify, or malformed proof input."""


class ProofInputError(ProofError, ValueError):
    """Proof arguments that can never verify: index beyond the tree, sizes reversed, a hash
    that is not 32 bytes, a negative size."""


class ProofLengthError(ProofError):
    """A Merkle proof with more or fewer hashes than its index and tree sizes require."""


class RootMismatchError(ProofError):
    """A Merkle proof of the right shape that recomputes a different root (or old root)."""


class NoteFormatError(RecordDecodeError):
    """Text that is not a well-formed signed note (c2sp.org/signed-note): not UTF-8, a control
    character, no blank line before the signatures, a malformed signature line, too large."""


class CheckpointFormatError(NoteFormatError):
    """Note text that is not a checkpoint body (c2sp.org/tlog-checkpoint): missing origin, tree
    size not a canonical decimal, root hash not the base64 of 32 bytes, an empty extension."""


class NoteKeyError(KeyFileError):
    """A signed-note verifier or signer key string (``name+hash+base64``) that cannot be read:
    bad name, key hash not 8 hex digits, unknown algorithm, wrong length, hash mismatch."""


class NoteSignatureError(VerificationError):
    """A signed note without a valid signature by the expected key: none by that key, or one
    by that key that does not verify."""


class CheckpointError(VerificationError):
    """A validly signed checkpoint that is not acceptable: another origin than expected."""
