"""The device runner: one thread reads the device, another decides and records.

::

    transport.read -> framer.feed -> frames --(bounded queue)--> decoder -> processor -> recorder
       reader thread                                                 processor thread

The reader never waits for the processor: when the queue is full the frame is dropped and
counted (``overload``), and the processor thread records a ``node.device_fault`` of kind
``overload`` with the count — a burst never loses frames silently, and a slow disk, broker or
hub never delays reading. The processor thread never waits for the network either: recording
is a local fsync, publishing and sending are hand-offs to other threads.

Faults (garbage, bad checksums, undecodable frames, disconnects, reconnects, half-written
files, overload) are counted in :class:`DeviceHealth` by whichever thread sees them and
recorded by the processor thread as one ``node.device_fault`` per kind and interval. A file
the folder driver quarantined (bad or oversized input) is recorded once, on its own, as a
fault of kind ``quarantined`` naming the file, where it was kept and why. After a
disconnect the transport is reconnected every ``reconnect_s`` with a fresh framer (bytes of a
frame cut by the unplug are discarded, never glued to the next frame).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from borderlink.hardware_profiles.errors import FrameDecodeError

from .drivers import Transport
from .errors import DeviceDisconnectedError, JournalFullError
from .metrics import EdgeMetrics
from .processors.base import Decision, Processor
from .recorder import Recorded, Recorder

__all__ = ["FAULT_KINDS", "DeviceHealth", "DeviceRunner"]

log = logging.getLogger(__name__)

FAULT_KINDS = ("garbage", "checksum", "disconnect", "reconnect", "partial_file", "overload",
               "quarantined", "other")


@dataclass
class DeviceHealth:
    """Counters of one device link (ints, updated under the GIL) and its state."""

    state: str = "starting"  # starting, connected, disconnected, stopped
    frames: int = 0
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))
    last_frame_at: float | None = None  # wall clock
    last_error: str = ""

    def count(self, kind: str, n: int = 1) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "frames": self.frames, "faults": dict(self.faults),
                "last_frame_at": self.last_frame_at, "last_error": self.last_error}


#: Decisions held in memory while the journal's disk is full; past it the oldest that raised no
#: alert are dropped (counted), alarms never.
MAX_HELD_DECISIONS = 50_000


class DeviceRunner:
    """Runs one device: reader thread + processor thread. :meth:`start`, :meth:`stop`."""

    def __init__(self, transport: Transport, *, framer_factory: Callable[[], Any] | None,
                 decoder: Any, processor: Processor, recorder: Recorder,
                 metrics: EdgeMetrics | None = None, queue_frames: int = 1024,
                 reconnect_s: float = 1.0, tick_s: float = 0.2, fault_report_s: float = 1.0,
                 max_batch_frames: int = 64) -> None:
        self.transport = transport
        self.framer_factory = framer_factory
        self.decoder = decoder
        self.processor = processor
        self.recorder = recorder
        self.metrics = metrics or EdgeMetrics()
        self.queue: queue.Queue[tuple[float, bytes]] = queue.Queue(maxsize=queue_frames)
        self.reconnect_s = reconnect_s
        self.tick_s = tick_s
        self.fault_report_s = fault_report_s
        self.max_batch_frames = max_batch_frames
        self.health = DeviceHealth()
        self._reported = dict.fromkeys(FAULT_KINDS, 0)
        # Quarantined files, handed from the reader thread to the processor thread (which
        # records one fault per file); a deque's append and popleft are thread-safe.
        self._quarantined: collections.deque[Any] = collections.deque()
        self._framer_seen = {"garbage": 0, "checksum": 0, "other": 0}
        # The device's clock as last seen: (device time of a reading, monotonic time we saw it).
        # Processors judge time by the device's clock, never by ours (DESIGN: no rewriting of
        # device time); ticks carry the device clock extrapolated from the last reading.
        self._device_clock: tuple[float, float] | None = None
        self._framer: Any = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.on_recorded: Callable[[float, list[Recorded]], None] | None = None
        #: Decisions made while the journal's disk was full, in order, with their frame time.
        self._held: list[tuple[float, Decision]] = []
        self.held_dropped = 0

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._read_loop, name="device-reader", daemon=True),
            threading.Thread(target=self._process_loop, name="device-processor", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self.transport.close()
        self.health.state = "stopped"

    # -- reader thread --------------------------------------------------------------------

    def _read_loop(self) -> None:
        connected_once = False
        while not self._stop.is_set():
            try:
                self.transport.connect()
            except DeviceDisconnectedError as exc:
                self.health.state = "disconnected"
                self.health.last_error = str(exc)
                self.metrics.device_connected.set(0)
                self._stop.wait(self.reconnect_s)
                continue
            if connected_once:
                self.health.count("reconnect")
                log.info("device reconnected: %s", self.transport.url)
            connected_once = True
            self.health.state = "connected"
            self.metrics.device_connected.set(1)
            self._new_framer()
            try:
                self._read_connected()
            except DeviceDisconnectedError as exc:
                if self._stop.is_set():
                    break
                self.health.count("disconnect")
                self.health.state = "disconnected"
                self.health.last_error = str(exc)
                self.metrics.device_connected.set(0)
                log.warning("device disconnected: %s", exc)
                self._stop.wait(self.reconnect_s)
            except Exception as exc:  # never crash the reader; count, back off, reconnect
                log.exception("device reader failed")
                self.health.count("other")
                self.health.last_error = repr(exc)
                self.transport.close()
                self._stop.wait(self.reconnect_s)

    def _new_framer(self) -> None:
        if self.framer_factory is None:
            self._framer = None
            return
        old = self._framer
        self._framer = self.framer_factory()
        if old is not None:  # keep counting across reconnects
            self._fold_framer_stats(old)

    def _fold_framer_stats(self, framer: Any) -> None:
        s = framer.stats
        self._framer_seen["garbage"] += s.resyncs
        self._framer_seen["checksum"] += s.bad_checksum
        self._framer_seen["other"] += s.oversize

    def _read_connected(self) -> None:
        transport, q, health, metrics = self.transport, self.queue, self.health, self.metrics
        while not self._stop.is_set():
            chunks = transport.read(0.2)
            partial = getattr(transport, "partial_files", None)
            if partial is not None:
                health.faults["partial_file"] = partial
            take_quarantined = getattr(transport, "take_quarantined", None)
            if take_quarantined is not None:
                self._quarantined.extend(take_quarantined())
            if not chunks:
                continue
            now = time.monotonic()
            framer = self._framer
            frames: list[bytes] = []
            for chunk in chunks:
                frames.extend(framer.feed(chunk) if framer is not None else (chunk,))
            if framer is not None:
                s = framer.stats
                health.faults["garbage"] = self._framer_seen["garbage"] + s.resyncs
                health.faults["checksum"] = self._framer_seen["checksum"] + s.bad_checksum
                health.faults["other"] = self._framer_seen["other"] + s.oversize
            for frame in frames:
                try:
                    q.put_nowait((now, frame))
                except queue.Full:
                    health.count("overload")
                    metrics.frames_dropped.inc()
            if frames:
                health.frames += len(frames)
                health.last_frame_at = time.time()
                metrics.frames.inc(len(frames))

    # -- processor thread -----------------------------------------------------------------

    def _process_loop(self) -> None:
        next_tick = time.monotonic() + self.tick_s
        next_faults = time.monotonic() + self.fault_report_s
        while True:
            stopping = self._stop.is_set()
            batch: list[tuple[float, bytes]] = []
            try:
                batch.append(self.queue.get(timeout=max(0.0, min(next_tick, next_faults)
                                                        - time.monotonic())))
                while len(batch) < self.max_batch_frames:
                    batch.append(self.queue.get_nowait())
            except queue.Empty:
                pass
            try:
                if self._held:
                    self._flush_held()
                if batch:
                    self._process(batch)
                now = time.monotonic()
                if now >= next_tick:
                    next_tick = now + self.tick_s
                    decisions = self.processor.tick(self.device_now())
                    if decisions:
                        self._record(now, decisions)
                if now >= next_faults or stopping:
                    next_faults = now + self.fault_report_s
                    self._report_faults()
            except Exception:  # a bad frame or processor bug never kills the agent
                log.exception("processing failed")
                self.health.count("other")
            self.metrics.queue_depth.set(self.queue.qsize())
            if stopping and self.queue.empty():
                return

    def _process(self, batch: list[tuple[float, bytes]]) -> None:
        decisions: list[Decision] = []
        for _, frame in batch:
            try:
                readings = self.decoder.decode(frame)
            except FrameDecodeError as exc:
                self.health.count("garbage")
                self.health.last_error = str(exc)
                continue
            for reading in readings:
                t = getattr(reading, "t", None)
                if isinstance(t, (int, float)):
                    self._device_clock = (float(t), time.monotonic())
                decisions.extend(self.processor.feed(reading))
        if decisions:
            self._record(batch[0][0], decisions)

    def device_now(self) -> float:
        """The device's clock now: the last reading's time plus what has elapsed since.

        Before the first reading there is no device clock; the node's own clock stands in.
        """
        if self._device_clock is None:
            return time.time()
        device_t, seen_at = self._device_clock
        return device_t + (time.monotonic() - seen_at)

    def _record(self, received_at: float, decisions: list[Decision]) -> None:
        if self._held:  # behind decisions still waiting for space: keep the order
            self._hold(received_at, decisions)
            self._flush_held()
            return
        try:
            done = self.recorder.record_many(decisions)
        except JournalFullError as exc:
            log.warning("journal disk full: holding decisions until space returns (%s)", exc)
            self.health.count("storage_full")
            self._hold(received_at, decisions)
            return
        self._observe(received_at, done)

    def _hold(self, received_at: float, decisions: list[Decision]) -> None:
        """Keep *decisions* for later, thinned as the profile says (the journal is under
        pressure while its disk is full); over the bound, drop the oldest non-alerts."""
        journal = self.recorder.journal
        admitted = [(received_at, d) for d in decisions if journal.admit(d.record_type)]
        self.recorder.thinned += len(decisions) - len(admitted)
        self._held.extend(admitted)
        if len(self._held) > MAX_HELD_DECISIONS:
            keep: list[tuple[float, Decision]] = []
            excess = len(self._held) - MAX_HELD_DECISIONS
            for item in self._held:
                if excess and item[1].alert is None:
                    excess -= 1
                    self.held_dropped += 1
                    continue
                keep.append(item)
            self._held = keep

    def _flush_held(self) -> None:
        pending = self._held
        try:
            done = self.recorder.record_many([d for _, d in pending], admit=False)
        except JournalFullError:
            return  # still full: keep holding
        self._held = []
        log.info("journal writable again: %d held decisions recorded, %d dropped",
                 len(done), self.held_dropped)
        self._observe(pending[0][0], done)

    def _observe(self, received_at: float, done: list[Recorded]) -> None:
        if done:
            latency = done[-1].durable_at - received_at
            self.metrics.frame_to_durable.observe(latency)
            for r in done:
                self.metrics.records.labels(r.record_type).inc()
            if self.on_recorded is not None:
                self.on_recorded(received_at, done)

    def _report_faults(self) -> None:
        while self._quarantined:
            item = self._quarantined[0]  # taken off only once recorded (a full disk retries)
            self.recorder.record_event("node.device_fault", {
                "kind": "quarantined", "count": 1,
                "detail": f"{item.name} kept as {item.path}: {item.reason}"[:500]})
            self._quarantined.popleft()
            reported = getattr(self.transport, "reported", None)
            if reported is not None:  # durable now: a restart does not report it again
                reported(item)
            log.warning("device file quarantined: %s -> %s: %s", item.name, item.path, item.reason)
            self.health.count("quarantined")
            self._reported["quarantined"] += 1
            self.metrics.device_faults.labels("quarantined").inc()
        for kind in FAULT_KINDS:
            total = self.health.faults.get(kind, 0)
            delta = total - self._reported[kind]
            if delta > 0:
                self._reported[kind] = total
                self.metrics.device_faults.labels(kind).inc(delta)
                body: dict[str, Any] = {"kind": kind, "count": delta}
                if self.health.last_error:
                    body["detail"] = self.health.last_error[:200]
                self.recorder.record_event("node.device_fault", body)
