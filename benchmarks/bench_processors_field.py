"""Field processors on thousands of generated cases: detection figures and decision latency.

    python benchmarks/bench_processors_field.py [--quick] [--json FILE]

Radiation portal monitor, green-border sensors and the laboratory (GC-MS, GC-FID), each run on
the scenario simulator (``hardware_profiles.simulator``) and, for radiation and the lab, also
on the independent synthetic generator of the tests (``tests/edge/processors/field_synth.py``:
exact Poisson counts, 1/r^2 passages, other spectrum noise). Every latency is printed beside a
ceiling measured in the same run — the least work any decision of that kind must do — and the
ratio:

* radiation: the decision on the sample that ends an occupancy vs one pass summing the
  occupancy's counts;
* ground sensors: ``feed`` of one frame vs a dict update per frame;
* laboratory: the library search of one spectrum vs a bare sparse dot product of the spectrum
  with every library entry; the whole run (baseline, peaks, searches) is printed as well.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "edge" / "processors"))

from field_synth import lab_sample, rpm_traffic

from borderlink.edge.processors.ground_sensors import GroundSensorProcessor
from borderlink.edge.processors.lab import LabProcessor
from borderlink.edge.processors.radiation import RadiationConfig, RadiationProcessor
from borderlink.hardware_profiles.loader import DATA_DIR, load_profile
from borderlink.hardware_profiles.simulator import Scenario, generate
from borderlink.hardware_profiles.simulator.model import DeviceSpec, TrafficSpec


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))] if xs else 0.0


def scenario(profile: str, device_class_opts: dict[str, Any], hours: float, per_hour: float,
             kind: str, mix: dict[str, float], **params: Any) -> Scenario:
    return Scenario(name=f"bench-{profile}", description="", site="BIL", start=1.8e9,
                    duration_s=hours * 3600,
                    devices=(DeviceSpec("DEV", profile, device_class_opts),), events=(),
                    traffic=(TrafficSpec("DEV", kind, per_hour, mix, params),), faults=())


def line(name: str, value: str, ceiling: str = "", ratio: str = "") -> None:
    print(f"  {name:<44}{value:>16}{ceiling:>18}{ratio:>10}")


# ---------------------------------------------------------------------------- radiation
def bench_radiation(hours: float, far_hours: float, synth_n: int) -> dict[str, Any]:
    profile = load_profile("rpm-lane")
    out: dict[str, Any] = {}

    def run(sc: Scenario, seed: int) -> tuple[list[Any], list[Any], list[float], list[float]]:
        proc = RadiationProcessor(RadiationConfig.from_profile(profile))
        truths, results, lat, ceil = [], [], [], []
        occ: list[Any] = []
        for e in generate(sc, seed=seed):
            for r in e.readings:
                if getattr(r, "occupied", False):
                    occ.append(r)
                t0 = time.perf_counter()
                ds = proc.feed(r)
                dt = time.perf_counter() - t0
                if ds:
                    results.append(ds)
                    lat.append(dt)
                    t0 = time.perf_counter()
                    _ = sum(s.gamma_low + s.gamma_high + s.neutron for s in occ)
                    ceil.append(time.perf_counter() - t0)
                    occ = []
            if e.truth is not None:
                truths.append(e.truth)
        return truths, results, lat, ceil

    def outcome(ds: list[Any]) -> str:
        if len(ds) == 1:
            return "clear"
        return "nuisance" if ds[1].body["nuisance"] else "alarm"

    mix = {"clean": 40, "norm": 20, "cs137": 15, "co60": 15, "neutron": 10}
    truths, results, lat, ceil = run(scenario("rpm-lane", {"lane": "L1"}, hours, 400,
                                              "vehicle", mix), 101)
    t_sh, r_sh, lat2, ceil2 = run(scenario("rpm-lane", {"lane": "L1"}, hours / 2, 400, "vehicle",
                                           {"cs137": 1, "co60": 1, "neutron": 1},
                                           shielded=True), 102)
    t_far, r_far, lat3, ceil3 = run(scenario("rpm-lane", {"lane": "L1"}, far_hours, 500,
                                             "vehicle", {"clean": 1}), 103)
    by = Counter()
    for tr, ds in list(zip(truths, results)) + list(zip(t_sh, r_sh)) + list(zip(t_far, r_far)):
        by[(tr.detail["cargo"], bool(tr.detail["shielded"]), outcome(ds))] += 1

    def share(cargo: str, shielded: bool | None, what: str) -> tuple[int, int]:
        keys = [k for k in by if k[0] == cargo and (shielded is None or k[1] == shielded)]
        return sum(by[k] for k in keys if k[2] == what), sum(by[k] for k in keys)

    print("radiation portal monitor (scenario simulator)")
    for cargo in ("cs137", "co60", "neutron"):
        for shielded in (False, True):
            hit, n = share(cargo, shielded, "alarm")
            line(f"{cargo}{' shielded' if shielded else ''} alarms (>= MDA)", f"{hit}/{n}")
            out[f"sim_{cargo}{'_shielded' if shielded else ''}_alarm"] = [hit, n]
    nuis, n_norm = share("norm", None, "nuisance")
    line("NORM labelled nuisance", f"{nuis}/{n_norm} = {nuis / max(1, n_norm):.3f}")
    clear, n_clean = share("clean", None, "clear")
    line("false alarms on clean traffic", f"{n_clean - clear}/{n_clean}")
    out.update(sim_norm_nuisance=[nuis, n_norm], sim_clean_false_alarms=[n_clean - clear, n_clean])
    lat_all, ceil_all = lat + lat2 + lat3, ceil + ceil2 + ceil3
    p50, p99 = pct(lat_all, 0.5) * 1e3, pct(lat_all, 0.99) * 1e3
    c50, c99 = pct(ceil_all, 0.5) * 1e3, pct(ceil_all, 0.99) * 1e3
    line("decision latency p50 / p99 (ms)", f"{p50:.2f} / {p99:.2f}",
         f"sum {c50:.3f}/{c99:.3f}", f"x{p50 / max(c50, 1e-9):.0f}")
    out.update(latency_p50_ms=p50, latency_p99_ms=p99, ceiling_p50_ms=c50, ceiling_p99_ms=c99)

    # independent physics, exact Poisson: sources at 1-4x MDA, and clean traffic
    samples, truth = rpm_traffic(7, synth_n, {"clean": 0.8, "cs137": 0.08, "co60": 0.06,
                                              "neutron": 0.06}, gap_s=(3.0, 6.0))
    proc = RadiationProcessor()
    res = []
    for s in samples:
        ds = proc.feed(s)
        if ds:
            res.append(ds)
    syn = Counter((v.kind, outcome(ds)) for v, ds in zip(truth, res))
    src = sum(n for (k, o), n in syn.items() if k != "clean")
    src_hit = sum(n for (k, o), n in syn.items() if k != "clean" and o == "alarm")
    clean = sum(n for (k, o), n in syn.items() if k == "clean")
    fa = sum(n for (k, o), n in syn.items() if k == "clean" and o != "clear")
    print("radiation portal monitor (synthetic, exact Poisson, 1/r^2)")
    line("sources at 1-4x MDA alarm", f"{src_hit}/{src}")
    line("false alarms on clean traffic", f"{fa}/{clean}")
    out.update(synth_sources_alarm=[src_hit, src], synth_clean_false_alarms=[fa, clean])
    return out


# ---------------------------------------------------------------------------- ground sensors
def bench_ground(hours: float) -> dict[str, Any]:
    profile = load_profile("ground-sensor-gateway")
    proc = GroundSensorProcessor.from_profile(profile)
    mix = {"person": 30, "group": 10, "vehicle": 10, "animal": 25, "wind": 25}
    alerts, truths, lat, ceil = [], [], [], []
    seen: dict[str, float] = {}
    for e in generate(scenario("ground-sensor-gateway", {}, hours, 30, "crossing", mix), seed=201):
        for r in e.readings:
            t0 = time.perf_counter()
            alerts += proc.feed(r)
            lat.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            seen[r.sensor_id] = r.t
            ceil.append(time.perf_counter() - t0)
        if e.truth is not None:
            truths.append(e.truth)
    alerts += proc.tick(1.8e9 + hours * 3600 + 600)
    match: dict[int, Any] = {}
    for d in alerts:
        first = d.body["first_ms"] / 1000
        cands = [(tr.record_type is None, abs(first - tr.start), j) for j, tr in enumerate(truths)
                 if j not in match and tr.detail.get("node") == d.extra["node_id"]
                 and tr.start - 1.0 <= first <= tr.t + 1.0]
        if cands:
            match[min(cands)[2]] = d
    crossings = [j for j, tr in enumerate(truths) if tr.record_type]
    nuisance = [j for j, tr in enumerate(truths) if not tr.record_type]
    found = [j for j in crossings if j in match]
    klass = sum(match[j].body["class"] == truths[j].expect["class"] for j in found)
    direction = sum(match[j].body["direction"] == truths[j].expect["direction"] for j in found)
    false = sum(1 for j in nuisance if j in match)
    late = [max(0.0, match[j].decided_at - truths[j].t) for j in found]
    print("green-border sensors (scenario simulator)")
    line("crossing recall", f"{len(found)}/{len(crossings)} = {len(found) / len(crossings):.3f}")
    line("class right / direction right", f"{klass}/{len(found)}, {direction}/{len(found)}")
    line("false alerts from animals and wind", f"{false}/{len(nuisance)} = "
         f"{false / max(1, len(nuisance)):.3f}")
    line("alerts within 1 s of the crossing's last frame",
         f"{sum(1 for x in late if x <= 1.0)}/{len(late)}")
    p50, p99 = pct(lat, 0.5) * 1e6, pct(lat, 0.99) * 1e6
    c50, c99 = pct(ceil, 0.5) * 1e6, pct(ceil, 0.99) * 1e6
    line("feed latency p50 / p99 (us)", f"{p50:.1f} / {p99:.1f}", f"dict {c50:.2f}/{c99:.2f}",
         f"x{p50 / max(c50, 1e-9):.0f}")
    return {"recall": [len(found), len(crossings)], "class_right": [klass, len(found)],
            "direction_right": [direction, len(found)], "false_alerts": [false, len(nuisance)],
            "within_1s": [sum(1 for x in late if x <= 1.0), len(late)],
            "feed_p50_us": p50, "feed_p99_us": p99, "ceiling_p50_us": c50, "ceiling_p99_us": c99}


# ---------------------------------------------------------------------------- laboratory
def bench_lab(samples: int, synth_n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for prof in ("gcms-qp2010", "gc-fid-gc2010"):
        proc = LabProcessor.from_profile(load_profile(prof))
        comp = found = neg = fp = pos = tp = 0
        run_lat, search_lat, ceil = [], [], []
        lib = [(dict(w), e) for e, _n, w, _s in proc.library._weighted]
        for e in generate(scenario(prof, {}, samples / 60.0, 60, "sample", {}), seed=301):
            for run in e.readings:
                t0 = time.perf_counter()
                d = proc.feed(run)[0]
                run_lat.append(time.perf_counter() - t0)
                exp = e.truth.expect
                names = {f["substance"] for f in d.body["findings"]}
                comp += len(exp["substances"])
                found += len(names & set(exp["substances"]))
                if exp["controlled_found"]:
                    pos += 1
                    tp += d.body["controlled_found"]
                else:
                    neg += 1
                    fp += d.body["controlled_found"]
                for spec in run.spectra:
                    binned = proc.clean_spectrum(spec)
                    t0 = time.perf_counter()
                    proc.library.search_mixture(binned, ri=1500.0, ri_tolerance=30.0)
                    search_lat.append(time.perf_counter() - t0)
                    q = {m: math.sqrt(i) for m, i in binned.items()}
                    t0 = time.perf_counter()
                    for w, _e in lib:
                        sum(v * w.get(m, 0.0) for m, v in q.items())
                    ceil.append(time.perf_counter() - t0)
        name = "GC-MS" if prof.startswith("gcms") else "GC-FID"
        print(f"laboratory {name} (scenario simulator, {len(run_lat)} samples)")
        line("components identified (top-1)", f"{found}/{comp} = {found / max(1, comp):.3f}")
        line("controlled found on drug samples", f"{tp}/{pos}")
        line("controlled reported on negatives", f"{fp}/{neg}")
        r50, r99 = pct(run_lat, 0.5) * 1e3, pct(run_lat, 0.99) * 1e3
        line("whole run p50 / p99 (ms)", f"{r50:.1f} / {r99:.1f}")
        key = name.lower().replace("-", "")
        out[key] = {"identified": [found, comp], "controlled_tp": [tp, pos],
                    "negatives_fp": [fp, neg], "run_p50_ms": r50, "run_p99_ms": r99}
        if search_lat:
            s50, s99 = pct(search_lat, 0.5) * 1e3, pct(search_lat, 0.99) * 1e3
            c50, c99 = pct(ceil, 0.5) * 1e3, pct(ceil, 0.99) * 1e3
            line(f"spectrum search vs {len(lib)} entries p50 / p99 (ms)",
                 f"{s50:.3f} / {s99:.3f}", f"dot {c50:.3f}/{c99:.3f}",
                 f"x{s50 / max(c50, 1e-9):.0f}")
            out[key].update(search_p50_ms=s50, search_p99_ms=s99, ceiling_p50_ms=c50,
                            ceiling_p99_ms=c99)

    raw = json.loads((DATA_DIR / "ms_library.json").read_text())
    lib_map = {e["id"]: e for e in raw["entries"]}
    proc = LabProcessor.from_profile(load_profile("gcms-qp2010"))
    comp = found = neg = fp = extra = 0
    for seed in range(synth_n):
        run, truth = lab_sample(10_000 + seed, lib_map)
        d = proc.feed(run)[0]
        names = {f["substance"] for f in d.body["findings"]}
        comp += len(truth.components)
        found += len(names & set(truth.components))
        extra += len(names - set(truth.components))
        if not truth.controlled:
            neg += 1
            fp += d.body["controlled_found"]
    print(f"laboratory GC-MS (synthetic spectra and chromatograms, {synth_n} samples)")
    line("components identified (top-1)", f"{found}/{comp} = {found / max(1, comp):.3f}")
    line("substances reported that are not there", f"{extra}")
    line("controlled reported on negatives (incl. unknowns)", f"{fp}/{neg}")
    out["synthetic_gcms"] = {"identified": [found, comp], "extra": extra, "negatives_fp": [fp, neg]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the cases")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args(argv)
    k = 0.1 if args.quick else 1.0
    print(f"{'':2}{'figure':<44}{'value':>16}{'ceiling':>18}{'ratio':>10}")
    results = {
        "radiation": bench_radiation(hours=10 * k, far_hours=20 * k, synth_n=int(3000 * k)),
        "ground_sensors": bench_ground(hours=60 * k),
        "lab": bench_lab(samples=int(600 * k), synth_n=int(300 * k)),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
