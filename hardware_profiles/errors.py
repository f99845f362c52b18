"""Errors of hardware profiles, emulators and the scenario simulator.

This package imports nothing of borderlink's (see DESIGN.md), so its base class stands on
its own; the command line catches it beside ``BorderlinkError``.
"""

from __future__ import annotations


class HardwareProfileError(Exception):
    """Base class of every error raised by hardware profiles, emulators and the simulator."""


class ProfileValidationError(HardwareProfileError, ValueError):
    """A profile or scenario file that does not match its schema; names the file and key."""
