"""The device side of a profile's protocol, paced in real time (or faster), faults switchable.

:class:`Emulator` owns one device's endpoint and its run-time faults; :class:`Pump` replays a
stream of :class:`~borderlink.hardware_profiles.simulator.model.Emission` (from
:func:`~borderlink.hardware_profiles.simulator.generate`) onto one or many emulators, sleeping
until each emission's time divided by the speed. Only the pump owns a thread.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable

from ..faults import MODES, FaultState, apply_byte_faults, apply_reading_faults
from ..readings import LabRun
from ..schema import Profile
from ..simulator.generator import encode_readings
from ..simulator.model import Emission, GroundTruth
from .endpoints import FolderEndpoint, PtyEndpoint, TcpEndpoint

__all__ = ["Emulator", "Pump", "supported_faults"]

#: Fault modes that mean something for each device class.
_UNSUPPORTED = {
    "document_reader": {"drift", "half_written"},
    "radiation_portal_monitor": {"half_written"},
    "radionuclide_identifier": {"noise", "drop"},
    "ground_sensor": {"half_written"},
    "patrol_radio": {"half_written"},
    "telephony": {"half_written"},
    "gc_fid": {"noise", "drop"},
    "gc_ms": {"noise", "drop"},
}


def supported_faults(device_class: str) -> tuple[str, ...]:
    return tuple(m for m in MODES if m not in _UNSUPPORTED.get(device_class, set()))


class Emulator:
    """One device: an endpoint, its fault state, counters. Thread-safe fault switching."""

    def __init__(self, device_id: str, profile: Profile, endpoint: PtyEndpoint | TcpEndpoint | FolderEndpoint,
                 seed: int = 0) -> None:
        self.device_id = device_id
        self.profile = profile
        self.endpoint = endpoint
        self.faults = FaultState()
        self.rng = random.Random(f"{seed}/{device_id}/runtime-faults")
        self._lock = threading.Lock()
        self._burst: list[bytes] = []
        self._burst_files: list[tuple[str, bytes]] = []
        self.emitted = 0
        self.bursts = 0
        self.now = 0.0  # scenario time of the last emission

    def url(self) -> str:
        return self.endpoint.url(self.profile)

    def open(self) -> None:
        self.endpoint.open()

    def close(self) -> None:
        if self._burst or self._burst_files:
            self._flush_burst()
        self.endpoint.close()

    # -- faults --------------------------------------------------------------------------
    def set_fault(self, mode: str, level: float | None = None) -> None:
        """Switch a fault on (``level`` None: its default; 0: off). Transport faults act at once."""
        if mode not in supported_faults(self.profile.device_class):
            raise ValueError(f"fault {mode!r} does not apply to a {self.profile.device_class} "
                             f"(supported: {', '.join(supported_faults(self.profile.device_class))})")
        with self._lock:
            self.faults.set(mode, level, None)  # timed from the next reading
            if mode == "disconnect" and self.faults.level("disconnect"):
                self.endpoint.disconnect(self.faults.level("disconnect"), time.monotonic())
                self.faults.clear("disconnect")
            if mode == "burst" and not self.faults.level("burst") and (self._burst or self._burst_files):
                self._flush_burst()

    def clear_fault(self, mode: str | None = None) -> None:
        with self._lock:
            self.faults.clear(mode)
            if (self._burst or self._burst_files) and not self.faults.level("burst"):
                self._flush_burst()

    # -- output ----------------------------------------------------------------------------
    def poll(self) -> None:
        self.endpoint.poll(time.monotonic())

    def emit(self, e: Emission) -> None:
        if not e.readings:
            return
        with self._lock:
            self.now = e.t
            readings, data = e.readings, e.data
            if self.faults.levels:
                changed = apply_reading_faults(readings, self.faults, e.t)
                if changed != readings:
                    readings, data = changed, encode_readings(self.profile, changed)
                if not isinstance(self.endpoint, FolderEndpoint):
                    data = apply_byte_faults(data, self.faults, self.rng)
            self.emitted += 1
            burst = int(self.faults.level("burst"))
            if isinstance(self.endpoint, FolderEndpoint):
                run = readings[0]
                suffix = str(self.profile.framing.param("suffix", ".jdx"))
                name = (run.filename if isinstance(run, LabRun) and run.filename
                        else f"{self.device_id}-{self.emitted:05d}{suffix}")
                if burst > 1:  # the export queue is held back, then written all at once
                    self._burst_files.append((name, data))
                    if len(self._burst_files) >= burst:
                        self._flush_burst()
                    return
                self.endpoint.write_file(name, data, time.monotonic(), self.faults.level("half_written"))
                return
            if burst > 1:
                self._burst.append(data)
                if len(self._burst) >= burst:
                    self._flush_burst()
                return
            self.endpoint.write(data)

    def _flush_burst(self) -> None:
        self.bursts += 1
        if isinstance(self.endpoint, FolderEndpoint):
            files, self._burst_files = self._burst_files, []
            for name, data in files:
                self.endpoint.write_file(name, data, time.monotonic(), self.faults.level("half_written"))
            return
        data, self._burst = b"".join(self._burst), []
        self.endpoint.write(data)


class Pump:
    """Replays emissions onto emulators at ``speed`` x real time (``speed <= 0``: no waiting).

    Scenario faults of the transport kind (a ``fault.disconnect`` / ``fault.half_written`` /
    ``fault.burst`` ground-truth marker) are carried out on the device's emulator; the
    reading and byte faults were already applied by the generator. ``on_truth`` receives each
    ground truth with the wall-clock time it was due.
    """

    def __init__(self, emulators: dict[str, Emulator], emissions: Iterable[Emission], t0: float,
                 speed: float = 1.0, on_truth: Callable[[GroundTruth, float], None] | None = None,
                 until: float | None = None, start_delay_s: float = 0.0) -> None:
        self.start_delay_s = start_delay_s
        self.emulators = emulators
        self.emissions = emissions
        self.t0 = t0
        self.speed = speed
        self.on_truth = on_truth
        self.until = until
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.lag_s = 0.0  # worst lateness behind schedule
        self.wall0: float | None = None  # monotonic time of scenario time t0

    def start(self) -> Pump:
        self.thread = threading.Thread(target=self._run_safe, name="borderlink-emulator-pump", daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def _run_safe(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # noqa: BLE001 - reported to whoever joins the pump
            self.error = exc
        finally:
            self.done.set()

    def _poll_all(self) -> None:
        for em in self.emulators.values():
            em.poll()

    def _wait_until(self, target: float) -> None:
        while not self.stop_event.is_set():
            now = time.monotonic()
            if now >= target:
                self.lag_s = max(self.lag_s, now - target)
                return
            self._poll_all()
            self.stop_event.wait(min(0.02, target - now))

    def run(self) -> None:
        if self.start_delay_s > 0:
            self._wait_until(time.monotonic() + self.start_delay_s)
        wall0 = self.wall0 = time.monotonic()
        for e in self.emissions:
            if self.stop_event.is_set() or (self.until is not None and e.t > self.until):
                break
            if self.speed > 0:
                self._wait_until(wall0 + (e.t - self.t0) / self.speed)
            else:
                self._poll_all()
            em = self.emulators.get(e.device_id)
            if em is None:
                continue
            if e.truth is not None and e.truth.kind in ("fault.disconnect", "fault.half_written", "fault.burst"):
                mode = e.truth.kind.split(".", 1)[1]
                level = float(e.truth.detail.get("level", 0.0))
                if mode == "disconnect":
                    level = float(e.truth.detail.get("until", e.t)) - e.t
                em.set_fault(mode, level)
                if mode != "disconnect":
                    self._schedule_clear(em, mode, float(e.truth.detail.get("until", e.t)) - e.t)
            em.emit(e)
            if e.truth is not None and self.on_truth is not None:
                self.on_truth(e.truth, time.time())
        # let partial files complete and reconnects happen before returning
        deadline = time.monotonic() + 5.0
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            self._poll_all()
            if all(not isinstance(em.endpoint, FolderEndpoint) or not em.endpoint.pending
                   for em in self.emulators.values()):
                break
            time.sleep(0.02)

    def _schedule_clear(self, em: Emulator, mode: str, after_s: float) -> None:
        delay = after_s / self.speed if self.speed > 0 else 0.0
        timer = threading.Timer(max(0.0, delay), em.clear_fault, args=(mode,))
        timer.daemon = True
        timer.start()
