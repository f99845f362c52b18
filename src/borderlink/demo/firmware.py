"""The demo's firmware update: a release of the borderlink it runs, offered to one node.

:func:`release_wheel` packs the installed ``borderlink`` package as a wheel of another version
(its ``__version__`` set to it, so the new agent says so in its ``node.boot``), standing in
for the release a build server would make with ``python -m build``; :func:`release_image`
turns it into a signed edge-agent image (``firmware build`` + ``firmware sign``). Tests of the
install path use the same two functions.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import zipfile
from pathlib import Path

import borderlink
from borderlink.firmware_tools.build import build_edge_agent
from borderlink.firmware_tools.manifest import sign_image
from borderlink.proto.keys import SigningKey

__all__ = ["pinned_requirements", "release_image", "release_wheel"]

_VERSION_LINE = re.compile(r'^__version__ = "[^"]*"$', re.MULTILINE)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def release_wheel(out_dir: Path, version: str) -> Path:
    """``borderlink-VERSION-py3-none-any.whl`` in *out_dir*: this installation's package files
    (``__pycache__`` left out) with ``__version__ = VERSION``, and its dist-info."""
    package = Path(borderlink.__file__).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"borderlink-{version}-py3-none-any.whl"
    info = f"borderlink-{version}.dist-info"
    record: list[str] = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for file in sorted(package.rglob("*")):
            if not file.is_file() or "__pycache__" in file.parts:
                continue
            name = "borderlink/" + file.relative_to(package).as_posix()
            data = file.read_bytes()
            if name == "borderlink/__init__.py":
                data = _VERSION_LINE.sub(f'__version__ = "{version}"', data.decode()).encode()
            wheel.writestr(name, data)
            record.append(_record_line(name, data))
        meta = {f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: borderlink\n"
                                     f"Version: {version}\n").encode(),
                f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: borderlink demo\n"
                                 b"Root-Is-Purelib: false\nTag: py3-none-any\n"}
        for name, data in meta.items():
            wheel.writestr(name, data)
            record.append(_record_line(name, data))
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


def pinned_requirements() -> str:
    """``name==version`` of each runtime dependency as installed here (extras' left out)."""
    try:
        requires = importlib.metadata.requires("borderlink") or []
    except importlib.metadata.PackageNotFoundError:
        requires = []
    lines = []
    for spec in requires:
        if "extra ==" in spec:
            continue
        name = re.split(r"[<>=!~;\s]", spec, maxsplit=1)[0]
        base = name.split("[")[0]
        try:
            lines.append(f"{name}=={importlib.metadata.version(base)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return "\n".join(lines) + "\n"


def release_image(out_dir: Path, key: SigningKey, *, version: str, sequence: int,
                  min_version: str = "0.0.0") -> bytes:
    """A signed edge-agent image of this borderlink as *version* (its encoded bytes)."""
    wheel = release_wheel(out_dir, version)
    requirements = out_dir / "requirements.txt"
    requirements.write_text(pinned_requirements(), encoding="utf-8")
    image = build_edge_agent(wheel, requirements, version=version, sequence=sequence,
                             min_version=min_version)
    return sign_image(image, key).encode()
