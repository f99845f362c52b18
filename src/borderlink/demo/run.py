"""The demo's timeline: provision, start, run with a link cut, drain, audit, report."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

import grpc

from borderlink.common.cli import EXIT_FAILED, EXIT_OK
from borderlink.common.diagnose import explain_os_error
from borderlink.common.errors import UnavailableError, UsageError
from borderlink.hub_init import DEFAULT_ORIGIN
from borderlink.proto.record_types import default_registry
from borderlink.report import render_html, render_summary
from borderlink.report_model import AlertEvent, DemoResults, NodeResult, results_to_json

from . import results as collect
from .audit import CheckpointWatcher, audit_log
from .monitor import Progress, SiteConsole
from .site import AGENCIES, DemoError, Site

#: Default pace per scenario: the smoke run in real time, a day in a few minutes.
DEFAULT_SPEED = {"smoke": 1.0, "bilasuvar-day": 240.0, "stress": 1.0}
START_DELAY_S = 6.0  # the agents open their devices before the first frame
DRAIN_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class DemoOptions:
    scenario: str
    duration_s: float | None
    speed: float
    seed: int
    keep: Path | None
    cut_nodes: int
    broker: tuple[str, int] | None
    report: Path | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DemoOptions:
        broker = None
        if args.broker and args.broker.lower() != "none":
            host, _, port = args.broker.rpartition(":")
            broker = (host or "127.0.0.1", int(port))
        speed = args.speed if args.speed is not None else DEFAULT_SPEED.get(args.scenario, 1.0)
        return cls(args.scenario, args.duration, speed, args.seed,
                   Path(args.keep) if args.keep else None, max(0, args.cut), broker,
                   Path(args.report) if args.report else None)


def _broker_answers(broker: tuple[str, int] | None) -> bool:
    if broker is None:
        return False
    try:
        with socket.create_connection(broker, timeout=1.0):
            return True
    except OSError:
        return False


def run_demo(options: DemoOptions) -> int:
    """Run the demo; a run that fails keeps its work folder (logs) and says where it is, since
    it holds private keys, and removes a temporary one only after a complete run."""
    if options.keep is not None:
        if options.keep.exists() and not options.keep.is_dir():
            raise UsageError(f"--keep {options.keep}: is a file, not a folder")
        try:
            if not options.keep.exists():
                # it will hold the hub's store, the journals and every private key: owner only,
                # as the temporary folder (mkdtemp) is
                options.keep.mkdir(parents=True)
                os.chmod(options.keep, 0o700)
        except OSError as exc:
            raise explain_os_error(exc, "--keep: cannot create the work folder") from exc
    if options.report is not None and options.report.is_dir():
        raise UsageError(f"--report {options.report}: is a folder; name a file")
    work = options.keep or Path(tempfile.mkdtemp(prefix="borderlink-demo-"))
    finished = False
    try:
        code = _run_in(work, options)
        finished = True
        return code
    finally:
        if not finished and work.exists():
            print(f"borderlink demo: the run stopped early; its work folder {work} is kept for "
                  "its logs and holds private keys: remove it when done", file=sys.stderr,
                  flush=True)


def _run_in(work: Path, options: DemoOptions) -> int:
    out = sys.stdout
    broker = options.broker if _broker_answers(options.broker) else None
    if options.broker is None:
        print("no site broker (--broker none): running without site alerts", file=out)
    elif broker is None:
        print(f"site broker {options.broker[0]}:{options.broker[1]} does not answer: running "
              "without site alerts", file=out)
    site = Site(work, options.scenario, options.seed, options.speed, broker)
    started = time.time()
    console: SiteConsole | None = None
    watcher: CheckpointWatcher | None = None
    try:
        print(f"borderlink demo: scenario {options.scenario}, work folder {work}", file=out)
        site.provision()
        print(f"provisioned a CA, the hub, {len(AGENCIES)} agencies and {len(site.nodes)} "
              f"nodes at {site.site_id}", file=out)
        site.start_hub()
        site.enroll_all()
        print(f"hub listening on {site.hub_address} (mutual TLS), metrics on "
              f"http://127.0.0.1:{site.metrics_port}/metrics; nodes enrolled, "
              "federation policy loaded", file=out)
        if broker is not None:
            console = SiteConsole(broker[0], broker[1], site.site_id)
            if not console.start():
                print("site broker refused the console: running without site alerts", file=out)
                console = None
        site.start_devices(START_DELAY_S, options.duration_s)
        site.start_agents()
        print(f"{len(site.nodes)} emulators and edge agents running; "
              f"devices start in {START_DELAY_S:g} s", file=out)
        channel = _agency_channel(site, "SBS")
        watcher = CheckpointWatcher(channel, (site.hub_dir / "log.vkey").read_text().strip(),
                                    DEFAULT_ORIGIN)
        watcher.run(5.0)
        _live(site, console, options, out)
    except DemoError as exc:
        site.stop_all()
        raise UnavailableError(str(exc)) from exc
    except KeyboardInterrupt:
        site.stop_all()
        raise
    failures: list[str] = []
    try:
        drained = _drain(site, out)
        if not drained:
            failures.append("some nodes did not catch up with the hub after the run")
        for node in site.nodes:
            site.stop(f"edge-{node.node_id}")
        final_status = {node.node_id: site.read_status(node) for node in site.nodes}
        if watcher is None:
            raise DemoError("the log monitor never started")
        watcher.stop()
        print("pulling as each agency, auditing the log …", file=out)
        agencies = {}
        inclusion = 0
        pulled = {}
        for agency in AGENCIES:
            view, lines, problems = collect.pull_agency(site, agency, site.hub_dir / "log.vkey",
                                                        watcher.origin)
            pulled[agency] = (view, lines)
            inclusion += collect.inclusion_checked(lines)
            failures.extend(problems)
        present: dict[int, frozenset[str]] = {}
        audit, records = audit_log(site.hub_dir / "hub.db", watcher, present)
        registry = default_registry()
        for agency, (view, lines) in pulled.items():
            fields, withheld = collect.field_disclosure(lines, present, registry)
            agencies[agency] = replace(view, fields=fields, withheld=withheld)
        audit = replace(audit, inclusion_checked=inclusion)
        alerts = console.snapshot() if console else []
        alert_keys = {(a.node, a.seq) for a in alerts}
        scores, score_failures = collect.score(site, records, alert_keys)
        failures.extend(score_failures)
        dead = [name for name in site.check_alive() if name == "hub"]
        failures.extend(f"process {name} died during the run" for name in dead)
    finally:
        site.stop_all()
        if console is not None:
            console.stop()
    results = _results(site, options, started, records, alerts, agencies, audit, scores,
                       failures, final_status)
    report_path = options.report or (work / "report.html")
    report_path.write_text(render_html(results), encoding="utf-8")
    # What the report was drawn from, beside the logs (kept with --keep): checkable facts.
    (work / "results.json").write_text(results_to_json(results), encoding="utf-8")
    print("\n" + render_summary(results), file=out)
    if options.keep is None:
        if options.report is None:
            kept = Path.cwd() / "borderlink-demo-report.html"
            shutil.copy(report_path, kept)
            report_path = kept
        shutil.rmtree(work, ignore_errors=True)  # it holds private keys
    print(f"\nreport: {report_path}", file=out)
    return EXIT_OK if not results.all_failures() else EXIT_FAILED


def _agency_channel(site: Site, agency: str) -> grpc.Channel:
    cert, key = site.agency_files(agency)
    credentials = grpc.ssl_channel_credentials(
        (site.hub_dir / "ca.pem").read_bytes(), key.read_bytes(), cert.read_bytes())
    return grpc.secure_channel(site.hub_address, credentials)


def _live(site: Site, console: SiteConsole | None, options: DemoOptions, out: TextIO) -> None:
    """Show progress until the devices finish; cut some nodes' uplinks from 35 % to 60 %."""
    total = (options.duration_s or site.scenario_duration_s) / options.speed + START_DELAY_S
    progress = Progress(out)
    cut_at, restore_at = total * 0.35, total * 0.6
    chosen = sorted(site.nodes, key=lambda n: n.node_id)[: options.cut_nodes]
    relays = [node.relay for node in chosen if node.relay is not None]
    state = "up"  # up -> cut -> restored
    begin = time.monotonic()
    simulator = site.processes["simulator"]
    note = ""
    while True:
        elapsed = time.monotonic() - begin
        if relays and state == "up" and elapsed >= cut_at:
            for relay in relays:
                relay.cut()
            state, note = "cut", "uplink cut: " + ", ".join(r.name for r in relays)
            out.write(f"\n{note}\n")
        if state == "cut" and elapsed >= restore_at:
            for relay in relays:
                relay.restore()
            state, note = "restored", "uplink restored"
            out.write(f"\n{note}: the nodes catch up\n")
        dead = site.check_alive()
        if dead:
            raise DemoError(f"{', '.join(dead)} stopped unexpectedly; logs in {site.work / 'logs'}")
        progress.sample(site, console, elapsed, total, note)
        if simulator.poll() is not None and elapsed > START_DELAY_S:
            break
        if elapsed > total + 120:
            raise DemoError("the device emulators did not finish the scenario in time")
        time.sleep(0.5)
    for relay in relays:
        relay.restore()
    site.backlog = progress.backlog
    out.write("\n")


def _drain(site: Site, out: TextIO) -> bool:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        pending = {}
        for node in site.nodes:
            status = site.read_status(node)
            journal = status.get("journal") or {}
            unsynced = int(journal.get("unsynced_records", 1)) if isinstance(journal, dict) else 1
            site.backlog.setdefault(node.node_id, []).append((time.time(), unsynced))
            if unsynced:
                pending[node.node_id] = unsynced
        if not pending:
            print("every node has synced its journal with the hub", file=out)
            return True
        time.sleep(0.5)
    print(f"not synced after {DRAIN_TIMEOUT_S:g} s: {pending}", file=out)
    return False


def _results(site: Site, options: DemoOptions, started: float, records, alerts, agencies, audit,
             scores, failures, final_status) -> DemoResults:
    alerts_by_node: dict[str, int] = {}
    for a in alerts:
        alerts_by_node[a.node] = alerts_by_node.get(a.node, 0) + 1
    nodes = []
    for node in site.nodes:
        journal = (final_status.get(node.node_id) or {}).get("journal") or {}
        windows = node.relay.cut_windows if node.relay else []
        cut = next(((a, b) for a, b in windows if b is not None), None)
        nodes.append(NodeResult(
            node_id=node.node_id, device_class=node.device_class, profile=node.profile,
            records=int(journal.get("tip_seq", 0) or 0), alerts=alerts_by_node.get(node.node_id, 0),
            last_acked_seq=int(journal.get("last_acked_seq", 0) or 0),
            backlog=site.backlog.get(node.node_id, []), link_cut=cut))
    control_lines = len({n.options.get("line") for n in site.nodes
                         if n.device_class == "document_reader"})
    return DemoResults(
        site=f"Bilasuvar BCP ({site.site_id})", scenario=options.scenario, started=started,
        ended=time.time(), duration_s=options.duration_s or site.scenario_duration_s,
        nodes=nodes,
        alerts=[AlertEvent(a.received, a.node, a.record_type,
                           a.level if a.level in ("info", "warning", "alarm") else "info",
                           a.summary) for a in alerts],
        geo=collect.geo_data(records), lab=collect.lab_results(site, records),
        agencies=agencies, audit=audit, scores=scores, failures=failures,
        figures=collect.key_figures(records, control_lines))
