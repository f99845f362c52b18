"""Verified ingest of record batches: the decisions on bytes, then one storage append.

:func:`check_envelope` is the sans-IO core: given one envelope's bytes, the node as enrolled
and the chain head the batch has reached so far, it returns an :class:`Outcome` — accepted
(with the :class:`~borderlink.hub.storage.NewRecord` to append), or refused with a
:class:`Reason` (the ``RejectReason`` of ``sync.proto``) and a message naming the bad value,
or *stored-seq* when the record's sequence number is already stored, which only storage can
settle (same bytes: acknowledged again; other bytes: equivocation).

:class:`Ingest` is the thin shell: it reads the node and its head from storage, settles the
stored-seq cases (keeping equivocation evidence), appends the accepted records in one
transaction and says how far the node's chain is durably stored.

Checks, in order, per record: size limits (OVERSIZED), signature with the enrolled key and the
key id (BAD_SIGNATURE; MALFORMED for bytes that are no record), the record's node is the
stream's (UNKNOWN_NODE), body of a known type (INVALID_BODY; unknown types are accepted and
flagged), disclosures against the signed digests (BAD_DISCLOSURE), revocation (REVOKED: any
record arriving after it, whatever time it claims), then what the node may assert
(:func:`enrolment_refusal`: WRONG_SITE, TYPE_NOT_ALLOWED, WRONG_AGENCY, TIME_IN_FUTURE,
TIME_BEFORE_PREVIOUS), then the chain: seq <= head is a stored seq, seq > head + 1 a
CHAIN_GAP, a wrong previous hash a CHAIN_MISMATCH. After the first refusal the batch's later
records no longer continue the stored chain and are refused with CHAIN_GAP.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from borderlink.hub.errors import ChainConflictError, UnknownNodeError
from borderlink.hub.storage import (
    MAX_EQUIVOCATIONS_KEPT,
    ChainHead,
    NewDisclosure,
    NewRecord,
    NodeRow,
    Storage,
)
from borderlink.proto.cose import KeyIdMismatchError, SignatureError
from borderlink.proto.disclosure import (
    MAX_DISCLOSURE_BYTES,
    DisclosureDecodeError,
    DisclosureMismatchError,
)
from borderlink.proto.envelope import MAX_DISCLOSURES
from borderlink.proto.errors import RecordDecodeError, VerificationError
from borderlink.proto.merkle import leaf_hash
from borderlink.proto.record import (
    MAX_RECORD_BYTES,
    PayloadError,
    VerifiedRecord,
    decode_record,
    verify_record,
)
from borderlink.proto.record_types import RecordTypeRegistry

log = logging.getLogger("borderlink.hub.ingest")


class Reason(enum.IntEnum):
    """Why a record was refused; values equal ``borderlink.v1.RejectReason``."""

    MALFORMED = 1
    BAD_SIGNATURE = 2
    UNKNOWN_NODE = 3
    REVOKED = 4
    CHAIN_GAP = 5
    CHAIN_MISMATCH = 6
    EQUIVOCATION = 7
    INVALID_BODY = 8
    OVERSIZED = 9
    BAD_DISCLOSURE = 10
    WRONG_SITE = 11
    WRONG_AGENCY = 12
    TYPE_NOT_ALLOWED = 13
    TIME_IN_FUTURE = 14
    TIME_BEFORE_PREVIOUS = 15


#: How far past the hub's receive time a record's claimed time may be, by its ClockQuality
#: (0 unsynchronised, 1 compared with the hub, 2 NTP, 3 GNSS; any other value is taken as
#: unsynchronised). A disciplined clock has no reason to run ahead; a free-running one may
#: drift, but not by more than this before the edge's skew check marks it.
FUTURE_ALLOWANCE_MS = {0: 600_000, 1: 30_000, 2: 5_000, 3: 2_000}
#: How far before the node's previous record a record's claimed time may be: a node's chain
#: is in time order (the edge keeps it so), so only clock jitter needs room. Offline catch-up
#: is legal: old records arrive in their order, each no earlier than the one before.
BACKDATE_TOLERANCE_MS = 5_000
#: The record types every node produces whatever its hardware (its own lifecycle and health).
LIFECYCLE_PREFIX = "node."


@dataclass(frozen=True, slots=True)
class Accepted:
    new: NewRecord
    #: node clock - hub clock when received (ms): recorded, never used to rewrite anything.
    skew_ms: int


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Reason
    message: str
    #: The record's sequence number when it could be read, else 0.
    seq: int = 0


@dataclass(frozen=True, slots=True)
class StoredSeq:
    """A verified record at a sequence number the node already has stored."""

    new: NewRecord


Outcome = Accepted | Refused | StoredSeq


def _seq_of(raw: bytes) -> int:
    try:
        return decode_record(raw).seq
    except RecordDecodeError:
        return 0


def verify_envelope(
    raw: bytes,
    disclosures: Sequence[bytes],
    public_key: bytes,
    registry: RecordTypeRegistry,
) -> NewRecord | Refused:
    """The per-record checks that need no chain state: limits, decoding, key id, signature,
    body, disclosures. Pure and picklable both ways, so a process pool can run it."""
    verified = _verified(raw, disclosures, public_key, registry)
    if isinstance(verified, Refused):
        return verified
    record = verified.record
    return NewRecord(
        node_id=record.node_id,
        seq=record.seq,
        prev_hash=record.prev_hash,
        record=raw,
        record_type=record.record_type,
        agency=record.agency,
        site=record.site,
        time_ms=record.time_ms,
        disclosures=tuple(
            NewDisclosure(d.digest, d.field, d.raw) for d in verified.disclosed.values()
        ),
        unknown_type=not verified.known_type,
        clock=record.clock,
    )


def _verified(
    raw: bytes,
    disclosures: Sequence[bytes],
    public_key: bytes,
    registry: RecordTypeRegistry,
) -> VerifiedRecord | Refused:
    """:func:`verify_envelope`'s checks, answering with the verified record itself."""
    if len(raw) > MAX_RECORD_BYTES:
        return Refused(
            Reason.OVERSIZED, f"record is {len(raw)} bytes, over the {MAX_RECORD_BYTES} limit"
        )
    if len(disclosures) > MAX_DISCLOSURES:
        return Refused(
            Reason.OVERSIZED,
            f"{len(disclosures)} disclosures, over the limit of {MAX_DISCLOSURES}",
            _seq_of(raw),
        )
    for i, d in enumerate(disclosures):
        if len(d) > MAX_DISCLOSURE_BYTES:
            return Refused(
                Reason.OVERSIZED,
                f"disclosure {i} is {len(d)} bytes, over the {MAX_DISCLOSURE_BYTES} limit",
                _seq_of(raw),
            )
    try:
        verified = verify_record(raw, public_key, registry=registry, disclosures=disclosures)
    except (KeyIdMismatchError, SignatureError) as exc:
        return Refused(Reason.BAD_SIGNATURE, str(exc), _seq_of(raw))
    except DisclosureMismatchError as exc:
        return Refused(Reason.BAD_DISCLOSURE, str(exc), _seq_of(raw))
    except PayloadError as exc:
        # Signature held; either the payload is no record at all or its body is wrong.
        try:
            seq = decode_record(raw).seq
        except RecordDecodeError:
            return Refused(Reason.MALFORMED, str(exc))
        return Refused(Reason.INVALID_BODY, str(exc), seq)
    except DisclosureDecodeError as exc:
        return Refused(Reason.BAD_DISCLOSURE, str(exc), _seq_of(raw))
    except RecordDecodeError as exc:
        return Refused(Reason.MALFORMED, str(exc))
    except VerificationError as exc:
        return Refused(Reason.BAD_SIGNATURE, str(exc), _seq_of(raw))
    except Exception as exc:  # noqa: BLE001 - a decoder bug on hostile bytes: refuse, never crash
        log.warning("record check raised %s; refused as malformed", type(exc).__name__)
        return Refused(Reason.MALFORMED, f"record could not be checked ({type(exc).__name__})")
    return verified


def enrolment_refusal(
    new: NewRecord,
    *,
    node: NodeRow,
    registry: RecordTypeRegistry,
    previous_time_ms: int | None,
    now_ms: int,
) -> Refused | None:
    """What a node may assert inside a valid signature, checked against its enrolment: its
    site, a record type its hardware produces (declared at enrolment) or a lifecycle type,
    the owning agency by the hub's rule, and a claimed time between its previous record's
    (less :data:`BACKDATE_TOLERANCE_MS`) and the hub's receive time plus the allowance of
    its clock quality. None when the record may be stored."""
    where = f"node {node.node_id} record {new.seq}"
    if new.site != node.site:
        return Refused(
            Reason.WRONG_SITE,
            f"{where} claims site {new.site!r}; the node is enrolled at site {node.site!r}",
            new.seq,
        )
    lifecycle = new.record_type.startswith(LIFECYCLE_PREFIX) and new.record_type in registry
    if not lifecycle and new.record_type not in node.record_types:
        if not node.record_types:
            why = (
                "the node was enrolled without a list of record types (enrolled before the "
                "hub checked them, or by a tool that did not pass them): re-enrol it with its "
                "hardware profile's record types; until then only node.* records are accepted"
            )
        else:
            why = f"its hardware profile {node.profile!r} produces {', '.join(node.record_types)}"
        return Refused(
            Reason.TYPE_NOT_ALLOWED,
            f"{where} is of type {new.record_type!r}, which the node may not produce: {why}",
            new.seq,
        )
    if lifecycle or new.record_type not in registry:
        # A node's own health is its agency's business; a type this hub does not know
        # (declared at enrolment) has no owner here but the node's agency.
        owner, rule = node.agency, "the node's enrolled agency"
    else:
        owner = str(registry[new.record_type].agency.value)
        rule = f"the owner of {new.record_type}"
    if new.agency != owner:
        return Refused(
            Reason.WRONG_AGENCY,
            f"{where} ({new.record_type}) claims agency {new.agency!r}; the hub's rule makes "
            f"it {rule}, {owner!r}",
            new.seq,
        )
    allowance = FUTURE_ALLOWANCE_MS.get(new.clock, FUTURE_ALLOWANCE_MS[0])
    if new.time_ms > now_ms + allowance:
        return Refused(
            Reason.TIME_IN_FUTURE,
            f"{where} claims time {new.time_ms} ms, {new.time_ms - now_ms} ms after the hub "
            f"received it ({now_ms} ms); clock quality {new.clock} allows {allowance} ms",
            new.seq,
        )
    if previous_time_ms is not None and new.time_ms < previous_time_ms - BACKDATE_TOLERANCE_MS:
        return Refused(
            Reason.TIME_BEFORE_PREVIOUS,
            f"{where} claims time {new.time_ms} ms, {previous_time_ms - new.time_ms} ms "
            f"before the node's previous record ({previous_time_ms} ms); a chain may go back "
            f"at most {BACKDATE_TOLERANCE_MS} ms",
            new.seq,
        )
    return None


def decide(
    verified: NewRecord | Refused,
    *,
    node: NodeRow,
    head: ChainHead,
    now_ms: int,
    registry: RecordTypeRegistry,
) -> Outcome:
    """The checks against the node as enrolled and the chain head the batch reached (pure)."""
    if isinstance(verified, Refused):
        if verified.reason is Reason.BAD_SIGNATURE:
            return Refused(
                verified.reason, f"node {node.node_id}: {verified.message}", verified.seq
            )
        return verified
    new = verified
    if new.node_id != node.node_id:
        return Refused(
            Reason.UNKNOWN_NODE,
            f"record names node {new.node_id!r}, the stream is node {node.node_id!r}",
            new.seq,
        )
    if node.revoked_at_ms is not None:
        # Judged by arrival, never by the time the record claims: from the revocation on,
        # nothing the key signs enters the log, however early it says it was made (a stolen
        # key would otherwise date its records one minute before the revocation).
        return Refused(
            Reason.REVOKED,
            f"record {new.seq} arrived after node {node.node_id}'s key was revoked "
            f"({node.revoke_reason or 'no reason given'}); its claimed time "
            f"{new.time_ms} ms is not evidence",
            new.seq,
        )
    if new.seq <= head.seq:
        return StoredSeq(new)
    if new.seq != head.seq + 1:
        return Refused(Reason.CHAIN_GAP, f"seq {new.seq} does not follow {head.seq}", new.seq)
    if new.prev_hash != head.hash:
        return Refused(
            Reason.CHAIN_MISMATCH,
            f"seq {new.seq}: previous hash {new.prev_hash.hex()[:16]}… is not the hash "
            f"of record {head.seq} ({head.hash.hex()[:16]}…)",
            new.seq,
        )
    refused = enrolment_refusal(
        new, node=node, registry=registry, previous_time_ms=head.time_ms, now_ms=now_ms
    )
    if refused is not None:
        return refused
    return Accepted(new, new.time_ms - now_ms)


def check_envelope(
    raw: bytes,
    disclosures: Sequence[bytes],
    *,
    node: NodeRow,
    head: ChainHead,
    registry: RecordTypeRegistry,
    now_ms: int,
) -> Outcome:
    """Decide on one envelope (pure: no I/O). *head* is the chain head the batch reached."""
    verified = verify_envelope(raw, disclosures, node.public_key, registry)
    return decide(verified, node=node, head=head, now_ms=now_ms, registry=registry)


Envelopes = Sequence[tuple[bytes, Sequence[bytes]]]
#: Verifies a batch's envelopes with one public key, in order (in this thread or a pool).
BatchVerifier = Callable[[bytes, Envelopes], list[NewRecord | Refused]]


def verify_batch(
    public_key: bytes, envelopes: Envelopes, registry: RecordTypeRegistry
) -> list[NewRecord | Refused]:
    return [verify_envelope(raw, d, public_key, registry) for raw, d in envelopes]


_worker_registry: RecordTypeRegistry | None = None


def _init_worker() -> None:
    global _worker_registry
    from borderlink.common.runtime import settle_gc
    from borderlink.proto.record_types import default_registry

    _worker_registry = default_registry()
    settle_gc()  # a worker is a long-running service too: the same collector settings


def _verify_chunk(public_key: bytes, envelopes: Envelopes) -> list[NewRecord | Refused]:
    assert _worker_registry is not None
    return verify_batch(public_key, envelopes, _worker_registry)


#: What a worker sends back for an accepted record: the columns as plain values and the two
#: hashes (computed here, in parallel), without the record's bytes (the stream has them): a
#: fraction of the pickling of a NewRecord.
_Lean = tuple[Any, ...]


def _verify_chunk_lean(public_key: bytes, envelopes: Envelopes) -> list[_Lean | Refused]:
    assert _worker_registry is not None
    out: list[_Lean | Refused] = []
    for raw, d in envelopes:
        v = _verified(raw, d, public_key, _worker_registry)
        if isinstance(v, Refused):
            out.append(v)
            continue
        r = v.record
        out.append(
            (
                r.node_id,
                r.seq,
                r.prev_hash,
                r.record_type,
                r.agency,
                r.site,
                r.time_ms,
                tuple((x.digest, x.field, x.raw) for x in v.disclosed.values()),
                not v.known_type,
                sha256(raw).digest(),
                leaf_hash(raw),
                r.clock,
            )
        )
    return out


def _from_lean(raw: bytes, lean: _Lean | Refused) -> NewRecord | Refused:
    if isinstance(lean, Refused):
        return lean
    node_id, seq, prev, rtype, agency, site, time_ms, discl, unknown, rec_hash, leaf, clock = (
        lean
    )
    return NewRecord.hashed(
        node_id, seq, prev, raw, rtype, agency, site, time_ms,
        tuple(map(NewDisclosure._make, discl)), unknown, rec_hash, leaf, clock,
    )


class PendingVerification:
    """Verification of one batch under way on a :class:`PoolVerifier` (see ``submit``)."""

    def __init__(self, public_key: bytes, futures: list[Any], raws: list[bytes]) -> None:
        self.public_key = public_key
        self._futures = futures
        self._raws = raws

    def result(self) -> list[NewRecord | Refused]:
        lean: list[_Lean | Refused] = []
        for f in self._futures:
            lean.extend(f.result())
        return [_from_lean(raw, v) for raw, v in zip(self._raws, lean, strict=True)]

    def cancel(self) -> None:
        for f in self._futures:
            f.cancel()


class PoolVerifier:
    """Verifies batches on worker processes (the default registry in each), so signature
    checks and CBOR decoding use every core, not one GIL. Started with ``spawn``: forking a
    process that runs gRPC threads is unsafe."""

    def __init__(self, workers: int, *, chunk: int = 64) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self.chunk = chunk
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        )
        # Start the workers now, not under the first batch.
        list(self._pool.map(_verify_chunk, [b""] * workers, [[]] * workers))

    def __call__(self, public_key: bytes, envelopes: Envelopes) -> list[NewRecord | Refused]:
        return self.submit(public_key, envelopes).result()

    def submit(self, public_key: bytes, envelopes: Envelopes) -> PendingVerification:
        """Start verifying *envelopes* on the workers; the answer comes from ``.result()``.
        Lets a stream verify its next batches while the current one is being stored."""
        chunks = [
            [(raw, list(d)) for raw, d in envelopes[i : i + self.chunk]]
            for i in range(0, len(envelopes), self.chunk)
        ]
        futures = [self._pool.submit(_verify_chunk_lean, public_key, c) for c in chunks]
        return PendingVerification(public_key, futures, [raw for raw, _ in envelopes])

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class Rejection:
    index_in_batch: int
    seq: int
    reason: Reason
    message: str


@dataclass(frozen=True)
class BatchResult:
    """What a batch did: the node's durable head after it, refusals, counts."""

    highest_contiguous_seq: int
    rejections: tuple[Rejection, ...] = ()
    stored: int = 0
    duplicates: int = 0
    #: Empty when the store gives log indexes later (PostgreSQL: the sequencer).
    log_indexes: tuple[int, ...] = ()
    unknown_types: int = 0
    #: node clock - hub clock of the batch's last accepted record (ms), None if none.
    skew_ms: int | None = None
    equivocations: int = 0
    #: Conflicting records counted but not kept: their (node, seq) holds its limit.
    equivocations_dropped: int = 0


class Ingest:
    """The ingest shell over a :class:`Storage`: verify, settle stored seqs, append."""

    def __init__(
        self,
        storage: Storage,
        registry: RecordTypeRegistry,
        *,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        on_equivocation: Callable[[str, int], None] | None = None,
        verifier: BatchVerifier | None = None,
        max_equivocations_kept: int = MAX_EQUIVOCATIONS_KEPT,
    ) -> None:
        self.storage = storage
        self.max_equivocations_kept = max_equivocations_kept
        self.registry = registry
        self.verifier: BatchVerifier = verifier or (
            lambda key, envelopes: verify_batch(key, envelopes, registry)
        )
        self.clock_ms = clock_ms
        self.on_equivocation = on_equivocation

    def prefetch(
        self, node_id: str, envelopes: Sequence[tuple[bytes, Sequence[bytes]]]
    ) -> PendingVerification | None:
        """Start verifying a batch ahead of :meth:`ingest` (with the node's key as enrolled
        now), when the verifier can work in the background; else None."""
        submit = getattr(self.verifier, "submit", None)
        if submit is None:
            return None
        node = self.storage.get_node(node_id)
        if node is None:
            return None
        return submit(node.public_key, envelopes)  # type: ignore[no-any-return]

    def ingest(
        self,
        node_id: str,
        envelopes: Sequence[tuple[bytes, Sequence[bytes]]],
        *,
        pending: PendingVerification | None = None,
    ) -> BatchResult:
        """Check and store one batch of *node_id*; retried once if a replica raced it.
        *pending* is its verification started by :meth:`prefetch` (used only when it was
        made with the key the node has when the batch is decided)."""
        try:
            return self._ingest_once(node_id, envelopes, pending)
        except ChainConflictError:
            # Another hub process appended for this node meanwhile: re-read and decide again
            # (what it stored is now a stored seq, acknowledged or equivocation).
            return self._ingest_once(node_id, envelopes, pending)

    def _last_time(self, node: NodeRow) -> int | None:
        """The claimed time of the node's last stored record (None: it has none)."""
        if node.last_seq == 0:
            return None
        last = self.storage.get_record(node.node_id, node.last_seq)
        return last.time_ms if last is not None else None

    def _ingest_once(
        self,
        node_id: str,
        envelopes: Sequence[tuple[bytes, Sequence[bytes]]],
        pending: PendingVerification | None = None,
    ) -> BatchResult:
        node = self.storage.get_node(node_id)
        if node is None:
            return BatchResult(
                0,
                tuple(
                    Rejection(
                        i, _seq_of(raw), Reason.UNKNOWN_NODE, f"node {node_id!r} is not enrolled"
                    )
                    for i, (raw, _) in enumerate(envelopes)
                ),
            )
        durable = ChainHead(node.last_seq, node.last_hash)
        head = ChainHead(node.last_seq, node.last_hash, self._last_time(node))
        now = self.clock_ms()
        accepted: list[NewRecord] = []
        rejections: list[Rejection] = []
        duplicates = equivocations = dropped = 0
        skew: int | None = None
        broken = False
        if pending is not None and pending.public_key == node.public_key:
            verified = pending.result()
        else:  # not started, or the node was re-enrolled with another key meanwhile
            verified = self.verifier(node.public_key, envelopes)
        for i, ((raw, _), checked) in enumerate(zip(envelopes, verified, strict=True)):
            if broken:
                rejections.append(
                    Rejection(
                        i,
                        _seq_of(raw),
                        Reason.CHAIN_GAP,
                        f"follows a refused record of this batch; the chain stops at {head.seq}",
                    )
                )
                continue
            outcome = decide(checked, node=node, head=head, now_ms=now, registry=self.registry)
            if isinstance(outcome, Accepted):
                accepted.append(outcome.new)
                head = ChainHead(outcome.new.seq, outcome.new.record_hash, outcome.new.time_ms)
                skew = outcome.skew_ms
            elif isinstance(outcome, StoredSeq):
                stored = self.storage.get_record(node_id, outcome.new.seq)
                if stored is not None and stored.record == raw:
                    duplicates += 1
                    continue
                if stored is None:
                    # Within the batch (seq <= head but not yet stored): a fork inside one batch.
                    rejections.append(
                        Rejection(
                            i,
                            outcome.new.seq,
                            Reason.CHAIN_GAP,
                            f"seq {outcome.new.seq} repeats a seq of this batch",
                        )
                    )
                    broken = True
                    continue
                known = any(
                    e.seq == outcome.new.seq and e.conflicting_record == raw
                    for e in self.storage.list_equivocations(node_id)
                )
                kept = known
                if not known:  # a re-sent conflicting record is refused, not stored again
                    kept = self.storage.add_equivocation(
                        node_id=node_id,
                        seq=outcome.new.seq,
                        conflicting_record=raw,
                        detected_at_ms=now,
                        note=f"hub received a second record for seq {outcome.new.seq}",
                        keep_at_most=self.max_equivocations_kept,
                    ) is not None
                    equivocations += 1
                    dropped += not kept
                    log.warning("equivocation", extra={"node_id": node_id, "seq": outcome.new.seq})
                    if self.on_equivocation is not None:
                        self.on_equivocation(node_id, outcome.new.seq)
                rejections.append(
                    Rejection(
                        i,
                        outcome.new.seq,
                        Reason.EQUIVOCATION,
                        f"node {node_id} seq {outcome.new.seq}: a different record is stored "
                        f"(hash {stored.record_hash.hex()[:16]}…); "
                        + ("both kept as evidence" if kept else
                           f"{self.max_equivocations_kept} other versions of this seq are "
                           "already kept as evidence; this one is counted, not kept"),
                    )
                )
                broken = True
            else:
                rejections.append(Rejection(i, outcome.seq, outcome.reason, outcome.message))
                broken = True
        log_indexes: tuple[int, ...] = ()
        if accepted:
            try:
                result = self.storage.append_records(accepted, received_ms=self.clock_ms())
            except UnknownNodeError:
                return BatchResult(
                    0,
                    tuple(
                        Rejection(
                            i,
                            _seq_of(raw),
                            Reason.UNKNOWN_NODE,
                            f"node {node_id!r} is not enrolled",
                        )
                        for i, (raw, _) in enumerate(envelopes)
                    ),
                )
            log_indexes = result.log_indexes or ()
            durable = result.heads.get(node_id, head)
        return BatchResult(
            highest_contiguous_seq=durable.seq,
            rejections=tuple(rejections),
            stored=len(accepted),
            duplicates=duplicates,
            log_indexes=log_indexes,
            unknown_types=sum(1 for r in accepted if r.unknown_type),
            skew_ms=skew,
            equivocations=equivocations,
            equivocations_dropped=dropped,
        )


__all__ = [
    "Accepted",
    "BatchResult",
    "Ingest",
    "Outcome",
    "PendingVerification",
    "PoolVerifier",
    "Reason",
    "Refused",
    "Rejection",
    "StoredSeq",
    "check_envelope",
]
