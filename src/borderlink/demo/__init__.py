"""``borderlink demo``: the whole Bilasuvar crossing on one machine.

With no arguments it brings up the ``smoke`` scenario in a temporary work folder: a hub on the
embedded store, certificates for the hub, every node and the three agencies from the
provisioning CA, an emulator and an edge agent per device, the site bus on the local MQTT
broker when one answers. Midway it cuts the uplink of some nodes, then restores it; at the end
it pulls as each agency, audits every record and the log, scores detections against the
scenario's ground truth, prints a summary and writes ``report.html``. Exit status: 0 when all
held, 1 when anything failed, 2 for wrong usage, 3 when a part could not be started.
"""

from __future__ import annotations

import argparse

from borderlink.common.cli import env_default


def configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default=env_default("SCENARIO", "smoke"),
                        help="scenario to run: smoke (default, about 90 s), bilasuvar-day, "
                        "stress, or a scenario TOML file (env BORDERLINK_SCENARIO)")
    parser.add_argument("--duration", type=_positive, default=None, metavar="SECONDS",
                        help="stop the devices after this many scenario seconds "
                        "(default: the whole scenario)")
    parser.add_argument("--speed", type=_positive, default=None,
                        help="scenario seconds per wall-clock second (default: 1 for smoke, "
                        "so that a minute and a half takes about that long; 240 for "
                        "bilasuvar-day)")
    parser.add_argument("--seed", type=int, default=0, help="scenario seed (default 0)")
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="work in DIR and keep it (certificates, journals, hub store, logs, "
                        "report); default: a temporary folder, removed at the end")
    parser.add_argument("--cut", type=int, default=3, metavar="N",
                        help="cut the uplink of N nodes midway (default 3; 0 = never)")
    parser.add_argument("--broker", type=_broker, default=env_default("BROKER", "127.0.0.1:1883"),
                        help="site MQTT broker host:port (env BORDERLINK_BROKER); "
                        "'none' runs without site alerts")
    parser.add_argument("--report", default=None, metavar="FILE",
                        help="write the HTML report here (default: report.html in the work "
                        "folder, copied to the current folder when the work folder is removed)")
    parser.set_defaults(func=_run)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def _broker(text: str) -> str:
    """``host:port`` or ``none``; checked here so a typo is a usage error, not a traceback."""
    if text.lower() == "none":
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected host:port or 'none', got {text!r}")
    return text


def _run(args: argparse.Namespace) -> int:
    from .run import DemoOptions, run_demo

    return run_demo(DemoOptions.from_args(args))
