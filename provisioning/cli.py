"""``borderlink provision …``."""

from __future__ import annotations

import argparse

from borderlink._cliutil import not_yet_built


def configure_provision(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=not_yet_built("provision", 3))
