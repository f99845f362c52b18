"""proto.witness: judging, cosigning, quorum and offline split-view evidence (pure functions)."""

from __future__ import annotations

import hashlib

import pytest

from borderlink.proto.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from borderlink.proto.merkle import (
    consistency_plan,
    inclusion_plan,
    leaf_hash,
    root_from_leaf_hashes,
)
from borderlink.proto.witness import (
    InconsistentError,
    QuorumError,
    RollbackError,
    SplitView,
    WitnessState,
    advance,
    check_split_view,
    cosign,
    cosigner_from_skey,
    generate_cosigner_skey,
    judge,
    open_witnessed,
    prefix_root,
    witness_verifier,
)

ORIGIN = "borderlink.example/AZ/log"


def leaves(tag: bytes, n: int) -> list[bytes]:
    return [leaf_hash(tag + i.to_bytes(4, "big")) for i in range(n)]


def proof(plan_nodes: list, hashes: list[bytes]) -> list[bytes]:
    return [root_from_leaf_hashes(hashes[n.begin : n.end]) for n in plan_nodes]


def incl(index: int, hashes: list[bytes]) -> list[bytes]:
    plan = inclusion_plan(index, len(hashes))
    return plan.assemble(proof(plan.nodes, hashes))


def cons(old: int, hashes: list[bytes]) -> list[bytes]:
    plan = consistency_plan(old, len(hashes))
    return plan.assemble(proof(plan.nodes, hashes))


def signed(log: NoteSigner, hashes: list[bytes]) -> bytes:
    return sign_checkpoint(Checkpoint(ORIGIN, len(hashes), root_from_leaf_hashes(hashes)), log)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 16, 33])
def test_prefix_root_is_the_root_of_the_first_leaves(n: int) -> None:
    hashes = leaves(b"a", n)
    for m in range(1, n + 1):
        root, prefix = prefix_root(m - 1, n, hashes[m - 1], incl(m - 1, hashes))
        assert root == root_from_leaf_hashes(hashes)
        assert prefix == root_from_leaf_hashes(hashes[:m])


def test_witness_cosigns_growth_and_refuses_rollback_and_forks() -> None:
    log = NoteSigner.generate(ORIGIN)
    skey = generate_cosigner_skey("sms.witness")
    signer = cosigner_from_skey(skey)
    state = WitnessState(ORIGIN)
    hist = leaves(b"a", 10)
    first = signed(log, hist[:6])
    cp = judge(state, first, log.verifier, [])
    state = advance(state, cp, cosign(first, signer, 1_700_000_000))
    later = signed(log, hist)
    cp2 = judge(state, later, log.verifier, cons(6, hist))
    assert cp2.size == 10
    state2 = advance(state, cp2, later)
    with pytest.raises(RollbackError):
        judge(state2, first, log.verifier, [])
    fork = hist[:4] + leaves(b"fork", 6)
    with pytest.raises(InconsistentError):
        judge(state, signed(log, fork), log.verifier, cons(6, fork))


def test_quorum_counts_only_pinned_valid_cosignatures() -> None:
    log = NoteSigner.generate(ORIGIN)
    signers = [cosigner_from_skey(generate_cosigner_skey(f"{a}.witness")) for a in "ABC"]
    pinned = [witness_verifier(s.verifier.vkey) for s in signers[:2]]
    note = signed(log, leaves(b"a", 3))
    note = cosign(cosign(note, signers[0], 5), signers[2], 6)  # one pinned, one not
    got = open_witnessed(note, log.verifier, origin=ORIGIN, witnesses=pinned, quorum=1)
    assert got.cosigned_by == {"A.witness": 5}
    with pytest.raises(QuorumError, match="1 pinned witness"):
        open_witnessed(note, log.verifier, origin=ORIGIN, witnesses=pinned, quorum=2)
    both = cosign(note, signers[1], 7)
    assert len(open_witnessed(both, log.verifier, origin=ORIGIN, witnesses=pinned,
                              quorum=2).cosigned_by) == 2  # fmt: skip


def test_split_view_evidence_is_proven_offline_and_honest_growth_is_not() -> None:
    log = NoteSigner.generate(ORIGIN)
    hist = leaves(b"a", 12)
    fork = hist[:5] + leaves(b"fork", 7)
    small, large = signed(log, hist[:7]), signed(log, fork)
    ev = SplitView(small, large, fork[6], tuple(incl(6, fork)), "SMS", 1)
    report = check_split_view(SplitView.loads(ev.dumps()), log.verifier)
    assert report.proven, report.reason
    assert report.sizes == (7, 12)
    honest = SplitView(small, signed(log, hist), hist[6], tuple(incl(6, hist)))
    assert not check_split_view(honest, log.verifier).proven
    same = SplitView(signed(log, hist[:7]), signed(log, fork[:7]))
    assert check_split_view(same, log.verifier).proven
    other = NoteSigner.generate(ORIGIN)
    assert not check_split_view(ev, other.verifier).proven
    noise = SplitView(
        small, large, fork[6], tuple(hashlib.sha256(b"x").digest() for _ in incl(6, fork))
    )
    assert "does not lead" in check_split_view(noise, log.verifier).reason


def test_check_split_view_command(tmp_path, capsys) -> None:
    from borderlink.cli import main

    log = NoteSigner.generate(ORIGIN)
    hist = leaves(b"a", 9)
    fork = hist[:3] + leaves(b"fork", 6)
    ev = SplitView(signed(log, hist[:5]), signed(log, fork), fork[4], tuple(incl(4, fork)))
    (tmp_path / "ev.json").write_text(ev.dumps())
    (tmp_path / "log.vkey").write_text(log.verifier.vkey + "\n")
    argv = ["audit", "check-split-view", str(tmp_path / "ev.json"), "--log-key"]
    assert main([*argv, str(tmp_path / "log.vkey")]) == 0
    assert "split view proven" in capsys.readouterr().out
    assert main([*argv, NoteSigner.generate(ORIGIN).verifier.vkey, "--json"]) == 1
    assert '"proven": false' in capsys.readouterr().out
