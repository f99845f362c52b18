"""Run a borderlink command with its wall clock offset by what a file says: the clock jumps.

``python -m borderlink.faults.clock FILE ARGS…`` runs ``borderlink ARGS…`` in this process
after replacing ``time.time`` and ``time.time_ns`` with the real clock plus the offset, in
seconds, that FILE holds (a decimal number; a missing or empty file is 0). The suite rewrites
FILE while the process runs (read at most every :data:`REREAD_S`): its clock jumps forward or
back as a node's or a hub's does when an operator, a bad NTP server or a dead RTC battery sets
it. Every time borderlink's own code takes (record times, the uplink's skew check against the
hub, the hub's receive time, checkpoint timestamps) reads it; the monotonic clock, the
libraries under borderlink (gRPC, logging) and the TLS library's certificate checks do not.

(The suite does not use libfaketime: Debian's 0.9.10 breaks ``time.sleep`` on Python 3.11
when the monotonic clock is left real, wolfcw/libfaketime#426.)
"""

from __future__ import annotations

import faulthandler
import runpy
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

#: Seconds between two reads of the offset file.
REREAD_S = 0.05


def read_offset(path: Path) -> float:
    """The offset FILE holds, 0 when it is missing, empty or not a number."""
    try:
        text = path.read_text().strip()
    except OSError:
        return 0.0
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0


def write_offset(path: Path, seconds: float) -> None:
    """Set the offset of the processes reading *path* (replaced in one step)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{seconds!r}\n")
    tmp.replace(path)


def offset_clock(path: Path, real: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> Callable[[], float]:
    """A ``time.time`` that adds the offset *path* holds to *real*."""
    lock = threading.Lock()
    state = [read_offset(path), monotonic()]

    def now() -> float:
        with lock:
            if monotonic() - state[1] >= REREAD_S:
                state[0], state[1] = read_offset(path), monotonic()
            offset = state[0]
        return real() + offset

    return now


def install(path: Path) -> None:
    """Replace this process's wall clock for borderlink's own code; before borderlink is
    imported, so that defaults bound at import (``wall_clock=time.time``) take it too.

    Only callers in ``borderlink.*`` see the offset: the libraries below them keep the real
    clock, as their C cores do (gRPC hands absolute deadlines made with ``time.time()`` to a
    core that reads the system clock: an offset there would make a 0.2 s wait one of hours,
    which no real clock jump does)."""
    clock = offset_clock(path)
    real, real_ns = time.time, time.time_ns

    def shifted() -> float:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        return clock() if caller.startswith("borderlink") else real()

    def shifted_ns() -> int:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        return int(clock() * 1e9) if caller.startswith("borderlink") else real_ns()

    time.time = shifted
    time.time_ns = shifted_ns


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.exit("usage: python -m borderlink.faults.clock OFFSET_FILE [borderlink args…]")
    install(Path(args[0]))
    # A process of the suite that hangs can be asked where: kill -USR1 PID (to its log).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    sys.argv = ["borderlink", *args[1:]]
    runpy.run_module("borderlink", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
