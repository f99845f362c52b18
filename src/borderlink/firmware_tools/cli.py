"""``borderlink firmware …``."""

from __future__ import annotations

import argparse

from borderlink.common.cli import not_yet_built


def configure_firmware(parser: argparse.ArgumentParser) -> None:
    # No issue builds firmware images yet; docs/design.md places them in firmware_tools/.
    parser.set_defaults(func=not_yet_built("firmware"))
