"""``borderlink edge …``."""

from __future__ import annotations

import argparse

from borderlink._cliutil import not_yet_built


def configure_edge(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=not_yet_built("edge", 4))
