"""What every borderlink service's ``/metrics`` carries besides its own figures.

* ``process_*`` (CPU seconds, resident memory, open file descriptors, start time) and
  ``python_info``, as every Prometheus client library exports them;
* ``borderlink_build_info{version, component, python}`` = 1, the convention for joining a
  version onto any other series (``* on(instance) group_left(version) borderlink_build_info``).

Each service keeps its own registry (several hubs run in one test process), so the collectors
are added to that registry rather than to the library's global one.
"""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Gauge, PlatformCollector, ProcessCollector

__all__ = ["add_process_metrics"]


def add_process_metrics(registry: CollectorRegistry, component: str) -> None:
    """Add process, platform and build-info metrics of this process to *registry*."""
    from borderlink import __version__

    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    info = Gauge("borderlink_build_info", "1, labelled with the running build",
                 ["version", "component", "python"], registry=registry)  # fmt: skip
    info.labels(__version__, component, platform.python_version()).set(1)
