"""MassBank record reader: the fields a reference library or a real-data test needs, and the peaks.

A MassBank record (https://github.com/MassBank/MassBank-data, format described in
``MassBank Record Format`` of the MassBank project) is a text file of ``TAG: value`` lines;
``PK$PEAK: m/z int. rel.int.`` is followed by indented peak lines and the record ends at ``//``.
Only what identifies the spectrum and its licence is kept: accession, names, formula,
instrument type, ionisation energy, licence, authors, and the peaks as (m/z, rel.int 0..999).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MassBankRecord", "parse_record"]

_ENERGY = re.compile(r"IONIZATION_ENERGY\s+([0-9.]+)\s*eV", re.IGNORECASE)


@dataclass(frozen=True)
class MassBankRecord:
    accession: str
    names: tuple[str, ...]
    formula: str
    instrument: str
    instrument_type: str
    ionization_energy_ev: float | None
    licence: str
    authors: str
    peaks: tuple[tuple[float, float], ...]  # (m/z, relative intensity, base peak = 999)


def parse_record(text: str) -> MassBankRecord:
    """One record's text -> :class:`MassBankRecord`; ValueError when a required field lacks."""
    fields: dict[str, list[str]] = {}
    peaks: list[tuple[float, float]] = []
    in_peaks = False
    for line in text.splitlines():
        if line.startswith("//"):
            break
        if in_peaks:
            if line.startswith("  "):
                parts = line.split()
                if len(parts) < 2:
                    raise ValueError(f"peak line {line!r}: expected m/z and intensity")
                # rel.int. (third column) when given, else the raw intensity
                peaks.append((float(parts[0]), float(parts[2] if len(parts) > 2 else parts[1])))
                continue
            in_peaks = False
        tag, sep, value = line.partition(": ")
        if not sep:
            continue
        if tag == "PK$PEAK":
            in_peaks = True
            continue
        fields.setdefault(tag, []).append(value.strip())
    for required in ("ACCESSION", "CH$NAME", "AC$INSTRUMENT_TYPE", "LICENSE"):
        if required not in fields:
            raise ValueError(f"MassBank record lacks {required}")
    if not peaks:
        raise ValueError(f"MassBank record {fields['ACCESSION'][0]} has no peaks")
    top = max(i for _, i in peaks)
    if top <= 0:
        raise ValueError(f"MassBank record {fields['ACCESSION'][0]}: every peak is zero")
    energy = None
    for value in fields.get("AC$MASS_SPECTROMETRY", ()):
        match = _ENERGY.search(value)
        if match:
            energy = float(match.group(1))
    return MassBankRecord(
        accession=fields["ACCESSION"][0], names=tuple(fields["CH$NAME"]),
        formula=fields.get("CH$FORMULA", [""])[0],
        instrument=fields.get("AC$INSTRUMENT", [""])[0],
        instrument_type=fields["AC$INSTRUMENT_TYPE"][0],
        ionization_energy_ev=energy, licence=fields["LICENSE"][0],
        authors=fields.get("AUTHORS", [""])[0],
        peaks=tuple((m, round(999.0 * i / top, 1)) for m, i in peaks))


def to_real_ei(record: MassBankRecord, *, repo_path: str, commit: str, role: str,
               library_id: str | None) -> dict[str, object]:
    """One ``borderlink.real-ei.v1`` spectrum (``tests/data/real/ei``): citation, licence, peaks."""
    return {
        "accession": record.accession, "name": record.names[0], "authors": record.authors,
        "instrument": record.instrument, "instrument_type": record.instrument_type,
        "ionization_energy_ev": record.ionization_energy_ev, "licence": record.licence,
        "repo_path": repo_path, "commit": commit, "role": role, "library_id": library_id,
        "peaks_kept": "all", "peaks": [[m, i] for m, i in record.peaks],
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m borderlink.hardware_profiles.massbank GIT_DIR COMMIT OUT ROLE:LIB_ID:PATH ...``

    Reads each record at PATH from a MassBank-data git directory at COMMIT (``git show``) and
    writes a ``borderlink.real-ei.v1`` file; LIB_ID ``-`` marks a compound the library lacks.
    """
    import json
    import subprocess
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) < 4:
        print(main.__doc__, file=sys.stderr)
        return 2
    git_dir, commit, out, *items = args
    spectra = []
    for item in items:
        role, library_id, path = item.split(":", 2)
        text = subprocess.run(["git", "-C", git_dir, "show", f"{commit}:{path}"], check=True,
                              capture_output=True, text=True).stdout
        spectra.append(to_real_ei(parse_record(text), repo_path=path, commit=commit, role=role,
                                  library_id=None if library_id == "-" else library_id))
    doc = {"format": "borderlink.real-ei.v1",
           "description": "Real EI spectra from MassBank (MassBank/MassBank-data), every peak of "
                          "each record as [m/z, rel.int 0-999]; see README.md for each record's "
                          "citation and licence.",
           "spectra": spectra}
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("{\n" + f' "format": {json.dumps(doc["format"])},\n'
                 + f' "description": {json.dumps(doc["description"])},\n "spectra": [\n')
        fh.write(",\n".join("  " + json.dumps(s, ensure_ascii=False) for s in spectra))
        fh.write("\n ]\n}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
