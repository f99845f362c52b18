"""``borderlink hub …`` and ``borderlink agency …``."""

from __future__ import annotations

import argparse

from borderlink._cliutil import not_yet_built


def configure_hub(parser: argparse.ArgumentParser) -> None:
    from borderlink.hub.commands import configure

    configure(parser)


def configure_agency(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=not_yet_built("agency", 3))
