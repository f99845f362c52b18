"""What every ``borderlink`` subcommand shares: exit codes, environment defaults, placeholders.

The exit codes (documented in the README):

=====  ==============================================================================
0      success
1      a check failed (bad signature, broken chain, failed scenario) or a borderlink error
2      wrong usage, or a part not built yet
3      a service the command needs is unreachable (hub, broker, database)
130    interrupted by the operator (Ctrl-C)
=====  ==============================================================================
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
    "env_default",
    "not_yet_built",
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


def env_default(name: str, default: Any = None) -> Any:
    """The value of ``BORDERLINK_<NAME>`` or *default*: every option may come from the environment."""
    return os.environ.get(f"BORDERLINK_{name}", default)


def not_yet_built(what: str, issue: int | None = None) -> Any:
    """A handler for a subcommand whose work a later issue builds: says so and exits 2."""
    later = f"issue #{issue} builds it" if issue is not None else "no issue has been filed for it yet"

    def handler(args: argparse.Namespace) -> int:
        print(f"borderlink {what}: not built yet ({later})", file=sys.stderr)
        return EXIT_USAGE

    return handler
