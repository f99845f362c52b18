"""The invariants of a round, checked from outside the processes that were hit.

Each node's journal is read straight from its SQLite file (read-only), the hub's store straight
from its database, and the log through the hub's Transparency service with the checkpoints a
monitor collected during the round — never from what a process reports about itself.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from borderlink.demo.audit import CheckpointWatcher, audit_log
from borderlink.edge.journal import read_stats
from borderlink.hub.storage import open_storage
from borderlink.proto.v1 import GRPC_MESSAGE_OPTIONS, federation_pb2, federation_pb2_grpc


@dataclass
class Invariants:
    """What one round's checks counted; :attr:`held` is the verdict."""

    records_made: int = 0
    records_at_hub: int = 0
    records_lost: int = 0
    #: Made after the site drained (while agents stopped), durable and not yet acknowledged:
    #: they go to the hub at the node's next start; not a loss.
    pending_at_stop: int = 0
    duplicates: int = 0
    mismatched: int = 0
    #: Nodes whose records the log holds out of their chain's order.
    out_of_log_order: int = 0
    nodes: int = 0
    chains_ok: int = 0
    chain_nodes: int = 0  # every enrolled node, the attacker's stolen one too
    signatures_ok: int = 0
    checkpoints_checked: int = 0
    consistency_ok: bool = False
    alarms_made: int = 0
    alarms_lost: int = 0
    alerts_seen: int = 0
    alerts_not_durable: int = 0
    agency_delivered: dict[str, int] = field(default_factory=dict)
    agency_lost: dict[str, int] = field(default_factory=dict)
    agency_duplicates: dict[str, int] = field(default_factory=dict)
    agency_breaks: dict[str, int] = field(default_factory=dict)
    log_lines_scanned: int = 0
    secrets_in_logs: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return not self.problems


def journal_rows(path: Path) -> list[tuple[int, bytes, str, bool, bool]]:
    """``(seq, record bytes, type, raised an alert, acknowledged)`` of every record a journal
    holds."""
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return [(int(s), bytes(raw), str(t), bool(a), bool(k)) for s, raw, t, a, k in
                db.execute("SELECT seq, raw, type, alert, acked FROM records ORDER BY seq")]
    finally:
        db.close()


def journal_tip(path: Path) -> int:
    """The journal's tip sequence number, read from its file (0 when there is none yet)."""
    return int(read_stats(path)["tip_seq"]) if path.exists() else 0


#: The hub's own chain in the log (its entries about enrolments and revocations): checked by
#: the audit like every chain, owed to no journal.
HUB_NODE_ID = "hub"


def _hub_records(store_url: str) -> dict[str, list[tuple[int, bytes]]]:
    """The records in the hub's log, by node in log order (each node counted on its own: the
    log also holds the hub's entries, so its size is no count of any node's records)."""
    storage = open_storage(store_url)
    out: dict[str, list[tuple[int, bytes]]] = {}
    try:
        start = 0
        while True:
            page = storage.scan_records(start, limit=1000, with_disclosures=False)
            for stored in page.records:  # in log order
                out.setdefault(stored.node_id, []).append((stored.seq, stored.record))
            if not page.records or page.next_index <= start:
                return out
            start = page.next_index
    finally:
        storage.close()


def _exactly_once(site: Any, found: Invariants, drained: dict[str, int],
                  others: dict[str, int]) -> dict[str, dict[int, tuple[bytes, str, bool]]]:
    at_hub = _hub_records(site.store_url)
    real = {node.node_id for node in site.nodes} | {HUB_NODE_ID}
    for node_id, held in sorted(at_hub.items()):
        if node_id in real:
            continue
        if len(held) != others.get(node_id, 0):
            found.problems.append(f"the hub holds {len(held)} records of {node_id}, which was "
                                  f"allowed to store {others.get(node_id, 0)}")
    journals: dict[str, dict[int, tuple[bytes, str, bool]]] = {}
    for node in site.nodes:
        rows = journal_rows(node.journal_path)
        journals[node.node_id] = {seq: (raw, rtype, alert) for seq, raw, rtype, alert, _ in rows}
        tip = rows[-1][0] if rows else 0
        acked = {seq for seq, *_, was_acked in rows if was_acked}
        hub = at_hub.get(node.node_id, [])
        seqs = Counter(seq for seq, _ in hub)
        found.nodes += 1
        found.records_made += tip
        found.records_at_hub += len(hub)
        dup = sum(n - 1 for n in seqs.values() if n > 1)
        # The log orders events: a node's records hold their places in the order of its chain,
        # whatever times they claim (a node's clock can jump).
        in_log = [seq for seq, _ in hub]
        if in_log != sorted(in_log):
            found.out_of_log_order += 1
            found.problems.append(f"{node.node_id}: records out of chain order in the log")
        missing = [seq for seq in range(1, tip + 1) if seq not in seqs]
        # made after the drain and never acknowledged: still owed, not lost
        pending = [seq for seq in missing
                   if seq > drained.get(node.node_id, tip) and seq not in acked]
        lost = len(missing) - len(pending)
        found.pending_at_stop += len(pending)
        extra = sum(1 for seq in seqs if seq > tip)
        by_seq = dict(hub)
        mismatched = sum(1 for seq, raw, *_ in rows if seq in by_seq and by_seq[seq] != raw)
        found.duplicates += dup
        found.records_lost += lost
        found.mismatched += mismatched
        for seq, _, _, alert, _ in rows:
            if alert:
                found.alarms_made += 1
                if seq not in by_seq:
                    found.alarms_lost += 1
        if dup or lost or extra or mismatched:
            found.problems.append(f"{node.node_id}: journal tip {tip}, hub holds {len(hub)} "
                                  f"({lost} lost, {dup} duplicated, {extra} beyond the tip, "
                                  f"{mismatched} with other bytes)")
    return journals


def _alerts(console: Any, journals: dict[str, dict[int, tuple[bytes, str, bool]]],
            found: Invariants) -> None:
    """Every alert the console received names a durable record of its type that raised it."""
    if console is None:
        return
    for alert in console.snapshot():
        found.alerts_seen += 1
        held = journals.get(alert.node, {}).get(alert.seq)
        if held is None or held[1] != alert.record_type or not held[2]:
            found.alerts_not_durable += 1
            found.problems.append(f"alert {alert.node} #{alert.seq} ({alert.record_type}) "
                                  "names no durable record of that type")


def _everything_visible(site: Any, agency: str) -> list[int]:
    """Every log index *agency* may see, by bounded Queries after the round (a fresh read)."""
    cert, key = site.agency_files(agency)
    credentials = grpc.ssl_channel_credentials(
        (site.hub_dir / "ca.pem").read_bytes(), key.read_bytes(), cert.read_bytes())
    with grpc.secure_channel(site.hub_address, credentials, GRPC_MESSAGE_OPTIONS) as channel:
        stub = federation_pb2_grpc.FederationStub(channel)
        out: list[int] = []
        cursor = 0
        while True:
            reply = stub.Query(federation_pb2.QueryRequest(cursor=cursor, limit=1000), timeout=30)
            out += [r.log_index for r in reply.records]
            if not reply.more or reply.next_cursor <= cursor:
                return out
            cursor = reply.next_cursor


def _agency_streams(site: Any, followers: dict[str, Any], found: Invariants) -> None:
    for agency, follower in sorted(followers.items()):
        expected = _everything_visible(site, agency)
        deadline = time.monotonic() + 30
        while set(follower.snapshot()) < set(expected) and time.monotonic() < deadline:
            time.sleep(0.3)  # the live stream may still be catching up
        got = follower.snapshot()
        dup = len(got) - len(set(got))
        lost = len(set(expected) - set(got))
        out_of_order = sum(1 for a, b in zip(got, got[1:]) if b <= a)
        found.agency_delivered[agency] = len(got)
        found.agency_lost[agency] = lost
        found.agency_duplicates[agency] = dup
        found.agency_breaks[agency] = follower.breaks + follower.reconnects
        if dup or lost or out_of_order or not expected:
            found.problems.append(f"agency {agency}: {len(got)} delivered of {len(expected)} "
                                  f"visible ({lost} lost, {dup} duplicated, {out_of_order} out "
                                  "of order)")


def _needles(site: Any) -> dict[str, str]:
    """What must never appear in a log: key material and the watchlist's personal data."""
    import base64
    import json

    from borderlink.hardware_profiles.loader import DATA_DIR

    needles = {"PRIVATE KEY": "a PEM private key"}
    for node in site.nodes:
        seed = node.key.seed
        needles[seed.hex()] = f"{node.node_id}'s signing key (hex)"
        needles[base64.b64encode(seed).decode().rstrip("=")] = f"{node.node_id}'s signing key"
    watchlist = json.loads((DATA_DIR / "watchlist.json").read_text("utf-8"))
    for person in watchlist.get("persons", ()):
        for key in ("surname", "surname_latin", "given_names_latin"):
            value = str(person.get(key) or "")
            if len(value) >= 5:
                needles[value] = f"a watchlisted person's name ({key})"
        if person.get("birth_date"):
            needles[str(person["birth_date"])] = "a watchlisted person's birth date"
    for document in watchlist.get("documents", ()):
        needles[str(document["number"])] = "a watchlisted document number"
    return needles


def _secrets(site: Any, found: Invariants) -> None:
    """No log of the hub or an agent holds key material or watchlisted personal data."""
    needles = _needles(site)
    for path in sorted((site.work / "logs").glob("*.log")):
        if path.name == "simulator.log":  # the devices' own side, not borderlink's
            continue
        for number, line in enumerate(path.read_text("utf-8", errors="replace").splitlines(), 1):
            found.log_lines_scanned += 1
            for needle, what in needles.items():
                if needle in line:
                    found.secrets_in_logs += 1
                    found.problems.append(f"{path.name}:{number} holds {what}")


def check_round(site: Any, followers: dict[str, Any], console: Any,
                watcher: CheckpointWatcher, drained: dict[str, int],
                others: dict[str, int]) -> Invariants:
    """Every invariant of the round; the hub must still be running (proofs are fetched).
    *drained* holds each node's journal tip when the site had drained; *others* the records
    the hub may hold of nodes without an agent (the attacker's stolen node)."""
    found = Invariants()
    journals = _exactly_once(site, found, drained, others)
    audit, _records = audit_log(site.store_url, watcher, attackers=frozenset(others))
    found.signatures_ok = audit.signatures_ok
    found.chains_ok = audit.chains_ok
    found.chain_nodes = audit.nodes_checked
    found.consistency_ok = audit.consistency_ok
    found.checkpoints_checked = len(watcher.seen)
    found.problems.extend(audit.problems)
    if audit.signatures_ok != audit.records_checked:
        found.problems.append(f"{audit.records_checked - audit.signatures_ok} records at the hub "
                              "do not verify")
    if len(watcher.seen) < 2:
        found.problems.append(f"only {len(watcher.seen)} checkpoints seen: consistency untested")
    _alerts(console, journals, found)
    _secrets(site, found)
    _agency_streams(site, followers, found)
    return found
