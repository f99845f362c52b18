"""The MassBank record reader behind tests/data/real/ei (our own, from the record format)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from borderlink.hardware_profiles.massbank import main, parse_record

RECORD = """ACCESSION: MSBNK-Example-EX000001
RECORD_TITLE: EXAMPLE; EI-B; MS
AUTHORS: Someone S, Some Univ.
LICENSE: CC BY-SA
CH$NAME: EXAMPLINE
CH$NAME: 2-example-ethanamine
CH$FORMULA: C9H13N
AC$INSTRUMENT: HITACHI M-80
AC$INSTRUMENT_TYPE: EI-B
AC$MASS_SPECTROMETRY: MS_TYPE MS
AC$MASS_SPECTROMETRY: IONIZATION_ENERGY 70 eV
PK$NUM_PEAK: 3
PK$PEAK: m/z int. rel.int.
  44 5000 999
  91.1 450 90
  135 20 4
//
"""


def test_record_fields_and_peaks() -> None:
    rec = parse_record(RECORD)
    assert rec.accession == "MSBNK-Example-EX000001"
    assert rec.names == ("EXAMPLINE", "2-example-ethanamine")
    assert (rec.formula, rec.instrument_type, rec.licence) == ("C9H13N", "EI-B", "CC BY-SA")
    assert rec.ionization_energy_ev == 70.0 and rec.instrument == "HITACHI M-80"
    assert rec.peaks == ((44.0, 999.0), (91.1, 90.0), (135.0, 4.0))


@pytest.mark.parametrize("drop,named", [("LICENSE: CC BY-SA\n", "LICENSE"),
                                        ("AC$INSTRUMENT_TYPE: EI-B\n", "AC$INSTRUMENT_TYPE"),
                                        ("  44 5000 999\n  91.1 450 90\n  135 20 4\n", "no peaks")])
def test_incomplete_record_is_refused_by_name(drop: str, named: str) -> None:
    with pytest.raises(ValueError, match=named.replace("$", r"\$")):
        parse_record(RECORD.replace(drop, ""))


def test_converter_writes_a_real_ei_file_from_a_git_directory(tmp_path: Path) -> None:
    repo = tmp_path / "mb"
    (repo / "Example").mkdir(parents=True)
    (repo / "Example" / "EX000001.txt").write_text(RECORD, encoding="utf-8")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "record"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                            text=True).stdout.strip()
    out = tmp_path / "out.json"
    assert main([str(repo / ".git"), commit, str(out), "substance:amphetamine:Example/EX000001.txt"]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["format"] == "borderlink.real-ei.v1"
    (spec,) = doc["spectra"]
    assert (spec["library_id"], spec["commit"], spec["licence"]) == ("amphetamine", commit, "CC BY-SA")
    assert spec["peaks"] == [[44.0, 999.0], [91.1, 90.0], [135.0, 4.0]]
    usage = subprocess.run([sys.executable, "-m", "borderlink.hardware_profiles.massbank"],
                           capture_output=True, text=True)
    assert usage.returncode == 2 and "GIT_DIR" in usage.stderr
