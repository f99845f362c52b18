"""Green-border sensor processor: debounce, chains, class, wind and animals, simulator figures."""

from __future__ import annotations

import pytest

from borderlink.edge.processors.base import AlertLevel
from borderlink.edge.processors.ground_sensors import (
    GroundSensorConfig,
    GroundSensorProcessor,
    NodeLayout,
)
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.readings import SensorFrame
from borderlink.hardware_profiles.simulator import Scenario, generate
from borderlink.hardware_profiles.simulator.model import DeviceSpec, TrafficSpec
from borderlink.proto.record_types import default_registry

REGISTRY = default_registry()
NODE = "UGS-S2-N1"
CHAIN = {"SEI015": ("seismic", 15.0), "MAG018": ("magnetic", 18.0), "SEI040": ("seismic", 40.0),
         "PIR045": ("pir", 45.0), "SEI070": ("seismic", 70.0)}
LAYOUT = {NODE: NodeLayout(NODE, "S2", {f"{NODE}-{k}": off for k, (_, off) in CHAIN.items()})}


def gen_frame(t: float, sensor: str, value: float, *, node: str = NODE, event: str = "detect",
              detail: str = "") -> SensorFrame:
    kind, offset = CHAIN[sensor]
    return SensorFrame(t=t, node_id=node, sensor_id=f"{node}-{sensor}", seq=0, event=event,
                       kind=kind, value=value, position_m=21000.0, offset_m=offset, detail=detail)


def walk(t0: float, speed: float, values: dict[str, float], *, inbound: bool = True,
         skip: tuple[str, ...] = (), detail: str = "") -> list[SensorFrame]:
    frames = []
    for sensor, (_, offset) in CHAIN.items():
        if sensor in skip or sensor not in values:
            continue
        distance = offset if inbound else 80.0 - offset
        t = t0 + distance / speed
        frames += [gen_frame(t, sensor, values[sensor], detail=detail),
                   gen_frame(t + 0.3, sensor, values[sensor] * 0.8, detail=detail)]  # bounce
    return sorted(frames, key=lambda f: f.t)


PERSON = {"SEI015": 1.9, "MAG018": 2.5, "SEI040": 2.2, "PIR045": 2.0, "SEI070": 1.7}
VEHICLE = {"SEI015": 14.0, "MAG018": 240.0, "SEI040": 18.0, "PIR045": 3.0, "SEI070": 11.0}
ANIMAL = {"SEI015": 0.9, "SEI040": 1.1, "PIR045": 1.0, "SEI070": 0.8}


def run(frames, proc=None):
    proc = proc or GroundSensorProcessor(GroundSensorConfig(layouts=LAYOUT))
    out = []
    for f in sorted(frames, key=lambda f: f.t):
        out += proc.feed(f)
    out += proc.tick(max(f.t for f in frames) + 600)
    return out, proc


# ---------------------------------------------------------------- mechanics
def test_person_inbound_one_alert_with_direction_speed_class() -> None:
    frames = walk(1000.0, 1.4, PERSON)
    out, proc = run(frames)
    assert len(out) == 1
    d = out[0]
    REGISTRY[d.record_type].validate(d.body)
    assert d.record_type == "intrusion.alert" and d.alert == AlertLevel.ALARM
    assert (d.body["class"], d.body["direction"], d.body["sector"]) == ("person", "inbound", "S2")
    assert d.body["speed_mps"] == pytest.approx(1.4, rel=0.1)
    # decided on the first frame at the last group, not later
    first_at_end = min(f.t for f in frames if f.sensor_id.endswith("SEI070"))
    assert d.t == first_at_end and d.decided_at == first_at_end
    assert proc.stats["triggers"] == 5  # bounces debounced


def test_vehicle_outbound() -> None:
    out, _ = run(walk(50.0, 8.0, VEHICLE, inbound=False))
    assert [(d.body["class"], d.body["direction"]) for d in out] == [("vehicle", "outbound")]
    assert out[0].body["speed_mps"] == pytest.approx(8.0, rel=0.15)


def test_two_walkers_crossing_one_node_in_opposite_directions() -> None:
    frames = walk(100.0, 1.2, PERSON) + walk(112.0, 1.5, PERSON, inbound=False)
    out, _ = run(frames)
    assert sorted(d.body["direction"] for d in out) == ["inbound", "outbound"]
    for d in out:
        assert d.body["speed_mps"] == pytest.approx(1.2 if d.body["direction"] == "inbound"
                                                    else 1.5, rel=0.2)


def test_animal_signature_is_suppressed_even_along_the_chain() -> None:
    out, proc = run(walk(10.0, 1.3, ANIMAL))
    assert out == [] and proc.stats["animals"] == 1


def test_cadence_outside_the_human_band_is_an_animal() -> None:
    values = dict(PERSON, MAG018=0.0)
    out, _ = run(walk(10.0, 1.3, values, detail="cadence_hz=3.4"))
    assert out == []
    out, _ = run(walk(10.0, 1.3, values, detail="cadence_hz=1.9"))
    assert [d.body["class"] for d in out] == ["person"]


def test_missed_detection_still_alerts_when_the_chain_stalls() -> None:
    frames = walk(0.0, 1.3, PERSON, skip=("SEI070",))
    proc = GroundSensorProcessor(GroundSensorConfig(layouts=LAYOUT))
    out = []
    for f in frames:
        out += proc.feed(f)
    assert out == []  # not yet: the walker may still reach the last group
    last = max(f.t for f in frames)
    assert proc.tick(last + 5.0) == []
    out = proc.tick(last + 60.0)  # overdue at the 70 m group
    assert [(d.body["class"], d.body["direction"]) for d in out] == [("person", "inbound")]
    assert proc.tick(last + 600.0) == []  # once


def test_wind_gust_over_many_sensors_is_dropped() -> None:
    frames = []
    for node in ("UGS-S2-N1", "UGS-S2-N2", "UGS-S3-N1"):
        for i, sensor in enumerate(("SEI015", "PIR045", "SEI070", "SEI040")):
            frames.append(gen_frame(500.0 + i * 0.7, sensor, 0.6 if sensor != "PIR045" else 1.0,
                                    node=node))
    out, proc = run(frames)
    assert out == [] and proc.stats["wind_dropped"] >= 4


def test_seismic_below_threshold_heartbeats_and_other_readings_ignored() -> None:
    proc = GroundSensorProcessor(GroundSensorConfig(layouts=LAYOUT))
    assert proc.feed(gen_frame(1.0, "SEI015", 0.2)) == []
    assert proc.feed(gen_frame(2.0, "SEI015", 0.0, event="heartbeat")) == []
    assert proc.feed("nonsense") == []
    assert proc.stats["triggers"] == 0


def test_from_profile_reads_the_border_layout() -> None:
    proc = GroundSensorProcessor.from_profile(load_profile("ground-sensor-gateway"))
    assert proc.config.debounce_s == 2.0 and proc.config.min_chain == 2
    assert {"UGS-S2-N1", "UGS-S3-N1"} <= set(proc.config.layouts)
    assert proc.config.layouts["UGS-S3-N1"].sector == "S3"


# ---------------------------------------------------------------- simulator figures
def _scenario(hours: float, per_hour: float, mix: dict[str, float]) -> Scenario:
    return Scenario(
        name="ugs-test", description="", site="BIL", start=1.8e9, duration_s=hours * 3600,
        devices=(DeviceSpec("GW", "ground-sensor-gateway", {}),), events=(),
        traffic=(TrafficSpec("GW", "crossing", per_hour, mix),), faults=())


def match_alerts(alerts, truths):
    """Map truth index -> alert: same node, first detection within the event's span."""
    match: dict[int, object] = {}
    for d in alerts:
        first = d.body["first_ms"] / 1000
        cands = [(tr.record_type is None, abs(first - tr.start), j) for j, tr in enumerate(truths)
                 if j not in match and tr.detail.get("node") == d.extra["node_id"]
                 and tr.start - 1.0 <= first <= tr.t + 1.0]
        if cands:
            match[min(cands)[2]] = d
    return match


@pytest.fixture(scope="module")
def simulated():
    mix = {"person": 30, "group": 10, "vehicle": 10, "animal": 25, "wind": 25}
    proc = GroundSensorProcessor.from_profile(load_profile("ground-sensor-gateway"))
    alerts, truths = [], []
    for emission in generate(_scenario(4.0, 30, mix), seed=21):
        for reading in emission.readings:
            alerts += proc.feed(reading)
        if emission.truth is not None:
            truths.append(emission.truth)
    alerts += proc.tick(1.8e9 + 5 * 3600)
    return alerts, truths, match_alerts(alerts, truths)


def test_crossing_recall_class_direction(simulated) -> None:
    alerts, truths, match = simulated
    crossings = [j for j, tr in enumerate(truths) if tr.record_type == "intrusion.alert"]
    assert len(crossings) >= 50
    found = [j for j in crossings if j in match]
    assert len(found) / len(crossings) >= 0.93
    right_class = sum(match[j].body["class"] == truths[j].expect["class"] for j in found)
    right_dir = sum(match[j].body["direction"] == truths[j].expect["direction"] for j in found)
    assert right_class / len(found) >= 0.9 and right_dir / len(found) >= 0.9
    for d in alerts:
        REGISTRY[d.record_type].validate(d.body)


def test_animals_and_wind_rarely_alert(simulated) -> None:
    _, truths, match = simulated
    nuisance = [j for j, tr in enumerate(truths) if tr.record_type is None]
    assert len(nuisance) >= 40
    false = sum(1 for j in nuisance if j in match)
    assert false / len(nuisance) <= 0.08


def test_full_chain_alerts_come_with_the_last_group(simulated) -> None:
    _, truths, match = simulated
    late = [truths[j].t - d.decided_at for j, d in match.items() if truths[j].record_type]
    # decided no later than 1 s after the crossing's last frame, for nearly every crossing
    assert sum(1 for x in late if x >= -1.0) / len(late) >= 0.9
