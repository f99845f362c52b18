"""Merkle tree math of RFC 9162 §2.1 (identical to RFC 6962 §2.1), pure functions, no I/O.

Hashes are SHA-256: a leaf hash is ``SHA-256(0x00 || leaf)``, an interior node
``SHA-256(0x01 || left || right)``, the root of the empty tree ``SHA-256("")``.

Node coordinates
    A *perfect subtree* is addressed by ``NodeID(level, index)``: it covers the leaves
    ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes. Once its
    last leaf is appended, a perfect subtree never changes, so a log can store it for good
    (a table keyed by ``(level, index)``, or tiles). Every other node of a tree of size ``n``
    lies on the right edge (it ends at ``n``) and is computed from at most ``log2(n)``
    perfect subtrees by :func:`subtree_hash`.

Proof generation
    :func:`inclusion_plan` and :func:`consistency_plan` say which perfect subtrees a proof
    needs (O(log n) of them, whatever the size) and how to fold them into the proof's
    hashes, so that a store can fetch them in one batch; :func:`inclusion_proof` and
    :func:`consistency_proof` do both steps with a ``get_node(NodeID) -> bytes`` accessor.

Proof verification
    :func:`verify_inclusion` follows RFC 9162 §2.1.3.2 and :func:`verify_consistency`
    §2.1.4.2. They raise :class:`~borderlink.proto.errors.ProofError` subclasses:
    :class:`ProofInputError` (arguments that can never verify), :class:`ProofLengthError`
    (wrong number of hashes) and :class:`RootMismatchError` (the proof recomputes another root).

Sequencing
    :class:`CompactRange` keeps the O(log n) state of an append-only tree and reports the
    perfect subtrees each append completes (:func:`completed_nodes`), which a log persists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from .errors import ProofInputError, ProofLengthError, RootMismatchError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "NodeID",
    "ProofPlan",
    "completed_nodes",
    "consistency_plan",
    "consistency_proof",
    "inclusion_plan",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_nodes",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "root_from_subtrees",
    "subtree_hash",
    "tree_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in a SHA-256 hash; every leaf hash, node hash, root and proof element has this size."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) — the root of the empty tree (RFC 9162 §2.1.1)."""

_sha256 = hashlib.sha256


def leaf_hash(leaf: bytes) -> bytes:
    """``SHA-256(0x00 || leaf)`` — the hash of one log entry."""
    return _sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)`` — the hash of an interior node."""
    return _sha256(b"\x01" + left + right).digest()


class NodeID(NamedTuple):
    """A perfect subtree: ``2**level`` leaves starting at leaf ``index * 2**level``."""

    level: int
    index: int  # type: ignore[assignment]  # shadows tuple.index, by design

    @property
    def begin(self) -> int:
        """Index of the first leaf the subtree covers."""
        return self.index << self.level

    @property
    def end(self) -> int:
        """One past the last leaf the subtree covers."""
        return (self.index + 1) << self.level


GetNode = Callable[[NodeID], bytes]
"""Returns the stored hash of a perfect subtree (complete in the tree being proved)."""


# --------------------------------------------------------------------------- checks


def _check_size(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProofInputError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ProofInputError(f"{name} must not be negative, got {value}")


def _check_hash(name: str, value: bytes) -> None:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ProofInputError(f"{name} must be bytes, got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise ProofInputError(f"{name} must be {HASH_SIZE} bytes, got {len(value)}")


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, element in enumerate(proof):
        _check_hash(f"proof[{i}]", element)


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


# --------------------------------------------------------------------------- tree hashes


def root_from_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Fold the hashes of a subtree decomposition (left to right, sizes decreasing) into the
    hash of the whole: ``node(h0, node(h1, ... node(h[-2], h[-1])))``.

    With the hashes of :func:`range_nodes` ``(0, n)`` this is the root of a tree of size ``n``;
    with those of ``(begin, n)`` the right-edge node that covers ``[begin, n)``.
    """
    if not hashes:
        raise ProofInputError("a subtree decomposition needs at least one hash")
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = _sha256(b"\x01" + h + acc).digest()
    return acc


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the leaves with these hashes (RFC 9162 §2.1.1), in O(n) time, O(log n) memory."""
    cr = CompactRange()
    for h in leaf_hashes:
        cr.append(h)
    return cr.root()


def tree_hash(leaves: Iterable[bytes]) -> bytes:
    """MTH(D[n]) of raw leaf data (each leaf hashed with :func:`leaf_hash`)."""
    return root_from_leaf_hashes([leaf_hash(leaf) for leaf in leaves])


def range_nodes(begin: int, end: int) -> list[NodeID]:
    """The perfect subtrees that exactly cover the leaves ``[begin, end)``, left to right,
    each as large as alignment allows (the compact range of ``[begin, end)``).

    For ``begin = 0`` they follow the bits of ``end`` from the highest; a tree of size
    ``n`` has ``popcount(n)`` of them.
    """
    _check_size("begin", begin)
    _check_size("end", end)
    if begin > end:
        raise ProofInputError(f"range begin {begin} is after its end {end}")
    nodes: list[NodeID] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append(NodeID(level, begin >> level))
        begin += 1 << level
    return nodes


def _check_aligned(begin: int, end: int) -> None:
    size = end - begin
    if size <= 0:
        raise ProofInputError(f"subtree [{begin}, {end}) is empty")
    span = 1 << (size - 1).bit_length()  # the smallest power of two >= size
    if begin % span:
        raise ProofInputError(
            f"[{begin}, {end}) is not a node of any RFC 9162 tree: "
            f"its begin is not a multiple of {span}"
        )


def subtree_hash(begin: int, end: int, get_node: GetNode) -> bytes:
    """MTH(D[begin:end]) computed from stored perfect subtrees.

    ``[begin, end)`` must be a node of the tree the range ends in: ``begin`` a multiple of the
    smallest power of two ``>= end - begin``. Perfect ranges cost one read; a right-edge node
    (``end`` the tree size) costs ``popcount(end - begin)`` reads and as many hashes.
    """
    _check_size("begin", begin)
    _check_size("end", end)
    _check_aligned(begin, end)
    return root_from_subtrees([get_node(n) for n in range_nodes(begin, end)])


# --------------------------------------------------------------------------- proof plans


@dataclass(frozen=True)
class ProofPlan:
    """What a proof needs from storage and how to assemble it.

    ``nodes`` are the perfect subtrees to read, each once, in proof order; ``spans[i]`` says
    how many consecutive entries of ``nodes`` fold (with :func:`root_from_subtrees`) into
    proof hash ``i``. A span of 1 is a stored perfect subtree; a longer span is a right-edge
    node computed on the fly.
    """

    nodes: tuple[NodeID, ...]
    spans: tuple[int, ...]

    def assemble(self, hashes: Sequence[bytes]) -> list[bytes]:
        """The proof hashes from the hashes of :attr:`nodes` (same order)."""
        if len(hashes) != len(self.nodes):
            raise ProofInputError(
                f"proof plan needs {len(self.nodes)} node hashes, got {len(hashes)}"
            )
        proof: list[bytes] = []
        i = 0
        for span in self.spans:
            proof.append(hashes[i] if span == 1 else root_from_subtrees(hashes[i : i + span]))
            i += span
        return proof

    def fetch(self, get_node: GetNode) -> list[bytes]:
        """Read every node with ``get_node`` and assemble the proof."""
        return self.assemble([get_node(n) for n in self.nodes])


def _plan(ranges: list[tuple[int, int]]) -> ProofPlan:
    nodes: list[NodeID] = []
    spans: list[int] = []
    for begin, end in ranges:
        part = range_nodes(begin, end)
        nodes.extend(part)
        spans.append(len(part))
    return ProofPlan(tuple(nodes), tuple(spans))


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1 as leaf ranges, bottom-up."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """PROOF(old, D[new]) of RFC 9162 §2.1.4.1 as leaf ranges, bottom-up (0 < old < new)."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, new_size
    whole = True  # RFC's b: the current subtree is still an ancestor of the old root
    while old_size != hi:
        k = _split(hi - lo)
        if old_size <= lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            whole = False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _check_index(index: int, size: int) -> None:
    _check_size("index", index)
    _check_size("tree_size", size)
    if index >= size:
        raise ProofInputError(f"leaf index {index} is outside a tree of size {size}")


def _check_sizes(old_size: int, new_size: int) -> None:
    _check_size("old_size", old_size)
    _check_size("new_size", new_size)
    if old_size > new_size:
        raise ProofInputError(f"old tree size {old_size} is larger than new tree size {new_size}")


def inclusion_plan(index: int, tree_size: int) -> ProofPlan:
    """The perfect subtrees an inclusion proof of leaf ``index`` in a tree of ``tree_size``
    needs: at most ``2 * log2(tree_size)``, at most one span longer than 1."""
    _check_index(index, tree_size)
    return _plan(_inclusion_ranges(index, tree_size))


def consistency_plan(old_size: int, new_size: int) -> ProofPlan:
    """The perfect subtrees a consistency proof from ``old_size`` to ``new_size`` needs.
    Empty when ``old_size`` is 0 or equal to ``new_size`` (RFC 9162 §2.1.4.1)."""
    _check_sizes(old_size, new_size)
    if old_size == 0 or old_size == new_size:
        return ProofPlan((), ())
    return _plan(_consistency_ranges(old_size, new_size))


def inclusion_proof(index: int, tree_size: int, get_node: GetNode) -> list[bytes]:
    """PATH(index, D[tree_size]) (RFC 9162 §2.1.3.1), bottom-up, from stored perfect subtrees.

    ``get_node`` must return the hash of every perfect subtree complete at ``tree_size``.
    """
    return inclusion_plan(index, tree_size).fetch(get_node)


def consistency_proof(old_size: int, new_size: int, get_node: GetNode) -> list[bytes]:
    """PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1) from stored perfect subtrees."""
    return consistency_plan(old_size, new_size).fetch(get_node)


# --------------------------------------------------------------------------- verification


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` yields for ``leaf_hash`` at ``index`` (RFC 9162 §2.1.3.2 steps
    1–4), after checking the proof has exactly the length ``index`` and ``tree_size`` need."""
    _check_index(index, tree_size)
    _check_hash("leaf_hash", leaf_hash)
    _check_proof(proof)
    # Expected length: the path inside the perfect subtree holding the leaf ("inner") plus
    # the left siblings above it on the right edge ("border").
    inner = (index ^ (tree_size - 1)).bit_length()
    expected = inner + (index >> inner).bit_count()
    if len(proof) != expected:
        raise ProofLengthError(
            f"inclusion proof of leaf {index} in a tree of size {tree_size} needs "
            f"{expected} hashes, got {len(proof)}"
        )
    fn, sn = index, tree_size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:  # unreachable after the length check; kept as RFC 9162 step 4a
            raise ProofLengthError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:  # unreachable after the length check; kept as RFC 9162 step 5
        raise ProofLengthError("inclusion proof is shorter than the path to the root")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that the leaf with ``leaf_hash`` is at ``index`` in the tree of ``tree_size``
    with ``root`` (RFC 9162 §2.1.3.2). Returns ``None``; raises a ``ProofError`` subclass."""
    _check_hash("root", root)
    computed = root_from_inclusion_proof(leaf_hash, index, tree_size, proof)
    if computed != root:
        raise RootMismatchError(
            f"inclusion proof of leaf {index} in a tree of size {tree_size} yields root "
            f"{computed.hex()}, expected {bytes(root).hex()}"
        )


def verify_consistency(
    old_size: int,
    new_size: int,
    proof: Sequence[bytes],
    old_root: bytes,
    new_root: bytes,
) -> None:
    """Check that the tree of ``new_size`` with ``new_root`` extends the tree of
    ``old_size`` with ``old_root`` (RFC 9162 §2.1.4.2). Returns ``None``; raises a
    ``ProofError`` subclass.

    Trivial cases: ``old_size == new_size`` needs an empty proof and equal roots;
    ``old_size == 0`` needs an empty proof and ``old_root`` = :data:`EMPTY_ROOT`.
    """
    _check_sizes(old_size, new_size)
    _check_hash("old_root", old_root)
    _check_hash("new_root", new_root)
    _check_proof(proof)
    if old_size == 0 or old_size == new_size:
        if proof:
            raise ProofLengthError(
                f"consistency proof from size {old_size} to {new_size} must be empty, "
                f"got {len(proof)} hashes"
            )
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise RootMismatchError(
                f"old root {bytes(old_root).hex()} of size 0 is not the empty-tree root "
                f"{EMPTY_ROOT.hex()}"
            )
        if old_size == new_size and old_root != new_root:
            raise RootMismatchError(
                f"trees of equal size {old_size} have different roots "
                f"{bytes(old_root).hex()} and {bytes(new_root).hex()}"
            )
        return
    expected = len(_consistency_ranges(old_size, new_size))
    if len(proof) != expected:
        raise ProofLengthError(
            f"consistency proof from size {old_size} to {new_size} needs {expected} hashes, "
            f"got {len(proof)}"
        )
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: old tree is a perfect subtree
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:  # unreachable after the length check; kept as RFC 9162 step 6a
            raise ProofLengthError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:  # unreachable after the length check; kept as RFC 9162 step 7
        raise ProofLengthError("consistency proof is shorter than the path to the root")
    if fr != old_root:
        raise RootMismatchError(
            f"consistency proof from size {old_size} to {new_size} yields old root "
            f"{fr.hex()}, expected {bytes(old_root).hex()}"
        )
    if sr != new_root:
        raise RootMismatchError(
            f"consistency proof from size {old_size} to {new_size} yields new root "
            f"{sr.hex()}, expected {bytes(new_root).hex()}"
        )


# --------------------------------------------------------------------------- sequencing


def completed_nodes(index: int) -> list[NodeID]:
    """The perfect subtrees that become complete when leaf ``index`` is appended: the leaf
    itself and one ancestor per trailing 1-bit of ``index``, lowest first."""
    _check_size("index", index)
    ones = ((index + 1) & -(index + 1)).bit_length() - 1  # trailing ones of index
    return [NodeID(level, index >> level) for level in range(ones + 1)]


class CompactRange:
    """The compact range ``[0, size)`` of an append-only tree: one hash per set bit of
    ``size`` (the perfect subtrees of :func:`range_nodes` ``(0, size)``).

    Appending costs amortised two hashes; :meth:`root` costs ``popcount(size) - 1`` hashes.
    Not thread-safe: one sequencer owns it.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        _check_size("size", size)
        want = (size).bit_count()
        if len(hashes) != want:
            raise ProofInputError(
                f"a compact range of size {size} holds {want} hashes, got {len(hashes)}"
            )
        for i, h in enumerate(hashes):
            _check_hash(f"hashes[{i}]", h)
        self._size = size
        self._hashes = [bytes(h) for h in hashes]

    @classmethod
    def from_nodes(cls, size: int, get_node: GetNode) -> CompactRange:
        """Restore the state of a tree of ``size`` from its stored perfect subtrees."""
        return cls(size, [get_node(n) for n in range_nodes(0, size)])

    @property
    def size(self) -> int:
        """Number of leaves appended."""
        return self._size

    def nodes(self) -> list[tuple[NodeID, bytes]]:
        """The current state: each perfect subtree of ``[0, size)`` with its hash."""
        return list(zip(range_nodes(0, self._size), self._hashes, strict=True))

    def append(self, leaf_hash: bytes) -> list[tuple[NodeID, bytes]]:
        """Append one leaf hash; return the perfect subtrees it completes, lowest first
        (the same coordinates as :func:`completed_nodes`), for the caller to persist."""
        _check_hash("leaf_hash", leaf_hash)
        index = self._size
        h = bytes(leaf_hash)
        done = [(NodeID(0, index), h)]
        level = 0
        rest = index
        while rest & 1:
            h = _sha256(b"\x01" + self._hashes.pop() + h).digest()
            level += 1
            rest >>= 1
            done.append((NodeID(level, index >> level), h))
        self._hashes.append(h)
        self._size = index + 1
        return done

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[tuple[NodeID, bytes]]:
        """Append several leaf hashes; return every perfect subtree they complete."""
        done: list[tuple[NodeID, bytes]] = []
        for h in leaf_hashes:
            done.extend(self.append(h))
        return done

    def root(self) -> bytes:
        """MTH of the leaves appended so far (:data:`EMPTY_ROOT` when there are none)."""
        if not self._hashes:
            return EMPTY_ROOT
        return root_from_subtrees(self._hashes)

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"
