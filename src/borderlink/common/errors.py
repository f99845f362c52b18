"""The root of every borderlink error, and the two errors every command may raise itself.

Each package's ``errors.py`` derives its own base class from :class:`BorderlinkError`, so the
command line catches one class and callers that want "anything borderlink refused" do too.
Each error carries the exit code the command ends with (:mod:`borderlink.common.cli`).
"""

from __future__ import annotations

__all__ = ["BorderlinkError", "UnavailableError", "UsageError"]


class BorderlinkError(Exception):
    """Base class of every borderlink error; the command exits 1 on it."""

    exit_code: int = 1


class UsageError(BorderlinkError, ValueError):
    """A value the operator gave (flag, environment variable, file) that cannot be used; exit 2."""

    exit_code = 2


class UnavailableError(BorderlinkError):
    """A service the command needs does not answer or cannot be bound to; exit 3."""

    exit_code = 3
