"""Processors are ticked with the DEVICE's clock, never the node's (DeviceRunner.device_now).

Through the real runner and a real pty: a radio whose fixes carry times an hour (then two) in
the past must get ticks an hour (then two) in the past, advancing with the monotonic time
elapsed since the last reading; before the first reading the node's clock stands in.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from borderlink.edge.device import DeviceRunner
from borderlink.edge.drivers import open_url
from borderlink.edge.processors.base import Decision
from borderlink.edge.recorder import Recorder
from borderlink.hardware_profiles.protocols import nmea
from borderlink.hardware_profiles.readings import NmeaFix

from ._radio import MinimalRadioProcessor
from .test_drivers import PtyDevice, wait_for


class ClockWatcher(MinimalRadioProcessor):
    """Notes every reading (device t, monotonic) and every tick (now, wall, monotonic)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.readings: list[tuple[float, float]] = []
        self.ticks: list[tuple[float, float, float, int]] = []

    def feed(self, reading: Any) -> list[Decision]:
        with self.lock:
            self.readings.append((reading.t, time.monotonic()))
        return super().feed(reading)

    def tick(self, now: float) -> list[Decision]:
        with self.lock:
            self.ticks.append((now, time.time(), time.monotonic(), len(self.readings)))
        return []

    def ticks_after(self, n_readings: int) -> list[tuple[float, float, float, int]]:
        with self.lock:
            return [t for t in self.ticks if t[3] == n_readings]


def fix_at(t: float) -> bytes:
    return nmea.encode_rmc(NmeaFix(t=t, unit_id="P1", lat=39.45, lon=48.55, valid=True,
                                   sentence="RMC", speed_kn=5.0, course_deg=90.0))


def test_ticks_carry_the_device_clock_extrapolated_never_the_node_clock(
        tmp_path: Path, recorder: Recorder) -> None:
    dev = PtyDevice(tmp_path / "ttyRADIO")
    proc = ClockWatcher()
    runner = DeviceRunner(open_url(f"serial://{dev.link}?baud=4800"), framer_factory=nmea.Framer,
                          decoder=nmea.Decoder(unit_id="P1"), processor=proc, recorder=recorder,
                          reconnect_s=0.05, tick_s=0.05, fault_report_s=0.5)
    assert abs(runner.device_now() - time.time()) < 0.5  # no reading yet: the node's clock
    runner.start()
    try:
        wait_for(lambda: runner.health.state == "connected", what="pty open")
        wait_for(lambda: len(proc.ticks_after(0)) >= 2, what="ticks before any reading")
        for now, wall, _, _ in proc.ticks_after(0):
            assert abs(now - wall) < 0.5, "before the first reading the node clock stands in"

        for n, behind in ((1, 3600.0), (2, 7200.0)):
            dev.write(fix_at(round(time.time() - behind, 2)))
            wait_for(lambda: len(proc.ticks_after(n)) >= 4,  # noqa: B023 (waited here)
                     what=f"ticks after fix {n}")
            device_t, seen = proc.readings[n - 1]
            assert abs(device_t - (time.time() - behind)) < 1.0  # the fix decoded as sent
            ticks = proc.ticks_after(n)
            for now, wall, mono, _ in ticks:
                # an hour (two) behind the node, like the device, not the node's wall clock
                assert abs((wall - now) - behind) < 0.5, (wall - now, behind)
                # exactly the device time extrapolated by the monotonic time since the reading
                assert abs((now - device_t) - (mono - seen)) < 0.1, (now - device_t, mono - seen)
            assert ticks[-1][0] - ticks[0][0] >= 0.1  # the device clock runs on between readings
            assert abs(runner.device_now() - (device_t + time.monotonic() - seen)) < 0.1
    finally:
        runner.stop()
        dev.close()
