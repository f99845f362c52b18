"""Hub storage append throughput beside raw SQLite (and PostgreSQL, when reachable).

    python benchmarks/bench_storage.py [--batches 40] [--batch-size 256] [--pg URL] [--json FILE]

Figures (records per second, one thread):
  * ``sqlite_append``  — ``SqliteStorage.append_records`` (records + leaves + disclosures +
    chain check + node heads, synchronous=FULL), ceiling ``raw_sqlite``: the same number of
    rows of the same size inserted into one table, one transaction per batch, same pragmas.
  * ``postgres_append`` — ``PostgresStorage.append_records`` (a fresh schema, dropped after),
    ceiling ``raw_postgres``: plain executemany inserts of the same rows, one transaction per batch.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import Report  # benchmarks/_common.py

from borderlink.hub.storage import NewDisclosure, NewRecord, NodeEnrollment, open_storage
from borderlink.hub.storage.model import ZERO_HASH

T0 = 1_795_000_000_000


def make_batches(n_batches: int, size: int, nodes: int = 8) -> list[list[NewRecord]]:
    prev = {f"n{i}": ZERO_HASH for i in range(nodes)}
    seq = dict.fromkeys(prev, 0)
    out = []
    for b in range(n_batches):
        node = f"n{b % nodes}"
        batch = []
        for _ in range(size):
            seq[node] += 1
            body = hashlib.sha512(f"{node}{seq[node]}".encode()).digest() * 3  # ~190-byte record
            rec = NewRecord(
                node,
                seq[node],
                prev[node],
                b"\xd2\x84" + body,
                "document_check",
                "SBS",
                "AZ-BIL",
                T0 + seq[node],
                (NewDisclosure(body[:32], "name", body[:60]),),
            )
            prev[node] = rec.record_hash
            batch.append(rec)
        out.append(batch)
    return out


def bench_store(url: str, batches: list[list[NewRecord]]) -> float:
    store = open_storage(url)
    try:
        for node in sorted({r.node_id for b in batches for r in b}):
            key = hashlib.sha256(node.encode()).digest()
            store.enroll_node(
                NodeEnrollment(node, key, key[:8], "AZ-BIL", "SBS", "p"), enrolled_at_ms=T0
            )
        start = time.perf_counter()
        for batch in batches:
            store.append_records(batch, received_ms=T0)
        return sum(map(len, batches)) / (time.perf_counter() - start)
    finally:
        store.close()


def raw_sqlite(path: Path, batches: list[list[NewRecord]]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE r (i INTEGER PRIMARY KEY, b BLOB)")
    rows = [[(0, r.record) for r in b] for b in batches]
    i = 0
    start = time.perf_counter()
    for batch in rows:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO r VALUES (?, ?)", [(i + k, b) for k, (_, b) in enumerate(batch)]
        )
        i += len(batch)
        conn.execute("COMMIT")
    rate = sum(map(len, rows)) / (time.perf_counter() - start)
    conn.close()
    return rate


def raw_postgres(conninfo: str, schema: str, batches: list[list[NewRecord]]) -> float:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {schema}.raw (i BIGINT PRIMARY KEY, b BYTEA)")
        i = 0
        start = time.perf_counter()
        for batch in batches:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {schema}.raw VALUES (%s, %s)",
                    [(i + k, r.record) for k, r in enumerate(batch)],
                )
            i += len(batch)
        return sum(map(len, batches)) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="PostgreSQL URL ('' to skip)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    batches = make_batches(args.batches, args.batch_size)
    report = Report("hub storage append (one thread, synchronous commits)")
    with tempfile.TemporaryDirectory() as tmp:
        value = bench_store(f"sqlite://{tmp}/hub.db", batches)
        ceiling = raw_sqlite(Path(tmp) / "raw.db", batches)
    report.add("SqliteStorage.append_records", value, "r/s", "raw SQLite inserts", ceiling)
    if args.pg:
        import psycopg

        schema = f"bl_bench_{uuid.uuid4().hex[:8]}"
        try:
            value = bench_store(f"{args.pg}?schema={schema}", batches)
            ceiling = raw_postgres(args.pg, schema, batches)
        finally:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        report.add(
            "PostgresStorage.append_records", value, "r/s", "raw PostgreSQL inserts", ceiling
        )
    report.print()
    report.write_json(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
