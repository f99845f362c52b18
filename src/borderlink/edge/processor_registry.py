"""Which processor runs for which device class: a small explicit registry.

A registry is a value (:func:`default_processor_registry` builds the one borderlink ships);
nothing is filled in by import order. Each entry names the module under
``borderlink.edge.processors`` and a factory that builds the processor from the loaded
hardware profile and the node's ``[processor]`` options. The module is imported only when the
processor is built, so a class whose processor is not installed fails with
:class:`~borderlink.edge.errors.ProcessorUnavailableError` naming the module — at start-up,
not in the middle of the night.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ProcessorUnavailableError
from .processors.base import Processor

__all__ = ["ProcessorEntry", "ProcessorRegistry", "default_processor_registry"]

Factory = Callable[[Any, Any, Mapping[str, Any]], Processor]  # (module, profile, options)
#: (module, processor, kind, content, options) -> a function that swaps the new data in.
DownlinkHook = Callable[[Any, Processor, str, Any, Mapping[str, Any]], Callable[[], None]]


@dataclass(frozen=True)
class ProcessorEntry:
    device_class: str
    module: str  # under borderlink.edge.processors
    factory: Factory
    #: Prepares a verified downlink item (e.g. a watchlist) for the processor; raises if the
    #: content does not fit; the returned function swaps it in once the item is applied.
    downlink: DownlinkHook | None = None


class ProcessorRegistry:
    def __init__(self, entries: Iterable[ProcessorEntry]) -> None:
        by_class: dict[str, ProcessorEntry] = {}
        for e in entries:
            if e.device_class in by_class:
                raise ValueError(f"device class {e.device_class!r} registered twice")
            by_class[e.device_class] = e
        self._entries = by_class

    def classes(self) -> list[str]:
        return sorted(self._entries)

    def entry(self, device_class: str) -> ProcessorEntry:
        try:
            return self._entries[device_class]
        except KeyError:
            raise ProcessorUnavailableError(
                f"no processor is registered for device class {device_class!r}; registered: "
                f"{', '.join(self.classes())}") from None

    def build(self, profile: Any, options: Mapping[str, Any] | None = None) -> Processor:
        """The processor for *profile* (its ``device_class``), built with *options*."""
        e = self.entry(profile.device_class)
        name = f"borderlink.edge.processors.{e.module}"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            raise ProcessorUnavailableError(
                f"the processor for {profile.device_class!r} ({name}) is not installed") from exc
        try:
            return e.factory(module, profile, dict(options or {}))
        except AttributeError as exc:
            raise ProcessorUnavailableError(
                f"{name} does not offer the processor for {profile.device_class!r}: {exc}"
            ) from exc


    def prepare_downlink(self, profile: Any, processor: Processor, kind: str, content: Any,
                         options: Mapping[str, Any] | None = None) -> Callable[[], None] | None:
        """What to swap into *processor* for a verified downlink item (None: nothing to do)."""
        e = self.entry(profile.device_class)
        if e.downlink is None:
            return None
        module = importlib.import_module(f"borderlink.edge.processors.{e.module}")
        return e.downlink(module, processor, kind, content, dict(options or {}))


def _from_profile(class_name: str) -> Factory:
    def build(module: Any, profile: Any, options: Mapping[str, Any]) -> Processor:
        return getattr(module, class_name).from_profile(profile)  # type: ignore[no-any-return]

    return build


def _radiation(module: Any, profile: Any, options: Mapping[str, Any]) -> Processor:
    overrides = {"lane": str(options["lane"])} if "lane" in options else {}
    config = module.RadiationConfig.from_profile(profile, **overrides)
    return module.RadiationProcessor(config)  # type: ignore[no-any-return]


def _radio(module: Any, profile: Any, options: Mapping[str, Any]) -> Processor:
    sectors = options.get("unit_sectors")
    return module.RadioProcessor.from_profile(profile, unit_sectors=sectors)  # type: ignore[no-any-return]


def _document(module: Any, profile: Any, options: Mapping[str, Any]) -> Processor:
    """The watchlist key protects the watchlist on the device (see the processor's docs).

    From ``[processor] watchlist_key_file`` (32+ bytes), else derived from the node's
    signing-key seed (``options["node_seed"]``, given by the agent) with a fixed label.
    """
    line = options.get("line")
    return module.DocumentProcessor.from_profile(  # type: ignore[no-any-return]
        profile, watchlist_key=_watchlist_key(options),
        line=int(line) if line is not None else None)


def _watchlist_key(options: Mapping[str, Any]) -> bytes:
    key_file = options.get("watchlist_key_file")
    if key_file:
        return Path(key_file).read_bytes().strip()
    seed = options.get("node_seed", b"")
    return hashlib.sha256(b"borderlink watchlist key v1\x00" + bytes(seed)).digest()


def _document_downlink(module: Any, processor: Processor, kind: str, content: Any,
                       options: Mapping[str, Any]) -> Callable[[], None]:
    """A signed watchlist (``borderlink.watchlist.v1``) replaces the reader's watchlist."""
    if kind != "watchlist":
        return lambda: None
    from .errors import DownlinkError

    try:
        index = module.ProtectedWatchlist.build(content, _watchlist_key(options))
    except Exception as exc:  # the processor's own error types: content that does not fit
        raise DownlinkError(f"watchlist content is not usable: {exc}") from exc

    def swap() -> None:
        processor.watchlist = index  # type: ignore[attr-defined]  # one reference: atomic

    return swap


def default_processor_registry() -> ProcessorRegistry:
    """The device classes of the hardware profiles and their processors (issue 6)."""
    return ProcessorRegistry([
        ProcessorEntry("document_reader", "document", _document, _document_downlink),
        ProcessorEntry("radiation_portal_monitor", "radiation", _radiation),
        ProcessorEntry("radionuclide_identifier", "radiation", _radiation),
        ProcessorEntry("patrol_radio", "radio", _radio),
        ProcessorEntry("telephony", "telephony", _from_profile("TelephonyProcessor")),
        ProcessorEntry("gc_fid", "lab", _from_profile("LabProcessor")),
        ProcessorEntry("gc_ms", "lab", _from_profile("LabProcessor")),
        ProcessorEntry("ground_sensor", "ground_sensors", _from_profile("GroundSensorProcessor")),
    ])
