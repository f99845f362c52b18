"""``borderlink emulate``, ``borderlink profiles …`` and ``borderlink simulate …``.

Exit codes and environment defaults are those of every command (:mod:`borderlink.common.cli`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from borderlink.common.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from borderlink.common.cli import env_default as _env

from .errors import HardwareProfileError


def _usage(parser: argparse.ArgumentParser) -> Any:
    """A handler for a role given without its action: show what it offers, exit 2."""

    def handler(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    return handler


# --------------------------------------------------------------------------- profiles
def configure_profiles(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="profiles_action", metavar="ACTION")
    p_list = sub.add_parser("list", help="list the shipped hardware profiles",
                            description="List the shipped hardware profiles (one TOML per device model).")
    p_list.set_defaults(func=_profiles_list)
    p_val = sub.add_parser("validate", help="validate profile files (all shipped ones by default)",
                           description="Validate hardware profile files against the schema; "
                           "errors name the file, the key and what was expected.")
    p_val.add_argument("files", nargs="*", metavar="FILE",
                       help="profile TOML files or shipped profile names (default: every shipped profile)")
    p_val.set_defaults(func=_profiles_validate)
    parser.set_defaults(func=_usage(parser))


def _profiles_list(args: argparse.Namespace) -> int:
    from .loader import load_profile_file, shipped_profiles

    rows = [("NAME", "CLASS", "AGENCY", "PROTOCOL", "TRANSPORT", "VENDOR / MODEL")]
    for path in shipped_profiles():
        p = load_profile_file(path)
        rows.append((p.name, p.device_class, p.agency, p.framing.protocol, p.transport.url(),
                     f"{p.vendor} {p.model}"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5])
    return EXIT_OK


def _profiles_validate(args: argparse.Namespace) -> int:
    from .loader import load_profile, shipped_profiles

    targets: list[str | Path] = list(args.files) or list(shipped_profiles())
    failed = 0
    for target in targets:
        try:
            p = load_profile(target)
        except HardwareProfileError as exc:
            failed += 1
            print(f"FAIL {exc}", file=sys.stderr)
        else:
            print(f"ok   {p.name} ({p.source})")
    return EXIT_FAILED if failed else EXIT_OK


# --------------------------------------------------------------------------- emulate
def _fault_arg(text: str) -> tuple[str, float | None]:
    mode, _, level = text.partition("=")
    try:
        return mode, (float(level) if level else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"fault level must be a number: {text!r}") from None


def _start_arg(text: str) -> str:
    if text in ("now", "scenario"):
        return text
    import datetime as dt

    try:
        if dt.datetime.fromisoformat(text).tzinfo is None:
            raise ValueError("no time zone")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--start takes 'now', 'scenario' or an ISO 8601 time with zone, not {text!r}") from None
    return text


def _restart(scenario: Any, start: str) -> Any:
    """*scenario* moved to begin at *start* ('now', 'scenario' = as written, or ISO 8601)."""
    import dataclasses
    import datetime as dt
    import time

    if start == "scenario":
        return scenario
    t = float(int(time.time())) if start == "now" else dt.datetime.fromisoformat(start).timestamp()
    return dataclasses.replace(scenario, start=t)


def configure_emulate(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the device side of a hardware profile's protocol: on a real pseudo-terminal (serial "
        "profiles; prints the pty path), a TCP server on 127.0.0.1, or a folder of export files. "
        "Deterministic for a seed. Faults switch at run time by typing on stdin: "
        "'MODE [LEVEL]' (noise, drop, disconnect, stuck, drift, clock, half_written, burst), "
        "'clear [MODE]', 'status', 'quit'.")
    parser.add_argument("profile", metavar="PROFILE", help="shipped profile name or profile TOML file")
    parser.add_argument("--scenario", default=_env("SCENARIO"),
                        help="play this device's part of a scenario (name or TOML; env BORDERLINK_SCENARIO); "
                        "default: a day of ordinary traffic")
    parser.add_argument("--device", help="which device of the scenario (default: the first with this profile)")
    parser.add_argument("--seed", type=int, default=int(_env("SEED", "0") or 0), help="random seed (env BORDERLINK_SEED)")
    parser.add_argument("--speed", type=float, default=1.0, help="times real time; 0 = as fast as possible")
    parser.add_argument("--rate", type=float, default=1.0, help="multiply the default traffic (no --scenario)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many scenario seconds")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default: the profile's; 0 = any free)")
    parser.add_argument("--link", default=None, help="serial: keep a stable symlink to the pty at this path")
    parser.add_argument("--folder", default=None, help="file profiles: the export folder (default: a temporary one)")
    parser.add_argument("--fault", action="append", type=_fault_arg, default=[], metavar="MODE[=LEVEL]",
                        help="start with this fault on (repeatable)")
    parser.add_argument("--truth", default=None, help="write the ground truth as JSON lines to this file")
    parser.add_argument("--no-stdin", action="store_true", help="do not read fault commands from stdin")
    parser.add_argument("--start", type=_start_arg, default="now",
                        help="device clock at the start: 'now' (default), 'scenario' (as the scenario "
                        "file says) or an ISO 8601 time")
    parser.set_defaults(func=_emulate)


def _emulate(args: argparse.Namespace) -> int:
    import json
    import threading

    from .emulators import Emulator, Pump, endpoint_for
    from .loader import load_profile
    from .simulator import generate, load_scenario
    from .simulator.defaults import default_scenario

    profile = load_profile(args.profile)
    if args.scenario:
        scenario = load_scenario(args.scenario)
        candidates = [d for d in scenario.devices if (args.device and d.id == args.device)
                      or (not args.device and load_profile(d.profile).name == profile.name)]
        if not candidates:
            print(f"borderlink emulate: scenario {scenario.name!r} has no device "
                  f"{args.device or 'with profile ' + profile.name}", file=sys.stderr)
            return EXIT_USAGE
        device_id = candidates[0].id
    else:
        scenario = default_scenario(args.profile, rate=args.rate)
        device_id = scenario.devices[0].id
    scenario = _restart(scenario, args.start)
    endpoint = endpoint_for(profile, port=args.port, link=args.link, folder=args.folder)
    emulator = Emulator(device_id, profile, endpoint, args.seed)
    emulator.open()
    for mode, level in args.fault:
        emulator.set_fault(mode, level)
    print(f"{device_id} {profile.name} {emulator.url()}", flush=True)
    if profile.transport.scheme == "serial":
        print(f"pty: {endpoint.device_path}", flush=True)  # type: ignore[union-attr]
    truth_fh = open(args.truth, "w", encoding="utf-8") if args.truth else None  # noqa: SIM115 - closed below

    def on_truth(truth, wall):  # type: ignore[no-untyped-def]
        if truth_fh is not None:
            line = truth.to_json()
            line["wall_time"] = round(wall, 3)
            truth_fh.write(json.dumps(line, sort_keys=True) + "\n")
            truth_fh.flush()

    stream = generate(scenario.only(device_id), args.seed)
    until = scenario.start + args.duration if args.duration is not None else None
    pump = Pump({device_id: emulator}, stream, scenario.start, args.speed, on_truth, until).start()

    def commands() -> None:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            try:
                if words[0] == "quit":
                    pump.stop_event.set()
                    return
                if words[0] == "clear":
                    emulator.clear_fault(words[1] if len(words) > 1 else None)
                elif words[0] == "status":
                    pass
                else:
                    emulator.set_fault(words[0], float(words[1]) if len(words) > 1 else None)
                print(f"faults: {emulator.faults.active() or 'none'}; emitted {emulator.emitted}; "
                      f"endpoint {endpoint.stats.bytes_written} B written, {endpoint.stats.bytes_dropped} B dropped",
                      flush=True)
            except ValueError as exc:
                print(f"error: {exc}", flush=True)

    if not args.no_stdin:
        threading.Thread(target=commands, daemon=True).start()
    url = emulator.url()
    try:
        while not pump.done.wait(0.2):
            if emulator.url() != url:  # a pty comes back under a new name after a disconnect
                url = emulator.url()
                print(f"{device_id} {profile.name} {url}", flush=True)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        pump.stop()
        emulator.close()
        if truth_fh is not None:
            truth_fh.close()
    if pump.error is not None:
        raise pump.error
    return EXIT_OK


# --------------------------------------------------------------------------- simulate
def configure_simulate(parser: argparse.ArgumentParser) -> Any:
    """Add ``run``, ``truth`` and ``list``; returns the sub-command group, so that a package
    this one may not import (``borderlink.scoring.configure_score``) can add ``score`` to it."""
    sub = parser.add_subparsers(dest="simulate_action", metavar="ACTION")
    p_run = sub.add_parser(
        "run", help="run a scenario on every device's emulator, writing the ground truth",
        description="Run a scenario: every device on its real endpoint (ptys, TCP ports on 127.0.0.1, "
        "folders), paced at --speed x real time; writes OUT/devices.json (each device's URL), "
        "OUT/truth.jsonl (which event should make which record and alert, when) and OUT/summary.json.")
    p_run.add_argument("scenario", metavar="SCENARIO", help="shipped scenario (smoke, bilasuvar-day, stress) or TOML file")
    p_run.add_argument("--speed", type=float, default=float(_env("SPEED", "1") or 1),
                       help="times real time; 0 = as fast as possible (env BORDERLINK_SPEED)")
    p_run.add_argument("--seed", type=int, default=int(_env("SEED", "0") or 0), help="random seed")
    p_run.add_argument("--out", default=None, help="output folder (default ./sim-SCENARIO-SEED)")
    p_run.add_argument("--start", type=_start_arg, default="scenario",
                       help="scenario clock at the start: 'scenario' (as written, default), 'now' (device "
                       "clocks near the wall clock) or an ISO 8601 time")
    p_run.add_argument("--duration", type=float, default=None,
                       help="stop after this many scenario seconds (default: the whole scenario)")
    p_run.add_argument("--start-delay", type=float, default=0.0,
                       help="seconds to wait after opening the endpoints, for edges to connect")
    p_run.set_defaults(func=_simulate_run)
    p_truth = sub.add_parser("truth", help="write a scenario's ground truth without running emulators",
                             description="Write the ground truth of a scenario as JSON lines (pure, fast).")
    p_truth.add_argument("scenario", metavar="SCENARIO")
    p_truth.add_argument("--seed", type=int, default=0)
    p_truth.add_argument("--out", default="-", help="file (default stdout)")
    p_truth.set_defaults(func=_simulate_truth)
    p_list = sub.add_parser("list", help="list the shipped scenarios", description="List the shipped scenarios.")
    p_list.set_defaults(func=_simulate_list)
    parser.set_defaults(func=_usage(parser))
    return sub


def _simulate_run(args: argparse.Namespace) -> int:
    from .simulator import load_scenario
    from .simulator.runner import run_scenario

    scenario = _restart(load_scenario(args.scenario), args.start)
    out = Path(args.out or f"sim-{scenario.name}-{args.seed}")
    print(f"scenario {scenario.name}: {len(scenario.devices)} devices, {scenario.duration_s:g} s at "
          f"speed {args.speed:g}; output in {out}", flush=True)
    result = run_scenario(scenario, args.seed, args.speed, out, lambda line: print(line, flush=True),
                          start_delay_s=args.start_delay, until_s=args.duration)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.truth_counts.items()))
    print(f"done in {result.finished - result.started:.1f} s (worst lag {result.pump.lag_s:.3f} s); "
          f"ground truth: {counts}", flush=True)
    return EXIT_OK


def _simulate_truth(args: argparse.Namespace) -> int:
    import json

    from .simulator import generate
    from .simulator.runner import write_truth

    if args.out != "-":
        count = write_truth(args.scenario, args.seed, Path(args.out))
        print(f"{count} ground-truth lines written to {args.out}", file=sys.stderr)
        return EXIT_OK
    for e in generate(args.scenario, args.seed):
        if e.truth is not None:
            sys.stdout.write(json.dumps(e.truth.to_json(), sort_keys=True) + "\n")
    return EXIT_OK


def _simulate_list(args: argparse.Namespace) -> int:
    from .simulator import load_scenario, shipped_scenarios

    for path in shipped_scenarios():
        s = load_scenario(path)
        print(f"{s.name:<16} {len(s.devices):>3} devices {s.duration_s:>8g} s  {s.description}")
    return EXIT_OK
