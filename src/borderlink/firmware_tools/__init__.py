"""borderlink.firmware_tools — see docs/design.md's layout table for what this package holds.

``micropython/`` holds the sensor-node firmware (MicroPython source, shipped as package data
and compiled with mpy-cross into sensor-node images).
"""

from __future__ import annotations

from importlib import resources

__all__ = ["micropython_sources"]


def micropython_sources() -> dict[str, bytes]:
    """The firmware's files by name (``main.py``, ``ugs_*.py``), from the installed package."""
    folder = resources.files(__name__).joinpath("micropython")
    return {entry.name: entry.read_bytes() for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".py") and entry.is_file()}
