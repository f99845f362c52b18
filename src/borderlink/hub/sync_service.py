"""The Sync service: one bidirectional stream per node (``sync.proto``).

Each stream has two threads: gRPC's handler thread, which writes every ``HubMessage`` from a
queue, and a reader that takes ``EdgeMessage``\\ s one at a time and verifies + stores each
batch (:class:`~borderlink.hub.ingest.Ingest`) before it reads the next. The reader not
reading is the back-pressure: HTTP/2 flow control stops the node once the transport buffers
are full, so at most one batch is being processed and a bounded amount is in flight.

Status codes closing a stream: ``FAILED_PRECONDITION`` (first message not Hello, or a second
Hello), ``PERMISSION_DENIED`` (Hello's node id is not the certificate's, or the caller is not
a node), ``NOT_FOUND`` (node not enrolled), ``RESOURCE_EXHAUSTED`` (a batch over
``max_batch_records``/``max_batch_bytes``; gRPC itself refuses messages over 4 MiB),
``DEADLINE_EXCEEDED`` (no Hello within ``hello_timeout_s``), ``ABORTED`` (a newer stream of the
same node replaced this one), ``UNAVAILABLE`` (the hub is shutting down: the last batch is
finished and acknowledged first).

Downlink: on connect, every item for the node (targets ``<node_id>``, ``site:<site>``, ``*``)
newer than the versions in Hello; while connected, items published through this process
(:class:`DownlinkBus`) at once, and items published by other replicas within
``downlink_poll_s``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import grpc

from borderlink.hub.auth import PeerAuth
from borderlink.hub.errors import StorageUnavailableError
from borderlink.hub.ingest import Ingest, PendingVerification
from borderlink.hub.metrics import HubMetrics
from borderlink.hub.storage import DownlinkAckRow, DownlinkItem, DownlinkKind, NodeRow, Storage
from borderlink.hub.stream_slots import StreamSlots
from borderlink.proto.identity import Role
from borderlink.proto.v1 import (
    HELLO_TIMEOUT_S,
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_IN_FLIGHT_BATCHES,
    sync_pb2,
    sync_pb2_grpc,
)

log = logging.getLogger("borderlink.hub.sync")

KIND_TO_PB = {
    DownlinkKind.WATCHLIST: sync_pb2.DOWNLINK_KIND_WATCHLIST,
    DownlinkKind.CONFIG: sync_pb2.DOWNLINK_KIND_CONFIG,
    DownlinkKind.FIRMWARE: sync_pb2.DOWNLINK_KIND_FIRMWARE,
}
PB_TO_KIND = {v: k for k, v in KIND_TO_PB.items()}


@dataclass(frozen=True)
class SyncLimits:
    """Limits of one Sync stream (the defaults are the contract's, ``borderlink.proto.v1``)."""

    max_batch_records: int = MAX_BATCH_RECORDS
    max_batch_bytes: int = MAX_BATCH_BYTES
    max_in_flight_batches: int = MAX_IN_FLIGHT_BATCHES
    #: A stream that sends no Hello within this many seconds is closed (DEADLINE_EXCEEDED).
    hello_timeout_s: float = HELLO_TIMEOUT_S
    #: How often a connected stream looks for downlink items other replicas stored (s).
    downlink_poll_s: float = 2.0
    #: Sync streams one node identity may hold open at once; more are refused
    #: RESOURCE_EXHAUSTED. A node needs one (a reconnect replaces its stream); the spare
    #: slots cover reconnects racing the old stream's end.
    max_streams_per_node: int = 4


#: The contract's limits.
DEFAULT_LIMITS = SyncLimits()


def downlink_targets(node: NodeRow) -> list[str]:
    return [node.node_id, f"site:{node.site}", "*"]


def downlink_pb(item: DownlinkItem) -> sync_pb2.Downlink:
    return sync_pb2.Downlink(
        kind=KIND_TO_PB[item.kind],
        version=item.version,
        signed_payload=item.signed_payload,
        target=item.target,
    )


class DownlinkBus:
    """In-process fan-out of newly published downlink items to the connected streams."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[int, Callable[[DownlinkItem], bool]] = {}
        self._next = 0

    def subscribe(self, deliver: Callable[[DownlinkItem], bool]) -> int:
        with self._lock:
            self._next += 1
            self._subs[self._next] = deliver
            return self._next

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._subs.pop(token, None)

    def publish(self, item: DownlinkItem) -> int:
        """Offer *item* to every stream; the number that took it (it was for them and new)."""
        with self._lock:
            subs = list(self._subs.values())
        return sum(1 for deliver in subs if deliver(item))


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_END = ("end",)


class _Session:
    """One open stream: its node, what downlink versions it holds, its outbound queue."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.node: NodeRow | None = None
        self.out: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.held: dict[DownlinkKind, int] = {}
        self.held_lock = threading.Lock()
        self.busy = threading.Lock()
        self.closed = threading.Event()
        #: The node's journal tip as far as the hub knows: Hello's, then the records received.
        self.journal_seq = 0

    def offer(self, item: DownlinkItem) -> bool:
        node = self.node
        if node is None or self.closed.is_set() or item.target not in downlink_targets(node):
            return False
        with self.held_lock:
            if item.version <= self.held.get(item.kind, 0):
                return False
            self.held[item.kind] = item.version
        self.out.put(("msg", sync_pb2.HubMessage(downlink=downlink_pb(item))))
        return True


class _Pipeline:
    """A stream's batches verified ahead (on the verifier's worker processes) while the
    batch before them is decided and stored, in order, by one thread per stream.

    The reader thread starts each batch's verification as it arrives and queues it; the
    queue holds at most ``max_in_flight_batches`` batches, so a node that runs ahead is held
    back by HTTP/2 flow control as before. Nothing is stored or acknowledged out of order:
    the processing thread decides and appends each batch only after the previous one (and
    re-verifies if the node's key changed meanwhile)."""

    _STOP = None

    def __init__(self, servicer: SyncServicer, session: _Session) -> None:
        self.servicer, self.session = servicer, session
        self.queue: queue.Queue[Any] = queue.Queue(
            maxsize=max(1, servicer.limits.max_in_flight_batches)
        )
        self.failed = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name=f"sync-store-{session.node_id}", daemon=True
        )
        self.thread.start()

    def put(self, batch: sync_pb2.RecordBatch, envelopes: list[tuple[bytes, list[bytes]]]) -> None:
        if self.failed.is_set():
            raise _Abort(grpc.StatusCode.ABORTED, "stream ended by an earlier error")
        pending = self.servicer.ingest.prefetch(self.session.node_id, envelopes)
        while True:
            try:
                self.queue.put((batch, envelopes, pending), timeout=0.5)
                return
            except queue.Full:
                if self.failed.is_set() or self.session.closed.is_set():
                    if pending is not None:
                        pending.cancel()
                    raise _Abort(grpc.StatusCode.ABORTED, "stream ended") from None

    def finish(self) -> bool:
        """Process what is queued, stop the thread; False if it ended the stream itself."""
        while self.thread.is_alive():
            try:
                self.queue.put(self._STOP, timeout=0.5)
                break
            except queue.Full:
                continue
        self.thread.join()
        return not self.failed.is_set()

    def _run(self) -> None:
        session, servicer = self.session, self.servicer
        try:
            while True:
                item = self.queue.get()
                if item is self._STOP:
                    return
                batch, envelopes, pending = item
                with session.busy:
                    if session.closed.is_set():
                        return
                    servicer._batch(session, batch, envelopes, pending)
        except StorageUnavailableError as exc:
            self.failed.set()
            log.error("storage unavailable", extra={"node_id": session.node_id, "error": str(exc)})
            session.out.put(
                ("abort", grpc.StatusCode.UNAVAILABLE, f"hub storage unavailable: {exc}")
            )
        except Exception as exc:  # a bug or the store failing: tell the node, keep the hub up
            self.failed.set()
            log.exception("sync stream failed", extra={"node_id": session.node_id})
            session.out.put(("abort", grpc.StatusCode.INTERNAL, f"hub error: {type(exc).__name__}"))
        finally:
            if self.failed.is_set() or session.closed.is_set():
                while True:  # unblock a reader waiting to queue, drop what is left
                    try:
                        left = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if left is not self._STOP and left[2] is not None:
                        left[2].cancel()


class SyncServicer(sync_pb2_grpc.SyncServicer):
    def __init__(
        self,
        storage: Storage,
        ingest: Ingest,
        auth: PeerAuth,
        *,
        metrics: HubMetrics | None = None,
        limits: SyncLimits = DEFAULT_LIMITS,
        bus: DownlinkBus | None = None,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.storage = storage
        self.ingest = ingest
        self.on_stored = on_stored
        self.auth = auth
        self.metrics = metrics or HubMetrics()
        self.limits = limits
        self.bus = bus or DownlinkBus()
        self.clock_ms = clock_ms
        self.slots = StreamSlots("Sync", limits.max_streams_per_node, self.metrics, who="node")
        self._sessions: dict[str, _Session] = {}
        self._sessions_lock = threading.Lock()
        self._shutting_down = threading.Event()

    # -- shutdown -------------------------------------------------------------------------

    def shutdown(self) -> None:
        """End every stream after its current batch (UNAVAILABLE: nodes go to another hub)."""
        self._shutting_down.set()
        with self._sessions_lock:
            sessions = list(self._sessions.values())
        for s in sessions:
            s.out.put(("shutdown",))

    # -- the stream -----------------------------------------------------------------------

    def Stream(
        self, request_iterator: Iterator[sync_pb2.EdgeMessage], context: grpc.ServicerContext
    ) -> Iterator[sync_pb2.HubMessage]:
        identity = self.auth.identify(context, [Role.NODE])
        with self.slots.hold(identity.name, context):
            yield from self._stream(identity.name, request_iterator, context)

    def _stream(
        self,
        node_id: str,
        request_iterator: Iterator[sync_pb2.EdgeMessage],
        context: grpc.ServicerContext,
    ) -> Iterator[sync_pb2.HubMessage]:
        if self._shutting_down.is_set():
            context.abort(grpc.StatusCode.UNAVAILABLE, "hub is shutting down")
        session = _Session(node_id)
        context.add_callback(lambda: session.out.put(_END))
        reader = threading.Thread(
            target=self._read,
            args=(session, request_iterator),
            name=f"sync-{node_id}",
            daemon=True,
        )
        token: int | None = None
        self.metrics.streams.inc()
        reader.start()
        try:
            try:
                first = session.out.get(timeout=self.limits.hello_timeout_s)
            except queue.Empty:
                self._refuse(
                    context,
                    session,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"no Hello within {self.limits.hello_timeout_s:g} s",
                )
                return
            token = self.bus.subscribe(session.offer)
            item: tuple[Any, ...] = first
            last_poll = time.monotonic()
            while True:
                kind = item[0]
                if kind == "msg":
                    yield item[1]
                elif kind == "abort":
                    self._refuse(context, session, item[1], item[2])
                    return
                elif kind == "shutdown":
                    yield from self._drain(session)
                    self._refuse(
                        context,
                        session,
                        grpc.StatusCode.UNAVAILABLE,
                        "hub is shutting down; reconnect to another hub",
                    )
                    return
                elif kind == "end":
                    return
                try:
                    item = session.out.get(timeout=self.limits.downlink_poll_s)
                except queue.Empty:
                    item = ("poll",)
                if time.monotonic() - last_poll >= self.limits.downlink_poll_s:
                    last_poll = time.monotonic()
                    self._poll_downlinks(session)
        finally:
            session.closed.set()
            if token is not None:
                self.bus.unsubscribe(token)
            with self._sessions_lock:
                if self._sessions.get(session.node_id) is session:
                    del self._sessions[session.node_id]
            self.metrics.streams.dec()

    def _drain(self, session: _Session) -> Iterator[sync_pb2.HubMessage]:
        """Wait for the batch being processed, then hand out the answers already queued."""
        with session.busy:
            session.closed.set()
        while True:
            try:
                item = session.out.get_nowait()
            except queue.Empty:
                return
            if item[0] == "msg":
                yield item[1]

    def _refuse(
        self, context: grpc.ServicerContext, session: _Session, code: grpc.StatusCode, msg: str
    ) -> None:
        session.closed.set()
        self.metrics.streams_refused.labels(code.name).inc()
        log.info(
            "sync stream closed",
            extra={"node_id": session.node_id, "code": code.name, "reason": msg},
        )
        context.abort(code, msg)

    # -- reader thread --------------------------------------------------------------------

    def _read(self, session: _Session, messages: Iterator[sync_pb2.EdgeMessage]) -> None:
        pipeline: _Pipeline | None = None
        try:
            hello_seen = False
            for msg in messages:
                if session.closed.is_set():
                    return
                which = msg.WhichOneof("msg")
                if not hello_seen:
                    if which != "hello":
                        raise _Abort(
                            grpc.StatusCode.FAILED_PRECONDITION,
                            f"the first message must be Hello, got {which or 'an empty message'}",
                        )
                    self._hello(session, msg.hello)
                    hello_seen = True
                elif which == "batch":
                    if pipeline is None and getattr(self.ingest.verifier, "submit", None):
                        pipeline = _Pipeline(self, session)
                    if pipeline is not None:
                        envelopes = self._check_batch(msg.batch)
                        pipeline.put(msg.batch, envelopes)
                        continue
                    with session.busy:
                        if session.closed.is_set():
                            return
                        self._batch(session, msg.batch)
                elif which == "downlink_ack":
                    self._downlink_ack(session, msg.downlink_ack)
                elif which == "hello":
                    raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, "Hello sent twice")
                else:
                    raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "empty EdgeMessage")
            if pipeline is not None and not pipeline.finish():
                return  # the pipeline already ended the stream (its error is queued)
            session.out.put(_END)
        except _Abort as exc:
            if pipeline is not None and not pipeline.finish():
                return
            session.out.put(("abort", exc.code, exc.message))
        except grpc.RpcError:
            session.out.put(_END)  # the client went away or the RPC was cancelled
        except StorageUnavailableError as exc:  # the node should try another hub
            log.error("storage unavailable", extra={"node_id": session.node_id, "error": str(exc)})
            session.out.put(
                ("abort", grpc.StatusCode.UNAVAILABLE, f"hub storage unavailable: {exc}")
            )
        except Exception as exc:  # a bug or the store failing: tell the node, keep the hub up
            log.exception("sync stream failed", extra={"node_id": session.node_id})
            session.out.put(("abort", grpc.StatusCode.INTERNAL, f"hub error: {type(exc).__name__}"))
        finally:
            if pipeline is not None:
                pipeline.finish()

    def _hello(self, session: _Session, hello: sync_pb2.Hello) -> None:
        if hello.node_id != session.node_id:
            raise _Abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"Hello names node {hello.node_id!r}, the client certificate is node "
                f"{session.node_id!r}",
            )
        node = self.storage.get_node(session.node_id)
        if node is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"node {session.node_id!r} is not enrolled")
        now = self.clock_ms()
        skew = hello.node_time_unix_ms - now if hello.node_time_unix_ms else None
        self.storage.observe_node(
            node.node_id, seen_ms=now, clock_skew_ms=skew, reported_seq=hello.last_journal_seq
        )
        session.node = node
        with session.held_lock:
            for v in hello.downlink_versions:
                kind = PB_TO_KIND.get(v.kind)
                if kind is not None:
                    session.held[kind] = max(session.held.get(kind, 0), v.version)
        with self._sessions_lock:
            old = self._sessions.get(node.node_id)
            self._sessions[node.node_id] = session
        if old is not None:
            old.out.put(
                ("abort", grpc.StatusCode.ABORTED, "replaced by a newer stream of this node")
            )
        session.out.put(
            (
                "msg",
                sync_pb2.HubMessage(
                    resume=sync_pb2.Resume(
                        next_seq=node.last_seq + 1,
                        hub_time_unix_ms=now,
                        last_hash=node.last_hash,
                        max_batch_records=self.limits.max_batch_records,
                        max_batch_bytes=self.limits.max_batch_bytes,
                        max_in_flight_batches=self.limits.max_in_flight_batches,
                    )
                ),
            )
        )
        m = self.metrics
        m.node_last_seq.labels(node.node_id).set(node.last_seq)
        session.journal_seq = hello.last_journal_seq
        m.node_backlog.labels(node.node_id).set(max(0, hello.last_journal_seq - node.last_seq))
        if skew is not None:
            m.node_skew.labels(node.node_id).set(skew / 1000)
        log.info(
            "sync hello",
            extra={
                "node_id": node.node_id,
                "journal_seq": hello.last_journal_seq,
                "next_seq": node.last_seq + 1,
                "clock_skew_ms": skew,
                "agent_version": hello.agent_version,
            },
        )
        self._poll_downlinks(session)

    def _poll_downlinks(self, session: _Session) -> None:
        node = session.node
        if node is None or session.closed.is_set():
            return
        items = self.storage.latest_downlinks(downlink_targets(node))
        for item in sorted(items, key=lambda i: (i.kind.value, i.version)):
            session.offer(item)

    def _check_batch(self, batch: sync_pb2.RecordBatch) -> list[tuple[bytes, list[bytes]]]:
        """The batch's envelopes after its size limits (``_Abort`` when over one)."""
        n = len(batch.envelopes)
        if n > self.limits.max_batch_records:
            raise _Abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"batch {batch.batch_id} holds {n} records, over the limit of "
                f"{self.limits.max_batch_records}",
            )
        size = sum(len(e.record) + sum(len(d) for d in e.disclosures) for e in batch.envelopes)
        if size > self.limits.max_batch_bytes:
            raise _Abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"batch {batch.batch_id} is {size} bytes, over the limit of "
                f"{self.limits.max_batch_bytes}",
            )
        return [(e.record, list(e.disclosures)) for e in batch.envelopes]

    def _batch(
        self,
        session: _Session,
        batch: sync_pb2.RecordBatch,
        envelopes: list[tuple[bytes, list[bytes]]] | None = None,
        pending: PendingVerification | None = None,
    ) -> None:
        if envelopes is None:
            envelopes = self._check_batch(batch)
        started = time.perf_counter()
        result = self.ingest.ingest(session.node_id, envelopes, pending=pending)
        m = self.metrics
        m.batch_seconds.observe(time.perf_counter() - started)
        m.stored.inc(result.stored)
        m.duplicates.inc(result.duplicates)
        m.unknown_types.inc(result.unknown_types)
        m.equivocations.inc(result.equivocations)
        m.equivocations_dropped.inc(result.equivocations_dropped)
        for rej in result.rejections:
            m.refused.labels(rej.reason.name).inc()
            session.out.put(
                (
                    "msg",
                    sync_pb2.HubMessage(
                        reject=sync_pb2.Reject(
                            batch_id=batch.batch_id,
                            index_in_batch=rej.index_in_batch,
                            seq=rej.seq,
                            reason=cast(sync_pb2.RejectReason, int(rej.reason)),
                            message=rej.message,
                        )
                    ),
                )
            )
        if result.rejections:
            first = result.rejections[0]
            log.warning(
                "records refused",
                extra={
                    "node_id": session.node_id,
                    "batch_id": batch.batch_id,
                    "count": len(result.rejections),
                    "reason": first.reason.name,
                    "detail": first.message,
                },
            )
        session.out.put(
            (
                "msg",
                sync_pb2.HubMessage(
                    ack=sync_pb2.Ack(
                        batch_id=batch.batch_id,
                        highest_contiguous_seq=result.highest_contiguous_seq,
                    )
                ),
            )
        )
        m.node_last_seq.labels(session.node_id).set(result.highest_contiguous_seq)
        # The backlog follows the acknowledgements (not frozen at Hello's figure): records
        # the node has journalled, as far as the hub knows, minus what is stored.
        acked = result.highest_contiguous_seq
        session.journal_seq = max(session.journal_seq, acked)
        m.node_backlog.labels(session.node_id).set(max(0, session.journal_seq - acked))
        if result.stored and self.on_stored is not None:
            self.on_stored()
        if result.skew_ms is not None:
            m.node_lag.labels(session.node_id).set(-result.skew_ms / 1000)

    def _downlink_ack(self, session: _Session, ack: sync_pb2.DownlinkAck) -> None:
        kind = PB_TO_KIND.get(ack.kind)
        name = kind.value if kind else str(ack.kind)
        self.metrics.downlink_acks.labels(name, str(ack.applied).lower()).inc()
        log.info(
            "downlink ack",
            extra={
                "node_id": session.node_id,
                "kind": name,
                "version": ack.version,
                "applied": ack.applied,
                "detail": ack.message,
            },
        )
        now = self.clock_ms()
        if kind is not None:  # kept for operators (Admin ListNodes, `hub nodes`)
            self.storage.add_downlink_ack(
                DownlinkAckRow(session.node_id, kind, ack.version, ack.applied, ack.message, now)
            )
        self.storage.observe_node(session.node_id, seen_ms=now)


__all__ = ["DownlinkBus", "SyncLimits", "SyncServicer", "downlink_pb", "downlink_targets"]
