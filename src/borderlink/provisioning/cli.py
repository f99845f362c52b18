"""``borderlink provision …``."""

from __future__ import annotations

import argparse

from borderlink.common.cli import not_yet_built


def configure_provision(parser: argparse.ArgumentParser) -> None:
    # The CA itself is built (provisioning/ca.py, used by the hub, the tests and the demo);
    # the technician's workflow around it (enrollment tokens, node bundles) is not yet an issue.
    parser.set_defaults(func=not_yet_built("provision"))
