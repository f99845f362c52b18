"""``borderlink emulate``, ``borderlink profiles …`` and ``borderlink simulate …``.

This package imports nothing of borderlink's outside itself (DESIGN.md), so exit codes are
spelled here: 0 ok, 1 check failed / error, 2 usage or not built, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import HardwareProfileError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"BORDERLINK_{name}", default)


# --------------------------------------------------------------------------- profiles
def configure_profiles(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="profiles_action", metavar="ACTION")
    p_list = sub.add_parser("list", help="list the shipped hardware profiles",
                            description="List the shipped hardware profiles (one TOML per device model).")
    p_list.set_defaults(func=_profiles_list)
    p_val = sub.add_parser("validate", help="validate profile files (all shipped ones by default)",
                           description="Validate hardware profile files against the schema; "
                           "errors name the file, the key and what was expected.")
    p_val.add_argument("files", nargs="*", metavar="FILE",
                       help="profile TOML files or shipped profile names (default: every shipped profile)")
    p_val.set_defaults(func=_profiles_validate)
    parser.set_defaults(func=lambda args: (parser.print_help(), EXIT_USAGE)[1])


def _profiles_list(args: argparse.Namespace) -> int:
    from .loader import load_profile_file, shipped_profiles

    rows = [("NAME", "CLASS", "AGENCY", "PROTOCOL", "TRANSPORT", "VENDOR / MODEL")]
    for path in shipped_profiles():
        p = load_profile_file(path)
        rows.append((p.name, p.device_class, p.agency, p.framing.protocol, p.transport.url(),
                     f"{p.vendor} {p.model}"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5])
    return EXIT_OK


def _profiles_validate(args: argparse.Namespace) -> int:
    from .loader import load_profile, shipped_profiles

    targets: list[str | Path] = list(args.files) or list(shipped_profiles())
    failed = 0
    for target in targets:
        try:
            p = load_profile(target)
        except HardwareProfileError as exc:
            failed += 1
            print(f"FAIL {exc}", file=sys.stderr)
        else:
            print(f"ok   {p.name} ({p.source})")
    return EXIT_FAILED if failed else EXIT_OK


# --------------------------------------------------------------------------- emulate
def configure_emulate(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=_not_yet("emulate"))


# --------------------------------------------------------------------------- simulate
def configure_simulate(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=_not_yet("simulate"))


def _not_yet(what: str):  # type: ignore[no-untyped-def]
    def handler(args: argparse.Namespace) -> int:
        print(f"borderlink {what}: not built yet (issue #5 builds it)", file=sys.stderr)
        return EXIT_USAGE

    return handler
