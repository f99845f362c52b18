"""Prometheus metrics of one agent, in its own registry (no global state).

:meth:`EdgeMetrics.serve` starts the HTTP endpoint (``/metrics``) on 127.0.0.1 or the address
given; tests read :attr:`EdgeMetrics.registry` directly.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from borderlink.common.metrics import add_process_metrics

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


class EdgeMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.frames = Counter("borderlink_edge_frames", "device frames read", registry=r)
        self.records = Counter("borderlink_edge_records", "records made durable",
                               ["type"], registry=r)
        self.device_faults = Counter("borderlink_edge_device_faults",
                                     "device link faults counted", ["kind"], registry=r)
        self.frames_dropped = Counter("borderlink_edge_frames_dropped",
                                      "frames dropped because the processing queue was full",
                                      registry=r)
        self.queue_depth = Gauge("borderlink_edge_queue_depth", "frames waiting", registry=r)
        self.device_connected = Gauge("borderlink_edge_device_connected",
                                      "1 while the device link is up", registry=r)
        self.frame_to_durable = Histogram(
            "borderlink_edge_frame_to_durable_seconds",
            "device frame read to signed record durable in the journal",
            buckets=_LATENCY_BUCKETS, registry=r)
        self.alerts_published = Counter("borderlink_edge_alerts_published",
                                        "alerts handed to the site broker", registry=r)
        self.broker_connected = Gauge("borderlink_edge_broker_connected",
                                      "1 while connected to the site broker", registry=r)
        self.link_up = Gauge("borderlink_edge_uplink_up", "1 while a hub stream is open",
                             registry=r)
        self.acked_seq = Gauge("borderlink_edge_hub_acked_seq",
                               "highest sequence number the hub acknowledged", registry=r)
        self.records_sent = Counter("borderlink_edge_records_sent", "records sent to the hub",
                                    registry=r)
        self.clock_skew_seconds = Gauge("borderlink_edge_clock_skew_seconds",
                                        "node clock minus hub clock at the last connect",
                                        registry=r)
        self.journal_used_bytes = Gauge("borderlink_edge_journal_used_bytes",
                                        "record bytes held by the journal", registry=r)
        self.journal_unsynced = Gauge("borderlink_edge_journal_unsynced_records",
                                      "records not yet acknowledged by the hub", registry=r)

        add_process_metrics(r, "edge")

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        start_http_server(port, addr=addr, registry=self.registry)
