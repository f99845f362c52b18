"""The ``borderlink`` command: one subcommand per role.

Each package configures its own subcommands (``configure_*`` functions), so this module
only assembles them, configures logging and turns errors into a diagnosis and an exit code
(see :mod:`borderlink.common.cli` for the codes). Libraries never configure logging; only
:func:`main` does.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from borderlink import __version__
from borderlink.common.cli import EXIT_INTERRUPTED, EXIT_USAGE, EnvValue, env_default
from borderlink.common.diagnose import explain
from borderlink.common.logs import configure_logging


def build_parser() -> argparse.ArgumentParser:
    from borderlink import demo, scoring
    from borderlink.edge import cli as edge_cli
    from borderlink.firmware_tools import cli as firmware_cli
    from borderlink.hardware_profiles import cli as profiles_cli
    from borderlink.hub import cli as hub_cli
    from borderlink.proto import cli as proto_cli
    from borderlink.provisioning import cli as provisioning_cli

    parser = argparse.ArgumentParser(
        prog="borderlink",
        description="Signed, chained records from border-management field devices, "
        "federated between agencies (SBS, SCC, SMS).",
    )
    parser.add_argument("--version", action="version", version=f"borderlink {__version__}")
    parser.add_argument(
        "--log-level",
        default=env_default("LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log threshold (env BORDERLINK_LOG_LEVEL; default %(default)s)",
    )
    parser.add_argument(
        "--log-format",
        default=env_default("LOG_FORMAT", "text"),
        choices=["text", "json"],
        help="logs as readable text or as JSON lines (env BORDERLINK_LOG_FORMAT)",
    )
    roles = parser.add_subparsers(dest="role", metavar="ROLE", required=True)

    def role(name: str, help_text: str) -> argparse.ArgumentParser:
        return roles.add_parser(name, help=help_text, description=help_text)

    from borderlink.hub_init import add_init_command, profile_record_types

    add_init_command(hub_cli.configure_hub(role("hub", "run and administer the hub")))
    edge_cli.configure_edge(role("edge", "run an edge agent beside a device"))
    profiles_cli.configure_emulate(role("emulate", "run a device emulator from a hardware profile"))
    profiles_cli.configure_profiles(role("profiles", "list and validate hardware profiles"))
    simulate_actions = profiles_cli.configure_simulate(
        role("simulate", "run and score border-crossing scenarios")
    )
    # ``score`` runs the edge processors, which hardware_profiles may not import.
    scoring.configure_score(simulate_actions)
    provisioning_cli.configure_provision(
        role("provision", "CA, enrollment and node bundles"),
        record_types_of_profile=profile_record_types,
    )
    firmware_cli.configure_firmware(role("firmware", "build, sign, verify and install firmware"))
    proto_cli.configure_audit(role("audit", "verify signed records and logs offline"))
    hub_cli.configure_agency(role("agency", "an agency's client: subscribe, query, proofs"))
    demo.configure_demo(role("demo", "run the whole border crossing on this machine"))
    return parser


def _chosen_parsers(parser: argparse.ArgumentParser, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The parser and the subcommand parsers the command line chose, outermost first."""
    while parser is not None:
        yield parser
        chosen = None
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(args, action.dest, None) or "")
        parser = chosen  # type: ignore[assignment]


def check_environment_values(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Give a value from a ``BORDERLINK_*`` variable the check argparse gives the same flag
    (argparse never checks a default against ``choices``)."""
    for chosen in _chosen_parsers(parser, args):
        for action in chosen._actions:
            value = getattr(args, action.dest, None)
            if isinstance(value, EnvValue) and action.choices and value not in action.choices:
                chosen.error(
                    f"{value.variable}={value!r} (the default of {action.option_strings[0]}): "
                    f"invalid choice (choose from {', '.join(map(str, action.choices))})"
                )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure ends as one line ``borderlink ROLE: error: …`` on stderr
    and the exit code of :mod:`borderlink.common.cli` (the traceback only at DEBUG)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_environment_values(parser, args)
    configure_logging(args.log_level, args.log_format)
    handler = getattr(args, "func", None)
    if handler is None:
        # A role given without its action: show what it offers.
        parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "--help"])
        return EXIT_USAGE
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        error = explain(exc)
        if error is None:
            raise  # a bug, not a mistake: its traceback is what a report needs
        logging.getLogger("borderlink").debug("failed", exc_info=True)
        print(f"borderlink {args.role}: error: {error}", file=sys.stderr, flush=True)
        return error.exit_code
