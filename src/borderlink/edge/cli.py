"""``borderlink edge …``: run an agent, show its status, replay a device capture."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from borderlink.common.cli import EXIT_FAILED, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, env_default

from .errors import ConfigError

__all__ = ["configure_edge"]


def configure_edge(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    run = actions.add_parser(
        "run", help="run the agent beside a device",
        description="Run the edge agent: device -> processor -> signed journal -> site bus "
        "and hub. Stops cleanly on SIGTERM or Ctrl-C.")
    run.add_argument("--config", default=env_default("EDGE_CONFIG"), required=
                     env_default("EDGE_CONFIG") is None,
                     help="node configuration TOML (env BORDERLINK_EDGE_CONFIG)")
    run.set_defaults(func=_run)

    status = actions.add_parser(
        "status", help="journal, backlog, link, clock and device state of an agent",
        description="Read the agent's journal database and status file (the agent need not "
        "be running; exit 3 when its status is missing or stale).")
    status.add_argument("--config", default=env_default("EDGE_CONFIG"),
                        required=env_default("EDGE_CONFIG") is None,
                        help="node configuration TOML (env BORDERLINK_EDGE_CONFIG)")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.set_defaults(func=_status)

    replay = actions.add_parser(
        "replay", help="run a captured device input through framer, processor and recorder",
        description="Replay a capture (raw device bytes, or an export file for file-based "
        "instruments) and print each record as a JSON line: type, body with disclosed "
        "values, seq, the record's bytes in base64 and the signer's key id. No hub or "
        "broker needed.")
    replay.add_argument("--profile", required=True,
                        help="hardware profile name (e.g. patrol-radio) or file")
    replay.add_argument("--input", required=True, help="captured input file ('-' = stdin)")
    replay.add_argument("--key", default=env_default("EDGE_KEY"),
                        help="Ed25519 signing key PEM (env BORDERLINK_EDGE_KEY; default: a "
                        "fresh throw-away key)")
    replay.add_argument("--node-id", default="replay", help="node id in the records")
    replay.add_argument("--site", default="REPLAY", help="site id in the records")
    replay.add_argument("--unit-id", default="", help="decoder unit id (NMEA radios)")
    replay.set_defaults(func=_replay)

    bus = actions.add_parser(
        "site-bus-config", help="write an authenticated Mosquitto config for a site",
        description="Write mosquitto.conf, the ACL and the hashed password file (via "
        "/usr/bin/mosquitto_passwd) for one site: a TLS listener only, no anonymous clients; "
        "each node writes its own topics and reads acks; each console writes only its own ack "
        "topic and reads the nodes' topics. A name without :PASSWORD_FILE gets a generated "
        "password in DIR/passwords/NAME (0600). The broker's certificate comes from the "
        "deployment's CA: `borderlink provision cert broker SITE --dns NAME`.")
    bus.add_argument("--dir", required=True, type=Path, help="folder to write the files in")
    bus.add_argument("--site", required=True, help="the site id (node.toml's node.site)")
    bus.add_argument("--node", action="append", default=[], metavar="NAME[:PASSWORD_FILE]",
                     help="a node's broker username (its node id); repeat per node")
    bus.add_argument("--console", action="append", default=[],
                     metavar="NAME[:PASSWORD_FILE]", help="a console's broker username")
    bus.add_argument("--port", type=int, help="listener port (default 8883)")
    bus.add_argument("--bind", default="0.0.0.0", help="listener address (default 0.0.0.0)")
    bus.add_argument("--user", help="the account mosquitto runs as (its 'user' setting; "
                     "started as root it drops to 'mosquitto', which must read these files)")
    bus.add_argument("--tls-ca", type=Path, required=True, help="the deployment's CA bundle "
                     "(the CA's trust.pem): clients check the broker with it")
    bus.add_argument("--tls-cert", type=Path, required=True,
                     help="the broker's certificate (provision cert broker)")
    bus.add_argument("--tls-key", type=Path, required=True, help="the broker's private key")
    bus.set_defaults(func=_site_bus_config)

    def no_action(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    parser.set_defaults(func=no_action)


# --------------------------------------------------------------------------- run
def _run(args: argparse.Namespace) -> int:
    from .agent import EdgeAgent
    from .config import load_config

    config = load_config(args.config)
    try:
        agent = EdgeAgent.from_config(config)
    except ConfigError:
        raise
    except ValueError as exc:  # a bad device URL and the like
        raise ConfigError(f"{config.source}: {exc}") from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent.start()
    try:
        agent.run(stop)
    finally:
        agent.stop()
    return EXIT_OK


# --------------------------------------------------------------------------- status
def collect_status(config_path: str) -> tuple[dict[str, Any], bool]:
    """(status, fresh): journal figures plus the agent's last status file."""
    from .config import load_config
    from .journal import read_stats

    config = load_config(config_path)
    now_ms = int(time.time() * 1000)
    out: dict[str, Any] = {"node": config.node.id, "site": config.node.site,
                           "journal": read_stats(config.journal.path)}
    oldest = out["journal"]["oldest_unsynced_stored_ms"]
    out["journal"]["unsynced_age_s"] = (now_ms - oldest) / 1000 if oldest else 0.0
    fresh = False
    try:
        agent = json.loads(Path(config.status.path).read_text())
    except (OSError, ValueError):
        out["agent"] = {"state": "unknown (no status file)"}
    else:
        age = (now_ms - int(agent.get("time_ms", 0))) / 1000
        fresh = agent.get("state") == "running" and age <= max(10.0,
                                                                3 * config.status.interval_s)
        out["agent"] = {"state": agent.get("state") if fresh else
                        f"not running (status {age:.0f} s old)", "status_age_s": age,
                        "pid": agent.get("pid")}
        out["link"] = agent.get("link", {})
        out["device"] = agent.get("device", {})
        out["broker"] = agent.get("broker", {})
    return out, fresh


def _status(args: argparse.Namespace) -> int:
    status, fresh = collect_status(args.config)
    if args.json:
        print(json.dumps(status, indent=1))
    else:
        j, link, dev = status["journal"], status.get("link", {}), status.get("device", {})
        lines = [
            f"node          {status['node']} at {status['site']}",
            f"agent         {status['agent']['state']}",
            f"journal       {j['path']}: {j['records']} records, {j['used_bytes']} record "
            f"bytes, {j['file_bytes']} file bytes",
            f"chain tip     {j['tip_seq']}",
            f"last acked    {j['last_acked_seq']}",
            f"backlog       {j['unsynced_records']} unsynced, oldest {j['unsynced_age_s']:.1f} s",
            f"link          {link.get('state', '?')} {link.get('hub', '')}".rstrip(),
            f"clock skew    {link.get('clock_skew_ms')} ms",
            f"device        {dev.get('state', '?')} {dev.get('url', '')}, "
            f"{dev.get('frames', 0)} frames, faults {dev.get('faults', {})}",
            f"broker        {'connected' if status.get('broker', {}).get('connected') else 'down'}",
        ]
        print("\n".join(lines))
    return EXIT_OK if fresh else EXIT_UNAVAILABLE


# --------------------------------------------------------------------------- site bus
def _site_bus_config(args: argparse.Namespace) -> int:
    from .sitebus_broker import parse_identity, write_site_bus_config

    files = write_site_bus_config(
        args.dir, site=args.site, nodes=[parse_identity(n) for n in args.node],
        consoles=[parse_identity(c) for c in args.console], port=args.port, bind=args.bind,
        user=args.user, tls=(args.tls_ca, args.tls_cert, args.tls_key))
    print(f"wrote {files.conf}, {files.acl}, {files.passwd}")
    for name, path in files.generated.items():
        print(f"generated password for {name}: {path}")
    return EXIT_OK


# --------------------------------------------------------------------------- replay
def _replay(args: argparse.Namespace) -> int:
    from borderlink.hardware_profiles.loader import load_profile
    from borderlink.proto.keys import SigningKey

    from .replay import replay

    profile = load_profile(args.profile)
    key = SigningKey.read_pem(args.key) if args.key else SigningKey.generate()
    try:
        data = sys.stdin.buffer.read() if args.input == "-" else Path(args.input).read_bytes()
    except OSError as exc:
        print(f"borderlink edge replay: cannot read {args.input}: {exc.strerror}",
              file=sys.stderr)
        return EXIT_FAILED
    stats: dict[str, int] = {}
    count = 0
    for line in replay(profile, data, key=key, node_id=args.node_id, site=args.site,
                       unit_id=args.unit_id, stats=stats):
        print(json.dumps(line), flush=False)
        count += 1
    sys.stdout.flush()
    print(f"replay: {stats.get('frames', 0)} frames, {stats.get('readings', 0)} readings, "
          f"{stats.get('undecodable', 0)} undecodable, {count} records, key id "
          f"{key.kid.hex()}", file=sys.stderr)
    return EXIT_OK
