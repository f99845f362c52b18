"""A cap on the streams one client identity may hold open at once.

Every open Sync or Subscribe stream holds a gRPC handler thread (and a reader thread, a
prefetching page, a storage cursor) until it ends. Without a cap, one certificate — a stolen
node key, a buggy agency client reconnecting in a loop — can open streams until the server's
``max_workers`` threads are all taken and no other node or agency is served. Each identity gets
at most ``limit`` streams of one service; one more is refused ``RESOURCE_EXHAUSTED`` at once,
counted in ``borderlink_hub_streams_over_limit_total{service}``; a stream that ends, however
it ends, frees its slot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from borderlink.hub.metrics import HubMetrics


class StreamSlots:
    def __init__(self, service: str, limit: int, metrics: HubMetrics, *, who: str) -> None:
        if limit < 1:
            raise ValueError(f"{service}: a stream limit must be >= 1, got {limit}")
        self.service = service
        self.limit = limit
        self.metrics = metrics
        self.who = who  # "node" / "agency": names the identity in the refusal
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def open_count(self, identity: str) -> int:
        with self._lock:
            return self._open.get(identity, 0)

    @contextmanager
    def hold(self, identity: str, context: grpc.ServicerContext) -> Iterator[None]:
        """A slot for *identity* while the block runs; aborts RESOURCE_EXHAUSTED when none is free."""
        with self._lock:
            taken = self._open.get(identity, 0)
            if taken < self.limit:
                self._open[identity] = taken + 1
        if taken >= self.limit:
            self.metrics.streams_over_limit.labels(self.service).inc()
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self.who} {identity} already has {taken} open {self.service} streams (the "
                f"hub's limit per {self.who}); close one before opening another",
            )
        try:
            yield
        finally:
            with self._lock:
                left = self._open[identity] - 1
                if left:
                    self._open[identity] = left
                else:
                    del self._open[identity]


__all__ = ["StreamSlots"]
