"""The node's clock for record stamps: jumps of the system clock held until the hub settles
them (borderlink.edge.node_clock)."""

from __future__ import annotations

from borderlink.edge.node_clock import NodeClock

HOUR = 3600.0
T0 = 1_800_000_000.0


class Clocks:
    """A system clock that can be set, and a monotonic clock that only moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.mono = 100.0

    def wall(self) -> float:
        return T0 + self.mono + self.offset

    def monotonic(self) -> float:
        return self.mono

    def tick(self, seconds: float) -> None:
        self.mono += seconds


def test_drift_and_small_steps_are_followed_at_once() -> None:
    c = Clocks()
    clock = NodeClock(c.wall, c.monotonic)
    assert clock.now() == c.wall()
    c.tick(10)
    c.offset = 30.0  # an NTP step under the jump bound
    assert clock.now() == c.wall() and clock.held_s == 0.0


def test_a_forward_jump_is_held_and_the_hub_confirms_the_held_clock() -> None:
    c = Clocks()
    clock = NodeClock(c.wall, c.monotonic)
    clock.now()
    c.tick(5)
    right = c.wall()
    c.offset = 2 * HOUR  # the system clock jumps ahead
    assert clock.now() == right and clock.held_s == 2 * HOUR
    c.tick(1)
    clock.observe_hub(right + 1)  # a reconnect meanwhile: the hub agrees with the held clock
    assert clock.now() == right + 1
    c.offset = -2 * HOUR  # and back past the right time
    assert clock.now() == right + 1
    c.offset = 0.0  # right again: followed
    c.tick(1)
    assert clock.now() == c.wall() and clock.held_s == 0.0


def test_a_correction_the_hub_confirms_is_followed() -> None:
    c = Clocks()
    c.offset = -3 * HOUR  # booted with a clock three hours slow
    clock = NodeClock(c.wall, c.monotonic)
    clock.now()
    c.offset = 0.0  # NTP corrects it: a jump, held at first
    assert clock.now() == c.wall() - 3 * HOUR
    clock.observe_hub(c.wall())  # the hub agrees with the system clock
    assert clock.now() == c.wall() and clock.held_s == 0.0


def test_when_neither_clock_agrees_with_the_hub_the_system_clock_is_followed() -> None:
    c = Clocks()
    clock = NodeClock(c.wall, c.monotonic)
    clock.now()
    clock.observe_hub(c.wall() - 3 * HOUR)  # the hub's clock is off: the node keeps its own
    assert clock.now() == c.wall()
