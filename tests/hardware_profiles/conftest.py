"""Shared helpers: run one emulator of a shipped profile and read it like the edge would."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import serial

from borderlink.hardware_profiles.emulators import Emulator, Pump, endpoint_for
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.simulator import generate
from borderlink.hardware_profiles.simulator.defaults import default_scenario
from borderlink.hardware_profiles.simulator.model import GroundTruth

#: (traffic rate multiplier, speed) per class: dense enough to see ~10+ frames in 0.3 s.
PACE = {
    "document_reader": (300.0, 1.0),
    "radiation_portal_monitor": (20.0, 4.0),
    "radionuclide_identifier": (240.0, 10.0),
    "ground_sensor": (200.0, 100.0),
    "patrol_radio": (50.0, 100.0),
    "telephony": (10.0, 50.0),
    "gc_fid": (240.0, 10.0),
    "gc_ms": (240.0, 10.0),
}


@dataclass
class Running:
    name: str
    emulator: Emulator
    pump: Pump
    truths: list[GroundTruth] = field(default_factory=list)

    @property
    def profile(self) -> Any:
        return self.emulator.profile

    @property
    def scheme(self) -> str:
        return self.profile.transport.scheme

    def scenario_now(self, wall: float) -> float:
        assert self.pump.wall0 is not None
        return self.pump.t0 + (wall - self.pump.wall0) * self.pump.speed


class Consumer:
    """Reads an emulator the way a driver does: pyserial on the pty, a TCP client, the folder."""

    def __init__(self, run: Running) -> None:
        self.run = run
        self.port: serial.Serial | None = None
        self.sock: socket.socket | None = None
        self.eof = False

    def open(self, timeout: float = 3.0) -> Consumer:
        ep = self.run.emulator.endpoint
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.run.scheme == "serial":
                    self.port = serial.Serial(ep.device_path, baudrate=self.run.profile.transport.param("baud"),
                                              timeout=0.02)
                elif self.run.scheme == "tcp":
                    self.sock = socket.create_connection(("127.0.0.1", ep.port), timeout=1.0)
                    self.sock.settimeout(0.02)
                self.eof = False
                return self
            except (OSError, serial.SerialException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def close(self) -> None:
        if self.port is not None:
            self.port.close()
            self.port = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def chunks(self, seconds: float) -> list[tuple[float, bytes]]:
        """(arrival time, bytes) for *seconds*; stops early at EOF (device gone)."""
        out: list[tuple[float, bytes]] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.eof:
            try:
                if self.port is not None:
                    data = self.port.read(65536)
                else:
                    assert self.sock is not None
                    data = self.sock.recv(65536)
                    if not data:
                        self.eof = True
                        break
            except TimeoutError:
                continue
            except (OSError, serial.SerialException):
                self.eof = True
                break
            if data:
                out.append((time.monotonic(), data))
        return out

    def files(self) -> dict[str, bytes]:
        folder = Path(self.run.emulator.endpoint.folder)
        suffix = self.run.profile.framing.param("suffix", ".jdx")
        return {p.name: p.read_bytes() for p in sorted(folder.glob(f"*{suffix}"))}

    def parse(self, name: str, data: bytes) -> Any:
        """The run in an export file, by the profile's own format (JCAMP-DX or ANDI-MS)."""
        from borderlink.hardware_profiles.protocols import decoder_for

        return decoder_for(self.run.profile).decode(data, name)[0]


@pytest.fixture
def start_emulator(tmp_path: Path) -> Iterator[Any]:
    started: list[Running] = []

    def start(name: str, seed: int = 7) -> Running:
        profile = load_profile(name)
        rate, speed = PACE[profile.device_class]
        scenario = default_scenario(name, duration_s=900.0, rate=rate)
        device = scenario.devices[0].id
        endpoint = endpoint_for(profile, port=0, link=tmp_path / f"tty-{name}", folder=tmp_path / name)
        em = Emulator(device, profile, endpoint, seed)
        em.open()
        # t0 a little after the scenario start: the first 1.5 scenario seconds play at once,
        # so every device (a reader's first document comes ~1 s in) is mid-stream when read.
        lead = 6.0 if profile.transport.scheme == "file" else 1.5  # a lab run takes 5 s to export
        run = Running(name, em, Pump({device: em}, generate(scenario, seed), scenario.start + lead, speed))
        run.pump.on_truth = lambda truth, wall: run.truths.append(truth)
        run.pump.start()
        started.append(run)
        return run

    yield start
    for run in started:
        run.pump.stop()
        run.emulator.close()
        assert run.pump.error is None, run.pump.error


def pty_is_tty(path: str) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)
