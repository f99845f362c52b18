"""Merkle proof cost at 10^6 leaves: generate + verify, beside the raw SHA-256 ceiling.

Builds a log of N leaves the way the hub's sequencer does (``CompactRange.append``,
persisting every perfect subtree it completes), in two stores:

- ``memory``: one packed array of 32-byte hashes per tree level (what tiles amount to);
- ``sqlite``: a ``nodes(id, hash)`` table keyed by ``level << 56 | index`` in a WAL file,
  one batched ``SELECT ... WHERE id IN (...)`` per proof (the plan's node list).

Then times P inclusion proofs (random tree size, random leaf) and P consistency proofs
(random pair of sizes): plan + read + assemble + verify, per proof. Reports p50/p99 in ms
beside the ceiling: one raw ``hashlib.sha256`` of 64 bytes times log2(N) (the hashing a
verifier cannot avoid), and the ratio. Bar (issue 3): p99 <= 1 ms at 10^6 leaves.

Run: ``python benchmarks/bench_proofs.py [--leaves 1000000] [--proofs 10000] [--json FILE]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sqlite3
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Sequence

from borderlink.proto.merkle import (
    CompactRange,
    NodeID,
    ProofPlan,
    consistency_plan,
    inclusion_plan,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

BAR_P99_MS = 1.0

Fetch = Callable[[Sequence[NodeID]], list[bytes]]


class MemoryStore:
    """Perfect-subtree hashes packed per level: level L holds N >> L hashes."""

    def __init__(self) -> None:
        self.levels: list[bytearray] = []

    def put(self, node: NodeID, value: bytes) -> None:
        while len(self.levels) <= node.level:
            self.levels.append(bytearray())
        level = self.levels[node.level]
        assert len(level) == node.index * 32, "nodes arrive in order"
        level += value

    def fetch(self, nodes: Sequence[NodeID]) -> list[bytes]:
        levels = self.levels
        return [bytes(levels[lv][i * 32 : i * 32 + 32]) for lv, i in nodes]


class SQLiteStore:
    """``nodes(id, hash)`` in a WAL-mode SQLite file, ``id = level << 56 | index`` (a rowid
    table: one B-tree, integer keys, so ``id IN (...)`` is a handful of index seeks)."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE nodes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL)")
        self._sql: dict[int, str] = {}

    @staticmethod
    def key(level: int, index: int) -> int:
        return level << 56 | index

    def load(self, rows: list[tuple[int, bytes]]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany("INSERT INTO nodes VALUES (?, ?)", rows)
        self.db.execute("COMMIT")

    def fetch(self, nodes: Sequence[NodeID]) -> list[bytes]:
        if not nodes:
            return []
        sql = self._sql.get(len(nodes))
        if sql is None:
            marks = ",".join("?" * len(nodes))
            sql = f"SELECT id, hash FROM nodes WHERE id IN ({marks})"
            self._sql[len(nodes)] = sql
        keys = [lv << 56 | i for lv, i in nodes]
        found = dict(self.db.execute(sql, keys).fetchall())
        return [found[k] for k in keys]

    def point_read(self, node: NodeID) -> bytes:
        row = self.db.execute(
            "SELECT hash FROM nodes WHERE id = ?", (self.key(node.level, node.index),)
        ).fetchone()
        return row[0]


def build(n: int, checkpoint_sizes: set[int]) -> tuple[MemoryStore, dict[int, bytes], float]:
    """Sequence n leaves; return the store, the root at each wanted size, build seconds."""
    store = MemoryStore()
    cr = CompactRange()
    roots: dict[int, bytes] = {}
    t0 = time.perf_counter()
    for i in range(n):
        for node, value in cr.append(leaf_hash(b"record %d" % i)):
            store.put(node, value)
        if i + 1 in checkpoint_sizes:
            roots[i + 1] = cr.root()
    return store, roots, time.perf_counter() - t0


def percentile(sorted_ms: list[float], q: float) -> float:
    k = min(len(sorted_ms) - 1, max(0, math.ceil(q * len(sorted_ms)) - 1))
    return sorted_ms[k]


def run_proofs(
    kind: str,
    fetch: Fetch,
    jobs: list[tuple[int, int]],
    roots: dict[int, bytes],
    leaf_hashes: dict[int, bytes],
) -> list[float]:
    """Time plan + fetch + assemble + verify for each job; return per-proof ms."""
    times: list[float] = []
    clock = time.perf_counter
    for a, b in jobs:
        t0 = clock()
        if kind == "inclusion":
            plan: ProofPlan = inclusion_plan(a, b)
            proof = plan.assemble(fetch(plan.nodes))
            verify_inclusion(leaf_hashes[a], a, b, proof, roots[b])
        else:
            plan = consistency_plan(a, b)
            proof = plan.assemble(fetch(plan.nodes))
            verify_consistency(a, b, proof, roots[a], roots[b])
        times.append((clock() - t0) * 1000.0)
    times.sort()
    return times


def sha256_64_seconds() -> float:
    block = os.urandom(64)
    sha = hashlib.sha256
    runs = timeit.repeat(lambda: sha(block).digest(), number=200_000, repeat=5)
    return min(runs) / 200_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000, help="tree size N")
    parser.add_argument("--proofs", type=int, default=10_000, help="proofs of each kind")
    parser.add_argument("--seed", type=int, default=6962)
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite store")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    n, p = args.leaves, args.proofs
    rng = random.Random(args.seed)

    # Requests: random sizes up to N, random leaves / older sizes below them.
    inc_jobs = []
    for _ in range(p):
        size = rng.randint(1, n)
        inc_jobs.append((rng.randrange(size), size))
    con_jobs = []
    for _ in range(p):
        new = rng.randint(2, n)
        con_jobs.append((rng.randint(1, new - 1), new))
    sizes = {size for _, size in inc_jobs} | {x for job in con_jobs for x in job}

    print(f"building a log of {n:,} leaves (CompactRange.append, every perfect subtree kept)")
    store, roots, build_s = build(n, sizes)
    leaf_hashes = {i: leaf_hash(b"record %d" % i) for i, _ in inc_jobs}
    nodes_kept = sum(len(level) // 32 for level in store.levels)
    print(
        f"  {build_s:.1f} s, {n / build_s:,.0f} leaves/s, {nodes_kept:,} perfect subtrees, "
        f"{nodes_kept * 32 / 2**20:.0f} MiB of hashes"
    )

    sha_s = sha256_64_seconds()
    ceiling_ms = sha_s * math.log2(n) * 1000.0
    print(
        f"ceiling: raw SHA-256 of 64 bytes = {sha_s * 1e6:.3f} us; x log2(N) = {math.log2(n):.1f}"
        f" -> {ceiling_ms * 1000:.1f} us per proof"
    )

    stores: list[tuple[str, Fetch]] = [("memory", store.fetch)]
    tmp = None
    sql = None
    if not args.no_sqlite:
        tmp = tempfile.TemporaryDirectory(prefix="bench_proofs_")
        sql = SQLiteStore(os.path.join(tmp.name, "nodes.db"))
        rows = [
            (SQLiteStore.key(lv, i), bytes(level[i * 32 : i * 32 + 32]))
            for lv, level in enumerate(store.levels)
            for i in range(len(level) // 32)
        ]
        t0 = time.perf_counter()
        sql.load(rows)
        del rows
        print(f"  SQLite load: {time.perf_counter() - t0:.1f} s")
        stores.append(("sqlite", sql.fetch))

    results = []
    print()
    print(
        f"{'store':<7} {'proof':<12} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'ceiling ms':>11} {'p50/ceil':>9} {'p99 <= 1 ms':>12}"
    )
    for store_name, fetch in stores:
        for kind, jobs in (("inclusion", inc_jobs), ("consistency", con_jobs)):
            run_proofs(kind, fetch, jobs[: min(500, p)], roots, leaf_hashes)  # warm up
            ms = run_proofs(kind, fetch, jobs, roots, leaf_hashes)
            p50, p99 = percentile(ms, 0.50), percentile(ms, 0.99)
            ok = p99 <= BAR_P99_MS
            results.append(
                {
                    "store": store_name,
                    "proof": kind,
                    "leaves": n,
                    "proofs": p,
                    "p50_ms": p50,
                    "p99_ms": p99,
                    "max_ms": ms[-1],
                    "ceiling_ms": ceiling_ms,
                    "p50_over_ceiling": p50 / ceiling_ms,
                    "p99_over_ceiling": p99 / ceiling_ms,
                    "bar_p99_ms": BAR_P99_MS,
                    "pass": ok,
                }
            )
            print(
                f"{store_name:<7} {kind:<12} {p50:8.4f} {p99:8.4f} {ms[-1]:8.3f} "
                f"{ceiling_ms:11.4f} {p50 / ceiling_ms:8.1f}x {'PASS' if ok else 'FAIL':>12}"
            )
    if sql is not None:
        probe = [NodeID(0, rng.randrange(n)) for _ in range(20_000)]
        t0 = time.perf_counter()
        for node in probe:
            sql.point_read(node)
        point_us = (time.perf_counter() - t0) / len(probe) * 1e6
        print(f"\nraw SQLite point read of one node: {point_us:.2f} us (for reference)")
        sql.db.close()
    if tmp is not None:
        tmp.cleanup()

    summary = {
        "leaves": n,
        "proofs": p,
        "build_seconds": build_s,
        "sha256_64B_us": sha_s * 1e6,
        "ceiling_ms": ceiling_ms,
        "results": results,
        "python": sys.version.split()[0],
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2)
    return 0 if all(r["pass"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
