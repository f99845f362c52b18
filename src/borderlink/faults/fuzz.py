"""Fuzz targets for every parser borderlink exposes to the outside, and their runners.

A *target* takes arbitrary bytes and hands them to one parser the way the running system does
(a device frame through the profile's framer and decoder, an export file, a record from a node,
a TOML file an operator wrote). The only acceptable failure is a borderlink error (the parser's
own error type, all derived from :class:`~borderlink.common.errors.BorderlinkError`); anything
else — ``IndexError``, ``RecursionError``, ``MemoryError``, a crash of the C accelerator — is a
finding.

Three ways to run them:

* the regression seeds kept in ``tests/fuzz_corpus/<target>/`` (inputs found earlier, plus
  valid inputs the simulator makes), by the test suite in CI;
* short Hypothesis runs (random and mutated seeds), by the test suite in CI;
* coverage-guided, with atheris (libFuzzer): ``python -m borderlink.faults.fuzz --target NAME
  --seconds N`` (``--target all`` runs every target in turn). New crashes are written to
  ``tests/fuzz_corpus/<target>/crash-*`` to be kept as regression seeds once fixed.
  Once fixed, a crash file is renamed ``regression-*`` and stays in the corpus.
  ``--sanitize`` builds the C accelerator with AddressSanitizer and UndefinedBehaviorSanitizer
  and runs the record targets against it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from borderlink.common.errors import BorderlinkError

#: Failures a target may raise: borderlink's own errors, and TOML syntax errors from the
#: standard library for the TOML targets (the loaders wrap them; the targets call below them).
EXPECTED: tuple[type[BaseException], ...] = (BorderlinkError, tomllib.TOMLDecodeError)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


@functools.cache
def _signer() -> Any:
    from borderlink.proto.keys import SigningKey

    return SigningKey(bytes(range(32)))  # a published test seed: fuzz records verify


@functools.cache
def _profile(name: str) -> Any:
    from borderlink.hardware_profiles.loader import load_profile

    return load_profile(name)


def _frames(protocol: str, profile: str) -> Callable[[bytes], None]:
    def target(data: bytes) -> None:
        from borderlink.hardware_profiles.protocols import decoder_for, framer_for

        framer = framer_for(protocol)
        decoder = decoder_for(_profile(profile))
        for frame in framer.feed(data):
            try:
                decoder.decode(frame)
            except BorderlinkError:
                pass  # one bad frame; the framer must still find the frames after it
    return target


def _record(reference: bool) -> Callable[[bytes], None]:
    def target(data: bytes) -> None:
        from borderlink.proto import cose, record, record_types

        modules = (record, cose, record_types)
        saved = [m._native for m in modules]  # type: ignore[attr-defined]
        if reference:
            for m in modules:
                m._native = None  # type: ignore[attr-defined]
        try:
            try:
                record.decode_record(data)
            except BorderlinkError:
                pass
            record.verify_record(data, _signer().public,
                                 registry=record_types.default_registry())
        finally:
            for m, native in zip(modules, saved, strict=True):
                m._native = native  # type: ignore[attr-defined]
    return target


def _mrz(data: bytes) -> None:
    from borderlink.edge.processors.mrz import parse_mrz

    parse_mrz(_text(data).split("\n")[:3], dt.date(2026, 12, 7))


def _n42_report(data: bytes) -> None:
    from borderlink.hardware_profiles.protocols import n42

    n42.parse_report(data)


def _n42_spectra(data: bytes) -> None:
    from borderlink.hardware_profiles.protocols.n42_spectra import read_spectra

    read_spectra(data)


def _jcamp(data: bytes) -> None:
    from borderlink.hardware_profiles.protocols import jcamp

    jcamp.parse_file(data, "fuzz.jdx")


def _andi(data: bytes) -> None:
    from borderlink.hardware_profiles.protocols import andi

    andi.parse_file(data, "fuzz.cdf")


def _profile_toml(data: bytes) -> None:
    from borderlink.hardware_profiles.schema import profile_from_dict

    profile_from_dict(tomllib.loads(_text(data)), "fuzz.toml", Path("/nonexistent"))


def _edge_config(data: bytes) -> None:
    from borderlink.edge.config import config_from_dict

    config_from_dict(tomllib.loads(_text(data)), Path("/nonexistent/node.toml"))


def _hub_config(data: bytes) -> None:
    from borderlink.hub.config import parse_config

    parse_config(_text(data), source="fuzz.toml", base=Path("/nonexistent"))


def _policy(data: bytes) -> None:
    from borderlink.hub.policy import parse_policy

    parse_policy(data, source="fuzz.toml")


#: Every target by name.
TARGETS: dict[str, Callable[[bytes], None]] = {
    "record-c": _record(reference=False),
    "record-reference": _record(reference=True),
    "mrz": _mrz,
    "reader-frame": _frames("mrz-reader-frame", "docreader-first-line"),
    "rpm-frame": _frames("rpm-count-frame", "rpm-lane"),
    "sensor-frame": _frames("sensor-cbor-hmac", "ground-sensor-gateway"),
    "nmea": _frames("nmea0183", "patrol-radio"),
    "cdr-lines": _frames("cdr-lines", "telephony-unit"),
    "n42-report": _n42_report,
    "n42-spectra": _n42_spectra,
    "jcamp-dx": _jcamp,
    "andi-netcdf": _andi,
    "profile-toml": _profile_toml,
    "edge-config-toml": _edge_config,
    "hub-config-toml": _hub_config,
    "policy-toml": _policy,
}


class FuzzFinding(Exception):
    """A target raised something other than a borderlink error: a bug to fix."""


def run_one(name: str, data: bytes) -> None:
    """Feed *data* to target *name*; raises :class:`FuzzFinding` for anything unexpected."""
    try:
        TARGETS[name](data)
    except EXPECTED:
        pass
    except RecursionError as exc:  # a stack overflow on nested input is a finding too
        raise FuzzFinding(f"{name}: RecursionError") from exc
    except Exception as exc:
        raise FuzzFinding(f"{name}: {type(exc).__name__}: {exc}") from exc


def corpus_dir(root: Path, name: str) -> Path:
    return root / name


def corpus(root: Path, name: str) -> Iterator[tuple[Path, bytes]]:
    folder = corpus_dir(root, name)
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file():
                yield path, path.read_bytes()


def seed_inputs() -> dict[str, list[bytes]]:
    """Valid inputs per target, made by the simulator and the shipped files (the start of every
    corpus: mutations of valid input reach far deeper than random bytes)."""
    from borderlink.hardware_profiles.loader import PROFILES_DIR, load_profile
    from borderlink.hardware_profiles.protocols import andi, n42
    from borderlink.hardware_profiles.readings import LabRun, OccupancyReport
    from borderlink.hardware_profiles.simulator import generate, load_scenario
    from borderlink.hub.policy import EXAMPLE_POLICY
    from borderlink.proto.record import RecordChain
    from borderlink.proto.record_types import default_registry

    by_protocol = {"mrz-reader-frame": "reader-frame", "rpm-count-frame": "rpm-frame",
                   "sensor-cbor-hmac": "sensor-frame", "nmea0183": "nmea",
                   "cdr-lines": "cdr-lines", "jcamp-dx": "jcamp-dx", "andi-ms": "andi-netcdf"}
    seeds: dict[str, list[bytes]] = {name: [] for name in TARGETS}
    scenario = load_scenario("smoke")
    protocols = {d.id: load_profile(d.profile).framing.protocol for d in scenario.devices}
    for emission in generate(scenario, seed=0):
        target = by_protocol.get(protocols.get(emission.device_id, ""))
        if target and len(seeds[target]) < 4 and emission.data:
            seeds[target].append(emission.data)
        for reading in emission.readings:
            lines = getattr(reading, "lines", None)
            if lines and len(seeds["mrz"]) < 4:
                seeds["mrz"].append("\n".join(lines).encode())
            if isinstance(reading, OccupancyReport) and len(seeds["n42-report"]) < 2:
                seeds["n42-report"].append(n42.encode_report(reading))
            if isinstance(reading, LabRun) and reading.spectra and not seeds["andi-netcdf"]:
                seeds["andi-netcdf"].append(andi.encode_andi_ms(reading))
    chain = RecordChain(_signer(), node_id="fuzz-node", site="AZ-BIL", registry=default_registry())
    for record_type, body in (("node.tamper", {"kind": "fuzz", "detail": "seed"}),
                              ("node.boot", {"agent_version": "fuzz", "reason": "seed"})):
        try:
            signed = chain.prepare(record_type, body, time_ms=1_700_000_000_000)
        except BorderlinkError:
            continue
        chain.commit(signed)
        seeds["record-c"].append(signed.raw)
        seeds["record-reference"].append(signed.raw)
    seeds["profile-toml"] = [p.read_bytes() for p in sorted(PROFILES_DIR.glob("*.toml"))[:4]]
    seeds["policy-toml"] = [EXAMPLE_POLICY.read_bytes()]
    # N42 spectra: the portal's own reports; real instruments' files are added by hand (see
    # tests/fuzz_corpus/README.md)
    seeds["n42-spectra"] = list(seeds["n42-report"])
    seeds["hub-config-toml"] = [b'[hub]\nlisten = "127.0.0.1:7443"\n']
    seeds["edge-config-toml"] = [b'[node]\nid = "n1"\nsite = "AZ-BIL"\n']
    return seeds


def write_seeds(root: Path) -> int:
    """Write :func:`seed_inputs` into the corpus folders (named by digest); returns how many."""
    import hashlib

    count = 0
    for name, inputs in seed_inputs().items():
        folder = corpus_dir(root, name)
        folder.mkdir(parents=True, exist_ok=True)
        for data in inputs:
            path = folder / f"seed-{hashlib.sha256(data).hexdigest()[:16]}"
            if not path.exists():
                path.write_bytes(data)
                count += 1
    return count


# -- atheris (coverage-guided, libFuzzer) ------------------------------------------------------

def _load_sanitized_native() -> None:
    """Use the ASan/UBSan build of the C accelerator that ``--sanitize`` made, if named."""
    import importlib.util

    path = os.environ.get("BORDERLINK_FUZZ_NATIVE")
    if not path:
        return
    spec = importlib.util.spec_from_file_location("borderlink.proto._native", path)
    if spec is None or spec.loader is None:
        raise FuzzFinding(f"cannot load the sanitized accelerator {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["borderlink.proto._native"] = module
    spec.loader.exec_module(module)


def _atheris_main(name: str, libfuzzer_args: list[str]) -> None:
    import atheris  # the fuzzing extra: pip install atheris

    _load_sanitized_native()

    target = TARGETS[name]
    with atheris.instrument_imports():
        try:  # the target imports its parser lazily: import it here, under instrumentation
            target(b"")
        except Exception:  # noqa: BLE001 - only the imports matter here
            pass

    def one(data: bytes) -> None:
        try:
            target(data)
        except EXPECTED:
            pass

    atheris.Setup([sys.argv[0], *libfuzzer_args], one)
    atheris.Fuzz()


def fuzz_target(name: str, seconds: int, root: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run *name* under atheris for *seconds* in a child process; its libFuzzer statistics."""
    folder = corpus_dir(root, name)
    folder.mkdir(parents=True, exist_ok=True)
    known = set(folder.iterdir())  # inputs kept from earlier runs are not new findings
    # libFuzzer writes every input that adds coverage into the first corpus folder: the
    # target's own, so what a run finds is kept (merge with -merge=1 before committing)
    args = [sys.executable, "-m", "borderlink.faults.fuzz", "--_atheris", name, "--",
            f"-max_total_time={seconds}", "-print_final_stats=1", "-rss_limit_mb=2048",
            "-timeout=10", f"-artifact_prefix={folder}/", str(folder)]
    done = subprocess.run(args, capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})}, timeout=seconds + 120)
    added = set(folder.iterdir()) - known
    stats = dict(re.findall(r"stat::(\w+):\s+(\d+)", done.stderr))
    crashes = sorted(str(p) for p in added if p.name.startswith(("crash-", "timeout-", "oom-")))
    return {"target": name, "runs": int(stats.get("number_of_executed_units", 0)),
            "exit": done.returncode, "new_corpus_entries": len(added) - len(crashes),
            "crashes": crashes, "tail": done.stderr[-1500:] if done.returncode else ""}


def sanitized_native(out: Path) -> Path:
    """Build ``_native.c`` with ASan and UBSan into *out*; the path of the built module."""
    import sysconfig

    import borderlink.proto as proto_pkg

    source = Path(proto_pkg.__file__).with_name("_native.c")
    built = out / f"_native{sysconfig.get_config_var('EXT_SUFFIX')}"
    include = sysconfig.get_paths()["include"]
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-g", "-fno-omit-frame-pointer",
                    "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                    f"-I{include}", str(source), "-lcrypto", "-o", str(built)],
                   check=True, capture_output=True, text=True)
    return built


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m borderlink.faults.fuzz",
        description="Coverage-guided fuzzing (atheris) of borderlink's parsers.")
    parser.add_argument("--target", default="all",
                        help=f"one of {', '.join(TARGETS)}, or all (default)")
    parser.add_argument("--seconds", type=int, default=60, help="per target (default 60)")
    parser.add_argument("--corpus", type=Path, default=Path("tests/fuzz_corpus"),
                        help="corpus root, one folder per target (default %(default)s)")
    parser.add_argument("--seed-corpus", action="store_true",
                        help="write the simulator's valid inputs into the corpus and exit")
    parser.add_argument("--sanitize", action="store_true",
                        help="run the record targets against the C accelerator built with "
                        "AddressSanitizer and UndefinedBehaviorSanitizer")
    parser.add_argument("--json", type=Path, help="write the per-target statistics as JSON")
    parser.add_argument("--_atheris", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--_atheris" in argv:  # the child process: libFuzzer's arguments follow "--"
        split = argv.index("--")
        _atheris_main(argv[argv.index("--_atheris") + 1], argv[split + 1:])
        return 0
    args = build_parser().parse_args(argv)
    if args.seed_corpus:
        print(f"{write_seeds(args.corpus)} new seed inputs in {args.corpus}")
        return 0
    names = list(TARGETS) if args.target == "all" else [args.target]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"unknown target {unknown[0]!r}; known: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    env: dict[str, str] = {}
    if args.sanitize:
        names = [n for n in names if n.startswith("record-")] or ["record-c"]
        built = sanitized_native(Path(tempfile.mkdtemp(prefix="borderlink-asan-")))
        libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                                 text=True, check=True).stdout.strip()
        env = {"BORDERLINK_FUZZ_NATIVE": str(built), "LD_PRELOAD": libasan,
               "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1"}
    results = []
    for name in names:
        result = fuzz_target(name, args.seconds, args.corpus, env)
        results.append(result)
        print(f"{name:<20} {result['runs']:>10} runs  {len(result['crashes'])} crash(es)  "
              f"+{result['new_corpus_entries']} corpus", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if any(r["crashes"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
