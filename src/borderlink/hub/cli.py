"""``borderlink hub …`` and ``borderlink agency …``."""

from __future__ import annotations

import argparse


def configure_hub(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """The ``hub`` subcommands; returns them so the top-level glue can add ``hub init``."""
    from borderlink.hub.commands import configure

    return configure(parser)


def configure_agency(parser: argparse.ArgumentParser) -> None:
    from borderlink.hub.agency_cli import configure

    configure(parser)
