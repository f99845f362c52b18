"""The fuzz targets over their kept corpora and short Hypothesis runs (the CI part of fuzzing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borderlink.faults import fuzz

CORPUS = Path(__file__).resolve().parents[1] / "fuzz_corpus"


def _kept(name: str) -> list[bytes]:
    return [data for _, data in fuzz.corpus(CORPUS, name)]


@pytest.mark.parametrize("name", sorted(fuzz.TARGETS))
def test_every_kept_input_gives_only_borderlink_errors(name: str) -> None:
    kept = _kept(name)
    assert kept, f"no corpus for {name}: run python -m borderlink.faults.fuzz --seed-corpus"
    for data in kept:
        fuzz.run_one(name, data)


@st.composite
def _mutated(draw: st.DrawFn, name: str) -> bytes:
    """A kept input, mutated as a fuzzer would: bytes flipped, cut, spliced, repeated."""
    kept = _kept(name)
    data = bytearray(draw(st.sampled_from(kept))) if kept else bytearray()
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "repeat"]))
        at = draw(st.integers(0, max(0, len(data) - 1))) if data else 0
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            data = data[:at] + data[at + draw(st.integers(1, 64)):]
        elif op == "insert":
            data[at:at] = draw(st.binary(max_size=16))
        elif op == "repeat" and data:
            data[at:at] = data[at:at + 8] * draw(st.integers(1, 50))
    return bytes(data)


@pytest.mark.parametrize("name", sorted(fuzz.TARGETS))
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_and_mutated_input_gives_only_borderlink_errors(name: str, data: st.DataObject) -> None:
    raw = data.draw(st.one_of(st.binary(max_size=512), _mutated(name)))
    fuzz.run_one(name, raw)


def test_a_foreign_exception_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes) -> None:
        raise IndexError("a parser that indexes past its input")

    monkeypatch.setitem(fuzz.TARGETS, "broken", broken)
    with pytest.raises(fuzz.FuzzFinding, match="IndexError"):
        fuzz.run_one("broken", b"x")


def test_the_seed_inputs_cover_every_target() -> None:
    seeds = fuzz.seed_inputs()
    assert set(seeds) == set(fuzz.TARGETS)
    assert all(seeds[name] for name in seeds), [n for n, s in seeds.items() if not s]


def test_the_record_corpus_runs_clean_on_the_accelerator_built_with_asan_and_ubsan(
        tmp_path: Path) -> None:
    """The C accelerator under AddressSanitizer and UndefinedBehaviorSanitizer, over every kept
    record input (what ``--sanitize`` fuzzes against)."""
    import os
    import subprocess
    import sys

    built = fuzz.sanitized_native(tmp_path)
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                             text=True, check=True).stdout.strip()
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from borderlink.faults import fuzz\n"
        "fuzz._load_sanitized_native()\n"
        "from borderlink.proto import record\n"
        "assert record._native.__file__ == sys.argv[1], record._native.__file__\n"
        "n = 0\n"
        "for _, data in fuzz.corpus(Path(sys.argv[2]), 'record-c'):\n"
        "    fuzz.run_one('record-c', data)\n"
        "    n += 1\n"
        "print('inputs', n)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(built), str(CORPUS)], capture_output=True, text=True,
        timeout=300, check=False,
        env={**os.environ, "BORDERLINK_FUZZ_NATIVE": str(built), "LD_PRELOAD": libasan,
             "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) == len(_kept("record-c")) > 5
