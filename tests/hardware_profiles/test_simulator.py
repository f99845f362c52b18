"""The simulator: scenarios validate, generate() is deterministic, ordered, decodable, and its
ground truth agrees with what it emitted (checked independently where possible)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import serial

from borderlink.cli import main
from borderlink.hardware_profiles.errors import ProfileNotFoundError, ScenarioError
from borderlink.hardware_profiles.loader import DATA_DIR, load_profile
from borderlink.hardware_profiles.protocols import decoder_for, framer_for
from borderlink.hardware_profiles.readings import (
    CountSample,
    LabRun,
    LinkStatus,
    MrzRead,
    NmeaFix,
    OccupancyReport,
    RadioStatus,
    SensorFrame,
)
from borderlink.hardware_profiles.simulator import generate, load_scenario, shipped_scenarios
from borderlink.hardware_profiles.simulator.documents import DOC_KINDS, name_variants
from borderlink.hardware_profiles.simulator.lab import NEGATIVE_PRESETS
from borderlink.hardware_profiles.simulator.model import FAULT_MODES, scenario_from_dict

from .test_emulator_contract import mrz_digits_ok

SMOKE = list(generate("smoke", 11))


def test_shipped_scenarios_load() -> None:
    names = {load_scenario(p).name for p in shipped_scenarios()}
    assert {"smoke", "bilasuvar-day", "stress"} <= names
    day = load_scenario("bilasuvar-day")
    assert day.duration_s == 86400
    assert sum(t.per_hour for t in day.traffic if t.kind == "traveller") * 24 > 5000
    assert sum(t.per_hour for t in day.traffic if t.kind == "vehicle") * 24 > 300


def test_smoke_covers_every_class_event_kind_and_fault() -> None:
    scenario = load_scenario("smoke")
    classes = {load_profile(d.profile).device_class for d in scenario.devices}
    assert classes == {"document_reader", "radiation_portal_monitor", "ground_sensor", "patrol_radio",
                       "telephony", "gc_fid", "gc_ms"}
    truths = [e.truth for e in SMOKE if e.truth is not None]
    docs = {t.detail["doc"] for t in truths if t.kind == "traveller"}
    assert docs == set(DOC_KINDS)
    assert {t.detail["format"] for t in truths if t.kind == "traveller"} >= {"TD1", "TD2", "TD3", "MRVA", "MRVB"}
    assert {t.detail["cargo"] for t in truths if t.kind == "vehicle"} == {"clean", "norm", "cs137", "co60", "neutron"}
    assert any(t.detail.get("shielded") for t in truths if t.kind == "vehicle")
    assert {t.detail["what"] for t in truths if t.kind == "crossing"} == {"person", "group", "vehicle", "animal", "wind"}
    assert {t.expect.get("direction") for t in truths if t.kind == "crossing"} >= {"inbound", "outbound"}
    assert {t.kind for t in truths} >= {"emergency", "sector_exit", "border_crossed", "outage", "degraded", "call",
                                        "sample"}
    lab = [t for t in truths if t.kind == "sample"]
    assert any(t.expect["controlled_found"] for t in lab) and any(not t.expect["controlled_found"] for t in lab)
    found = {c for t in lab for c in t.expect["controlled"]}
    assert found >= {"cocaine", "heroin", "methamphetamine", "amphetamine", "mdma", "thc"}
    cuts = {c for t in lab for c in t.expect["substances"]}
    assert cuts >= {"caffeine", "lidocaine", "procaine", "paracetamol"}
    assert {t.kind.split(".", 1)[1] for t in truths if t.kind.startswith("fault.")} == set(FAULT_MODES)


def test_generate_is_deterministic_per_seed_and_ordered() -> None:
    again = list(generate("smoke", 11))
    assert [(e.t, e.device_id, e.data) for e in again] == [(e.t, e.device_id, e.data) for e in SMOKE]
    other = list(generate("smoke", 12))
    assert [e.data for e in other] != [e.data for e in SMOKE]
    times = [e.t for e in SMOKE]
    assert times == sorted(times)
    _t, device_id, readings, data, _truth = SMOKE[0]  # unpacks as a tuple
    assert isinstance(device_id, str) and isinstance(data, bytes) and isinstance(readings, tuple)
    alone = list(generate(load_scenario("smoke").only("BIL-UGS-GW"), 11))
    assert [e.data for e in alone] == [e.data for e in SMOKE if e.device_id == "BIL-UGS-GW"]


def _key(r: Any) -> Any:
    if isinstance(r, MrzRead):
        return r.lines, r.uv_ok, r.ir_ok
    if isinstance(r, CountSample):
        return r.panel, r.gamma_low, r.gamma_high, r.neutron, r.occupied
    if isinstance(r, OccupancyReport):
        return r.occupancy_id, r.foreground
    if isinstance(r, SensorFrame):
        return r.sensor_id, r.seq, r.event, round(r.value, 2)
    if isinstance(r, NmeaFix):
        return r.sentence, round(r.lat * 6e5), round(r.lon * 6e5)  # the wire's 0.0001' resolution
    if isinstance(r, RadioStatus):
        return r.state, r.unit_id
    if isinstance(r, LinkStatus):
        return r.link_id, r.state
    return type(r).__name__, getattr(r, "seq", None)


def test_every_emission_decodes_to_its_readings() -> None:
    scenario = load_scenario("smoke")
    per_device: dict[str, list[Any]] = defaultdict(list)
    for e in SMOKE:
        per_device[e.device_id].append(e)
    for spec in scenario.devices:
        profile = load_profile(spec.profile)
        emissions = [e for e in per_device[spec.id] if e.readings]
        if profile.transport.scheme == "file":
            from borderlink.hardware_profiles.protocols import jcamp

            for e in emissions:
                run = jcamp.parse_file(e.data)
                assert run.sample_id == e.readings[0].sample_id
                assert len(run.spectra) == len(e.readings[0].spectra)
            continue
        framer = framer_for(profile.framing.protocol)
        kwargs = {"unit_id": spec.options.get("unit", "")} if profile.device_class == "patrol_radio" else {}
        decoder = decoder_for(profile, **kwargs)
        decoded = []
        for e in emissions:
            for frame in framer.feed(e.data):
                decoded.extend(decoder.decode(frame))
        expected = [r for e in emissions for r in e.readings]
        if any(f.device == spec.id and f.mode == "drop" for f in scenario.faults):
            assert 0 < len(decoded) < len(expected)  # some lines were corrupted on purpose
            continue
        assert [_key(r) for r in decoded] == [_key(r) for r in expected], spec.id


def _countries() -> set[str]:
    with open(DATA_DIR / "icao_countries.csv", newline="") as fh:
        return {row["code"] for row in csv.DictReader(fh)}


def test_document_truth_agrees_with_the_mrz() -> None:
    watchlist = json.loads((DATA_DIR / "watchlist.json").read_text())
    lost = {d["number"] for d in watchlist["documents"]}
    persons = {p["id"]: p for p in watchlist["persons"]}
    countries = _countries()
    truths = list(generate("stress", 4))
    seen = defaultdict(int)
    for e in truths:
        if e.truth is None or e.truth.kind != "traveller":
            continue
        read: MrzRead = e.readings[0]
        kind = e.truth.detail["doc"]
        seen[kind] += 1
        lines = read.lines
        assert mrz_digits_ok(lines) == (kind not in ("bad_check_digit", "altered")), (kind, lines)
        issuer = lines[0][2:5].rstrip("<")
        expiry = lines[1][8:14] if len(lines) == 3 else lines[1][21:27]
        expires = dt.date(2000 + int(expiry[:2]), int(expiry[2:4]), int(expiry[4:]))
        if kind == "expired":
            assert expires < dt.date(2026, 11, 27)
        elif kind not in ("altered",):
            assert expires >= dt.date(2026, 11, 27)
        if kind == "fantasy":
            assert issuer not in countries
        elif kind == "specimen":
            assert issuer == "UTO"
        else:
            assert issuer in countries
        if kind == "lost_stolen":
            number = (lines[0][5:14] if len(lines) == 3 else lines[1][0:9]).rstrip("<")
            assert number in lost
        if kind == "watchlist":
            person = persons[e.truth.detail["watchlist_id"]]
            name_line = lines[2] if len(lines) == 3 else lines[0][5:]
            birth = lines[1][0:6] if len(lines) == 3 else lines[1][13:19]
            assert birth == person["birth_date"][2:].replace("-", "")
            assert name_line.startswith(e.truth.detail["presented_surname"] + "<<")
        assert e.truth.expect["verdict"] == {"watchlist": "hit", "lost_stolen": "hit", "valid": "clear"}.get(kind, "refer")
    assert set(seen) == set(DOC_KINDS)
    # a PBX numbers its CDRs in the order it writes them (at the end of each call)
    seqs = [e.readings[0].seq for e in truths if e.readings and type(e.readings[0]).__name__ == "CallDetailRecord"]
    assert len(seqs) > 100 and seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_name_variants_are_transliterations() -> None:
    import random

    rng = random.Random(1)
    variants = {v for _ in range(40) for v in name_variants("HUSEYNOV", rng)}
    assert "HUSEYNOV" not in variants
    assert variants & {"GUSEYNOV", "HUSEINOV", "HOSSEYNOV", "HUSEYNOF"}
    assert all(v.isalpha() and v.isupper() for v in variants)


def test_lab_spectra_resemble_but_never_copy_the_library() -> None:
    library = {e["id"]: e for e in json.loads((DATA_DIR / "ms_library.json").read_text())["entries"]}
    checked = 0
    for e in SMOKE:
        if not e.readings or not isinstance(e.readings[0], LabRun) or not e.readings[0].spectra:
            continue
        run: LabRun = e.readings[0]
        rts = e.truth.detail["retention_min"]  # type: ignore[union-attr]
        for spectrum in run.spectra:
            comp = min(rts, key=lambda c: abs(rts[c] - spectrum.retention_time_min))
            if abs(rts[comp] - spectrum.retention_time_min) > 1e-3:
                continue  # an impurity peak
            ref = {m: i for m, i in library[comp]["peaks"]}
            got = dict(zip(spectrum.mz, spectrum.intensities))
            assert got != ref and set(got) != set(ref)  # never an exact copy
            dot = sum(math.sqrt(ref.get(m, 0) * got.get(m, 0)) for m in set(ref) | set(got))
            norm = math.sqrt(sum(ref.values()) * sum(got.values()))
            assert dot / norm > 0.55, comp  # but still recognisably the compound
            checked += 1
        assert run.chromatogram is not None
        ri_order = sorted(rts, key=lambda c: library[c]["retention_index"])
        assert ri_order == sorted(rts, key=lambda c: rts[c]) or len(rts) > 2
    assert checked >= 8


def test_negative_presets_hold_nothing_controlled() -> None:
    from borderlink.hardware_profiles.simulator.lab import PRESETS

    library = {e["id"]: e for e in json.loads((DATA_DIR / "ms_library.json").read_text())["entries"]}
    for name in NEGATIVE_PRESETS:
        assert not any(library[c]["controlled"] for c in PRESETS[name])
    for name, mixture in PRESETS.items():
        assert sum(mixture.values()) == pytest.approx(1.0), name


def test_radiation_sources_show_in_the_energy_windows() -> None:
    band = load_profile("rpm-lane").setting("pvt_norm_ratio_band")
    seen = set()
    for e in SMOKE:
        if e.truth is None or e.truth.kind != "vehicle":
            continue
        report: OccupancyReport = e.readings[0]
        shadow = e.truth.detail["shadowing"]
        bg_low = sum(p.gamma_low for p in report.background) / report.background_live_time_s
        bg_high = sum(p.gamma_high for p in report.background) / report.background_live_time_s
        low = sum(p.gamma_low for p in report.foreground) - bg_low * report.live_time_s * (1 - shadow)
        high = sum(p.gamma_high for p in report.foreground) - bg_high * report.live_time_s * (1 - shadow)
        cargo, shielded = e.truth.detail["cargo"], e.truth.detail["shielded"]
        seen.add(cargo)
        if cargo == "clean":  # nothing beyond the (shadowed) background
            assert abs(low + high) < 5 * math.sqrt((bg_low + bg_high) * report.live_time_s) + 1
            assert sum(p.gamma for p in report.foreground) / report.live_time_s < bg_low + bg_high
            continue
        if cargo == "neutron":
            neutrons = sum(p.neutron for p in report.foreground) / report.live_time_s
            assert neutrons > 5 * sum(p.neutron for p in report.background) / report.background_live_time_s
            continue
        ratio = high / (low + high)  # net energy-window ratio
        if cargo == "norm":
            assert band[0] <= ratio <= band[1], ratio
        elif cargo == "cs137":
            assert ratio < band[0], (shielded, ratio)
        elif cargo == "co60":
            assert ratio > band[1], (shielded, ratio)
    assert seen == {"clean", "norm", "cs137", "co60", "neutron"}


def test_crossings_trigger_sensors_in_their_direction() -> None:
    frames_by_node: dict[str, list[SensorFrame]] = defaultdict(list)
    truths = []
    for e in SMOKE:
        for r in e.readings:
            if isinstance(r, SensorFrame) and r.event == "detect":
                frames_by_node[r.node_id].append(r)
        if e.truth is not None and e.truth.record_type == "intrusion.alert":
            truths.append(e.truth)
    assert truths
    for truth in truths:
        mine = [f for f in frames_by_node[truth.detail["node"]] if truth.start <= f.t <= truth.t]
        first: dict[str, SensorFrame] = {}
        for f in sorted(mine, key=lambda f: f.t):
            first.setdefault(f.sensor_id, f)
        order = [f.offset_m for f in sorted(first.values(), key=lambda f: f.t)]
        assert order == sorted(order, reverse=truth.expect["direction"] == "outbound"), order


SCENARIO_FAILURES = [
    ({}, "[scenario]", "a table"),
    ({"scenario": {"name": "x", "duration_s": 10}}, "[devices]", "at least one"),
    ({"scenario": {"name": "x", "duration_s": -1}, "devices": []}, "[scenario.duration_s]", "non-negative"),
    ({"scenario": {"name": "x", "duration_s": 10, "start": "yesterday"}}, "[scenario.start]", "ISO 8601"),
    ({"scenario": {"name": "x", "duration_s": 10}, "devices": [{"id": "a", "profile": "toaster"}]},
     "[devices[0].profile]", "shipped profile"),
    ({"scenario": {"name": "x", "duration_s": 10}, "devices": [{"id": "a", "profile": "rpm-lane"}],
      "events": [{"at_s": 1, "device": "b", "kind": "vehicle"}]}, "[events[0].device]", "one of"),
    ({"scenario": {"name": "x", "duration_s": 10}, "devices": [{"id": "a", "profile": "rpm-lane"}],
      "events": [{"at_s": 11, "device": "a", "kind": "vehicle"}]}, "[events[0].at_s]", "within"),
    ({"scenario": {"name": "x", "duration_s": 10}, "devices": [{"id": "a", "profile": "rpm-lane"}],
      "faults": [{"at_s": 1, "device": "a", "mode": "gremlins"}]}, "[faults[0].mode]", "one of"),
]


@pytest.mark.parametrize(("doc", "key", "expect"), SCENARIO_FAILURES, ids=[k for _, k, _ in SCENARIO_FAILURES])
def test_scenario_validation_names_key(doc: dict[str, Any], key: str, expect: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(doc, "s.toml")
    assert str(caught.value).startswith("s.toml: ") and key in str(caught.value) and expect in str(caught.value)


def test_unknown_event_kind_is_a_scenario_error() -> None:
    doc = {"scenario": {"name": "x", "duration_s": 10}, "devices": [{"id": "a", "profile": "rpm-lane"}],
           "events": [{"at_s": 1, "device": "a", "kind": "traveller"}]}
    with pytest.raises(ScenarioError, match="no event kind 'traveller'"):
        list(generate(scenario_from_dict(doc, "s.toml")))
    with pytest.raises(ProfileNotFoundError):
        load_scenario("no-such-scenario")


def test_simulate_run_writes_truth_devices_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["simulate", "run", "smoke", "--speed", "0", "--seed", "11", "--out", str(out)]) == 0
    lines = [json.loads(x) for x in (out / "truth.jsonl").read_text().splitlines()]
    expected = [e.truth.to_json() for e in SMOKE if e.truth is not None]
    assert [(x["event_id"], x["record_type"], x["alert"]) for x in lines] == \
        [(x["event_id"], x["record_type"], x["alert"]) for x in expected]
    devices = json.loads((out / "devices.json").read_text())
    assert len(devices) == 10 and all("://" in d["url"] for d in devices.values())
    assert len(list((out / "folders" / "SCC-LAB-GCMS").glob("*.jdx"))) == 8
    summary = json.loads((out / "summary.json").read_text())
    assert summary["devices"]["BIL-RPM-L1"]["disconnects"] == 1  # the scenario's disconnect fault
    assert "ground truth" in capsys.readouterr().out
    assert main(["simulate", "truth", "smoke", "--seed", "11", "--out", str(tmp_path / "t.jsonl")]) == 0
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == len(expected)


def test_emulate_command_serves_a_pty_and_switches_faults_at_run_time(tmp_path: Path) -> None:
    link = tmp_path / "radio"
    proc = subprocess.Popen([sys.executable, "-m", "borderlink", "emulate", "patrol-radio", "--speed", "100",
                             "--duration", "600", "--seed", "3", "--link", str(link)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        first = proc.stdout.readline().split()
        assert first[1] == "patrol-radio" and first[2].startswith(f"serial://{link}?baud=4800")
        port = serial.Serial(str(link), 4800, timeout=0.05)
        framer = framer_for("nmea0183")
        deadline = time.monotonic() + 5
        while framer.stats.frames < 4 and time.monotonic() < deadline:
            framer.feed(port.read(4096))
        assert framer.stats.frames >= 4 and framer.stats.bad_checksum == 0
        proc.stdin.write("noise 1\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith("pty: ")
        assert "noise" in proc.stdout.readline()
        garbage = framer.stats.garbage_bytes
        deadline = time.monotonic() + 5
        while framer.stats.garbage_bytes == garbage and time.monotonic() < deadline:
            framer.feed(port.read(4096))
        assert framer.stats.garbage_bytes > garbage
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        port.close()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- patrols
def _patrol_scenario(events: list[dict[str, Any]], duration_s: float = 1500, **options: Any):
    device = {"id": "R1", "profile": "patrol-radio", "unit": "P-TEST", "sector": "S2",
              "start_chainage_m": 30000, "start_offset_m": 500, "mode": "vehicle",
              "speed_mps": 8, **options}
    return scenario_from_dict({"scenario": {"name": "patrol", "duration_s": duration_s},
                               "devices": [device],
                               "events": [{"device": "R1", **e} for e in events]}, "patrol.toml")


def _radio_geo(lat: float, lon: float):
    from borderlink.hardware_profiles.geo import BorderGeometry

    geo = BorderGeometry.load(DATA_DIR / "bilasuvar_border.json")
    return geo.to_chainage(lon, lat)


def test_patrol_leaves_its_sector_comes_back_and_leaves_again() -> None:
    scenario = _patrol_scenario([{"at_s": 10, "kind": "sector_exit"},
                                 {"at_s": 700, "kind": "sector_exit"}], duration_s=1800)
    emissions = list(generate(scenario, 3))
    truths = [e.truth for e in emissions if e.truth is not None]
    assert [t.kind for t in truths] == ["sector_exit", "sector_return", "sector_exit",
                                        "sector_return"]
    assert truths[0].event_id == "R1#000000" and truths[2].event_id == "R1#000001"
    assert all(t.record_type == "radio.geofence" and t.expect["sector"] == "S2" for t in truths)
    # positions say the same: outside the sector's 16-32 km stretch between exit and return
    fixes = [(e.t, r) for e in emissions for r in e.readings if isinstance(r, NmeaFix)]
    for out, back in ((truths[0], truths[1]), (truths[2], truths[3])):
        between = [_radio_geo(r.lat, r.lon)[0] for t, r in fixes if out.t <= t < back.t]
        assert between and all(not 16000 <= c <= 32000 for c in between)
        after = [_radio_geo(r.lat, r.lon)[0] for t, r in fixes if back.t <= t < back.t + 60]
        assert after and all(16010 <= c <= 31990 for c in after)


def test_border_crossing_is_preceded_by_proximity_and_followed_by_no_new_one() -> None:
    scenario = _patrol_scenario([{"at_s": 10, "kind": "border_crossed"}], duration_s=900,
                                mode="foot", speed_mps=1.3, start_offset_m=300)
    truths = [e.truth for e in generate(scenario, 5) if e.truth is not None]
    assert [t.kind for t in truths] == ["border_proximity", "border_crossed"]
    proximity, crossed = truths
    assert 0 <= proximity.detail["offset_m"] <= 50 and crossed.detail["offset_m"] < 0
    assert crossed.event_id == "R1#000000" and proximity.event_id != crossed.event_id


def test_a_second_emergency_waits_until_the_first_stopped_repeating() -> None:
    scenario = _patrol_scenario([{"at_s": 100, "kind": "emergency"},
                                 {"at_s": 103, "kind": "emergency"}], duration_s=300)
    statuses = [(e.t, e.truth) for e in generate(scenario, 1)
                for r in e.readings if isinstance(r, RadioStatus) and r.emergency]
    starts = [t for t, truth in statuses if truth is not None]
    assert len(starts) == 2
    first_burst = [t for t, _ in statuses if starts[0] <= t < starts[1]]
    rearm = load_profile("patrol-radio").setting("emergency_repeat_s")
    assert starts[1] - max(first_burst) > rearm


def test_smoke_patrols_start_well_inside_their_sectors() -> None:
    from borderlink.hardware_profiles.geo import BorderGeometry

    geo = BorderGeometry.load(DATA_DIR / "bilasuvar_border.json")
    for spec in load_scenario("smoke").devices:
        if spec.profile != "patrol-radio":
            continue
        c0, c1 = geo.sector(spec.options["sector"]).chainage_m
        c = float(spec.options["start_chainage_m"])
        assert c0 + 500 <= c <= c1 - 500, spec.id


def test_ground_truth_reads_back_what_it_wrote() -> None:
    """truth.jsonl lines turn back into the same GroundTruth (the demo scores with them)."""
    from borderlink.hardware_profiles.simulator.model import GroundTruth

    truths = [e.truth for e in SMOKE if e.truth is not None]
    assert truths
    for truth in truths:
        line = json.loads(json.dumps(truth.to_json()))
        back = GroundTruth.from_json(line)
        assert back.to_json() == truth.to_json()
        assert (back.device_id, back.event_id, back.record_type) == \
            (truth.device_id, truth.event_id, truth.record_type)
