"""`borderlink firmware deploy` against the real MicroPython unix port: ``micropython -i``
runs with its stdin/stdout on a pty (the master side), the deploy opens the slave path as
``serial:///dev/pts/N`` with pyserial and speaks the raw REPL to it, as to a board's USB
serial. The device's flash is the unix port's working folder.

Tested here: files written in chunks, each file's SHA-256 computed by the device's own
hashlib and checked, the manifest written last, a refused image leaving the device untouched,
a downgrade refused by the sequence the device records, and the soft reset (Ctrl-B, Ctrl-D),
which on the unix port ends the process instead of rebooting: the test then boots the
deployed flash with ``micropython main.py`` and checks its frames. Not tested: a board's
reboot into main.py and its littlefs (no board is attached in CI).
"""

from __future__ import annotations

import json
import os
import subprocess
import tty
from collections.abc import Iterator
from pathlib import Path

import cbor2
import pytest

from borderlink.cli import main
from borderlink.firmware_tools.manifest import Image

from .upy import T0, node_config, run_node, tool


class UnixPortDevice:
    """The unix port behind a pty: ``micropython -i`` in *flash* (its filesystem)."""

    def __init__(self, flash: Path) -> None:
        flash.mkdir(parents=True, exist_ok=True)
        self.flash = flash
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.proc = subprocess.Popen([tool("micropython"), "-X", "heapsize=64k", "-i"],
                                     cwd=flash, stdin=self.master, stdout=self.master,
                                     stderr=self.master)
        self.url = f"serial://{os.ttyname(self.slave)}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def device(tmp_path: Path) -> Iterator[UnixPortDevice]:
    dev = UnixPortDevice(tmp_path / "flash")
    yield dev
    dev.close()


def build(tmp_path: Path, capsys: pytest.CaptureFixture[str], key: Path, sequence: int) -> Path:
    config = tmp_path / "ugs_config.json"
    config.write_text(json.dumps(node_config()))
    image = tmp_path / f"node-{sequence}.blfw"
    assert main(["firmware", "build", "--target", "sensor-node", "--config", str(config),
                 "--version", f"1.{sequence}.0", "--sequence", str(sequence),
                 "--out", str(image)]) == 0
    assert main(["firmware", "sign", "--key", str(key), str(image)]) == 0
    capsys.readouterr()
    return image


@pytest.fixture
def key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "firmware.pem"
    assert main(["firmware", "keygen", "--out", str(path)]) == 0
    capsys.readouterr()
    return path


def deploy(capsys: pytest.CaptureFixture[str], device: UnixPortDevice, key: Path,
           image: Path) -> tuple[int, str, str]:
    code = main(["firmware", "deploy", "--port", device.url, "--public-key",
                 f"{key}.pub", "--timeout-s", "20", str(image)])
    out, err = capsys.readouterr()
    return code, out, err


def test_deploy_writes_checks_and_resets_then_the_node_boots(
        tmp_path: Path, device: UnixPortDevice, key: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    image_path = build(tmp_path, capsys, key, 7)
    code, out, err = deploy(capsys, device, key, image_path)
    assert code == 0, err
    assert json.loads(out)["sequence"] == 7
    image = Image.decode(image_path.read_bytes())
    assert err.count("SHA-256 checked on the device") == len(image.files)
    assert err.strip().splitlines()[-1].startswith("firmware.manifest: written last")
    assert device.proc.wait(timeout=10) == 0  # the soft reset: the unix port exits
    for name, data in image.files.items():
        assert (device.flash / name).read_bytes() == data
    assert not list(device.flash.glob("*.new"))
    record = cbor2.loads((device.flash / "firmware.manifest").read_bytes())
    assert record == {"manifest": image.manifest_bytes, "envelope": image.envelope}
    result = run_node(device.flash, f"{T0} {node_config()['sensors'][0]['id']} 300\n",
                      heap="24k")
    assert result.returncode == 0 and result.stdout.count(b"\xb5\x4e\x01\x01") >= 5


def test_a_refused_image_never_touches_the_device(
        tmp_path: Path, device: UnixPortDevice, key: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    image_path = build(tmp_path, capsys, key, 7)
    image = Image.decode(image_path.read_bytes())
    files = {**image.files, "main.py": b"import os\nos.remove('ugs_config.json')\n"}
    image_path.write_bytes(Image(image.manifest_bytes, image.envelope, files).encode())
    code, _, err = deploy(capsys, device, key, image_path)
    assert code == 1 and "tampered" in err
    assert list(device.flash.iterdir()) == []
    assert device.proc.poll() is None  # nobody even spoke to it


def test_a_downgrade_is_refused_by_the_sequence_on_the_device(
        tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    newer, older = build(tmp_path, capsys, key, 7), build(tmp_path, capsys, key, 5)
    first = UnixPortDevice(tmp_path / "flash")
    try:
        assert deploy(capsys, first, key, newer)[0] == 0
    finally:
        first.close()
    before = {p.name: p.read_bytes() for p in (tmp_path / "flash").iterdir()}
    again = UnixPortDevice(tmp_path / "flash")  # the same flash after the reboot
    try:
        code, _, err = deploy(capsys, again, key, older)
        assert code == 1 and "runs sequence 7" in err and "downgrade" in err
        code, _, err = deploy(capsys, again, key, newer)  # the same one again: a replay
        assert code == 1 and "not above it" in err
    finally:
        again.close()
    assert {p.name: p.read_bytes() for p in (tmp_path / "flash").iterdir()} == before
