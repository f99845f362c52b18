"""The uplink: store-and-forward of the journal to the hub over one gRPC stream (mutual TLS).

Protocol (``proto/v1/sync.proto``): the node sends ``Hello``; the hub answers ``Resume`` with
the next sequence number it expects, its clock and its limits; the node streams
``RecordBatch``es from the journal starting there, at most ``max_in_flight_batches``
unacknowledged; the hub ``Ack``s the highest contiguous sequence number it durably stored
(the node marks those records acknowledged, which lets the journal evict them) and may push
``Downlink`` items at any time, each answered with a ``DownlinkAck``.

* **Batches** close at ``max_batch_records`` / ``max_batch_bytes`` (the smaller of ours and the
  hub's) or after waiting ``linger_ms`` for more records when fewer than a batch wait.
* **Catch-up** reads the journal in pages of one batch: memory holds at most the in-flight
  window, whatever the backlog (days offline, a million records).
* **Resume** is always from the hub's word (``Resume.next_seq``), never from what the node
  believes it sent; the hub's ``last_hash`` is checked against the journal (a mismatch is a
  fork: the node stops sending and says so).
* **Failover and back-off**: hub addresses are tried in turn; after a failure the next attempt
  waits ``min(retry_max_s, retry_initial_s * 2**n)`` scaled by a random factor in [0.5, 1]
  (jitter), reset once a stream got a ``Resume``.
* **Clock**: on each connect the node's clock is compared with ``Resume.hub_time_unix_ms``
  (taking the midpoint of the Hello/Resume round trip); beyond ``clock_skew_threshold_ms`` a
  ``node.clock_skew`` record is made. Timestamps are never rewritten; the records' clock
  quality says ``HUB`` only while the last check was within the threshold.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import grpc

from borderlink.proto.record import ClockQuality, record_hash
from borderlink.proto.v1 import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_MESSAGE_BYTES,
    common_pb2,
    sync_pb2,
    sync_pb2_grpc,
)

from .downlink import KIND_NUMBERS, KINDS, DownlinkItem, DownlinkStore, DownlinkVerifier
from .errors import DownlinkError, UplinkError
from .journal import Journal
from .metrics import EdgeMetrics
from .node_clock import NodeClock
from .recorder import Recorder

__all__ = ["TlsMaterial", "Uplink", "UplinkConfig", "backoff_delay"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TlsMaterial:
    """PEM bytes of the node's TLS identity (from provisioning) and the CA it trusts."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class UplinkConfig:
    addresses: tuple[str, ...]  # "host:port", tried in turn
    max_batch_records: int = MAX_BATCH_RECORDS
    max_batch_bytes: int = MAX_BATCH_BYTES
    linger_ms: int = 50  # a batch waits at most this long for more records
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0
    connect_timeout_s: float = 5.0
    clock_skew_threshold_ms: int = 2000
    tls_server_name: str | None = None  # override of the name checked in the hub's certificate
    agent_version: str = ""


def backoff_delay(attempt: int, initial_s: float, max_s: float,
                  rng: random.Random | None = None) -> float:
    """Exponential back-off with jitter: ``min(max, initial * 2**attempt) * U(0.5, 1)``."""
    base = min(max_s, initial_s * (2 ** min(attempt, 30)))
    return base * (rng or random).uniform(0.5, 1.0)


class _Session:
    """One stream's shared state between the receiving and the sending thread."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.out: queue.Queue[sync_pb2.EdgeMessage | None] = queue.Queue()
        self.resume: sync_pb2.Resume | None = None
        self.cursor = 0
        self.in_flight: dict[int, int] = {}  # batch id -> last seq in it
        self.alive = True
        self.send_ok = True
        self.error: str = ""

    def requests(self, hello: sync_pb2.EdgeMessage) -> Iterator[sync_pb2.EdgeMessage]:
        yield hello
        while True:
            item = self.out.get()
            if item is None:
                return
            yield item


class Uplink:
    """Runs the stream in a background thread: :meth:`start`, :meth:`stop`, :meth:`notify`."""

    def __init__(self, config: UplinkConfig, tls: TlsMaterial, journal: Journal, *,
                 node_id: str, recorder: Recorder | None = None,
                 verifier: DownlinkVerifier | None = None, store: DownlinkStore | None = None,
                 metrics: EdgeMetrics | None = None, rng: random.Random | None = None,
                 node_clock: NodeClock | None = None) -> None:
        if not config.addresses:
            raise ValueError("the uplink needs at least one hub address")
        self.config = config
        self.tls = tls
        self.journal = journal
        self.node_id = node_id
        self.recorder = recorder
        self.verifier = verifier
        self.store = store
        self.metrics = metrics or EdgeMetrics()
        self.rng = rng or random.Random()
        #: Told the hub's time at each Resume (it settles a held jump of the node's clock).
        self.node_clock = node_clock
        self.state = "idle"  # idle, connecting, up, backoff, stopped
        self.hub_address = ""
        self.clock_skew_ms: int | None = None
        self.last_error = ""
        self.connects = 0
        self.records_sent = 0
        self.rejects = 0
        #: Called with each verified item before it is applied; returns what to run once it
        #: is applied (or None); raising DownlinkError refuses the item.
        self.on_downlink: Callable[[DownlinkItem], Callable[[], None] | None] | None = None
        self.downlinks_applied = 0
        self.downlinks_refused = 0
        self._skew_recorded: int | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._session: _Session | None = None
        self._call: Any = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        session, call = self._session, self._call
        if session is not None:
            self._end(session, "stopping")
        if call is not None:
            call.cancel()
        if self._thread is not None:
            self._thread.join(timeout)
        self.state = "stopped"
        self.metrics.link_up.set(0)

    def notify(self, *_: Any) -> None:
        """New durable records exist (a recorder listener): wake the sender."""
        session = self._session
        if session is not None:
            with session.cond:
                session.cond.notify_all()

    def clock_quality(self) -> int:
        skew = self.clock_skew_ms
        if skew is not None and abs(skew) <= self.config.clock_skew_threshold_ms:
            return ClockQuality.HUB
        return ClockQuality.UNSYNCHRONISED

    def status(self) -> dict[str, Any]:
        return {"state": self.state, "hub": self.hub_address, "clock_skew_ms": self.clock_skew_ms,
                "last_acked_seq": self.journal.last_acked_seq, "last_error": self.last_error,
                "connects": self.connects, "records_sent": self.records_sent,
                "rejects": self.rejects}

    # -- connection loop ------------------------------------------------------------------

    def _credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.tls.ca_pem,
                                            private_key=self.tls.key_pem,
                                            certificate_chain=self.tls.cert_pem)

    def _run(self) -> None:
        attempt = 0
        index = 0
        addresses = self.config.addresses
        while not self._stop.is_set():
            address = addresses[index % len(addresses)]
            self.state = "connecting"
            self.hub_address = address
            resumed = False
            try:
                resumed = self._session_at(address)
            except Exception as exc:  # any failure: count, back off, try the next hub
                self.last_error = f"{address}: {exc}"
                self._log_failure(address, exc)
            self.metrics.link_up.set(0)
            if self._stop.is_set():
                break
            if resumed:
                attempt = 0
            index += 1
            self.state = "backoff"
            delay = backoff_delay(attempt, self.config.retry_initial_s, self.config.retry_max_s,
                                  self.rng)
            attempt += 1
            self._stop.wait(delay)
        self.state = "stopped"

    def _log_failure(self, address: str, exc: Exception) -> None:
        """A connection failure is probed, so a TLS refusal ("the hub refused
        this certificate", "this side does not trust the hub's") is logged as such and not
        like a hub that is down."""
        if "UNAVAILABLE" not in str(exc) and "no connection" not in str(exc):
            log.warning("uplink to %s failed: %s", address, exc)
            return
        from borderlink.common.tls import TlsFiles, probe_tls

        finding = probe_tls(address, TlsFiles(self.tls.cert_pem, self.tls.key_pem,
                                              self.tls.ca_pem),
                            server_name=self.config.tls_server_name, timeout_s=2.0)
        if "TLS" in finding and "succeeded" not in finding or "trust" in finding:
            self.last_error = f"{address}: TLS: {finding}"
            log.error("uplink to %s failed: TLS: %s", address, finding,
                      extra={"event": "tls_refused", "hub": address})
        else:
            log.warning("uplink to %s failed: %s (hub down: %s)", address, exc, finding)

    def _session_at(self, address: str) -> bool:
        """One stream to one hub; returns whether it got as far as a Resume."""
        options: list[tuple[str, Any]] = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.keepalive_time_ms", 20000), ("grpc.keepalive_timeout_ms", 10000),
                   # A half-open line (bytes dropped, no reset) is noticed by an unanswered
                   # ping: gRPC (1.6x on) waits grpc.http2.ping_timeout_ms for the answer,
                   # 60 s by default, not keepalive_timeout_ms; and on a stream with nothing
                   # to send (an idle lab node) its defaults stop after 2 pings without data
                   # and space them 5 minutes apart. The hub accepts a ping every 5 s.
                   ("grpc.http2.ping_timeout_ms", 10000),
                   ("grpc.http2.max_pings_without_data", 0),
                   ("grpc.http2.min_time_between_pings_ms", 10000)]
        if self.config.tls_server_name:
            options.append(("grpc.ssl_target_name_override", self.config.tls_server_name))
        with grpc.secure_channel(address, self._credentials(), options=options) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=self.config.connect_timeout_s)
            except grpc.FutureTimeoutError as exc:
                raise UplinkError(f"no connection within {self.config.connect_timeout_s} s") \
                    from exc
            stub = sync_pb2_grpc.SyncStub(channel)
            session = _Session()
            self._session = session
            versions = self.store.versions() if self.store is not None else {}
            hello_sent = time.time()
            hello = sync_pb2.EdgeMessage(hello=sync_pb2.Hello(
                node_id=self.node_id, last_journal_seq=self.journal.tip[0],
                node_time_unix_ms=int(hello_sent * 1000),
                agent_version=self.config.agent_version,
                downlink_versions=[sync_pb2.DownlinkVersion(kind=_kind_pb(KIND_NUMBERS[k]), version=v)
                                   for k, v in sorted(versions.items())]))
            call = stub.Stream(session.requests(hello))
            self._call = call
            sender = threading.Thread(target=self._send_loop, args=(session,),
                                      name="uplink-sender", daemon=True)
            try:
                for msg in call:
                    which = msg.WhichOneof("msg")
                    if which == "resume":
                        self._on_resume(session, msg.resume, hello_sent, time.time(), address)
                        sender.start()
                    elif which == "ack":
                        self._on_ack(session, msg.ack)
                    elif which == "reject":
                        self._on_reject(session, msg.reject)
                    elif which == "downlink":
                        self._on_downlink(session, msg.downlink)
                    if self._stop.is_set():
                        break
            except grpc.RpcError as exc:
                if not self._stop.is_set():
                    raise UplinkError(f"stream broken: {exc.code().name}: {exc.details()}") \
                        from exc
            finally:
                self._end(session, "stream ended")
                call.cancel()
                if sender.is_alive():
                    sender.join(2.0)
                self._session = None
                self._call = None
            if session.error:
                raise UplinkError(session.error)
            return session.resume is not None

    def _end(self, session: _Session, why: str) -> None:
        with session.cond:
            if session.alive:
                session.alive = False
                session.out.put(None)
            session.cond.notify_all()

    # -- hub messages ---------------------------------------------------------------------

    def _on_resume(self, session: _Session, resume: sync_pb2.Resume, sent: float,
                   received: float, address: str) -> None:
        self.connects += 1
        skew = round((sent + received) / 2 * 1000) - resume.hub_time_unix_ms
        if self.node_clock is not None and resume.hub_time_unix_ms:
            trip = min(max(received - sent, 0.0), 10.0)  # a jump between the two: no trip
            self.node_clock.observe_hub(resume.hub_time_unix_ms / 1000 + trip / 2)
        self._check_clock(skew, address)
        next_seq = max(1, resume.next_seq)
        tip = self.journal.tip[0]
        if next_seq - 1 > tip:
            session.send_ok = False
            session.error = (f"the hub holds records up to {next_seq - 1}, past this node's "
                             f"journal tip {tip}: the journal was lost or replaced")
            log.error("uplink: %s", session.error)
        elif next_seq > 1:
            held = self.journal.read_from(next_seq - 1, max_records=1)
            if held and held[0].seq == next_seq - 1 and resume.last_hash and \
                    record_hash(held[0].raw) != resume.last_hash:
                session.send_ok = False
                session.error = (f"the hub's record {next_seq - 1} differs from this node's "
                                 "(a fork): not sending")
                log.error("uplink: %s", session.error)
            else:
                self.journal.mark_acked(next_seq - 1)
                self.metrics.acked_seq.set(next_seq - 1)
        if session.send_ok and next_seq <= tip:
            first = self.journal.read_from(next_seq, max_records=1)
            if not first or first[0].seq != next_seq:
                session.send_ok = False
                session.error = (f"the hub expects record {next_seq}, which this journal no "
                                 "longer holds")
                log.error("uplink: %s", session.error)
        with session.cond:
            session.resume = resume
            session.cursor = next_seq
            session.cond.notify_all()
        self.state = "up"
        self.metrics.link_up.set(1)
        log.info("uplink up to %s: hub expects %d, journal tip %d, clock skew %d ms",
                 address, next_seq, tip, skew)

    def _check_clock(self, skew: int, address: str) -> None:
        self.clock_skew_ms = skew
        self.metrics.clock_skew_seconds.set(skew / 1000)
        threshold = self.config.clock_skew_threshold_ms
        if abs(skew) <= threshold:
            self._skew_recorded = None
            return
        last = self._skew_recorded
        if last is not None and abs(skew - last) <= threshold / 2:
            return  # the same skew as already recorded
        self._skew_recorded = skew
        log.warning("node clock differs from the hub's by %d ms", skew)
        if self.recorder is not None:
            self.recorder.record_event("node.clock_skew", {
                "skew_ms": skew, "reference": f"hub {address}", "threshold_ms": threshold})

    def _on_ack(self, session: _Session, ack: sync_pb2.Ack) -> None:
        highest = ack.highest_contiguous_seq
        self.journal.mark_acked(highest)
        self.metrics.acked_seq.set(highest)
        with session.cond:
            for batch_id in [b for b, last in session.in_flight.items() if last <= highest]:
                del session.in_flight[batch_id]
            session.in_flight.pop(ack.batch_id, None)
            session.cond.notify_all()

    def _on_reject(self, session: _Session, reject: sync_pb2.Reject) -> None:
        self.rejects += 1
        reason = sync_pb2.RejectReason.Name(reject.reason)
        session.error = (f"hub refused record {reject.seq} (batch {reject.batch_id}): "
                         f"{reason}: {reject.message}")
        log.error("uplink: %s", session.error)
        self._end(session, "reject")

    def _on_downlink(self, session: _Session, item: sync_pb2.Downlink) -> None:
        kind = KINDS.get(item.kind, "")
        applied, message = False, ""
        if not kind:
            message = f"unknown downlink kind {item.kind}"
        elif self.verifier is None or self.store is None:
            message = "this node applies no downlink items"
        else:
            try:
                verified = self.verifier.verify(kind, item.version, item.signed_payload,
                                                item.target, self.store.held_version(kind))
                swap = self.on_downlink(verified) if self.on_downlink is not None else None
                self.store.apply(verified)
                if swap is not None:
                    swap()
                applied, message = True, "applied"
                self.downlinks_applied += 1
                if self.recorder is not None:
                    self.recorder.record_event("node.downlink_applied", {
                        "kind": kind, "version": verified.version, "issuer": verified.issuer,
                        "sha256": verified.sha256})
                log.info("downlink %s v%d from %s applied", kind, item.version, verified.issuer)
            except DownlinkError as exc:
                message = str(exc)
        if not applied:
            self.downlinks_refused += 1
            log.warning("downlink %s v%d not applied: %s", kind or item.kind, item.version,
                        message)
        if session.alive:
            session.out.put(sync_pb2.EdgeMessage(downlink_ack=sync_pb2.DownlinkAck(
                kind=item.kind, version=item.version, applied=applied, message=message[:500])))

    # -- sending ----------------------------------------------------------------------------

    def _send_loop(self, session: _Session) -> None:
        try:
            self._send(session)
        except Exception as exc:
            log.exception("uplink sender failed")
            session.error = f"sender failed: {exc}"
            self._end(session, "sender failed")

    def _send(self, session: _Session) -> None:
        resume = session.resume
        assert resume is not None
        max_records = min(self.config.max_batch_records, resume.max_batch_records or
                          MAX_BATCH_RECORDS)
        max_bytes = min(self.config.max_batch_bytes, resume.max_batch_bytes or MAX_BATCH_BYTES)
        window = max(1, resume.max_in_flight_batches or 1)
        linger = self.config.linger_ms / 1000
        batch_id = 0
        while True:
            with session.cond:
                while session.alive and session.send_ok and (
                        len(session.in_flight) >= window
                        or self.journal.tip[0] < session.cursor):
                    session.cond.wait(1.0)
                if not session.alive or not session.send_ok:
                    return
                cursor = session.cursor
            if self.journal.tip[0] - cursor + 1 < max_records and linger > 0:
                self._stop.wait(linger)  # not a full batch yet: let more records gather
            page = self.journal.read_from(cursor, max_records=max_records, max_bytes=max_bytes)
            if not page:
                return
            if page[0].seq != cursor:
                session.error = f"journal no longer holds record {cursor}"
                self._end(session, "gap")
                return
            batch_id += 1
            batch = sync_pb2.RecordBatch(batch_id=batch_id, envelopes=[
                common_pb2.Envelope(record=r.raw, disclosures=list(r.disclosures))
                for r in page])
            with session.cond:
                if not session.alive:
                    return
                session.in_flight[batch_id] = page[-1].seq
                session.cursor = page[-1].seq + 1
                session.out.put(sync_pb2.EdgeMessage(batch=batch))
            self.records_sent += len(page)
            self.metrics.records_sent.inc(len(page))


def _kind_pb(number: int) -> sync_pb2.DownlinkKind:
    """A DownlinkKind enum value from its number (the generated stubs type enum fields by their
    enum class; at run time both are ints)."""
    return cast(sync_pb2.DownlinkKind, number)
