"""The demo's auditor: every record's signature and chain, and the log's signed tree heads.

An auditor does not trust the hub. It takes the records with the enrolled node keys (here read
from the hub's store after the run, as the operator would export them in an audit bundle), checks
each signature and each node's hash chain, recomputes the Merkle tree head over every record in
log order and compares it with the hub's latest signed checkpoint, and checks that every
checkpoint it saw during the run is consistent with the final one (RFC 9162 consistency proofs
fetched from the hub's Transparency service, verified locally).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from borderlink.hub.storage import MAX_EQUIVOCATIONS_KEPT, open_storage
from borderlink.proto.chain import ChainVerifier
from borderlink.proto.checkpoint import Checkpoint, open_checkpoint, parse_vkey
from borderlink.proto.errors import BorderlinkError
from borderlink.proto.merkle import leaf_hash, root_from_leaf_hashes, verify_consistency
from borderlink.proto.record import Record, verify_record
from borderlink.proto.record_types import default_registry
from borderlink.proto.v1 import transparency_pb2, transparency_pb2_grpc
from borderlink.report_model import AuditResult


@dataclass
class CheckpointWatcher:
    """Fetch the hub's latest signed checkpoint now and then, as a monitor of the log would."""

    channel: grpc.Channel
    vkey: str
    origin: str
    seen: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def fetch(self) -> Checkpoint | None:
        stub = transparency_pb2_grpc.TransparencyStub(self.channel)
        try:
            reply = stub.GetCheckpoint(transparency_pb2.GetCheckpointRequest(), timeout=5)
        except grpc.RpcError:
            return None  # the hub may be busy or the log still empty; try again later
        try:
            checkpoint = open_checkpoint(reply.signed_note, parse_vkey(self.vkey),
                                         origin=self.origin)
        except BorderlinkError as exc:
            self.problems.append(f"a checkpoint from the hub does not verify: {exc}")
            return None
        if not self.seen or checkpoint.size != self.seen[-1].size:
            self.seen.append(checkpoint)
        return checkpoint

    def run(self, interval_s: float) -> threading.Thread:
        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.fetch()

        thread = threading.Thread(target=loop, name="checkpoint-watcher", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()


def audit_log(store: Path | str, watcher: CheckpointWatcher,
              present: dict[int, frozenset[str]] | None = None,
              attackers: frozenset[str] = frozenset()) -> tuple[AuditResult, list[Record]]:
    """Check every record, chain and tree head; the result and the decoded records.
    *store* is the hub's store: a storage URL, or the path of its SQLite file.

    *present*, when given, is filled with log index -> the personal-data fields the record
    holds (its disclosures at the hub), so that what an agency was not given can be told
    apart: withheld by its policy, or not in the record at all. Equivocation evidence is a
    problem, except that of *attackers* (a stolen node flooding one seq on purpose), which
    is one only beyond the hub's bound of versions kept per (node, seq)."""
    registry = default_registry()
    problems = list(watcher.problems)
    storage = open_storage(store if isinstance(store, str) else f"sqlite:///{store}")
    try:
        nodes = {n.node_id: n for n in storage.list_nodes()}
        records: list[Record] = []
        leaves: list[bytes] = []
        verifiers = {node_id: ChainVerifier(node_id) for node_id in nodes}
        signatures_ok = 0
        start = 0
        while True:
            page = storage.scan_records(start, limit=1000)
            for stored in page.records:
                leaves.append(leaf_hash(stored.record))
                node = nodes.get(stored.node_id)
                if node is None:
                    problems.append(f"log entry {stored.log_index}: node {stored.node_id} "
                                    "is not enrolled")
                    continue
                try:
                    verified = verify_record(stored.record, node.public_key, registry=registry,
                                             disclosures=[d.disclosure for d in stored.disclosures])
                except BorderlinkError as exc:
                    problems.append(f"log entry {stored.log_index} ({stored.node_id} "
                                    f"#{stored.seq}): {exc}")
                    continue
                signatures_ok += 1
                if present is not None and stored.log_index is not None:
                    present[stored.log_index] = frozenset(verified.disclosed)
                records.append(verified.record)
                verifiers[stored.node_id].feed(verified.record)
            if not page.records or page.next_index <= start:
                break
            start = page.next_index
        chains_ok = 0
        for node_id, verifier in verifiers.items():
            report = verifier.report()
            if report.ok:
                chains_ok += 1
            else:
                problems.extend(f"chain of {node_id}: {f.defect} at {f.seq}: {f.detail}"
                                for f in report.findings)
        per_seq = Counter((e.node_id, e.seq) for e in storage.list_equivocations())
        for (node_id, seq), kept in sorted(per_seq.items()):
            if node_id not in attackers:
                problems.append(f"equivocation by {node_id} at #{seq}")
            elif kept > MAX_EQUIVOCATIONS_KEPT:
                problems.append(f"{kept} versions of {node_id} #{seq} kept as evidence, over "
                                f"the bound of {MAX_EQUIVOCATIONS_KEPT}")
    finally:
        storage.close()
    final = watcher.fetch()
    consistency_ok = False
    if final is None:
        problems.append("the hub published no signed checkpoint")
    else:
        if final.size > len(leaves):
            problems.append(f"checkpoint size {final.size} exceeds the {len(leaves)} records held")
        elif root_from_leaf_hashes(leaves[: final.size]) != final.root_hash:
            problems.append(f"the signed tree head at size {final.size} does not match the "
                            "records in log order")
        consistency_ok = _check_consistency(watcher, final, problems)
    result = AuditResult(
        records_checked=len(leaves), signatures_ok=signatures_ok, chains_ok=chains_ok,
        nodes_checked=len(nodes), log_size=final.size if final else 0,
        consistency_ok=consistency_ok, inclusion_checked=0, problems=tuple(problems),
    )
    return result, records


def _check_consistency(watcher: CheckpointWatcher, final: Checkpoint, problems: list[str]) -> bool:
    stub = transparency_pb2_grpc.TransparencyStub(watcher.channel)
    ok = True
    for earlier in watcher.seen:
        if earlier.size == 0 or earlier.size >= final.size:
            continue
        try:
            reply = stub.GetConsistencyProof(transparency_pb2.GetConsistencyProofRequest(
                first_size=earlier.size, second_size=final.size), timeout=10)
            verify_consistency(earlier.size, final.size, list(reply.hashes),
                               earlier.root_hash, final.root_hash)
        except (grpc.RpcError, BorderlinkError) as exc:
            ok = False
            problems.append(f"tree head {earlier.size} is not shown consistent with "
                            f"{final.size}: {exc}")
    return ok
