"""``borderlink-faults`` (``python -m borderlink.faults``): run a fault campaign, print one table.

Exit status 0 when every invariant held in every round, 1 when one was violated, 3 when the
site could not be brought up (a service missing), 2 for wrong usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TextIO

from borderlink.common.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNAVAILABLE
from borderlink.common.logs import configure_logging

from .campaign import FAULT_KINDS, LONG, SHORT, CampaignConfig, RoundResult, run_campaign
from .errors import FaultSuiteError
from .postgres import DEFAULT_URL


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="borderlink-faults",
        description="Run the real site (hub, edge agents, emulators, broker), inject faults while "
        "it works, and check from outside that nothing was lost, duplicated or forged.",
    )
    parser.add_argument("--short", action="store_true",
                        help="the CI run: one round of about a minute with every fault kind "
                        "(default: the long run, ten rounds of two minutes of the stress scenario)")
    parser.add_argument("--scenario", help="scenario of every round (default: smoke for --short, "
                        "stress for the long run)")
    parser.add_argument("--rounds", type=int, help="rounds (fresh site each, seed + round)")
    parser.add_argument("--duration", type=float,
                        help="scenario seconds of device activity per round")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first round (default 0)")
    parser.add_argument("--fault", action="append", default=[], metavar="KIND=N",
                        help=f"faults per round of one kind ({', '.join(FAULT_KINDS)}); "
                        "repeat; replaces the run's default count for that kind")
    parser.add_argument("--broker", default="own",
                        help="site MQTT broker: 'own' (a Mosquitto of each round's own on a free "
                        "port, the default), host:port, or 'none'")
    parser.add_argument("--postgres", metavar="URL",
                        help="PostgreSQL server (libpq URL) for the hub of every round, each in "
                        "a schema of its own, so that pg-terminate can run; 'none': every hub on "
                        "SQLite (default: the long run puts every second round on "
                        f"{DEFAULT_URL}, --short none)")
    parser.add_argument("--keep", type=Path, help="keep each round's work folder under DIR")
    parser.add_argument("--json", type=Path, help="write the totals as JSON to FILE")
    parser.add_argument("--no-attacks", action="store_true",
                        help="faults only: skip the attack corpus run mid-round")
    parser.add_argument("--fuzz-seconds", type=int,
                        help="seconds of coverage-guided fuzzing per parser after the rounds "
                        "(needs the fuzz extra, atheris; default 0 for --short, 60 otherwise)")
    parser.add_argument("--corpus", type=Path, default=Path("tests/fuzz_corpus"),
                        help="fuzz corpus root (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no line per fault, only the table")
    return parser


def config_from_args(args: argparse.Namespace) -> CampaignConfig:
    config = SHORT if args.short else LONG
    faults = dict(config.faults)
    for item in args.fault:
        kind, _, count = item.partition("=")
        if kind not in FAULT_KINDS or not count.isdigit():
            raise FaultSuiteError(f"--fault {item!r}: expected KIND=N with KIND one of "
                                  f"{', '.join(FAULT_KINDS)}")
        faults[kind] = int(count)
    broker: tuple[str, int] | str | None = None
    if args.broker.lower() == "own":
        broker = "own"
    elif args.broker.lower() != "none":
        host, _, port = args.broker.rpartition(":")
        if not port.isdigit():
            raise FaultSuiteError(f"--broker {args.broker!r}: expected host:port or 'none'")
        broker = (host or "127.0.0.1", int(port))
    if args.rounds is not None and args.rounds < 1:
        raise FaultSuiteError("--rounds must be at least 1")
    if args.postgres is not None:
        none = args.postgres.lower() == "none"
        if not none and not args.postgres.startswith(("postgresql://", "postgres://")):
            raise FaultSuiteError(f"--postgres {args.postgres!r}: expected a postgresql:// URL "
                                  "or 'none'")
        config = replace(config, postgres=None if none else args.postgres, postgres_every=1)
    return replace(config, faults=faults, seed=args.seed, broker=broker,
                   attacks=not args.no_attacks,
                   scenario=args.scenario or config.scenario,
                   rounds=args.rounds or config.rounds,
                   duration_s=args.duration if args.duration is not None else config.duration_s)


def totals(results: list[RoundResult]) -> dict[str, object]:
    """The run's totals, as printed and as written to JSON."""
    injected: Counter[str] = Counter()
    survived: Counter[str] = Counter()
    for r in results:
        injected.update(r.injected)
        survived.update(r.survived)
    inv = [r.invariants for r in results]
    agencies: dict[str, dict[str, int]] = {}
    for i in inv:
        for agency, n in i.agency_delivered.items():
            row = agencies.setdefault(agency, {"delivered": 0, "lost": 0, "duplicates": 0,
                                               "resumed": 0})
            row["delivered"] += n
            row["lost"] += i.agency_lost.get(agency, 0)
            row["duplicates"] += i.agency_duplicates.get(agency, 0)
            row["resumed"] += i.agency_breaks.get(agency, 0)
    attacks: dict[str, dict[str, Any]] = {}
    for r in results:
        for a in r.attacks:
            tally = attacks.setdefault(a.name, {"tried": 0, "refused": 0, "counted": 0,
                                                "answers": []})
            tally["tried"] += 1
            tally["refused"] += int(a.refused)
            tally["counted"] += int(bool(a.counted))
            if a.answer not in tally["answers"]:
                tally["answers"].append(a.answer)
    attack_s = sum(r.attack_seconds for r in results)
    recoveries = sorted(s for r in results for s in r.pg_recovery_s)
    clock_syncs = sorted(s for r in results for s in r.clock_recovery_s)
    noticed = sorted(s for r in results for s in r.blackhole_detect_s)
    resynced = sorted(s for r in results for s in r.blackhole_recovery_s)
    healthy = sum(r.healthy_accepted for r in results)
    return {
        "rounds": len(results),
        "attacks": attacks,
        "attacks_tried": sum(len(r.attacks) for r in results),
        "attacks_refused": sum(1 for r in results for a in r.attacks if a.refused),
        # Refusals the hub's /metrics counted while the attack ran (see refusal_metrics).
        "attacks_counted_in_metrics": sum(1 for r in results for a in r.attacks if a.counted),
        "attacks_not_counted_in_metrics": sorted({a.name for r in results for a in r.attacks
                                                  if a.counted is False}),
        "healthy_records_made_during_attacks": sum(r.healthy_made for r in results),
        "healthy_records_accepted_during_attacks": healthy,
        "attack_seconds": round(attack_s, 1),
        "healthy_sync_per_s_during_attacks": round(healthy / attack_s, 2) if attack_s else None,
        "seconds": round(sum(r.seconds for r in results), 1),
        "rounds_on_postgresql": sum(1 for r in results if r.storage == "postgresql"),
        # Seconds from the hub's PostgreSQL connections' end to its next stored record.
        "pg_recovery_s": {"count": len(recoveries),
                          "median": round(recoveries[len(recoveries) // 2], 2) if recoveries
                          else None,
                          "max": round(recoveries[-1], 2) if recoveries else None},
        # Seconds from a clock's return to every node's journal synced, and what the hub
        # refused meanwhile as dated beyond its allowance (TIME_IN_FUTURE, from its /metrics).
        "clock_recovery_s": {"count": len(clock_syncs),
                             "max": round(clock_syncs[-1], 2) if clock_syncs else None},
        "refused_time_in_future": sum(r.refused_time_in_future for r in results),
        # A link half-open past the keepalive: seconds until the node dialled again, and from
        # the line's return until its journal was synced.
        "blackhole_s": {"count": len(noticed),
                        "noticed_max": round(noticed[-1], 1) if noticed else None,
                        "synced_max": round(resynced[-1], 1) if resynced else None},
        "faults_injected": dict(injected),
        "faults_survived": dict(survived),
        "records_made": sum(i.records_made for i in inv),
        "records_at_hub": sum(i.records_at_hub for i in inv),
        "records_lost": sum(i.records_lost for i in inv),
        "records_pending_at_stop": sum(i.pending_at_stop for i in inv),
        "duplicates": sum(i.duplicates for i in inv),
        "nodes_out_of_log_order": sum(i.out_of_log_order for i in inv),
        "records_with_other_bytes": sum(i.mismatched for i in inv),
        "alarms_made": sum(i.alarms_made for i in inv),
        "alarms_lost": sum(i.alarms_lost for i in inv),
        "alerts_seen": sum(i.alerts_seen for i in inv),
        "alerts_naming_no_durable_record": sum(i.alerts_not_durable for i in inv),
        "chains_intact": f"{sum(i.chains_ok for i in inv)}/{sum(i.chain_nodes for i in inv)}",
        "signatures_verified": sum(i.signatures_ok for i in inv),
        "checkpoints_checked": sum(i.checkpoints_checked for i in inv),
        "log_lines_scanned": sum(i.log_lines_scanned for i in inv),
        "secrets_in_logs": sum(i.secrets_in_logs for i in inv),
        "log_consistent": all(i.consistency_ok for i in inv),
        "agency_streams": agencies,
        "held": all(i.held for i in inv),
        "problems": [p for i in inv for p in i.problems],
        "rounds_detail": [{"seed": r.seed, "seconds": round(r.seconds, 1),
                           **{k: v for k, v in asdict(r.invariants).items() if k != "problems"}}
                          for r in results],
    }


def print_table(t: dict[str, object], out: TextIO) -> None:
    injected = t["faults_injected"]
    survived = t["faults_survived"]
    assert isinstance(injected, dict) and isinstance(survived, dict)
    out.write(f"\nborderlink faults: {t['rounds']} round(s) in {t['seconds']} s\n\n")
    out.write(f"{'fault':<16}{'injected':>10}{'survived':>10}\n")
    for kind in FAULT_KINDS:
        if injected.get(kind):
            out.write(f"{kind:<16}{injected[kind]:>10}{survived.get(kind, 0):>10}\n")
    out.write(f"{'total':<16}{sum(injected.values()):>10}{sum(survived.values()):>10}\n")
    recovery = t["pg_recovery_s"]
    assert isinstance(recovery, dict)
    if recovery["count"]:
        out.write(f"hub on PostgreSQL in {t['rounds_on_postgresql']} round(s): stored records "
                  f"again {recovery['median']} s (median), {recovery['max']} s (max) after "
                  "its connections were terminated\n")
    dead = t["blackhole_s"]
    assert isinstance(dead, dict)
    if dead["count"]:
        out.write(f"blackholed links: each node dialled again within {dead['noticed_max']} s "
                  f"and synced within {dead['synced_max']} s of the line's return\n")
    clock = t["clock_recovery_s"]
    assert isinstance(clock, dict)
    if clock["count"]:
        out.write(f"clock jumps: synced at most {clock['max']} s after each clock came right; "
                  f"{t['refused_time_in_future']} records refused TIME_IN_FUTURE meanwhile\n")
    out.write("\n")
    attacks = t["attacks"]
    assert isinstance(attacks, dict)
    if attacks:
        out.write(f"{'attack':<42}{'tried':>7}{'refused':>9}{'counted':>9}  answer\n")
        for name, row in attacks.items():
            answers = ", ".join(row["answers"])
            out.write(f"{name:<42}{row['tried']:>7}{row['refused']:>9}{row['counted']:>9}"
                      f"  {answers}\n")
        out.write(f"{'total':<42}{t['attacks_tried']:>7}{t['attacks_refused']:>9}"
                  f"{t['attacks_counted_in_metrics']:>9}\n")
        out.write("counted: the hub's /metrics refusal counters moved while the attack ran\n")
        out.write(f"while attacked ({t['attack_seconds']} s) the real nodes made "
                  f"{t['healthy_records_made_during_attacks']} records and the hub accepted "
                  f"{t['healthy_records_accepted_during_attacks']} of theirs "
                  f"({t['healthy_sync_per_s_during_attacks']} /s)\n\n")
    rows = [
        ("records made by the agents", t["records_made"], ""),
        ("records at the hub", t["records_at_hub"], ""),
        ("records lost", t["records_lost"], "must be 0"),
        ("made after the drain, owed at next start", t["records_pending_at_stop"], ""),
        ("duplicates", t["duplicates"], "must be 0"),
        ("records with other bytes", t["records_with_other_bytes"], "must be 0"),
        ("alarms made / lost", f"{t['alarms_made']} / {t['alarms_lost']}", "lost must be 0"),
        ("MQTT alerts / naming no durable record",
         f"{t['alerts_seen']} / {t['alerts_naming_no_durable_record']}", "second must be 0"),
        ("hash chains intact", t["chains_intact"], ""),
        ("log lines scanned / holding secrets",
         f"{t['log_lines_scanned']} / {t['secrets_in_logs']}", "second must be 0"),
        ("signatures verified", t["signatures_verified"], ""),
        ("checkpoints seen, all consistent",
         f"{t['checkpoints_checked']}, {'yes' if t['log_consistent'] else 'NO'}", ""),
    ]
    agencies = t["agency_streams"]
    assert isinstance(agencies, dict)
    for agency, row in sorted(agencies.items()):
        rows.append((f"agency {agency} delivered / lost / dup",
                     f"{row['delivered']} / {row['lost']} / {row['duplicates']}",
                     f"resumed {row['resumed']} times"))
    for name, value, note in rows:
        out.write(f"{name:<42}{value!s:>16}  {note}\n")
    fuzzed = t.get("fuzz")
    if isinstance(fuzzed, dict):
        out.write(f"\n{'parser fuzzed':<22}{'inputs':>12}{'crashes':>9}\n")
        for name, row in fuzzed.items():
            out.write(f"{name:<22}{row['inputs']:>12}{row['crashes']:>9}\n")
    problems = t["problems"]
    assert isinstance(problems, list)
    for problem in problems:
        out.write(f"VIOLATED: {problem}\n")
    out.write(f"\n{'every invariant held' if t['held'] else 'INVARIANTS VIOLATED'}\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("WARNING", "text")
    out = sys.stdout
    begin = time.monotonic()

    def log(line: str) -> None:
        if not args.quiet:
            out.write(f"[{time.monotonic() - begin:7.1f} s] {line}\n")
            out.flush()

    try:
        config = config_from_args(args)
        results = run_campaign(config, args.keep, log)
    except FaultSuiteError as exc:
        print(f"borderlink-faults: error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    t = totals(results)
    fuzz_seconds = args.fuzz_seconds if args.fuzz_seconds is not None else (0 if args.short else 60)
    if fuzz_seconds > 0:
        from . import fuzz

        runs = []
        for name in fuzz.TARGETS:
            runs.append(fuzz.fuzz_target(name, fuzz_seconds, args.corpus))
            log(f"fuzzed {name}: {runs[-1]['runs']} inputs, {len(runs[-1]['crashes'])} crashes")
        t["fuzz"] = {r["target"]: {"inputs": r["runs"], "crashes": len(r["crashes"])}
                     for r in runs}
        if any(r["crashes"] for r in runs):
            t["held"] = False
            problems = t["problems"]
            assert isinstance(problems, list)
            problems.extend(f"fuzz crash: {c}" for r in runs for c in r["crashes"])
    print_table(t, out)
    if args.json:
        args.json.write_text(json.dumps(t, indent=2) + "\n")
    return EXIT_OK if t["held"] else EXIT_FAILED
