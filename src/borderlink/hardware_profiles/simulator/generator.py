"""``generate(scenario, seed)``: every device's emissions in time order, no sockets, no sleeping.

Scoring runs processors over this directly; the emulators and ``simulate run`` replay it in
real time (or faster). Deterministic for a seed: each device draws from its own generator
seeded by ``(seed, device id)``, so adding a device does not change the others.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..faults import FaultState, apply_byte_faults, apply_reading_faults
from ..loader import load_profile
from ..protocols import andi, cdr, jcamp, n42_spectra, nmea, reader, rpm, sensor
from ..readings import (
    CallDetailRecord,
    CountSample,
    LabRun,
    LinkStatus,
    MrzRead,
    NmeaFix,
    OccupancyReport,
    RadioStatus,
    SensorFrame,
)
from ..schema import Profile
from .base import DeviceSim
from .documents import DocumentReaderSim
from .greenborder import GroundSensorSim
from .lab import LabSim
from .model import DeviceSpec, Emission, GroundTruth, Scenario, load_scenario
from .patrol import PatrolRadioSim
from .radiation import RpmSim
from .spectrometer import SpectrometerSim
from .telephony import TelephonySim

__all__ = ["SIMULATORS", "device_sim", "encode_readings", "generate"]

#: N42.42 RadDetectorKindCode of each detector type of a profile.
_N42_KIND = {"nai": "NaI", "csi": "CsI", "labr3": "LaBr3", "hpge": "HPGe", "pvt": "PVT"}

SIMULATORS: dict[str, type[DeviceSim]] = {
    "document_reader": DocumentReaderSim,
    "radiation_portal_monitor": RpmSim,
    "radionuclide_identifier": SpectrometerSim,
    "ground_sensor": GroundSensorSim,
    "patrol_radio": PatrolRadioSim,
    "telephony": TelephonySim,
    "gc_fid": LabSim,
    "gc_ms": LabSim,
}

_FAULT_RECORD = {"noise": "garbage", "drop": "garbage", "disconnect": "disconnect", "stuck": "stuck",
                 "drift": "other", "clock": "other", "half_written": "partial_file", "burst": "overload"}


def device_sim(spec: DeviceSpec, scenario: Scenario, seed: int) -> DeviceSim:
    profile = load_profile(spec.profile)
    return SIMULATORS[profile.device_class](spec, profile, scenario, seed)


def encode_readings(profile: Profile, readings: tuple[Any, ...]) -> bytes:
    """The device's bytes for *readings* (after reading-level faults changed them)."""
    first = readings[0]
    if isinstance(first, MrzRead):
        return reader.encode(first)
    if isinstance(first, CountSample):
        return rpm.encode_counts(list(readings), first.seq)
    if isinstance(first, OccupancyReport):
        if profile.framing.protocol == "n42-file":  # a spectrometer's exported file
            return n42_spectra.encode_spectra_file(
                first, manufacturer=profile.vendor, model=profile.model,
                detector_kind=_N42_KIND.get(str(profile.setting("detector_type", "nai")), "NaI"))
        return rpm.encode_report(first)
    if isinstance(first, SensorFrame):
        scales = {c.name: c.scale for c in profile.channels}
        return sensor.encode(first, sensor.demo_sensor_key(first.sensor_id), scales=scales)
    if isinstance(first, (NmeaFix, RadioStatus)):
        out = b""
        for r in readings:
            if isinstance(r, RadioStatus):
                out += nmea.encode_status(r)
            elif r.sentence == "RMC":
                out += nmea.encode_rmc(r)
            else:
                out += nmea.encode_gga(r)
        return out
    if isinstance(first, CallDetailRecord):
        return cdr.encode_cdr(first)
    if isinstance(first, LinkStatus):
        return cdr.encode_link(first)
    if isinstance(first, LabRun):
        if profile.framing.protocol == "andi-ms":
            return andi.encode_andi_ms(first)
        if profile.device_class == "gc_ms":
            return jcamp.encode_gcms_file(first)
        assert first.chromatogram is not None
        return jcamp.encode_chromatogram_file(first.chromatogram)
    raise TypeError(f"no encoder for {type(first).__name__}")


def _reorder(items: Iterable[Emission], window_s: float = 2.0) -> Iterator[Emission]:
    """Sort a stream that is ordered up to *window_s* (a few sims interleave sub-streams)."""
    heap: list[tuple[float, int, Emission]] = []
    for n, e in enumerate(items):
        heapq.heappush(heap, (e.t, n, e))
        while heap and heap[0][0] <= e.t - window_s:
            yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]


def _with_faults(sim: DeviceSim, stream: Iterator[Emission], seed: int) -> Iterator[Emission]:
    faults = [f for f in sim.scenario.faults if f.device == sim.device_id]
    if not faults:
        yield from stream
        return
    rng = random.Random(f"{seed}/{sim.device_id}/faults")
    state = FaultState()
    t0 = sim.scenario.start
    windows = sorted(faults, key=lambda f: f.at_s)
    marks = [(t0 + f.at_s, f) for f in windows]
    k = 0
    active: list[tuple[float, Any]] = []

    def switch_on(upto: float) -> Iterator[Emission]:
        nonlocal k
        while k < len(marks) and marks[k][0] <= upto:
            t_on, f = marks[k]
            k += 1
            state.set(f.mode, f.level or None, t_on)
            active.append((t_on + f.duration_s, f))
            yield Emission(t_on, sim.device_id, (), b"", GroundTruth(
                t=t_on, device_id=sim.device_id, event_id=f"{sim.device_id}!fault{k:03d}", kind=f"fault.{f.mode}",
                record_type="node.device_fault", alert=None, expect={"kind": _FAULT_RECORD[f.mode]}, start=t_on,
                detail={"mode": f.mode, "level": state.level(f.mode), "until": round(t_on + f.duration_s, 3)}))

    for e in stream:
        yield from switch_on(e.t)
        for t_off, f in [a for a in active if a[0] <= e.t]:
            state.clear(f.mode)
            active.remove((t_off, f))
        if state.levels and e.readings:
            readings = apply_reading_faults(e.readings, state, e.t)
            data = encode_readings(sim.profile, readings) if readings != e.readings else e.data
            if sim.profile.transport.scheme != "file":
                data = apply_byte_faults(data, state, rng)
            e = Emission(e.t, e.device_id, readings, data, e.truth)
        yield e
    yield from switch_on(sim.scenario.start + sim.scenario.duration_s)


def generate(scenario: Scenario | str | Path, seed: int = 0) -> Iterator[Emission]:
    """Every emission of *scenario* in time order (each unpacks as
    ``t, device_id, readings, data, truth``)."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    streams = []
    for spec in scenario.devices:
        sim = device_sim(spec, scenario, seed)
        streams.append(_with_faults(sim, _reorder(sim.emissions()), seed))
    return heapq.merge(*streams, key=lambda e: e.t)
