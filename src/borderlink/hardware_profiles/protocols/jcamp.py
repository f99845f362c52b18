"""JCAMP-DX 5.01 export files of the GC-2010 (FID chromatogram) and GCMS-QP2010 (TIC + spectra).

GC-FID: one block, ``##DATA TYPE=CHROMATOGRAM``, ``##XYDATA=(X++(Y..Y))`` in AFFN (plain
decimal) with ``##XUNITS=MINUTES``, ``##FIRSTX``, ``##LASTX``, ``##DELTAX``, ``##NPOINTS``,
``##XFACTOR``, ``##YFACTOR``. GC-MS: a ``##DATA TYPE=LINK`` file with ``##BLOCKS=n``: block 1
the TIC chromatogram, blocks 2..n ``##DATA TYPE=MASS SPECTRUM`` with ``##PEAK TABLE=(XY..XY)``
and ``##$RETENTION TIME`` (minutes). Private labels (``##$…``) carry the sample id, the
customs case id, the instrument, the acquisition time (Unix s) and the alkane retention-index
ladder (``##$RI CALIBRATION=`` ``rt,ri`` pairs). Every block ends ``##END=``; a file whose
outermost ``##END=`` is missing is still being written (:class:`IncompleteFileError`).
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import FrameDecodeError, ImplausibleValueError, IncompleteFileError
from ..readings import Chromatogram, LabRun, MassSpectrum
from .untrusted import check_finite

__all__ = ["Decoder", "encode_chromatogram_file", "encode_gcms_file", "parse_file"]

_PER_LINE = 10
_MAX_POINTS = 10_000_000  # points of one block: hours of GC at 1 kHz


def _num(x: float) -> str:
    return f"{x:.6g}"


def _header(title: str, data_type: str, t: float, instrument: str, sample_id: str, case_id: str,
            extra: list[str]) -> list[str]:
    import datetime as dt

    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return [f"##TITLE={title}", "##JCAMP-DX=5.01", f"##DATA TYPE={data_type}",
            "##ORIGIN=Customs laboratory, SCC", "##OWNER=SCC", f"##LONGDATE={d:%Y/%m/%d %H:%M:%S}",
            f"##SPECTROMETER/DATA SYSTEM={instrument}", f"##$INSTRUMENT={instrument}",
            f"##$SAMPLE ID={sample_id}", f"##$CASE ID={case_id}", f"##$TIMESTAMP={t:.3f}", *extra]


def _chrom_block(c: Chromatogram, block_id: int | None = None) -> list[str]:
    n = len(c.times_min)
    if n < 2:
        raise ValueError("a chromatogram needs at least two points")
    delta = (c.times_min[-1] - c.times_min[0]) / (n - 1)
    ymax = max(abs(v) for v in c.intensities) or 1.0
    yfactor = 10 ** (math.floor(math.log10(ymax)) - 6)
    lines = _header(f"{c.sample_id} {c.detector}", "CHROMATOGRAM", c.t, c.instrument, c.sample_id,
                    c.case_id, [])
    if block_id is not None:
        lines.insert(1, f"##BLOCK_ID={block_id}")
    lines += [f"##$DETECTOR={c.detector}", f"##$METHOD={c.method}"]
    if c.ri_calibration:
        lines.append("##$RI CALIBRATION=" + " ".join(f"{rt:.4f},{ri:.0f}" for rt, ri in c.ri_calibration))
    lines += ["##XUNITS=MINUTES", f"##YUNITS={'PA' if c.detector == 'FID' else 'COUNTS'}",
              f"##FIRSTX={_num(c.times_min[0])}", f"##LASTX={_num(c.times_min[-1])}",
              f"##DELTAX={delta:.8g}", "##XFACTOR=1", f"##YFACTOR={yfactor:.6g}",
              f"##NPOINTS={n}", f"##FIRSTY={_num(c.intensities[0])}", "##XYDATA=(X++(Y..Y))"]
    for i in range(0, n, _PER_LINE):
        ys = " ".join(str(round(v / yfactor)) for v in c.intensities[i: i + _PER_LINE])
        lines.append(f"{c.times_min[0] + i * delta:.6f} {ys}")
    lines.append("##END=")
    return lines


def _ms_block(m: MassSpectrum, block_id: int) -> list[str]:
    lines = _header(f"{m.sample_id} scan at {m.retention_time_min:.3f} min", "MASS SPECTRUM", m.t,
                    m.instrument, m.sample_id, m.case_id, [])
    lines.insert(1, f"##BLOCK_ID={block_id}")
    lines += ["##DATA CLASS=PEAK TABLE", f"##.IONIZATION ENERGY={m.ionisation_ev:g}",
              "##.IONIZATION MODE=EI+", f"##$RETENTION TIME={m.retention_time_min:.4f}",
              "##XUNITS=M/Z", "##YUNITS=RELATIVE ABUNDANCE", f"##NPOINTS={len(m.mz)}",
              "##PEAK TABLE=(XY..XY)"]
    pairs = [f"{_num(x)},{_num(y)}" for x, y in zip(m.mz, m.intensities)]
    for i in range(0, len(pairs), 8):
        lines.append(" ".join(pairs[i: i + 8]))
    lines.append("##END=")
    return lines


def encode_chromatogram_file(c: Chromatogram) -> bytes:
    """A GC-2010 export: one chromatogram block."""
    return ("\r\n".join(_chrom_block(c)) + "\r\n").encode("ascii")


def encode_gcms_file(run: LabRun) -> bytes:
    """A GCMS-QP2010 export: a LINK file, TIC block then one block per spectrum."""
    if run.chromatogram is None:
        raise ValueError("a GC-MS run needs its TIC chromatogram")
    lines = _header(f"{run.sample_id} GC-MS run", "LINK", run.t, run.instrument, run.sample_id,
                    run.case_id, [f"##BLOCKS={1 + len(run.spectra)}"])
    lines += _chrom_block(run.chromatogram, 1)
    for i, m in enumerate(run.spectra, start=2):
        lines += _ms_block(m, i)
    lines.append("##END=")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


# --------------------------------------------------------------------------- parsing
def _blocks(text: str) -> list[dict[str, Any]]:
    """Split into labelled records; nested LINK blocks are returned flat, outer first."""
    stack: list[dict[str, Any]] = []
    done: list[dict[str, Any]] = []
    current_label: str | None = None
    for raw in text.splitlines():
        line = raw.split("$$", 1)[0].rstrip()
        if not line:
            continue
        if line.startswith("##"):
            label, _, value = line[2:].partition("=")
            label = label.strip().upper()
            if label == "TITLE":
                stack.append({"_data": [], "_labels": {}})
            if not stack:
                raise FrameDecodeError(f"JCAMP-DX: {line[:30]!r} before ##TITLE")
            if label == "END":
                done.append(stack.pop())
                current_label = None
                continue
            stack[-1]["_labels"][label] = value.strip()
            current_label = label
        elif stack and current_label in ("XYDATA", "PEAK TABLE"):
            stack[-1]["_data"].append(line)
    if stack:
        raise IncompleteFileError(f"JCAMP-DX: {len(stack)} block(s) without ##END= (still being written?)")
    done.reverse()  # outermost ended last
    return done


def _value(text: str, what: str) -> float:
    """One AFFN number, refused when it is no number or NaN, infinite or absurd."""
    try:
        value = float(text)
    except ValueError as exc:
        raise FrameDecodeError(f"JCAMP-DX: {what} is not a number: {text[:40]!r}") from exc
    return check_finite(value, f"JCAMP-DX: {what}")


def _float(labels: dict[str, str], key: str, default: float | None = None) -> float:
    if key not in labels:
        if default is not None:
            return default
        raise FrameDecodeError(f"JCAMP-DX: missing ##{key}=")
    return _value(labels[key], f"##{key}=")


def _count(labels: dict[str, str], key: str) -> int:
    """A count label (NPOINTS, BLOCKS): a whole number 0..10 million."""
    value = _float(labels, key)
    if value != int(value) or not 0 <= value <= _MAX_POINTS:
        raise ImplausibleValueError(f"JCAMP-DX: ##{key}={labels[key]} is not a count 0..{_MAX_POINTS}")
    return int(value)


def _meta(labels: dict[str, str]) -> tuple[float, str, str, str]:
    t = check_finite(_float(labels, "$TIMESTAMP", 0.0), "JCAMP-DX: ##$TIMESTAMP= (Unix s)",
                     low=0.0, high=2.0**32)
    return (t, labels.get("$INSTRUMENT", ""),
            labels.get("$SAMPLE ID", ""), labels.get("$CASE ID", ""))


def _chromatogram(block: dict[str, Any]) -> Chromatogram:
    labels = block["_labels"]
    first, last = _float(labels, "FIRSTX"), _float(labels, "LASTX")
    n = _count(labels, "NPOINTS")
    yf, xf = _float(labels, "YFACTOR", 1.0), _float(labels, "XFACTOR", 1.0)
    if labels.get("XYDATA", "").replace(" ", "") != "(X++(Y..Y))":
        raise FrameDecodeError(f"JCAMP-DX: unsupported XYDATA form {labels.get('XYDATA')!r}")
    ys: list[float] = []
    for line in block["_data"]:
        for v in line.replace(",", " ").split()[1:]:
            ys.append(check_finite(_value(v, "an XYDATA value (compressed forms unsupported)") * yf,
                                   "JCAMP-DX: an XYDATA value times ##YFACTOR="))
        if len(ys) > _MAX_POINTS:
            raise ImplausibleValueError(f"JCAMP-DX: XYDATA of more than {_MAX_POINTS} points")
    if len(ys) != n or n < 2:
        raise FrameDecodeError(f"JCAMP-DX: ##NPOINTS={n} but {len(ys)} values")
    delta = (last - first) / (n - 1)
    times = tuple(round(check_finite((first + i * delta) * xf, "JCAMP-DX: a time"), 6)
                  for i in range(n))
    ladder: list[tuple[float, float]] = []
    for pair in labels.get("$RI CALIBRATION", "").split():
        rt, _, ri = pair.partition(",")
        ladder.append((_value(rt, f"RI calibration pair {pair[:40]!r}"),
                       _value(ri, f"RI calibration pair {pair[:40]!r}")))
    t, instrument, sample, case = _meta(labels)
    return Chromatogram(t=t, instrument=instrument, sample_id=sample, case_id=case,
                        detector=labels.get("$DETECTOR", "FID"), times_min=times, intensities=tuple(ys),
                        ri_calibration=tuple(ladder), method=labels.get("$METHOD", ""))


def _spectrum(block: dict[str, Any]) -> MassSpectrum:
    labels = block["_labels"]
    mz: list[float] = []
    inten: list[float] = []
    for line in block["_data"]:
        for pair in line.split():
            x, _, y = pair.partition(",")
            mz.append(_value(x, "a PEAK TABLE m/z"))
            inten.append(_value(y, "a PEAK TABLE abundance"))
        if len(mz) > _MAX_POINTS:
            raise ImplausibleValueError(f"JCAMP-DX: PEAK TABLE of more than {_MAX_POINTS} peaks")
    if "NPOINTS" in labels and _count(labels, "NPOINTS") != len(mz):
        raise FrameDecodeError(f"JCAMP-DX: ##NPOINTS={labels['NPOINTS']} but {len(mz)} peaks")
    t, instrument, sample, case = _meta(labels)
    return MassSpectrum(t=t, instrument=instrument, sample_id=sample, case_id=case,
                        retention_time_min=_float(labels, "$RETENTION TIME", 0.0), mz=tuple(mz),
                        intensities=tuple(inten), ionisation_ev=_float(labels, ".IONIZATION ENERGY", 70.0))


def parse_file(data: bytes, filename: str = "") -> LabRun:
    """Parse one export file into a :class:`LabRun` (chromatogram and any spectra)."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if "##TITLE" not in text[:200]:
        if not text.strip():
            raise IncompleteFileError(f"JCAMP-DX: {filename or 'file'} is empty (still being written?)")
        raise FrameDecodeError(f"JCAMP-DX: {filename or 'file'} does not start with ##TITLE=")
    blocks = _blocks(text)
    if not blocks:
        raise FrameDecodeError(f"JCAMP-DX: {filename or 'file'} holds no ##TITLE= block")
    chrom: Chromatogram | None = None
    spectra: list[MassSpectrum] = []
    for block in blocks:
        kind = block["_labels"].get("DATA TYPE", "").upper()
        if kind == "CHROMATOGRAM":
            chrom = _chromatogram(block)
        elif kind == "MASS SPECTRUM":
            spectra.append(_spectrum(block))
        elif kind != "LINK":
            raise FrameDecodeError(f"JCAMP-DX: unsupported DATA TYPE {kind!r}")
    outer = blocks[0]["_labels"]
    if outer.get("DATA TYPE", "").upper() == "LINK" and "BLOCKS" in outer and \
            _count(outer, "BLOCKS") != len(blocks) - 1:
        raise FrameDecodeError(f"JCAMP-DX: ##BLOCKS={outer['BLOCKS']} but {len(blocks) - 1} blocks")
    t, instrument, sample, case = _meta(outer)
    return LabRun(t=t, instrument=instrument, sample_id=sample, case_id=case, chromatogram=chrom,
                  spectra=tuple(spectra), filename=filename)


class Decoder:
    """Whole export files -> one :class:`LabRun` (the file is the frame)."""

    @classmethod
    def from_profile(cls, profile: Any, **_: Any) -> Decoder:
        return cls()

    def decode(self, frame: bytes, filename: str = "") -> list[LabRun]:
        return [parse_file(frame, filename)]
