"""The recorder: decisions become signed, chained, durable records — in that order.

For each :class:`~borderlink.edge.processors.base.Decision` (or node event) the recorder

1. asks the journal whether to admit it (thinning under storage pressure, never alarms),
2. signs it as the next record of the chain (``RecordChain.prepare``),
3. appends it to the journal, which fsyncs before returning,
4. commits the chain (sequence number and previous hash move on), and only then
5. hands it to the listeners (site bus alert, uplink wake-up).

Several decisions made together are signed in order and appended in one transaction (one
fsync). A failed append leaves the chain where it was: nothing was published, the same
sequence numbers are signed again for whatever comes next, and the unpublished signatures are
gone with the process memory.

The clock quality stamped on each record comes from a callable — the uplink's last skew check
(``ClockQuality.HUB`` while the node's clock agrees with the hub's, else ``UNSYNCHRONISED``).
Timestamps are the device time of the decision (or the node clock for node events), within
two rules the hub enforces (issue #18: a node may not backdate nor date ahead), since a
refused record would stop the node's chain there: a chain's TIME never goes back, and never
runs ahead of the node's own clock. A decision dated before the previous record (a device that
reports an event after a later one, a lab file acquired before the last record) is stamped
with the previous record's time; one dated after the node's clock (a device clock that runs
fast) with the node's clock. Its own times stay in its body.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from borderlink.proto.keys import SigningKey
from borderlink.proto.record import ClockQuality, RecordChain, SignedRecord
from borderlink.proto.record_types import RecordTypeRegistry

from .journal import Journal, JournalEntry
from .processors.base import AlertLevel, Decision

__all__ = ["Recorded", "Recorder"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recorded:
    """A record that is durable in the journal, with what made it."""

    signed: SignedRecord
    alert: AlertLevel | None
    summary: str
    decision: Decision | None
    durable_at: float  # time.monotonic() when the append returned

    @property
    def seq(self) -> int:
        return self.signed.record.seq

    @property
    def record_type(self) -> str:
        return self.signed.record.record_type


Listener = Callable[[Recorded], None]


class Recorder:
    """Signs and journals records for one node. Thread-safe (one lock orders the chain)."""

    def __init__(self, chain: RecordChain, journal: Journal, *,
                 clock_quality: Callable[[], int] = lambda: ClockQuality.UNSYNCHRONISED,
                 wall_clock: Callable[[], float] = time.time) -> None:
        if chain.next_seq != journal.tip[0] + 1 or chain.prev_hash != journal.tip[1]:
            raise ValueError("the chain must start at the journal's tip")
        self.chain = chain
        self.journal = journal
        self.clock_quality = clock_quality
        self.wall_clock = wall_clock
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._pressure_reported = False
        #: TIME of the last durable record (the chain's TIME never goes below it).
        self.last_time_ms = _last_time(journal)
        self.thinned = 0
        self.recorded = 0

    @classmethod
    def for_journal(cls, key: SigningKey, journal: Journal, *, node_id: str, site: str,
                    registry: RecordTypeRegistry, **kwargs: Any) -> Recorder:
        """A recorder whose chain continues from the journal's last durable record."""
        seq, prev = journal.tip
        chain = RecordChain(key, node_id=node_id, site=site, registry=registry,
                            next_seq=seq + 1, prev_hash=prev)
        return cls(chain, journal, **kwargs)

    def add_listener(self, listener: Listener) -> None:
        """Called (in order, under the recorder's lock) with each durable record; must not block."""
        self._listeners.append(listener)

    # -- recording ----------------------------------------------------------------------

    def record(self, decision: Decision) -> Recorded | None:
        done = self.record_many((decision,))
        return done[0] if done else None

    def record_event(self, record_type: str, body: Mapping[str, Any],
                     *, alert: AlertLevel | None = None, summary: str = "") -> Recorded:
        """A node event stamped with the node clock (never thinned)."""
        decision = Decision(record_type, body, self.wall_clock(), alert, summary)
        done = self._record((decision,), admit=False)
        return done[0]

    def record_many(self, decisions: Iterable[Decision], *, admit: bool = True) -> list[Recorded]:
        """Sign, chain and journal *decisions* in one transaction; with *admit* False they were
        thinned already (decisions held while the disk was full)."""
        return self._record(tuple(decisions), admit=admit)

    def _record(self, decisions: tuple[Decision, ...], *, admit: bool) -> list[Recorded]:
        if not decisions:
            return []
        with self._lock:
            chain = self.chain
            scratch = RecordChain(chain.key, node_id=chain.node_id, site=chain.site,
                                  registry=chain.registry, next_seq=chain.next_seq,
                                  prev_hash=chain.prev_hash)
            clock = int(self.clock_quality())
            signed: list[tuple[SignedRecord, Decision]] = []
            floor = self.last_time_ms
            now = _ms(self.wall_clock())
            for d in decisions:
                if admit and not self.journal.admit(d.record_type):
                    self.thinned += 1
                    continue
                floor = max(floor, min(_ms(d.t), now))
                rec = scratch.prepare(d.record_type, d.body, time_ms=floor, clock=clock)
                scratch.commit(rec)
                signed.append((rec, d))
            if not signed:
                return []
            self.journal.append_many([
                JournalEntry(s.record.seq, s.raw, tuple(s.disclosure_bytes),
                             s.record.record_type, d.alert is not None, s.record.time_ms,
                             s.record.prev_hash)
                for s, d in signed])
            durable_at = time.monotonic()
            for s, _ in signed:
                chain.commit(s)
            self.last_time_ms = floor
            self.recorded += len(signed)
            done = [Recorded(s, d.alert, d.summary, d, durable_at) for s, d in signed]
            for item in done:
                for listener in self._listeners:
                    try:
                        listener(item)
                    except Exception:  # a listener never stops recording
                        log.exception("record listener failed for seq %d", item.seq)
            pressure = self.journal.under_pressure
        if pressure and not self._pressure_reported:
            self._pressure_reported = True
            self._report_pressure()
        elif not pressure:
            self._pressure_reported = False
        return done

    def _report_pressure(self) -> None:
        stats = self.journal.stats()
        policy = self.journal.policy
        action = (f"thin {','.join(sorted(policy.thin))} keep 1 in {policy.keep_one_in}"
                  if policy.thin else "keep all (no thinning policy)")
        log.warning("journal under storage pressure: %d of %d bytes, %d unsynced; %s",
                    stats.used_bytes, stats.limit_bytes, stats.unsynced_records, action)
        self.record_event("node.storage_pressure", {
            "used_bytes": stats.used_bytes, "limit_bytes": stats.limit_bytes,
            "unsynced_records": stats.unsynced_records, "action": action})


def _last_time(journal: Journal) -> int:
    seq = journal.tip[0]
    last = journal.read_from(seq, max_records=1) if seq else []
    return last[0].time_ms if last else 0


def _ms(t: float) -> int:
    return round(t * 1000)
