"""The agent runtime: wires journal, recorder, device runner, site bus and uplink together.

Threads: the device reader, the device processor, paho's network thread, the uplink (and its
sender), the Prometheus endpoint, and the caller's thread, which writes the status file and
publishes status every ``status.interval_s``. Each part hands work to the next without waiting
for it (see the module docs of :mod:`.device`, :mod:`.sitebus`, :mod:`.uplink`).

Start order: the journal is opened (the chain continues from its last durable record), the
site bus and uplink are started (each listens for durable records), a ``node.boot`` record is
made, then the device is opened. Stop order is the reverse; the journal closes last.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from borderlink import __version__
from borderlink.common.tls import TlsMaterialError, read_tls_files
from borderlink.hardware_profiles.errors import IncompleteFileError
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.protocols import decoder_for, framer_for
from borderlink.hardware_profiles.schema import Profile
from borderlink.proto.keys import SigningKey
from borderlink.proto.record_types import node_registry

from .config import EdgeConfig
from .device import DeviceRunner
from .downlink import (
    FIRMWARE_EVENTS_ENV,
    KIND_NUMBERS,
    DownlinkItem,
    DownlinkStore,
    DownlinkVerifier,
    record_firmware_events,
)
from .drivers import open_url
from .errors import ConfigError, DownlinkError, ProcessorUnavailableError
from .journal import Journal, ThinningPolicy
from .metrics import EdgeMetrics
from .node_clock import NodeClock
from .processor_registry import ProcessorRegistry, default_processor_registry
from .processors.base import Processor
from .recorder import Recorder
from .sitebus import SiteBus, SiteBusConfig, SiteBusSetupError, read_password
from .uplink import TlsMaterial, Uplink, UplinkConfig

__all__ = ["EdgeAgent", "build_device_runner"]

log = logging.getLogger(__name__)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror}") from exc


def build_device_runner(profile: Profile, url: str, *, processor: Processor,
                        recorder: Recorder, metrics: EdgeMetrics, unit_id: str = "",
                        queue_frames: int = 1024, reconnect_s: float = 1.0) -> DeviceRunner:
    """Transport (by URL), framer and decoder (by the profile's protocol), processor, runner."""
    decoder = decoder_for(profile, unit_id=unit_id)
    options: dict[str, Any] = {}
    framer_factory = None
    if profile.transport.scheme == "file":
        def is_complete(data: bytes) -> bool:
            """False while the file is being written; any other refusal of the decoder
            propagates and the folder driver quarantines the file (it is bad, not partial)."""
            try:
                decoder.decode(data)
            except IncompleteFileError:
                return False
            return True

        options = {"atomic": profile.transport.atomic_write, "poll_s": profile.transport.poll_s,
                   "is_complete": is_complete,
                   # one frame is one whole file: a larger one is quarantined unread
                   "max_file_bytes": profile.framing.max_frame_bytes}
        settle_s = profile.framing.param("settle_s")
        if settle_s is not None:  # the profile's own settling time (GCMSsolution pauses)
            options["settle_s"] = settle_s
    else:
        protocol, limit = profile.framing.protocol, profile.framing.max_frame_bytes

        def framer_factory() -> Any:
            return framer_for(protocol, limit)

    transport = open_url(url, **options)
    return DeviceRunner(transport, framer_factory=framer_factory, decoder=decoder,
                        processor=processor, recorder=recorder, metrics=metrics,
                        queue_frames=queue_frames, reconnect_s=reconnect_s)


def _downlink_hook(registry: ProcessorRegistry, profile: Profile, processor: Processor,
                   options: dict[str, Any]) -> Callable[[DownlinkItem], Callable[[], None] | None]:
    def hook(item: DownlinkItem) -> Callable[[], None] | None:
        try:
            return registry.prepare_downlink(profile, processor, item.kind, item.content, options)
        except ProcessorUnavailableError:
            return None

    return hook


def _restore_downlinks(uplink: Uplink, hook: Callable[[DownlinkItem], Any]) -> None:
    """Items applied before a restart are verified again and handed to the processor."""
    if uplink.store is None or uplink.verifier is None:
        return
    for kind in KIND_NUMBERS:
        signed = uplink.store.load(kind)
        if signed is None:
            continue
        try:
            item = uplink.verifier.verify_held(kind, signed)
            swap = hook(item)
        except DownlinkError as exc:
            log.error("held %s item not used: %s", kind, exc)
            continue
        if swap is not None:
            swap()
            log.info("held %s v%d from %s restored", kind, item.version, item.issuer)


class EdgeAgent:
    """One running node. Build with :meth:`from_config`; :meth:`start`, :meth:`run`, :meth:`stop`."""

    def __init__(self, config: EdgeConfig, profile: Profile, journal: Journal,
                 recorder: Recorder, device: DeviceRunner, metrics: EdgeMetrics,
                 sitebus: SiteBus | None, uplink: Uplink | None) -> None:
        self.config = config
        self.profile = profile
        self.journal = journal
        self.recorder = recorder
        self.device = device
        self.metrics = metrics
        self.sitebus = sitebus
        self.uplink = uplink
        self.started_at = time.time()
        self._stopped = False

    @classmethod
    def from_config(cls, config: EdgeConfig, *, processor: Processor | None = None,
                    processors: ProcessorRegistry | None = None) -> EdgeAgent:
        profile = load_profile(config.device.profile)
        key = SigningKey.from_pem(_read(config.node.signing_key, "record signing key"))
        registry = processors or default_processor_registry()
        options = dict(config.processor)
        options.setdefault("node_seed", key.seed)
        if processor is None:
            processor = registry.build(profile, options)
        metrics = EdgeMetrics()
        journal = Journal.open(config.journal.path, max_bytes=config.journal.max_bytes,
                               policy=ThinningPolicy.from_profile(profile.journal))
        try:
            # The node's own agency owns its node.* records (the hub refuses any other).
            agency = config.node.agency or profile.agency
            # Jumps of the system clock held until the hub's time settles them (node_clock).
            node_clock = NodeClock()
            recorder = Recorder.for_journal(key, journal, node_id=config.node.id,
                                            site=config.node.site, registry=node_registry(agency),
                                            wall_clock=node_clock.now)
            sitebus = None
            if config.broker.enabled:
                b = config.broker
                try:
                    password = (read_password(b.password_file)
                                if b.password_file is not None else None)
                    sitebus = SiteBus(SiteBusConfig(b.host, b.port, b.keepalive_s,
                                                    username=b.username, password=password,
                                                    ca=b.ca, cert=b.cert, key=b.key),
                                      node_id=config.node.id, site=config.node.site,
                                      recorder=recorder, agent_version=__version__)
                except SiteBusSetupError as exc:
                    raise ConfigError(f"{config.source}: [broker]: {exc}") from exc
                recorder.add_listener(sitebus.on_recorded)
                sitebus.on_alert_published = lambda item: metrics.alerts_published.inc()
            uplink = None
            if config.hub.enabled and config.tls is not None:
                try:
                    files = read_tls_files(config.tls.cert, config.tls.key, config.tls.ca,
                                           options=("tls.cert", "tls.key", "tls.ca"))
                except TlsMaterialError as exc:
                    raise ConfigError(f"{config.source}: {exc}") from exc
                tls = TlsMaterial(files.ca_pem, files.cert_pem, files.key_pem)
                h = config.hub
                uplink = Uplink(
                    UplinkConfig(h.addresses, h.max_batch_records, h.max_batch_bytes,
                                 h.linger_ms, h.retry_initial_s, h.retry_max_s,
                                 h.connect_timeout_s, h.clock_skew_threshold_ms,
                                 config.tls.server_name, __version__),
                    tls, journal, node_id=config.node.id, recorder=recorder,
                    verifier=DownlinkVerifier(config.downlink.trusted(), node_id=config.node.id,
                                              site=config.node.site),
                    store=DownlinkStore(config.downlink.dir, journal), metrics=metrics,
                    node_clock=node_clock)
                recorder.add_listener(uplink.notify)
                recorder.clock_quality = uplink.clock_quality
                uplink.on_downlink = _downlink_hook(registry, profile, processor, options)
                _restore_downlinks(uplink, _downlink_hook(registry, profile, processor, options))
            url = config.device.url or profile.transport.url()
            device = build_device_runner(
                profile, url, processor=processor, recorder=recorder, metrics=metrics,
                unit_id=config.device.unit_id, queue_frames=config.device.queue_frames,
                reconnect_s=config.device.reconnect_s)
        except BaseException:
            journal.close()
            raise
        return cls(config, profile, journal, recorder, device, metrics, sitebus, uplink)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if self.config.metrics.port:
            self.metrics.serve(self.config.metrics.port, self.config.metrics.address)
        if self.sitebus is not None:
            self.sitebus.start()
        if self.uplink is not None:
            self.uplink.start()
        resumed = self.journal.tip[0]
        self._record_firmware_events()
        self.recorder.record_event("node.boot", {
            "software": f"borderlink {__version__}", "profile": self.profile.name,
            "resumed_seq": resumed, "reason": "start"})
        log.info("edge agent %s started: profile %s, device %s, chain resumes after %d",
                 self.config.node.id, self.profile.name, self.device.transport.url, resumed)
        self.device.start()

    def run(self, stop: threading.Event) -> None:
        """Write status every interval until *stop* is set."""
        interval = self.config.status.interval_s
        while not stop.is_set():
            self.write_status()
            self._record_firmware_events()
            stop.wait(interval)

    def _record_firmware_events(self) -> None:
        events = os.environ.get(FIRMWARE_EVENTS_ENV)
        if events:
            record_firmware_events(Path(events), self.journal, self.recorder.record_event)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.device.stop()
        if self.uplink is not None:
            self.uplink.stop()
        if self.sitebus is not None:
            self.sitebus.stop()
        self.write_status(state="stopped")
        self.journal.close()
        log.info("edge agent %s stopped", self.config.node.id)

    # -- status -----------------------------------------------------------------------------

    def status(self, state: str = "running") -> dict[str, Any]:
        stats = self.journal.stats()
        self.metrics.journal_used_bytes.set(stats.used_bytes)
        self.metrics.journal_unsynced.set(stats.unsynced_records)
        connected = self.sitebus is not None and self.sitebus.connected.is_set()
        self.metrics.broker_connected.set(int(connected))
        return {
            "time_ms": int(time.time() * 1000), "state": state, "pid": os.getpid(),
            "node": self.config.node.id, "site": self.config.node.site,
            "profile": self.profile.name, "software": __version__,
            "started_ms": int(self.started_at * 1000),
            "device": {"url": self.device.transport.url, **self.device.health.as_dict(),
                       "queue_depth": self.device.queue.qsize()},
            "link": self.uplink.status() if self.uplink is not None else {"state": "disabled"},
            "broker": {"enabled": self.sitebus is not None, "connected": connected,
                       "alerts_published": self.sitebus.published_alerts if self.sitebus else 0,
                       "accepts_acks": self.sitebus.accepts_acks if self.sitebus else False,
                       "acks_recorded": self.sitebus.acks_recorded if self.sitebus else 0,
                       "acks_refused": self.sitebus.refused_acks if self.sitebus else 0},
            "journal": asdict(stats),
            "recorder": {"recorded": self.recorder.recorded, "thinned": self.recorder.thinned},
        }

    def write_status(self, state: str = "running") -> None:
        status = self.status(state)
        path = self.config.status.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(json.dumps(status, indent=1))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot write the status file %s: %s", path, exc)
        if self.sitebus is not None and state == "running":
            self.sitebus.publish_status({k: status[k] for k in
                                         ("time_ms", "state", "node", "device", "link")})
