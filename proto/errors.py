"""Errors of the record contract, split by cause.

Every error borderlink raises derives from :class:`BorderlinkError`; the other packages'
base exceptions (except ``hardware_profiles``, which imports nothing of ours) subclass it.
Bad data is also a :class:`ValueError`, so callers that only know the standard library
still catch it.
"""

from __future__ import annotations


class BorderlinkError(Exception):
    """Base class of every borderlink error."""


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
