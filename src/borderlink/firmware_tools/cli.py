"""``borderlink firmware …``."""

from __future__ import annotations

import argparse

from borderlink._cliutil import not_yet_built


def configure_firmware(parser: argparse.ArgumentParser) -> None:
    # No issue builds firmware images yet; DESIGN.md places them in firmware_tools/.
    parser.set_defaults(func=not_yet_built("firmware"))
