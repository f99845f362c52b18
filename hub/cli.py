"""``borderlink hub …`` and ``borderlink agency …``."""

from __future__ import annotations

import argparse


def configure_hub(parser: argparse.ArgumentParser) -> None:
    from borderlink.hub.commands import configure

    configure(parser)


def configure_agency(parser: argparse.ArgumentParser) -> None:
    from borderlink.hub.agency_cli import configure

    configure(parser)
