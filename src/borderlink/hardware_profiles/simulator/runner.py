"""``simulate run``: every device of a scenario on its real endpoint, paced by a pump, with
the ground truth written as JSON lines."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..emulators.emulator import Emulator, Pump
from ..emulators.endpoints import endpoint_for
from ..loader import load_profile
from .generator import generate
from .model import GroundTruth, Scenario, load_scenario

__all__ = ["RunResult", "run_scenario", "start_run", "write_truth"]


@dataclass
class RunResult:
    """A running (or finished) scenario: its emulators, pump and ground-truth counts."""

    scenario: Scenario
    out_dir: Path
    emulators: dict[str, Emulator]
    pump: Pump
    truth_file: IO[str]
    truth_counts: Counter[str] = field(default_factory=Counter)
    started: float = 0.0
    finished: float = 0.0

    def urls(self) -> dict[str, str]:
        return {d: em.url() for d, em in self.emulators.items()}

    def close(self) -> None:
        """Stop the pump, close every endpoint and the truth file (idempotent)."""
        self.pump.stop()
        for em in self.emulators.values():
            em.close()
        if not self.truth_file.closed:
            self.truth_file.close()


def write_truth(scenario: Scenario | str, seed: int, path: Path) -> int:
    """The ground truth of a scenario as JSON lines, without sockets (fast)."""
    count = 0
    with open(path, "w", encoding="utf-8") as fh:
        for e in generate(scenario, seed):
            if e.truth is not None:
                fh.write(json.dumps(e.truth.to_json(), sort_keys=True) + "\n")
                count += 1
    return count


def start_run(scenario: Scenario | str | Path, seed: int, speed: float, out_dir: Path,
              on_line: Callable[[str], None] | None = None, until_s: float | None = None,
              start_delay_s: float = 0.0) -> RunResult:
    """Open every device's endpoint, write ``devices.json`` and start the pump (a thread).

    ``OUT/dev/<device>`` are stable symlinks to the ptys, ``OUT/folders/<device>`` the export
    folders; TCP devices listen on free ports of 127.0.0.1. ``OUT/truth.jsonl`` fills as the
    run goes (each line also has ``wall_time``, when the deciding emission went out).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "dev").mkdir(exist_ok=True)
    emulators: dict[str, Emulator] = {}
    devices: dict[str, Any] = {}
    try:
        for spec in scenario.devices:
            profile = load_profile(spec.profile)
            endpoint = endpoint_for(profile, port=0, link=out_dir / "dev" / spec.id,
                                    folder=out_dir / "folders" / spec.id)
            em = Emulator(spec.id, profile, endpoint, seed)
            em.open()
            emulators[spec.id] = em
            devices[spec.id] = {"profile": profile.name, "class": profile.device_class, "url": em.url()}
            if on_line:
                on_line(f"{spec.id:<16} {profile.name:<24} {em.url()}")
    except BaseException:
        for em in emulators.values():
            em.close()
        raise
    (out_dir / "devices.json").write_text(json.dumps(devices, indent=1, sort_keys=True) + "\n")
    truth_file = open(out_dir / "truth.jsonl", "w", encoding="utf-8")  # noqa: SIM115 - closed by RunResult.close
    counts: Counter[str] = Counter()

    def on_truth(truth: GroundTruth, wall: float) -> None:
        line = truth.to_json()
        line["wall_time"] = round(wall, 3)
        truth_file.write(json.dumps(line, sort_keys=True) + "\n")
        truth_file.flush()
        counts[truth.record_type or "suppressed"] += 1

    until = scenario.start + until_s if until_s is not None else None
    pump = Pump(emulators, generate(scenario, seed), scenario.start, speed, on_truth, until, start_delay_s)
    result = RunResult(scenario, out_dir, emulators, pump, truth_file, counts, started=time.time())
    pump.start()
    return result


def run_scenario(scenario: Scenario | str | Path, seed: int, speed: float, out_dir: Path,
                 on_line: Callable[[str], None] | None = None, start_delay_s: float = 0.0,
                 until_s: float | None = None) -> RunResult:
    """Run a scenario to its end or *until_s* scenario seconds (blocking); returns the counts
    and writes ``summary.json``."""
    result = start_run(scenario, seed, speed, out_dir, on_line, until_s=until_s, start_delay_s=start_delay_s)
    try:
        while not result.pump.done.wait(0.2):
            pass
    finally:
        result.close()
    result.finished = time.time()
    if result.pump.error is not None:
        raise result.pump.error
    summary = {"scenario": result.scenario.name, "speed": speed, "seed": seed,
               "wall_s": round(result.finished - result.started, 3), "lag_s": round(result.pump.lag_s, 3),
               "truth": dict(result.truth_counts),
               "devices": {d: {"url": em.url(), "emitted": em.emitted,
                               "bytes_written": em.endpoint.stats.bytes_written,
                               "bytes_dropped": em.endpoint.stats.bytes_dropped,
                               "disconnects": em.endpoint.stats.disconnects}
                           for d, em in result.emulators.items()}}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return result
