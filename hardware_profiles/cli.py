"""``borderlink emulate``, ``borderlink profiles …`` and ``borderlink simulate …``."""

from __future__ import annotations

import argparse
import sys


def _not_yet(what: str, issue: int):  # this package imports nothing of borderlink's
    def handler(args: argparse.Namespace) -> int:
        print(f"borderlink {what}: not built yet (issue #{issue} builds it)", file=sys.stderr)
        return 2

    return handler


def configure_emulate(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=_not_yet("emulate", 5))


def configure_profiles(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=_not_yet("profiles", 5))


def configure_simulate(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=_not_yet("simulate", 5))
