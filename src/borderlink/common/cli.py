"""What every ``borderlink`` subcommand shares: exit codes, environment defaults, value types.

The exit codes (documented in the README):

=====  ==============================================================================
0      success
1      a check failed (bad signature, broken chain, failed scenario, a record the hub
       refused) or an error of borderlink's own (a hub refusing the call, a bad store)
2      wrong usage: a bad flag or environment value, a missing or unusable input file,
       a key that does not belong to its certificate, a certificate the hub refused,
       or a part not built yet
3      a service the command needs does not answer (hub, broker, database), or a port
       it must listen on is taken
130    interrupted by the operator (Ctrl-C)
=====  ==============================================================================

Every failure ends with one line on stderr, ``borderlink ROLE: error: <what and where>``,
never a traceback (``--log-level DEBUG`` logs the traceback as well). A value from the
environment (``BORDERLINK_*``) is checked exactly like the same value given as a flag.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "EnvValue",
    "env_default",
    "hub_address",
    "non_negative_int",
    "not_yet_built",
    "positive_float",
    "positive_int",
]

#: Exit codes of every borderlink command.
EXIT_OK = 0
#: A check failed (bad signature, broken chain, failed scenario) or a borderlink error.
EXIT_FAILED = 1
#: Wrong usage, or a part that a later issue builds.
EXIT_USAGE = 2
#: A service the command needs is unreachable (hub, broker, database).
EXIT_UNAVAILABLE = 3
#: Interrupted by the operator (Ctrl-C).
EXIT_INTERRUPTED = 130


class EnvValue(str):
    """A default taken from the environment: remembers its variable, so that ``main`` checks it
    against the option's choices and names the variable when it is not one of them."""

    variable: str

    def __new__(cls, value: str, variable: str) -> EnvValue:
        self = super().__new__(cls, value)
        self.variable = variable
        return self


def env_default(name: str, default: Any = None) -> Any:
    """The value of ``BORDERLINK_<NAME>`` or *default*: every option may come from the environment."""
    variable = f"BORDERLINK_{name}"
    value = os.environ.get(variable)
    return default if value is None else EnvValue(value, variable)


def non_negative_int(text: str) -> int:
    """An argparse type: an integer 0 or above (cursors, log indexes, counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer above 0."""
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number above 0, got 0")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number above 0 (seconds, rates)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def hub_address(text: str) -> str:
    """An argparse type: ``host:port``. A bare host is refused rather than dialled on 443,
    which is what gRPC would silently do with it."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or host.endswith(":") and not host.startswith("["):
        raise argparse.ArgumentTypeError(
            f"expected host:port, got {text!r} (the hub listens on 7443 by default: "
            f"{text or 'localhost'}:7443)"
        )
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r}: port {port!r} is not a number 1-65535")
    return text


def not_yet_built(what: str, issue: int | None = None) -> Any:
    """A handler for a subcommand whose work a later issue builds: says so and exits 2."""
    later = f"issue #{issue} builds it" if issue is not None else "no issue has been filed for it yet"

    def handler(args: argparse.Namespace) -> int:
        print(f"borderlink {what}: not built yet ({later})", file=sys.stderr)
        return EXIT_USAGE

    return handler
