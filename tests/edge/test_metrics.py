"""The Prometheus endpoint serves the agent's own registry over real HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
import urllib.request

from borderlink.edge.metrics import EdgeMetrics


def test_metrics_endpoint_serves_the_agents_figures() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    m = EdgeMetrics()
    m.frames.inc(3)
    m.device_faults.labels("garbage").inc()
    m.frame_to_durable.observe(0.0012)
    m.serve(port)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert "borderlink_edge_frames_total 3.0" in text
    assert 'borderlink_edge_device_faults_total{kind="garbage"} 1.0' in text
    assert 'borderlink_edge_frame_to_durable_seconds_bucket{le="0.002"} 1.0' in text
    assert "python_gc" not in text  # its own registry, not the process-global one
