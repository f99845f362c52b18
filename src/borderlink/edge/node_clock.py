"""The node's clock as records are stamped with it: the system clock, jumps held.

A node's system clock can jump by hours (an operator setting it, a bad NTP answer, a dead RTC
battery at boot). Stamped on a record, a forward jump beyond the hub's allowance is refused
(``TIME_IN_FUTURE``), and since a refused record stops the node's chain there, every record
after it waits until real time has caught up: hours without a single alarm at the hub. A
backward jump freezes the chain's time (it never goes back) for as long.

:class:`NodeClock` follows the system clock while it moves with the monotonic clock (drift and
NTP slews up to :attr:`NodeClock.jump_s` are followed at once), and holds a larger jump: it
keeps counting from where the system clock was before it, on the monotonic clock, until the
hub's time (each ``Resume``, :meth:`NodeClock.observe_hub`) says which of the two is right:

* the system clock agrees with the hub: it is followed (the jump was a correction);
* only the held clock agrees: the system clock jumped; it stays held;
* neither (the hub's clock is off too, or the node never had a good time): the system clock
  is followed, as without this class — the hub then refuses what is beyond its allowance, and
  the records wait, never lost, until one of the clocks is right.

Pure: the wall and monotonic clocks are passed in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: A step of the system clock larger than this (s) is a jump, held until the hub settles it.
JUMP_S = 60.0


class NodeClock:
    """``now()`` in Unix seconds, for the recorder; ``observe_hub()`` from the uplink."""

    def __init__(self, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, *,
                 jump_s: float = JUMP_S) -> None:
        self.wall = wall
        self.monotonic = monotonic
        self.jump_s = jump_s
        self._lock = threading.Lock()
        self._anchor: tuple[float, float] | None = None  # (clock time, monotonic) followed
        #: Seconds the system clock is off from the clock followed (0 while it is followed).
        self.held_s = 0.0

    def _steady(self, mono: float) -> float | None:
        if self._anchor is None:
            return None
        at, mono0 = self._anchor
        return at + (mono - mono0)

    def now(self) -> float:
        with self._lock:
            wall, mono = self.wall(), self.monotonic()
            steady = self._steady(mono)
            if steady is None or abs(wall - steady) <= self.jump_s:
                self._anchor = (wall, mono)
                self.held_s = 0.0
                return wall
            self.held_s = wall - steady
            return steady

    def observe_hub(self, hub_s: float) -> None:
        """The hub's clock now (Unix seconds, as measured over the round trip)."""
        with self._lock:
            wall, mono = self.wall(), self.monotonic()
            steady = self._steady(mono)
            wall_agrees = abs(wall - hub_s) <= self.jump_s
            if steady is not None and not wall_agrees and abs(steady - hub_s) <= self.jump_s:
                self.held_s = wall - steady
                return  # the system clock jumped: keep the held clock
            self._anchor = (wall, mono)
            self.held_s = 0.0
