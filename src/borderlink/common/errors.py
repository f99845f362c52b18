"""The root of every borderlink error.

Each package's ``errors.py`` derives its own base class from :class:`BorderlinkError`, so the
command line catches one class and callers that want "anything borderlink refused" do too.
"""

from __future__ import annotations

__all__ = ["BorderlinkError"]


class BorderlinkError(Exception):
    """Base class of every borderlink error."""
