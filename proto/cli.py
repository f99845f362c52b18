"""``borderlink audit …``: offline verification of records."""

from __future__ import annotations

import argparse

from borderlink._cliutil import not_yet_built


def configure_audit(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=not_yet_built("audit", 2))
