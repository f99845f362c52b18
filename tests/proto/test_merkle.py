"""RFC 9162 §2.1 Merkle math: published vectors, properties against a naive model, failures."""

from __future__ import annotations

import hashlib
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderlink.proto.errors import (
    ProofError,
    ProofInputError,
    ProofLengthError,
    RootMismatchError,
)
from borderlink.proto.merkle import (
    EMPTY_ROOT,
    CompactRange,
    NodeID,
    ProofPlan,
    completed_nodes,
    consistency_plan,
    consistency_proof,
    inclusion_plan,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_nodes,
    root_from_inclusion_proof,
    root_from_subtrees,
    subtree_hash,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)


def h(s: str) -> bytes:
    return bytes.fromhex(s)


# --------------------------------------------------------------------------- vectors
# The 8-leaf tree of the Certificate Transparency reference implementation (RFC 6962), as
# published in github.com/transparency-dev/merkle: testonly/constants.go (LeafInputs,
# NodeHashes, RootHashes, CompactTrees) and proof/verify_test.go (inclusionProofs,
# consistencyProofs; there leaf numbers are 1-based, here indices are 0-based).

LEAVES = [
    h(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]

ROOTS = [
    h(x)
    for x in (  # by tree size 0..8
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]

NODE_HASHES = {  # every perfect subtree of the 8-leaf tree, by (level, index)
    (0, 0): "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    (0, 1): "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    (0, 2): "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    (0, 3): "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    (0, 4): "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    (0, 5): "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    (0, 6): "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    (0, 7): "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    (1, 0): "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    (1, 1): "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    (1, 2): "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    (1, 3): "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    (2, 0): "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    (2, 1): "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    (3, 0): "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

COMPACT_STATES = [  # CompactTrees: the compact range of [0, n) for n = 0..8
    [],
    [(0, 0)],
    [(1, 0)],
    [(1, 0), (0, 2)],
    [(2, 0)],
    [(2, 0), (0, 4)],
    [(2, 0), (1, 2)],
    [(2, 0), (1, 2), (0, 6)],
    [(3, 0)],
]

INCLUSION_VECTORS = [  # (index, tree size, proof)
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

CONSISTENCY_VECTORS = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def build_store(leaves: list[bytes]) -> tuple[dict[NodeID, bytes], CompactRange]:
    store: dict[NodeID, bytes] = {}
    cr = CompactRange()
    for leaf in leaves:
        for nid, value in cr.append(leaf_hash(leaf)):
            assert nid not in store
            store[nid] = value
    return store, cr


def getter(store: dict[NodeID, bytes], size: int):
    """Accessor that refuses nodes not yet complete in a tree of ``size``."""

    def get(nid: NodeID) -> bytes:
        assert nid.end <= size, f"proof for size {size} read incomplete node {nid}"
        return store[nid]

    return get


STORE8, _ = build_store(LEAVES)


@pytest.mark.parametrize("size", range(9))
def test_rfc6962_root_per_size(size: int) -> None:
    assert tree_hash(LEAVES[:size]) == ROOTS[size]
    _, cr = build_store(LEAVES[:size])
    assert cr.root() == ROOTS[size]
    assert [tuple(n) for n, _ in cr.nodes()] == COMPACT_STATES[size]
    assert [tuple(n) for n in range_nodes(0, size)] == COMPACT_STATES[size]


def test_rfc6962_node_hashes_are_what_append_persists() -> None:
    assert {tuple(k): v.hex() for k, v in STORE8.items()} == NODE_HASHES
    assert EMPTY_ROOT == ROOTS[0]


@pytest.mark.parametrize("index,size,proof", INCLUSION_VECTORS)
def test_rfc6962_inclusion_vectors(index: int, size: int, proof: list[str]) -> None:
    want = [h(p) for p in proof]
    assert inclusion_proof(index, size, getter(STORE8, size)) == want
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, want, ROOTS[size])


@pytest.mark.parametrize("old,new,proof", CONSISTENCY_VECTORS)
def test_rfc6962_consistency_vectors(old: int, new: int, proof: list[str]) -> None:
    want = [h(p) for p in proof]
    assert consistency_proof(old, new, getter(STORE8, new)) == want
    verify_consistency(old, new, want, ROOTS[old], ROOTS[new])


# Node coordinates of proofs, from github.com/transparency-dev/merkle proof/proof_test.go
# (TestInclusion, TestConsistency). That file lists the parts of a right-edge node right to
# left; ProofPlan lists them left to right, so those groups appear reversed here.
PLAN_VECTORS = [
    ("inclusion", 0, 7, [[(0, 1)], [(1, 1)], [(1, 2), (0, 6)]]),
    ("inclusion", 3, 7, [[(0, 2)], [(1, 0)], [(1, 2), (0, 6)]]),
    ("inclusion", 4, 7, [[(0, 5)], [(0, 6)], [(2, 0)]]),
    ("inclusion", 6, 7, [[(1, 2)], [(2, 0)]]),
    ("inclusion", 3, 5, [[(0, 2)], [(1, 0)], [(0, 4)]]),
    ("inclusion", 10, 15, [[(0, 11)], [(1, 4)], [(1, 6), (0, 14)], [(3, 0)]]),
    ("inclusion", 24, 31, [[(0, 25)], [(1, 13)], [(1, 14), (0, 30)], [(3, 2)], [(4, 0)]]),
    (
        "inclusion",
        81,
        95,
        [[(0, 80)], [(1, 41)], [(2, 21)], [(2, 22), (1, 46), (0, 94)], [(4, 4)], [(6, 0)]],
    ),
    ("consistency", 1, 6, [[(0, 1)], [(1, 1)], [(1, 2)]]),
    ("consistency", 2, 8, [[(1, 1)], [(2, 1)]]),
    ("consistency", 3, 7, [[(0, 2)], [(0, 3)], [(1, 0)], [(1, 2), (0, 6)]]),
    ("consistency", 4, 7, [[(1, 2), (0, 6)]]),
    ("consistency", 5, 7, [[(0, 4)], [(0, 5)], [(0, 6)], [(2, 0)]]),
    ("consistency", 7, 8, [[(0, 6)], [(0, 7)], [(1, 2)], [(2, 0)]]),
    ("consistency", 3, 3, []),
    ("consistency", 10, 15, [[(1, 4)], [(1, 5)], [(1, 6), (0, 14)], [(3, 0)]]),
    ("consistency", 24, 31, [[(3, 2)], [(2, 6), (1, 14), (0, 30)], [(4, 0)]]),
    (
        "consistency",
        81,
        95,
        [
            [(0, 80)],
            [(0, 81)],
            [(1, 41)],
            [(2, 21)],
            [(2, 22), (1, 46), (0, 94)],
            [(4, 4)],
            [(6, 0)],
        ],
    ),
]


@pytest.mark.parametrize("kind,a,b,groups", PLAN_VECTORS)
def test_proof_plan_node_coordinates(kind: str, a: int, b: int, groups) -> None:
    plan = inclusion_plan(a, b) if kind == "inclusion" else consistency_plan(a, b)
    assert plan.spans == tuple(len(g) for g in groups)
    assert [tuple(n) for n in plan.nodes] == [n for g in groups for n in g]


# --------------------------------------------------------------------------- failure tables

I5 = [h(p) for p in INCLUSION_VECTORS[2][2]]  # leaf 5 of 8
L5 = leaf_hash(LEAVES[5])
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def _flip(proof: list[bytes], i: int, bit: int) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ (1 << bit)]) + out[i][1:]
    return out


INCLUSION_FAILURES = [
    # (case, leaf hash, index, size, proof, root, expected error)
    ("index - 1", L5, 4, 8, I5, ROOTS[8], RootMismatchError),
    ("index + 1", L5, 6, 8, I5, ROOTS[8], RootMismatchError),
    ("index ^ 2", L5, 7, 8, I5, ROOTS[8], RootMismatchError),
    ("index = size", L5, 8, 8, I5, ROOTS[8], ProofInputError),
    ("negative index", L5, -1, 8, I5, ROOTS[8], ProofInputError),
    ("bool index", L5, True, 8, I5, ROOTS[8], ProofInputError),
    ("size * 2", L5, 5, 16, I5, ROOTS[8], ProofLengthError),
    ("size / 2", L5, 5, 4, I5, ROOTS[8], ProofInputError),
    ("size - 2", L5, 5, 6, I5, ROOTS[8], ProofLengthError),
    ("size 0", L5, 0, 0, [], ROOTS[0], ProofInputError),
    ("wrong leaf hash", leaf_hash(b"WrongLeaf"), 5, 8, I5, ROOTS[8], RootMismatchError),
    ("raw leaf, not its hash", LEAVES[5], 5, 8, I5, ROOTS[8], ProofInputError),
    ("empty-tree root", L5, 5, 8, I5, EMPTY_ROOT, RootMismatchError),
    ("random root", L5, 5, 8, I5, SOME_HASH, RootMismatchError),
    ("short root", L5, 5, 8, I5, ROOTS[8][:31], ProofInputError),
    ("trailing empty element", L5, 5, 8, I5 + [b""], ROOTS[8], ProofInputError),
    ("trailing root", L5, 5, 8, I5 + [ROOTS[8]], ROOTS[8], ProofLengthError),
    ("preceding root", L5, 5, 8, [ROOTS[8]] + I5, ROOTS[8], ProofLengthError),
    ("removed last", L5, 5, 8, I5[:-1], ROOTS[8], ProofLengthError),
    ("inserted element", L5, 5, 8, [I5[0], SOME_HASH] + I5[1:], ROOTS[8], ProofLengthError),
    ("proof[0] bit 3", L5, 5, 8, _flip(I5, 0, 3), ROOTS[8], RootMismatchError),
    ("proof[1] bit 0", L5, 5, 8, _flip(I5, 1, 0), ROOTS[8], RootMismatchError),
    ("proof[2] bit 7", L5, 5, 8, _flip(I5, 2, 7), ROOTS[8], RootMismatchError),
    ("swapped elements", L5, 5, 8, [I5[1], I5[0], I5[2]], ROOTS[8], RootMismatchError),
    ("str element", L5, 5, 8, [I5[0].hex()] + I5[1:], ROOTS[8], ProofInputError),
]


@pytest.mark.parametrize(
    "case,leaf,index,size,proof,root,error",
    INCLUSION_FAILURES,
    ids=[c[0] for c in INCLUSION_FAILURES],
)
def test_inclusion_failure_table(case, leaf, index, size, proof, root, error) -> None:
    with pytest.raises(error) as info:
        verify_inclusion(leaf, index, size, proof, root)
    assert isinstance(info.value, ProofError)
    assert str(info.value)  # a message naming the problem


C68 = [h(p) for p in CONSISTENCY_VECTORS[2][2]]  # 6 -> 8

CONSISTENCY_FAILURES = [
    # (case, old size, new size, proof, old root, new root, expected error)
    ("old size - 1", 5, 8, C68, ROOTS[6], ROOTS[8], ProofLengthError),
    ("old size + 1", 7, 8, C68, ROOTS[6], ROOTS[8], ProofLengthError),
    ("old size ^ 2", 4, 8, C68, ROOTS[6], ROOTS[8], ProofLengthError),
    ("new size * 2", 6, 16, C68, ROOTS[6], ROOTS[8], ProofLengthError),
    ("new size + 1", 6, 9, C68, ROOTS[6], ROOTS[8], ProofLengthError),
    ("new size / 2", 6, 4, C68, ROOTS[6], ROOTS[8], ProofInputError),
    ("wrong old root", 6, 8, C68, ROOTS[5], ROOTS[8], RootMismatchError),
    ("wrong new root", 6, 8, C68, ROOTS[6], ROOTS[7], RootMismatchError),
    ("swapped roots", 6, 8, C68, ROOTS[8], ROOTS[6], RootMismatchError),
    ("short root", 6, 8, C68, ROOTS[6][:-1], ROOTS[8], ProofInputError),
    ("empty proof", 6, 8, [], ROOTS[6], ROOTS[8], ProofLengthError),
    ("trailing empty element", 6, 8, C68 + [b""], ROOTS[6], ROOTS[8], ProofInputError),
    ("trailing old root", 6, 8, C68 + [ROOTS[6]], ROOTS[6], ROOTS[8], ProofLengthError),
    ("preceding new root", 6, 8, [ROOTS[8]] + C68, ROOTS[6], ROOTS[8], ProofLengthError),
    ("truncated", 6, 8, C68[:-1], ROOTS[6], ROOTS[8], ProofLengthError),
    ("proof[0] bit 4", 6, 8, _flip(C68, 0, 4), ROOTS[6], ROOTS[8], RootMismatchError),
    ("proof[1] bit 4", 6, 8, _flip(C68, 1, 4), ROOTS[6], ROOTS[8], RootMismatchError),
    ("proof[2] bit 4", 6, 8, _flip(C68, 2, 4), ROOTS[6], ROOTS[8], RootMismatchError),
    ("same size, other roots", 8, 8, [], ROOTS[7], ROOTS[8], RootMismatchError),
    ("same size, non-empty proof", 8, 8, [ROOTS[8]], ROOTS[8], ROOTS[8], ProofLengthError),
    ("from 0, non-empty proof", 0, 8, [EMPTY_ROOT], EMPTY_ROOT, ROOTS[8], ProofLengthError),
    ("from 0, not the empty root", 0, 8, [], ROOTS[1], ROOTS[8], RootMismatchError),
    ("time travel", 2, 1, [], ROOTS[2], ROOTS[1], ProofInputError),
    ("negative size", -1, 8, [], ROOTS[0], ROOTS[8], ProofInputError),
]


@pytest.mark.parametrize(
    "case,old,new,proof,old_root,new_root,error",
    CONSISTENCY_FAILURES,
    ids=[c[0] for c in CONSISTENCY_FAILURES],
)
def test_consistency_failure_table(case, old, new, proof, old_root, new_root, error) -> None:
    with pytest.raises(error) as info:
        verify_consistency(old, new, proof, old_root, new_root)
    assert isinstance(info.value, ProofError)
    assert str(info.value)


def test_inclusion_proof_binds_the_root_not_the_size() -> None:
    # Leaf 5 has the same path shape in trees of 7 and 8 leaves, so the size-8 proof also
    # "verifies" when size 7 is claimed with the size-8 root. RFC 9162 proofs authenticate
    # against a root; the signed checkpoint is what ties that root to its size.
    assert inclusion_shape(5, 7) == inclusion_shape(5, 8)
    verify_inclusion(L5, 5, 7, I5, ROOTS[8])
    with pytest.raises(RootMismatchError):
        verify_inclusion(L5, 5, 7, I5, ROOTS[7])  # the real size-7 root does not match
    verify_inclusion(L5, 5, 7, inclusion_proof(5, 7, getter(STORE8, 7)), ROOTS[7])


def test_trivially_consistent_sizes() -> None:
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(0, 5, [], EMPTY_ROOT, ROOTS[5])
    verify_consistency(5, 5, [], ROOTS[5], ROOTS[5])
    assert consistency_proof(0, 8, getter(STORE8, 8)) == []
    assert consistency_proof(8, 8, getter(STORE8, 8)) == []


def test_argument_errors_name_the_value() -> None:
    with pytest.raises(ProofInputError, match="leaf index 9 is outside a tree of size 8"):
        inclusion_plan(9, 8)
    with pytest.raises(ProofInputError, match="old tree size 9 is larger than new tree size 8"):
        consistency_plan(9, 8)
    with pytest.raises(ProofInputError, match="not a node of any RFC 9162 tree"):
        subtree_hash(2, 6, getter(STORE8, 8))
    with pytest.raises(ProofInputError, match="empty"):
        subtree_hash(3, 3, getter(STORE8, 8))
    with pytest.raises(ProofInputError, match="needs 3 node hashes, got 2"):
        inclusion_plan(5, 8).assemble([b"\0" * 32] * 2)
    with pytest.raises(ProofInputError, match="at least one hash"):
        root_from_subtrees([])
    with pytest.raises(ProofInputError, match="holds 2 hashes, got 1"):
        CompactRange(3, [ROOTS[2]])
    with pytest.raises(ProofInputError, match="leaf_hash must be 32 bytes"):
        CompactRange().append(b"short")
    with pytest.raises(ProofLengthError, match="needs 3 hashes, got 2"):
        root_from_inclusion_proof(L5, 5, 8, I5[:2])


# --------------------------------------------------------------------------- naive model
# An independent, literal transcription of RFC 9162 §2.1 recursions over leaf lists.

MAX_N = 260
PLEAVES = [b"leaf-%d" % i for i in range(MAX_N)]
PSTORE, _ = build_store(PLEAVES)


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def naive_mth(lo: int, hi: int) -> bytes:
    n = hi - lo
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + PLEAVES[lo]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + naive_mth(lo, lo + k) + naive_mth(lo + k, hi)).digest()


def naive_path(m: int, lo: int, hi: int) -> list[bytes]:
    n = hi - lo
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return naive_path(m, lo, lo + k) + [naive_mth(lo + k, hi)]
    return naive_path(m - k, lo + k, hi) + [naive_mth(lo, lo + k)]


def naive_subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if b else [naive_mth(lo, hi)]
    k = _k(n)
    if m <= k:
        return naive_subproof(m, lo, lo + k, b) + [naive_mth(lo + k, hi)]
    return naive_subproof(m - k, lo + k, hi, False) + [naive_mth(lo, lo + k)]


def naive_consistency(m: int, n: int) -> list[bytes]:
    return [] if m in (0, n) else naive_subproof(m, 0, n, True)


def inclusion_shape(index: int, size: int) -> tuple[str, ...]:
    """Which side each proof hash joins on in RFC 9162 §2.1.3.2 (no hashing). Two claims
    with the same shape take the same hashes to the same root: a proof binds the root, and
    only the signed checkpoint binds the root to a size."""
    if index >= size:
        return ("out of range",)
    fn, sn, shape = index, size - 1, []
    while sn:
        if fn & 1 or fn == sn:
            shape.append("L")
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            shape.append("R")
        fn, sn = fn >> 1, sn >> 1
    return tuple(shape)


def consistency_shape(old: int, new: int) -> tuple[str, ...]:
    """Like inclusion_shape for RFC 9162 §2.1.4.2 (old root prepended when a power of 2)."""
    if old > new:
        return ("time travel",)
    if old in (0, new):
        return ("trivial", str(old == 0), str(old == new))
    fn, sn = old - 1, new - 1
    shape = ["prepend" if old & (old - 1) == 0 else "first"]
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    while sn:
        if fn & 1 or fn == sn:
            shape.append("L")
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            shape.append("R")
        fn, sn = fn >> 1, sn >> 1
    return tuple(shape)


sizes = st.integers(min_value=1, max_value=MAX_N)


@st.composite
def size_and_index(draw):
    n = draw(sizes)
    return n, draw(st.integers(min_value=0, max_value=n - 1))


@st.composite
def two_sizes(draw):
    n = draw(st.integers(min_value=0, max_value=MAX_N))
    return draw(st.integers(min_value=0, max_value=n)), n


@settings(max_examples=300, deadline=None)
@given(size_and_index(), st.data())
def test_inclusion_matches_rfc_and_detects_tampering(si, data) -> None:
    n, i = si
    root = naive_mth(0, n)
    lh = leaf_hash(PLEAVES[i])
    proof = inclusion_proof(i, n, getter(PSTORE, n))
    assert proof == naive_path(i, 0, n)
    verify_inclusion(lh, i, n, proof, root)
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1), label="element")
        bit = data.draw(st.integers(0, 255), label="bit")
        bad = list(proof)
        bad[j] = (int.from_bytes(bad[j], "big") ^ (1 << bit)).to_bytes(32, "big")
        with pytest.raises(RootMismatchError):
            verify_inclusion(lh, i, n, bad, root)
    other_index = data.draw(st.integers(0, n), label="other index")
    if other_index != i:
        with pytest.raises(ProofError):
            verify_inclusion(lh, other_index, n, proof, root)
    other_size = data.draw(st.integers(1, MAX_N * 2), label="other size")
    if other_size != n and inclusion_shape(i, other_size) != inclusion_shape(i, n):
        with pytest.raises(ProofError):
            verify_inclusion(lh, i, other_size, proof, root)
    with pytest.raises(RootMismatchError):
        verify_inclusion(leaf_hash(PLEAVES[i] + b"x"), i, n, proof, root)


@settings(max_examples=300, deadline=None)
@given(two_sizes(), st.data())
def test_consistency_matches_rfc_and_detects_tampering(mn, data) -> None:
    m, n = mn
    old_root, new_root = naive_mth(0, m), naive_mth(0, n)
    proof = consistency_proof(m, n, getter(PSTORE, n))
    assert proof == naive_consistency(m, n)
    verify_consistency(m, n, proof, old_root, new_root)
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1), label="element")
        bit = data.draw(st.integers(0, 255), label="bit")
        bad = list(proof)
        bad[j] = (int.from_bytes(bad[j], "big") ^ (1 << bit)).to_bytes(32, "big")
        with pytest.raises(RootMismatchError):
            verify_consistency(m, n, bad, old_root, new_root)
    other_old = data.draw(st.integers(0, n), label="other old size")
    if other_old != m and consistency_shape(other_old, n) != consistency_shape(m, n):
        with pytest.raises(ProofError):
            verify_consistency(other_old, n, proof, old_root, new_root)
    other_new = data.draw(st.integers(max(m, 1), MAX_N * 2), label="other new size")
    if 0 < m and other_new != n and consistency_shape(m, other_new) != consistency_shape(m, n):
        with pytest.raises(ProofError):
            verify_consistency(m, other_new, proof, old_root, new_root)
    if 0 < m < n:
        with pytest.raises(RootMismatchError):
            verify_consistency(m, n, proof, naive_mth(0, m - 1), new_root)


@settings(max_examples=200, deadline=None)
@given(size_and_index())
def test_plan_cost_is_logarithmic_and_reads_only_complete_nodes(si) -> None:
    n, i = si
    bits = max(n.bit_length(), 1)
    inc = inclusion_plan(i, n)
    assert len(inc.nodes) <= 2 * bits
    assert sum(1 for s in inc.spans if s > 1) <= 1
    assert all(node.end <= n for node in inc.nodes)
    con = consistency_plan(i, n)
    assert len(con.nodes) <= 2 * bits + 1
    assert all(node.end <= n for node in con.nodes)
    assert len(set(inc.nodes)) == len(inc.nodes) and len(set(con.nodes)) == len(con.nodes)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, MAX_N), st.integers(0, MAX_N))
def test_subtree_hash_of_right_edge_and_range_nodes(a, b) -> None:
    lo, hi = min(a, b), max(a, b)
    nodes = range_nodes(lo, hi)
    assert sum(1 << nd.level for nd in nodes) == hi - lo
    pos = lo
    for nd in nodes:  # contiguous, left to right, each a stored perfect subtree
        assert nd.begin == pos and PSTORE[nd] == naive_mth(nd.begin, nd.end)
        pos = nd.end
    if hi > lo:
        span = 1 << (hi - lo - 1).bit_length()
        if lo % span == 0:
            assert subtree_hash(lo, hi, getter(PSTORE, hi)) == naive_mth(lo, hi)
        else:
            with pytest.raises(ProofInputError):
                subtree_hash(lo, hi, getter(PSTORE, hi))


def test_compact_range_appends_persist_every_perfect_subtree() -> None:
    cr = CompactRange()
    seen: set[NodeID] = set()
    for i, leaf in enumerate(PLEAVES):
        done = cr.append(leaf_hash(leaf))
        assert [nid for nid, _ in done] == completed_nodes(i)
        for nid, value in done:
            assert value == naive_mth(nid.begin, nid.end)
            seen.add(nid)
        assert cr.size == i + 1
        assert cr.root() == naive_mth(0, i + 1)
        restored = CompactRange.from_nodes(i + 1, PSTORE.__getitem__)
        assert restored.root() == cr.root()
    # every perfect subtree of [0, MAX_N) completed exactly once
    want = {
        NodeID(level, idx) for level in range(MAX_N.bit_length()) for idx in range(MAX_N >> level)
    }
    assert seen == want == set(PSTORE)
    assert CompactRange().root() == EMPTY_ROOT


def test_compact_range_extend_equals_appends() -> None:
    a, b = CompactRange(), CompactRange()
    done = a.extend(leaf_hash(x) for x in PLEAVES[:37])
    for x in PLEAVES[:37]:
        b.append(leaf_hash(x))
    assert a.root() == b.root() == naive_mth(0, 37)
    assert len(done) == sum(len(completed_nodes(i)) for i in range(37))
    assert "size=37" in repr(a)


def test_plan_assemble_equals_fetch() -> None:
    plan = consistency_plan(81, 95)
    hashes = [PSTORE[n] for n in plan.nodes]
    assert plan.assemble(hashes) == plan.fetch(PSTORE.__getitem__) == naive_consistency(81, 95)
    assert ProofPlan((), ()).assemble([]) == []


def test_node_and_leaf_hash_domain_separation() -> None:
    assert leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert node_hash(a, b) != leaf_hash(a + b)


def test_large_sizes_plan_without_touching_storage() -> None:
    # 10^8 leaves and beyond: plans are computed from the numbers alone.
    n = 10**8 + 12345
    plan = inclusion_plan(n - 1, n)
    assert len(plan.nodes) <= 2 * n.bit_length()
    assert all(node.end <= n for node in plan.nodes)
    assert len(consistency_plan(n // 3, n).nodes) <= 2 * n.bit_length() + 1
    assert completed_nodes(2**40 - 1)[-1] == NodeID(40, 0)
