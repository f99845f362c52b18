"""``borderlink demo``: the whole border crossing on one machine (built by issue #7)."""

from __future__ import annotations

import argparse

from borderlink._cliutil import not_yet_built


def configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=not_yet_built("demo", 7))
