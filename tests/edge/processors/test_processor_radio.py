"""The patrol-radio processor on crafted tracks: geofences, track filter, thinning, emergencies."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest

from borderlink.edge.errors import GeometryError, ProcessorError
from borderlink.edge.processors.base import AlertLevel
from borderlink.edge.processors.radio import BorderGeometry, RadioConfig, RadioProcessor
from borderlink.hardware_profiles.loader import DATA_DIR, load_profile
from borderlink.hardware_profiles.protocols import nmea
from borderlink.hardware_profiles.readings import NmeaFix, RadioStatus
from borderlink.proto.record_types import default_registry

DATA = DATA_DIR
REGISTRY = default_registry()
T0 = 1_795_000_000.0


@pytest.fixture(scope="module")
def border():
    return BorderGeometry.from_dict(json.loads((DATA / "bilasuvar_border.json").read_text()))


def processor(border, **kw):
    return RadioProcessor(RadioConfig(**kw), border)


def fix_at(border, t, chainage, offset, unit="P1", valid=True, hdop=1.0):
    lon, lat = border.point_at(chainage, offset)
    return NmeaFix(t=t, unit_id=unit, lat=lat, lon=lon, valid=valid, sentence="GGA",
                   fix_quality=1 if valid else 0, sats=8, hdop=hdop)


def run(proc, readings):
    out = []
    for reading in readings:
        for d in proc.feed(reading):
            REGISTRY[d.record_type].validate(d.body)
            assert d.decided_at == d.t  # decided on the reading that decides it
            out.append(d)
    return out


def events(decisions, record_type="radio.geofence"):
    return [d.body["kind"] for d in decisions if d.record_type == record_type]


def walk(border, t0, chainage0, offset0, chainage1, offset1, speed_mps=1.5, step_s=5.0, **kw):
    """Fixes every *step_s* along a straight walk in (chainage, offset) space."""
    dist = math.hypot(chainage1 - chainage0, offset1 - offset0)
    steps = max(1, int(dist / (speed_mps * step_s)))
    return [fix_at(border, t0 + i * step_s, chainage0 + (chainage1 - chainage0) * i / steps,
                   offset0 + (offset1 - offset0) * i / steps, **kw) for i in range(steps + 1)]


def test_geometry_signed_distance_and_sectors(border):
    lon, lat = border.point_at(21000, 40)
    assert border.signed_distance(lon, lat) == pytest.approx(40, abs=0.5)
    lon, lat = border.point_at(10000, -100)
    assert border.signed_distance(lon, lat) == pytest.approx(-100, abs=0.5)
    # Near a vertex (the BCP bend at chainage ~37775) the side is still right.
    for offset in (-30, -5, 5, 30):
        lon, lat = border.point_at(37775.2, offset)
        assert math.copysign(1, border.signed_distance(lon, lat)) == math.copysign(1, offset)
    # The sensor nodes of the data file lie where their chainage/offset says.
    data = json.loads((DATA / "bilasuvar_border.json").read_text())
    for node in data["sensor_nodes"]:
        for sensor in node["sensors"]:
            d = border.signed_distance(sensor["lon"], sensor["lat"])
            assert d == pytest.approx(sensor["offset_m"], abs=5.0)
            x, y = border.projection.xy(sensor["lon"], sensor["lat"])
            assert border.sector_at(x, y) == node["sector"]


def test_approach_cross_and_recross(border):
    proc = processor(border)
    track = (walk(border, T0, 20000, 400, 20000, 20)            # approach
             + walk(border, T0 + 2000, 20000, 20, 20000, -30)   # across
             + walk(border, T0 + 2100, 20000, -30, 20000, 200)  # back inside
             + walk(border, T0 + 2400, 20000, 200, 20050, -15))  # across again
    out = run(proc, track)
    # Crossing the border is border_crossed, not also sector_exit (mirror image in S2).
    assert events(out) == ["border_proximity", "border_crossed", "border_proximity",
                           "border_crossed"]
    crossed = [d for d in out if d.body.get("kind") == "border_crossed"]
    assert all(d.alert == AlertLevel.ALARM and d.body["sector"] == "S2" for d in crossed)
    assert crossed[0].body["distance_m"] <= 10


def test_noise_along_the_line_does_not_flap(border):
    rng = random.Random(3)
    proc = processor(border)
    fixes = [fix_at(border, T0 + 5 * i, 18000 + 5 * i, 30 + rng.uniform(-8, 8)) for i in range(400)]
    kinds = events(run(proc, fixes))
    assert kinds == ["border_proximity"]


def test_jumps_and_invalid_fixes_are_rejected(border):
    proc = processor(border)
    good = walk(border, T0, 25000, 300, 25000, 250)
    t = good[-1].t
    bad = [
        fix_at(border, t + 5, 25000, -500),                    # 750 m in 5 s: a jump
        fix_at(border, t + 10, 25000, -400, valid=False),      # invalid fix across the line
        fix_at(border, t + 15, 25000, -400, hdop=25.0),        # too poor
        NmeaFix(t=t + 20, unit_id="P1", lat=0.0, lon=0.0, valid=True, sentence="RMC"),
        fix_at(border, t + 25, 25000, 245),
    ]
    out = run(proc, good + bad)
    assert events(out) == []
    accepted, rejected = proc.track_stats("P1")
    assert rejected == 4 and accepted == len(good) + 1


def test_consistent_rejected_fixes_reanchor_the_track(border):
    proc = processor(border, reanchor_after=3)
    start = walk(border, T0, 30000, 2000, 30000, 1990)
    t = start[-1].t
    # The unit was driven 3 km away while the radio was off for 20 s: consistent new fixes.
    moved = [fix_at(border, t + 20 + 5 * i, 33000 + i, 40) for i in range(5)]
    out = run(proc, start + moved)
    assert proc.track_stats("P1")[1] == 2  # two rejected, the third re-anchors
    assert "border_proximity" in events(out)


def test_gap_resets_the_track(border):
    proc = processor(border, gap_reset_s=60)
    out = run(proc, [fix_at(border, T0, 36000, 2000), fix_at(border, T0 + 600, 40000, -50)])
    assert events(out) == ["border_crossed"]  # 4 km in 10 min after a gap: kept


def test_sector_exit_and_return(border):
    proc = processor(border, unit_sectors={"P7": "S2"})
    track = (walk(border, T0, 30000, 1000, 33000, 1000, speed_mps=10, unit="P7")
             + walk(border, T0 + 1000, 33000, 1000, 31000, 1000, speed_mps=10, unit="P7"))
    out = run(proc, track)
    geo = [d for d in out if d.record_type == "radio.geofence"]
    assert [d.body["kind"] for d in geo] == ["sector_exit", "sector_return"]
    assert all(d.body["sector"] == "S2" for d in geo)
    assert geo[0].alert == AlertLevel.WARNING and geo[1].alert == AlertLevel.INFO
    positions = [d.body["sector"] for d in out if d.record_type == "radio.position"]
    assert "S3" in positions and positions[0] == "S2"


def test_sector_exit_beyond_the_line_by_its_mirror_image(border):
    proc = processor(border, unit_sectors={"P8": "S2"})
    track = (walk(border, T0, 31000, 200, 31000, -100, unit="P8")
             + walk(border, T0 + 500, 31000, -100, 33000, -100, speed_mps=10, unit="P8"))
    out = run(proc, track)
    geo = [(d.body["kind"], d.body.get("sector")) for d in out if d.record_type == "radio.geofence"]
    assert geo == [("border_proximity", "S2"), ("border_crossed", "S2"), ("sector_exit", "S2")]


def test_unassigned_unit_takes_the_sector_of_its_first_fix(border):
    proc = processor(border)
    out = run(proc, walk(border, T0, 14000, 1000, 17000, 1000, speed_mps=10))
    assert [(d.body["kind"], d.body["sector"]) for d in out if d.record_type == "radio.geofence"] \
        == [("sector_exit", "S1")]


def test_positions_are_thinned_by_time_and_distance(border):
    proc = processor(border, position_min_interval_s=30, position_min_distance_m=100)
    stationary = [fix_at(border, T0 + 5 * i, 26000, 1500) for i in range(121)]  # 10 minutes
    positions = [d for d in run(proc, stationary) if d.record_type == "radio.position"]
    assert len(positions) == 21  # the first, then one every 30 s
    proc = processor(border, position_min_interval_s=300, position_min_distance_m=100)
    driving = walk(border, T0, 20000, 2000, 24000, 2000, speed_mps=20)  # 4 km at 72 km/h
    positions = [d for d in run(proc, driving) if d.record_type == "radio.position"]
    assert 20 <= len(positions) <= 41  # one per 100-200 m (the smoothed track lags one fix)
    for a, b in itertools.pairwise(positions):
        xa, ya = border.projection.xy(a.body["lon"], a.body["lat"])
        xb, yb = border.projection.xy(b.body["lon"], b.body["lat"])
        assert math.hypot(xb - xa, yb - ya) >= 99.0
    assert positions[0].body["hdop"] == 1.0 and positions[0].body["fix_ms"] == int(T0 * 1000)


def test_smoothing_averages_the_recorded_position(border):
    proc = processor(border, smoothing_window=3, position_min_interval_s=0)
    fixes = [fix_at(border, T0 + 5 * i, 26000, 1500 + (20 if i % 2 else -20)) for i in range(6)]
    positions = [d for d in run(proc, fixes) if d.record_type == "radio.position"]
    last = positions[-1].body
    d = border.signed_distance(last["lon"], last["lat"])
    assert abs(d - 1500) < 10  # raw fixes alternate +-20 m; the mean of three is within ~7 m


def test_emergency_at_once_with_message_or_last_position(border):
    proc = processor(border)
    run(proc, [fix_at(border, T0, 21000, 300, unit="P2")])
    out = run(proc, [
        RadioStatus(t=T0 + 10, unit_id="P2", emergency=True, state="emergency"),
        RadioStatus(t=T0 + 20, unit_id="P3", emergency=True, state="emergency", lat=39.4,
                    lon=48.3),
        RadioStatus(t=T0 + 30, unit_id="P4", emergency=True, state="emergency"),
        RadioStatus(t=T0 + 40, unit_id="P2", emergency=False, state="low_battery",
                    battery_pct=9),
    ])
    assert [d.record_type for d in out] == ["radio.emergency"] * 3
    assert all(d.alert == AlertLevel.ALARM and d.decided_at - d.t <= 0.2 for d in out)
    _lon, lat = border.point_at(21000, 300)
    assert out[0].body["lat"] == pytest.approx(lat) and out[0].body["fix_ms"] == int(T0 * 1000)
    assert out[1].body["lat"] == 39.4 and "lat" not in out[2].body


def test_repeated_emergency_messages_alert_once(border):
    proc = processor(border, emergency_repeat_s=30)
    sos = [RadioStatus(t=T0 + 2 * i, unit_id="P5", emergency=True, state="emergency")
           for i in range(10)]
    assert len(run(proc, sos)) == 1 and proc.emergency_repeats("P5") == 9
    # A routine status between the repeats (radios send it on their own schedule) changes
    # nothing: the next repeat is still the same emergency.
    assert run(proc, [RadioStatus(t=T0 + 21, unit_id="P5", emergency=False, state="ok")]) == []
    assert run(proc, [RadioStatus(t=T0 + 22, unit_id="P5", emergency=True, state="emergency")]) \
        == []
    later = run(proc, [RadioStatus(t=T0 + 100, unit_id="P5", emergency=True, state="emergency")])
    assert [d.record_type for d in later] == ["radio.emergency"]  # 78 s of silence re-arms it


def test_nmea_sentences_through_the_driver_side(border):
    """Byte-exact NMEA (checksums) from the hardware-profile encoder, framed and decoded."""
    lon, lat = border.point_at(21000, -40)
    fixes = [NmeaFix(t=T0 + i, unit_id="P9", lat=lat, lon=lon, valid=True, sentence="RMC",
                     speed_kn=0.0, course_deg=0.0) for i in range(2)]
    wire = b"".join(nmea.encode_rmc(f) for f in fixes)
    wire += nmea.encode_status(RadioStatus(t=T0 + 3, unit_id="P9", emergency=True,
                                           state="emergency", lat=lat, lon=lon))
    corrupted = bytearray(nmea.encode_rmc(fixes[0]))
    corrupted[10] ^= 1  # a flipped bit: the framer drops the sentence (bad checksum)
    framer = nmea.Framer()
    decoder = nmea.Decoder(unit_id="P9")
    readings = [r for frame in framer.feed(bytes(corrupted) + wire) for r in decoder.decode(frame)]
    assert framer.stats.bad_checksum == 1
    out = run(processor(border), readings)
    assert [d.record_type for d in out] == ["radio.position", "radio.geofence", "radio.emergency"]
    assert out[1].body["kind"] == "border_crossed"


def test_from_profile_and_validation(border):
    profile = load_profile("patrol-radio")
    proc = RadioProcessor.from_profile(profile, unit_sectors={"P1": "S3"})
    assert proc.config.proximity_m == profile.setting("geofence_margin_m")
    assert proc.config.max_speed_kn == profile.setting("max_speed_kn")
    with pytest.raises(ProcessorError, match="unknown sector"):
        RadioProcessor(RadioConfig(unit_sectors={"P1": "S9"}), border)
    with pytest.raises(GeometryError):
        BorderGeometry([(48.0, 39.0)])
    with pytest.raises(GeometryError, match="format"):
        BorderGeometry.from_dict({"format": "geojson"})
    assert proc.feed("nothing") == [] and proc.tick(T0) == []


def test_no_missed_breach_on_random_tracks(border):
    """Random patrol walks with GNSS noise: every excursion beyond the line is alerted once."""
    rng = random.Random(11)
    for trial in range(20):
        proc = processor(border)
        unit = f"U{trial}"
        chainage = rng.uniform(2000, 60000)
        offset = rng.uniform(300, 1500)
        t = T0
        truth_crossings = 0
        beyond = False
        fixes = []
        for _ in range(600):
            t += 5
            target = rng.choice([-60, 200, 800]) if rng.random() < 0.02 else None
            if target is not None:
                offset += (target - offset) * 0.5
            offset += rng.uniform(-6, 6)
            chainage += rng.uniform(-5, 5)
            is_beyond = offset < 0
            if is_beyond and not beyond:
                truth_crossings += 1
            if not is_beyond and offset >= 10:
                beyond = False
            beyond = beyond or is_beyond
            fixes.append(fix_at(border, t, chainage, offset, unit=unit))
        crossed = events(run(proc, fixes)).count("border_crossed")
        assert crossed == truth_crossings, trial


# A real recording: the first 25 s of ``test/daemon/bu353s4.log`` of the gpsd regression suite
# (GlobalSat BU-353-S4, SiRF-IV, recorded 2014-12-31 in Hamilton, Waikato, NZ by Paul Beard;
# gpsd is BSD-2-Clause). GGA/RMC pairs with GSA/GSV between them, as the receiver sent them.
GPSD_BU353S4 = """\
$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D
$GPGSA,A,3,17,28,06,01,30,20,26,13,,,,,1.8,1.1,1.5*33
$GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,311214,,,A*7D
$GPGGA,030720.000,3747.0875,S,17518.8938,E,1,08,1.1,59.8,M,23.7,M,,0000*70
$GPRMC,030720.000,A,3747.0875,S,17518.8938,E,1.15,181.39,311214,,,A*7B
$GPGGA,030721.000,3747.0876,S,17518.8934,E,1,08,1.1,60.1,M,23.7,M,,0000*7D
$GPGSV,3,1,12,17,72,207,32,28,59,095,31,06,35,347,25,01,29,132,23*7B
$GPRMC,030721.000,A,3747.0876,S,17518.8934,E,0.89,181.39,311214,,,A*71
$GPGGA,030722.000,3747.0877,S,17518.8933,E,1,08,1.1,60.1,M,23.7,M,,0000*78
$GPRMC,030722.000,A,3747.0877,S,17518.8933,E,0.12,181.39,311214,,,A*76
$GPGGA,030723.000,3747.0878,S,17518.8935,E,1,08,1.1,60.0,M,23.7,M,,0000*71
$GPRMC,030723.000,A,3747.0878,S,17518.8935,E,0.66,181.39,311214,,,A*7D
$GPGGA,030728.000,3747.0878,S,17518.8940,E,1,08,1.1,60.5,M,23.7,M,,0000*7D
$GPRMC,030728.000,A,3747.0878,S,17518.8940,E,0.52,181.39,311214,,,A*73
$GPGGA,030729.000,3747.0879,S,17518.8942,E,1,08,1.1,60.7,M,23.7,M,,0000*7D
$GPRMC,030729.000,A,3747.0879,S,17518.8942,E,0.48,181.39,311214,,,A*7A
$GPGGA,030743.000,3747.0877,S,17518.8941,E,1,07,1.1,60.2,M,23.7,M,,0000*76
$GPRMC,030743.000,A,3747.0877,S,17518.8941,E,0.00,181.39,311214,,,A*77
"""


def test_real_recorded_nmea_log():
    """Real receiver output (gpsd regression log) through framer, decoder and processor,
    against a test line drawn 30 m south of the receiver (interior to the north)."""
    import datetime as dt

    framer = nmea.Framer()
    decoder = nmea.Decoder(unit_id="NZ-BU353", date_hint=dt.date(2014, 12, 31))
    readings = [r for f in framer.feed(GPSD_BU353S4.replace("\n", "\r\n").encode())
                for r in decoder.decode(f)]
    assert framer.stats.bad_checksum == 0 and framer.stats.frames == 18
    assert len(readings) == 16  # GSA/GSV decode to nothing
    assert readings[0].t == dt.datetime(2014, 12, 31, 3, 7, 19, tzinfo=dt.UTC).timestamp()
    lat0 = -(37 + 47.0877 / 60)
    south = lat0 - 30 / 111_195
    line = BorderGeometry([(175.30, south), (175.33, south)])  # west -> east: north is left
    proc = RadioProcessor(RadioConfig(proximity_m=50, position_min_interval_s=30), line)
    out = run(proc, readings)
    assert proc.track_stats("NZ-BU353") == (16, 0)  # metre-level jitter: nothing rejected
    assert events(out) == ["border_proximity"]
    geofence = [d for d in out if d.record_type == "radio.geofence"]
    assert 28 <= geofence[0].body["distance_m"] <= 32
    assert [d.record_type for d in out].count("radio.position") == 1  # 24 s, < 1 m moved


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_simulated_patrol_geofence_events_equal_the_ground_truth(seed):
    """Exits, returns, a crossing with its proximity warning and two emergencies: the
    processor's geofence and emergency records are exactly the simulator's truths, each on
    the fix (or message) that decides it."""
    from borderlink.hardware_profiles.simulator import generate
    from borderlink.hardware_profiles.simulator.model import scenario_from_dict

    device = {"id": "R1", "profile": "patrol-radio", "unit": "P-SIM", "sector": "S2",
              "start_chainage_m": 30000, "start_offset_m": 500, "mode": "vehicle",
              "speed_mps": 8}
    events_ = [{"at_s": 10, "kind": "sector_exit"}, {"at_s": 600, "kind": "border_crossed"},
               {"at_s": 1000, "kind": "sector_exit"}, {"at_s": 1200, "kind": "emergency"},
               {"at_s": 1203, "kind": "emergency"}]
    scenario = scenario_from_dict({"scenario": {"name": "p", "duration_s": 2400},
                                   "devices": [device],
                                   "events": [{"device": "R1", **e} for e in events_]}, "p.toml")
    proc = RadioProcessor.from_profile(load_profile("patrol-radio"), unit_sectors={"P-SIM": "S2"})
    truths, got = [], []
    for emission in generate(scenario, seed):
        for reading in emission.readings:
            got += [(d.t, d.body.get("kind", "emergency")) for d in proc.feed(reading)
                    if d.record_type in ("radio.geofence", "radio.emergency")]
        if emission.truth is not None:
            truths.append((emission.truth.t, emission.truth.kind))
    kinds = [k for _, k in truths]
    assert kinds.count("sector_return") == 2 and kinds.count("emergency") == 2
    assert "border_proximity" in kinds and "border_crossed" in kinds
    assert got == truths
