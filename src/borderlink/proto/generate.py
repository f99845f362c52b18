"""Regenerate the gRPC/protobuf Python code of ``proto/v1/*.proto``, reproducibly.

Run from anywhere::

    python -m borderlink.proto.generate          # rewrite proto/v1/*_pb2*.py(i)
    python -m borderlink.proto.generate --check  # exit 1 when the committed code is stale

The ``.proto`` files are copied into a temporary tree as ``borderlink/proto/v1/*.proto`` and
compiled there with ``grpc_tools.protoc`` (the ``grpcio-tools`` package, a test/dev
dependency), so the generated imports read ``from borderlink.proto.v1 import common_pb2`` and
resolve through the installed package. The output depends only on the ``.proto`` files and the
``grpcio-tools`` version, which the generated files name (``GRPC_GENERATED_VERSION``,
``Protobuf Python Version``); the runtime must be at least those versions.
"""

from __future__ import annotations

import argparse
import importlib.resources
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: Folder of the ``.proto`` files and of the generated code.
PROTO_DIR = Path(__file__).resolve().parent / "v1"
#: Import path of the generated modules; mirrors the folder layout inside the temporary tree.
PACKAGE_PATH = Path("borderlink") / "proto" / "v1"
#: Suffixes of the files protoc generates for one ``x.proto``.
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files(proto_dir: Path = PROTO_DIR) -> list[Path]:
    """The ``.proto`` sources, sorted by name."""
    return sorted(proto_dir.glob("*.proto"))


def generated_names(proto_dir: Path = PROTO_DIR) -> list[str]:
    """File names of all generated modules, sorted."""
    return sorted(p.stem + s for p in proto_files(proto_dir) for s in GENERATED_SUFFIXES)


def generate(out_dir: Path, proto_dir: Path = PROTO_DIR) -> list[Path]:
    """Compile every ``.proto`` of *proto_dir* and write the generated modules to *out_dir*.

    Returns the written paths, sorted. Raises :class:`RuntimeError` naming protoc's output
    when compilation fails, and :class:`ModuleNotFoundError` when ``grpcio-tools`` is missing.
    """
    import grpc_tools  # noqa: F401  (fail early and clearly when grpcio-tools is missing)

    well_known = importlib.resources.files("grpc_tools") / "_proto"
    sources = proto_files(proto_dir)
    if not sources:
        raise RuntimeError(f"no .proto files in {proto_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="borderlink-protoc-") as tmp:
        root = Path(tmp) / "src"
        pkg = root / PACKAGE_PATH
        pkg.mkdir(parents=True)
        for src in sources:
            shutil.copyfile(src, pkg / src.name)
        gen = Path(tmp) / "gen"
        gen.mkdir()
        cmd = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{root}",
            f"-I{well_known}",
            f"--python_out={gen}",
            f"--pyi_out={gen}",
            f"--grpc_python_out={gen}",
            *(str(PACKAGE_PATH / src.name) for src in sources),
        ]
        done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"protoc failed ({done.returncode}): {done.stderr.strip()}")
        written = []
        for name in generated_names(proto_dir):
            made = gen / PACKAGE_PATH / name
            if not made.is_file():
                raise RuntimeError(f"protoc did not produce {name}")
            target = out_dir / name
            shutil.copyfile(made, target)
            written.append(target)
    return written


def stale_files(proto_dir: Path = PROTO_DIR) -> list[str]:
    """Names of generated files in *proto_dir* that differ from a fresh generation (or are missing)."""
    with tempfile.TemporaryDirectory(prefix="borderlink-gencheck-") as tmp:
        fresh = Path(tmp)
        generate(fresh, proto_dir)
        return [
            name
            for name in generated_names(proto_dir)
            if not (proto_dir / name).is_file()
            or (proto_dir / name).read_bytes() != (fresh / name).read_bytes()
        ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m borderlink.proto.generate",
        description="Regenerate proto/v1/*_pb2*.py(i) from proto/v1/*.proto with grpc_tools.protoc.",
    )
    parser.add_argument(
        "--check", action="store_true", help="only report stale generated files (exit 1 if any)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"stale: proto/v1/{name}", file=sys.stderr)
        return 1 if stale else 0
    for path in generate(PROTO_DIR):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
