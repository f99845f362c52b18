"""Selective disclosure of sensitive body fields (the approach of SD-CWT).

A sensitive field is not in the signed body. In its place the payload carries the SHA-256
digest of a *disclosure*: the deterministic CBOR array ``[salt, field, value]`` with a fresh
16-byte random salt. The disclosure travels beside the record; whoever holds it can check it
against a signed digest, whoever does not learns nothing of the value (the salt defeats
guessing). Each record type pads its digest list with random decoys up to the number of
sensitive fields it declares, and the list is sorted, so neither the count nor the order of
digests tells which fields a record holds.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import cbor2

from .errors import RecordDecodeError, RecordEncodeError, VerificationError

SALT_BYTES = 16
DIGEST_BYTES = 32
MAX_DISCLOSURE_BYTES = 8 * 1024


class RandomPool:
    """``os.urandom`` in batches: one getrandom(2) per 128 salts or decoys rather than one per
    value (the syscall is most of the cost of a decoy on the hot path).

    The bytes are the kernel's CSPRNG output either way. Each size has a list of ready values;
    ``list.pop`` is atomic under the GIL, so two threads are never handed the same value
    without a lock, and a forked child starts empty, so parent and child never share one.
    """

    def __init__(self, batch: int = 128) -> None:
        self._batch = batch
        self._ready: dict[int, list[bytes]] = {}
        # Cleared, not replaced: ready() hands out these lists.
        os.register_at_fork(after_in_child=self._clear)

    def _clear(self) -> None:
        for values in self._ready.values():
            values.clear()

    def ready(self, n: int) -> list[bytes]:
        """The list of ready *n*-byte values itself: ``pop()`` from it (C, atomic) takes one
        without a Python call; when it is empty, call the pool."""
        return self._ready.setdefault(n, [])

    def __call__(self, n: int) -> bytes:
        try:
            return self._ready[n].pop()
        except (KeyError, IndexError):
            block = os.urandom(n * self._batch)
            values = [block[i : i + n] for i in range(0, len(block), n)]
            self.ready(n).extend(values[1:])
            return values[0]


#: The default source of salts and decoy digests.
random_bytes = RandomPool()


class DisclosureDecodeError(RecordDecodeError):
    """Bytes that are not a well-formed disclosure."""


class DisclosureMismatchError(VerificationError):
    """A disclosure whose digest the record does not sign."""


class Disclosure(NamedTuple):
    """One disclosed field: its exact encoded bytes and what they say.

    A named tuple: verifying a record builds one per disclosure (in C, see proto/_native.c).
    """

    raw: bytes
    salt: bytes
    field: str
    value: Any

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.raw).digest()


def make_disclosure(field: str, value: Any, salt: bytes | None = None) -> Disclosure:
    """A disclosure of *field* = *value* with a fresh random salt (or the one given, for tests)."""
    if salt is None:
        salt = random_bytes(SALT_BYTES)
    if len(salt) != SALT_BYTES:
        raise RecordEncodeError(f"a disclosure salt is {SALT_BYTES} bytes, got {len(salt)}")
    try:
        raw = cbor2.dumps([salt, field, value], canonical=True)
    except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
        raise RecordEncodeError(f"field {field!r}: value cannot be encoded: {exc}") from exc
    return Disclosure(raw, salt, field, value)


def decode_disclosure(raw: bytes) -> Disclosure:
    """Parse a disclosure's bytes; the digest is computed over exactly these bytes."""
    if not isinstance(raw, bytes):
        raise DisclosureDecodeError(f"a disclosure is bytes, got {type(raw).__name__}")
    if len(raw) > MAX_DISCLOSURE_BYTES:
        raise DisclosureDecodeError(
            f"disclosure is {len(raw)} bytes, over the limit of {MAX_DISCLOSURE_BYTES}"
        )
    try:
        item = cbor2.loads(raw, allow_indefinite=False, allow_duplicate_keys=False, max_depth=16)
    except (cbor2.CBORDecodeError, ValueError) as exc:
        raise DisclosureDecodeError(f"disclosure is not well-formed CBOR: {exc}") from exc
    if not isinstance(item, (list, tuple)) or len(item) != 3:
        raise DisclosureDecodeError("a disclosure is an array [salt, field, value]")
    salt, field, value = item
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise DisclosureDecodeError(f"disclosure salt must be {SALT_BYTES} bytes")
    if not isinstance(field, str):
        raise DisclosureDecodeError("disclosure field name must be a text string")
    return Disclosure(raw, salt, field, value)


def conceal(
    body: Mapping[str, Any],
    sensitive: Iterable[str],
    slots: int,
    *,
    salt_source: Callable[[int], bytes] = random_bytes,
) -> tuple[dict[str, Any], list[bytes], list[Disclosure]]:
    """Split *body* into the signed part, the sorted digest list (with decoys) and disclosures.

    *slots* is the fixed length of the digest list for the record type (at least the number of
    sensitive fields present); unused slots hold random decoy digests.
    """
    sensitive = frozenset(sensitive)
    signed: dict[str, Any] = {}
    disclosures: list[Disclosure] = []
    for name, value in body.items():
        if name in sensitive:
            disclosures.append(make_disclosure(name, value, salt_source(SALT_BYTES)))
        else:
            signed[name] = value
    if len(disclosures) > slots:
        raise RecordEncodeError(f"{len(disclosures)} sensitive fields but only {slots} slots")
    digests = [d.digest for d in disclosures]
    digests.extend(decoys(slots - len(disclosures), salt_source))
    digests.sort()
    return signed, digests, disclosures


def decoys(count: int, salt_source: Callable[[int], bytes] = random_bytes) -> tuple[bytes, ...]:
    """*count* random digests, sorted: the digest list of a record with no field disclosed."""
    return tuple(sorted(salt_source(DIGEST_BYTES) for _ in range(count)))


def reveal(
    digests: Sequence[bytes], disclosures: Iterable[bytes | Disclosure]
) -> dict[str, Disclosure]:
    """Check each disclosure against the signed digests; the disclosed fields by name.

    Raises :class:`DisclosureMismatchError` for a disclosure the record does not sign, or for
    two disclosures of one field.
    """
    signed = set(digests)
    revealed: dict[str, Disclosure] = {}
    for item in disclosures:
        disclosure = item if isinstance(item, Disclosure) else decode_disclosure(item)
        if disclosure.digest not in signed:
            raise DisclosureMismatchError(
                f"disclosure of field {disclosure.field!r} is not signed by the record"
            )
        if disclosure.field in revealed:
            raise DisclosureMismatchError(f"field {disclosure.field!r} is disclosed twice")
        revealed[disclosure.field] = disclosure
    return revealed
