"""``firmware deploy``: a verified sensor-node image onto a MicroPython device's filesystem
over its raw REPL.

Order: verify the image (signature, target, digests) before touching the device; refuse an image whose sequence
is not above the one the device's ``firmware.manifest`` records; write every file as
``NAME.new``; check each one's size and SHA-256 *on the device*; rename them into place;
write ``firmware.manifest`` (the image without its files) last; soft-reset. A cut before
the renames leaves the old firmware whole (only ``*.new`` files added); a cut during them can
leave a mix, which the device's ``firmware.manifest`` still records as the old release, so the
next deploy of the new image rewrites every file.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

import cbor2

from .errors import DeviceError, ImageFormatError, ImageVerificationError
from .manifest import Image, Manifest, verify_image
from .rawrepl import RawRepl

__all__ = ["MANIFEST_FILE", "deploy_image", "open_port"]

MANIFEST_FILE = "firmware.manifest"
CHUNK = 256  # bytes per write command: small enough for a 24 KB heap


def open_port(url: str, timeout_s: float = 0.2) -> object:
    """``serial:///dev/ttyACM0?baud=115200`` (default baud 115200) as a pyserial port."""
    parsed = urlparse(url)
    if parsed.scheme != "serial" or not parsed.path:
        raise ImageFormatError(f"--port {url!r}: expected serial:///dev/ttyACM0[?baud=115200]")
    import serial

    baud = int(parse_qs(parsed.query).get("baud", ["115200"])[0])
    try:
        return serial.Serial(parsed.path, baud, timeout=timeout_s)
    except (serial.SerialException, OSError) as exc:
        raise DeviceError(f"cannot open {parsed.path}: {exc}") from exc


def _installed_sequence(repl: RawRepl) -> int | None:
    out = repl.exec(
        "import binascii\n"
        "try:\n"
        f" f=open({MANIFEST_FILE!r},'rb'); d=f.read(); f.close()\n"
        " print(binascii.hexlify(d).decode())\n"
        "except OSError:\n"
        " print('none')\n").strip()
    if out == b"none":
        return None
    try:
        installed = cbor2.loads(binascii.unhexlify(out))
        return Manifest.decode(installed["manifest"]).sequence
    except Exception as exc:  # a damaged manifest on the device: say so, do not guess
        raise DeviceError(f"the device's {MANIFEST_FILE} does not decode: {exc}") from exc


def _write(repl: RawRepl, name: str, data: bytes) -> None:
    repl.exec(f"f=open({name!r},'wb')")
    for i in range(0, len(data), CHUNK):
        repl.exec(f"f.write({data[i:i + CHUNK]!r})")
    repl.exec("f.close()")


def _device_sha256(repl: RawRepl, name: str) -> bytes:
    out = repl.exec(
        "import hashlib,binascii\n"
        f"h=hashlib.sha256(); f=open({name!r},'rb')\n"
        "while True:\n"
        " b=f.read(256)\n"
        " if not b: break\n"
        " h.update(b)\n"
        "f.close(); print(binascii.hexlify(h.digest()).decode())\n")
    return binascii.unhexlify(out.strip())


def deploy_image(image: Image, public_key: bytes, repl: RawRepl, *,
                 progress: Callable[[str], None] = lambda _m: None) -> Manifest:
    manifest = verify_image(image, public_key, target="sensor-node")
    repl.enter()
    installed = _installed_sequence(repl)
    if installed is not None and manifest.sequence <= installed:
        raise ImageVerificationError(f"the device runs sequence {installed}; image sequence "
                                     f"{manifest.sequence} is not above it (downgrade/replay)")
    for entry in manifest.files:
        _write(repl, entry.name + ".new", image.files[entry.name])
        if _device_sha256(repl, entry.name + ".new") != hashlib.sha256(
                image.files[entry.name]).digest():
            raise DeviceError(f"{entry.name}: SHA-256 on the device differs from the image's")
        progress(f"{entry.name}: {entry.size} bytes, SHA-256 checked on the device")
    for entry in manifest.files:
        repl.exec(f"import os\nos.rename({entry.name + '.new'!r},{entry.name!r})")
    record = cbor2.dumps({"manifest": image.manifest_bytes, "envelope": image.envelope},
                         canonical=True)
    _write(repl, MANIFEST_FILE + ".new", record)
    repl.exec(f"import os\nos.rename({MANIFEST_FILE + '.new'!r},{MANIFEST_FILE!r})")
    progress(f"{MANIFEST_FILE}: written last (sequence {manifest.sequence})")
    repl.soft_reset()
    return manifest
