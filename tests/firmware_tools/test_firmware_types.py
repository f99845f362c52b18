"""The MicroPython firmware type-checks with mypy against the MicroPython stub packages from
PyPI, not CPython's typeshed: ``micropython-unix-stubs`` (the port the tests run it on) for the
modules the unix port loads, ``micropython-rp2-stubs`` (the boards we target: Raspberry Pi
Pico / Pico W, RP2040 — cheap, low power, two UARTs and three 12-bit ADCs for the seismic and
magnetic channels, 264 KB RAM) for everything, the machine HAL included.

The stubs go into a folder of their own (``pip install --target``): they shadow stdlib
modules (``time``, ``select``) and must never reach the project's venv.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from borderlink.firmware_tools import micropython_sources

# The modules each port loads.
BOARDS = {
    "unix": ["main.py", "ugs_boot.py", "ugs_cbor.py", "ugs_frame.py", "ugs_hal.py",
             "ugs_node.py", "ugs_seq.py"],
    "rp2": ["main.py", "ugs_boot.py", "ugs_cbor.py", "ugs_frame.py", "ugs_hal.py",
            "ugs_hal_machine.py", "ugs_node.py", "ugs_seq.py"],
}
# Errors mypy finds inside the stub files themselves (duplicate names in rp2's machine.pyi,
# abstract classes in vfs.pyi) are the stub authors'; our modules are checked strictly.
MYPY_INI = """[mypy]
python_version = 3.11
ignore_errors = true
[mypy-main,ugs_*]
ignore_errors = false
disallow_untyped_defs = true
disallow_incomplete_defs = true
warn_unused_ignores = true
"""
# The unix port never imports the machine HAL (ugs_boot picks it only for "hal": "machine").
UNIX_ONLY = """[mypy-ugs_hal_machine]
ignore_missing_imports = true
"""


@pytest.fixture(scope="module")
def stub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("micropython-stubs")


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_firmware_type_checks_against_the_micropython_stubs(board: str, stub_root: Path,
                                                            tmp_path: Path) -> None:
    stubs = stub_root / board
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(stubs),
                          f"micropython-{board}-stubs"], capture_output=True, text=True)
    assert pip.returncode == 0, f"cannot install micropython-{board}-stubs: {pip.stderr}"
    assert (stubs / "stdlib" / "VERSIONS").exists(), "the stubs bring their own stdlib"
    sources = micropython_sources()
    for name in BOARDS[board]:
        (tmp_path / name).write_bytes(sources[name])
    (tmp_path / "mypy.ini").write_text(MYPY_INI + (UNIX_ONLY if board == "unix" else ""))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--custom-typeshed-dir",
         str(stubs), "--no-site-packages", "--no-incremental", "--cache-dir", "/dev/null",
         *BOARDS[board]], cwd=tmp_path, env={"MYPYPATH": str(stubs), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Success: no issues found in {len(BOARDS[board])} source files" in result.stdout
