"""Prometheus metrics of one hub process, in their own registry (several hubs per test process).

Names: ``borderlink_hub_*``. Ingest rate is ``rate(borderlink_hub_records_stored_total[1m])``;
verification failures by reason ``borderlink_hub_records_refused_total{reason}``; the log size
and checkpoint age are gauges; per node: last stored seq, backlog (records the node reported
in its journal but the hub has not stored), lag (hub receive time - record time of the last
stored record) and clock skew. Per RPC: ``borderlink_hub_rpcs_handled_total{method,code}``
and ``borderlink_hub_rpc_handling_seconds{method}``; besides, ``process_*``, ``python_info``
and ``borderlink_build_info`` (:mod:`borderlink.common.metrics`). Every figure is in base
units (seconds, bytes, records).

``borderlink_hub_checkpoint_age_seconds`` is the age of the latest signed checkpoint. The
sequencer signs one only when the log has grown, so on an idle hub the age keeps rising
while nothing is wrong: alert on it together with
``rate(borderlink_hub_records_stored_total[5m]) > 0``, not alone.
"""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server as _start_http_server

from borderlink.common.metrics import add_process_metrics


class HubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.stored = Counter(
            "borderlink_hub_records_stored",
            "records verified, stored, logged and acknowledged",
            registry=r,
        )
        self.duplicates = Counter(
            "borderlink_hub_records_duplicate",
            "records received again and acknowledged again",
            registry=r,
        )
        self.refused = Counter(
            "borderlink_hub_records_refused", "records refused, by reason", ["reason"], registry=r
        )
        self.unknown_types = Counter(
            "borderlink_hub_records_unknown_type",
            "records of a type the hub does not know",
            registry=r,
        )
        self.equivocations = Counter(
            "borderlink_hub_equivocations",
            "second records for a stored (node, seq): evidence kept",
            registry=r,
        )
        self.batch_seconds = Histogram(
            "borderlink_hub_batch_seconds",
            "time to verify and commit one batch",
            registry=r,
        )
        self.streams = Gauge("borderlink_hub_sync_streams", "open Sync streams", registry=r)
        self.streams_refused = Counter(
            "borderlink_hub_sync_streams_refused",
            "Sync streams closed with an error status",
            ["code"],
            registry=r,
        )
        self.streams_over_limit = Counter(
            "borderlink_hub_streams_over_limit",
            "streams refused RESOURCE_EXHAUSTED: their identity already held its limit",
            ["service"],
            registry=r,
        )
        self.equivocations_dropped = Counter(
            "borderlink_hub_equivocations_dropped",
            "conflicting records counted but not kept: their (node, seq) holds its limit",
            registry=r,
        )
        self.log_size = Gauge(
            "borderlink_hub_log_size", "leaves in the latest checkpoint", registry=r
        )
        self._checkpoint_ms = 0
        self.checkpoint_age = Gauge(
            "borderlink_hub_checkpoint_age_seconds",
            "seconds since the latest checkpoint was signed",
            registry=r,
        )
        self.checkpoint_age.set_function(self._age)
        self.sequencer = Gauge(
            "borderlink_hub_sequencer", "1 while this process holds the sequencer lock", registry=r
        )
        self.node_last_seq = Gauge(
            "borderlink_hub_node_last_seq", "last stored sequence number", ["node"], registry=r
        )
        self.node_backlog = Gauge(
            "borderlink_hub_node_backlog",
            "records in the node's journal not yet stored",
            ["node"],
            registry=r,
        )
        self.node_lag = Gauge(
            "borderlink_hub_node_lag_seconds",
            "receive time - record time of the last stored record",
            ["node"],
            registry=r,
        )
        self.node_skew = Gauge(
            "borderlink_hub_node_clock_skew_seconds",
            "node clock - hub clock at the last Hello",
            ["node"],
            registry=r,
        )
        self.downlink_acks = Counter(
            "borderlink_hub_downlink_acks",
            "downlink acknowledgements",
            ["kind", "applied"],
            registry=r,
        )
        self.rpcs = Counter(
            "borderlink_hub_rpcs_handled",
            "RPCs finished, by full method name and gRPC status code",
            ["method", "code"],
            registry=r,
        )
        self.rpc_seconds = Histogram(
            "borderlink_hub_rpc_handling_seconds",
            "time from an RPC's start to its end (streams: the stream's life)",
            ["method"],
            registry=r,
        )
        add_process_metrics(r, "hub")
        self._server: object | None = None
        self._lock = threading.Lock()

    def _age(self) -> float:
        if not self._checkpoint_ms:
            return float("nan")
        return max(0.0, time.time() - self._checkpoint_ms / 1000)

    def checkpoint(self, tree_size: int, time_ms: int) -> None:
        self.log_size.set(tree_size)
        self._checkpoint_ms = time_ms

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` on *port* (0: any free port); returns the port."""
        server, _thread = _start_http_server(port, addr=addr, registry=self.registry)
        self._server = server
        return int(server.server_port)

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()  # type: ignore[attr-defined]
            server.server_close()  # type: ignore[attr-defined]


__all__ = ["HubMetrics"]
