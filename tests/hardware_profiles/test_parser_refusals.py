"""Hostile export files: NaN/inf/absurd numbers, DTDs in any encoding, oversize structures.

Each parser refuses with its own error type (a FrameDecodeError, the subclass naming the cause
where there is one), never a bare ValueError/OverflowError that would escape the driver's
handling. The Hypothesis tests mutate valid files token by token and assert exactly that.
"""

from __future__ import annotations

import math
import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderlink.hardware_profiles.errors import (
    FrameDecodeError,
    ImplausibleValueError,
    UnsafeDocumentError,
)
from borderlink.hardware_profiles.protocols import andi, jcamp, n42, netcdf3
from borderlink.hardware_profiles.protocols.untrusted import parse_untrusted_xml
from borderlink.hardware_profiles.readings import (
    Chromatogram,
    LabRun,
    MassSpectrum,
    OccupancyReport,
    PanelCounts,
)

T0 = 1795806000.0
BAD_NUMBERS = ("nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1e400", "1e300")


def _chrom(detector: str = "FID") -> Chromatogram:
    times = tuple(round(i * 0.01, 6) for i in range(101))
    ys = tuple(100 + 5e4 * math.exp(-(((t - 0.5) / 0.03) ** 2)) for t in times)
    return Chromatogram(T0, "GC-2010", "S-1", "CASE-9", detector, times, ys,
                        ((0.2, 1500.0), (0.7, 1700.0)), "m")


def _gcms() -> bytes:
    ms = MassSpectrum(T0, "QP2010", "S-1", "CASE-9", 0.5, (82.0, 182.0, 303.0), (100.0, 88.0, 26.0))
    return jcamp.encode_gcms_file(LabRun(T0, "QP2010", "S-1", "CASE-9", _chrom("TIC"), (ms,), ""))


def _report() -> OccupancyReport:
    return OccupancyReport(T0 + 10, "L1", 17, T0, T0 + 9.5, 9.5,
                           (PanelCounts(1, 1000, 500, 3), PanelCounts(2, 990, 480, 2)),
                           (PanelCounts(1, 60000, 30000, 100), PanelCounts(2, 61000, 29000, 110)),
                           60.0, 12.3, None, "9f1c")


def _set_label(data: bytes, label: str, value: str) -> bytes:
    out, n = re.subn(rf"##{re.escape(label)}=[^\r\n]*".encode(), f"##{label}={value}".encode(),
                     data, count=1)
    assert n == 1, label
    return out


# --------------------------------------------------------------------------- JCAMP-DX
@pytest.mark.parametrize("bad", BAD_NUMBERS)
@pytest.mark.parametrize("label", ["NPOINTS", "FIRSTX", "LASTX", "YFACTOR", "XFACTOR", "$TIMESTAMP"])
def test_jcamp_refuses_non_finite_or_absurd_labels(label: str, bad: str) -> None:
    data = _set_label(jcamp.encode_chromatogram_file(_chrom()), label, bad)
    with pytest.raises(ImplausibleValueError, match=re.escape(f"##{label}=")):
        jcamp.parse_file(data)


def test_jcamp_npoints_nan_is_the_issue_file_and_a_frame_decode_error() -> None:
    data = _set_label(jcamp.encode_chromatogram_file(_chrom()), "NPOINTS", "nan")
    with pytest.raises(FrameDecodeError, match="NPOINTS"):
        jcamp.parse_file(data)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
@pytest.mark.parametrize("label", ["$RETENTION TIME", ".IONIZATION ENERGY", "NPOINTS",
                                   "$TIMESTAMP"])
def test_jcamp_refuses_bad_numbers_in_a_mass_spectrum_block(label: str, bad: str) -> None:
    data = _gcms()
    at = data.rfind(f"##{label}=".encode())  # the last block: the mass spectrum
    assert at > 0, label
    end = data.index(b"\r\n", at)
    with pytest.raises(ImplausibleValueError, match=re.escape(f"##{label}=")):
        jcamp.parse_file(data[:at] + f"##{label}={bad}".encode() + data[end:])


def test_jcamp_npoints_nan_is_its_own_error_not_a_bare_value_error() -> None:
    data = _set_label(jcamp.encode_chromatogram_file(_chrom()), "NPOINTS", "nan")
    with pytest.raises(ImplausibleValueError, match="NPOINTS") as caught:
        jcamp.parse_file(data)
    assert type(caught.value) is ImplausibleValueError


@pytest.mark.parametrize("bad", ["nan", "inf", "1e400"])
def test_jcamp_refuses_non_finite_data_values(bad: str) -> None:
    good = jcamp.encode_chromatogram_file(_chrom())
    head, sep, rest = good.partition(b"##XYDATA=(X++(Y..Y))\r\n")
    first, _, tail = rest.partition(b"\r\n")
    cells = first.split(b" ")
    cells[3] = bad.encode()
    with pytest.raises(ImplausibleValueError, match="XYDATA"):
        jcamp.parse_file(head + sep + b" ".join(cells) + b"\r\n" + tail)
    peaks = _gcms().replace(b"182,88", f"182,{bad}".encode())
    with pytest.raises(ImplausibleValueError, match="PEAK TABLE"):
        jcamp.parse_file(peaks)
    ladder = good.replace(b"0.7000,1700", f"0.7000,{bad}".encode())
    with pytest.raises(ImplausibleValueError, match="RI calibration"):
        jcamp.parse_file(ladder)


@pytest.mark.parametrize("value", ["2.5", "-1", "99999999999"])
def test_jcamp_counts_are_whole_and_bounded(value: str) -> None:
    data = _set_label(jcamp.encode_chromatogram_file(_chrom()), "NPOINTS", value)
    with pytest.raises(ImplausibleValueError, match="not a count"):
        jcamp.parse_file(data)
    with pytest.raises(ImplausibleValueError, match="BLOCKS"):
        jcamp.parse_file(_set_label(_gcms(), "BLOCKS", value))


def test_jcamp_title_only_inside_a_line_is_refused() -> None:
    with pytest.raises(FrameDecodeError, match="no ##TITLE= block"):
        jcamp.parse_file(b"x ##TITLE=y\r\n")


def _tokens(data: bytes) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(rb"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", data)]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_jcamp_mutated_files_raise_only_frame_decode_errors(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([jcamp.encode_chromatogram_file(_chrom()), _gcms()]))
    spans = _tokens(base)
    picks = data.draw(st.lists(st.sampled_from(spans), min_size=1, max_size=4, unique=True))
    out = base
    for start, end in sorted(picks, reverse=True):
        token = data.draw(st.sampled_from([*BAD_NUMBERS, "", "-0", "1e15", "x", "99999999999"]))
        out = out[:start] + token.encode() + out[end:]
    try:
        run = jcamp.parse_file(out)
    except FrameDecodeError:
        return
    numbers = [*run.chromatogram.times_min, *run.chromatogram.intensities] if run.chromatogram else []
    numbers += [x for s in run.spectra for x in (*s.mz, *s.intensities)]
    assert all(math.isfinite(x) for x in [run.t, *numbers])


# --------------------------------------------------------------------------- netCDF / ANDI-MS
def _andi(**replace: list[float]) -> bytes:
    ms = MassSpectrum(T0, "QP2010", "S-2", "C-1", 0.5, (82.0, 182.0, 303.0), (999.0, 880.0, 260.0))
    data = andi.encode_andi_ms(LabRun(T0, "QP2010", "S-2", "C-1", _chrom("TIC"), (ms,), "S-2.cdf"))
    if not replace:
        return data
    ds = netcdf3.decode(data)
    for name, values in replace.items():
        var = ds.variables[name]
        var.values = values + list(var.values[len(values):])
    return netcdf3.encode(ds)


@pytest.mark.parametrize("variable", ["scan_acquisition_time", "total_intensity", "mass_values",
                                      "intensity_values"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e30])
def test_andi_refuses_non_finite_values(variable: str, bad: float) -> None:
    with pytest.raises(ImplausibleValueError, match=variable):
        andi.parse_file(_andi(**{variable: [bad]}))


def test_andi_refuses_text_where_numbers_belong_and_bad_attributes() -> None:
    ds = netcdf3.decode(_andi())
    ds.variables["point_count"] = netcdf3.Variable(ds.variables["point_count"].dims, netcdf3.NC_DOUBLE,
                                                   [float(v) for v in ds.variables["point_count"].values])
    with pytest.raises(FrameDecodeError, match="point_count must be an integer"):
        andi.parse_file(netcdf3.encode(ds))
    for key, value in (("borderlink_timestamp", math.nan), ("test_electron_energy", "lots"),
                       ("borderlink_timestamp", 1e300)):
        ds = netcdf3.decode(_andi())
        ds.attrs[key] = value
        with pytest.raises(FrameDecodeError, match=key):
            andi.parse_file(netcdf3.encode(ds))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_andi_mutated_files_raise_only_frame_decode_errors(data: st.DataObject) -> None:
    base = bytearray(_andi())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(base) - 8))
        word = data.draw(st.sampled_from([struct.pack(">d", math.nan), struct.pack(">d", math.inf),
                                          struct.pack(">i", -1) * 2, struct.pack(">i", 1 << 30) * 2,
                                          b"\0" * 8, b"\xff" * 8]))
        base[at: at + 8] = word
    try:
        andi.parse_file(bytes(base))
    except FrameDecodeError:
        pass


# --------------------------------------------------------------------------- N42 (portal subset)
_DTD = '<?xml version="1.0" encoding="{enc}"?><!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>'


@pytest.mark.parametrize("codec,declared", [("utf-8", "UTF-8"), ("utf-16", "UTF-16"),
                                            ("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"),
                                            ("utf-16-le", "UTF-16LE"), ("latin-1", "ISO-8859-1")])
def test_n42_dtd_is_refused_in_every_encoding(codec: str, declared: str) -> None:
    data = _DTD.format(enc=declared).encode(codec)
    assert b"<!DOCTYPE" not in data or codec in ("utf-8", "latin-1")
    with pytest.raises(FrameDecodeError, match="DTD|well-formed"):
        n42.parse_report(data)


@pytest.mark.parametrize("codec,declared", [("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8"),
                                            ("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"),
                                            ("utf-16-be", "UTF-16"), ("utf-16-le", "UTF-16LE"),
                                            ("utf-16-be", "UTF-16BE")])
def test_n42_dtd_is_refused_as_unsafe_not_merely_malformed(codec: str, declared: str) -> None:
    with pytest.raises(UnsafeDocumentError, match="DTD"):
        n42.parse_report(_DTD.format(enc=declared).encode(codec))


@pytest.mark.parametrize("codec", ["utf-32", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("declared", [True, False])
def test_n42_in_utf32_is_refused_before_a_tree_is_built(codec: str, declared: bool) -> None:
    # expat has no UTF-32 decoder: such a document (with or without a DTD) is not well formed
    # to it, so it is refused at the scan and never reaches ElementTree
    good = n42.encode_report(_report()).decode().split("?>", 1)[1].lstrip()
    head = '<?xml version="1.0" encoding="UTF-32"?>' if declared else ""
    for text in (head + good, head + '<!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>'):
        with pytest.raises(FrameDecodeError, match="not well-formed") as caught:
            n42.parse_report(text.encode(codec))
        assert not isinstance(caught.value, UnsafeDocumentError | ImplausibleValueError)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_n42_dtd_in_utf16_without_a_declaration_is_refused_as_a_dtd(codec: str) -> None:
    with pytest.raises(UnsafeDocumentError, match="DTD"):
        n42.parse_report('<!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>'.encode(codec))


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_good_n42_report_in_utf16_still_parses(codec: str) -> None:
    text = n42.encode_report(_report()).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    if codec != "utf-16":
        text = text.split("?>", 1)[1].lstrip()  # no BOM: leave the declaration out
    assert n42.parse_report(text.encode(codec)) == _report()


@pytest.mark.parametrize("bad", ["nan", "inf", "1e300", "-5"])
def test_n42_refuses_non_finite_counts(bad: str) -> None:
    data = n42.encode_report(_report()).replace(b"<CountData>1000<", f"<CountData>{bad}<".encode())
    with pytest.raises(ImplausibleValueError, match="CountData"):
        n42.parse_report(data)


def test_n42_refuses_bad_speeds_and_durations() -> None:
    r = _report()
    good = n42.encode_report(r)
    with pytest.raises(FrameDecodeError, match="speed_kmh"):
        n42.parse_report(good.replace(b"speed_kmh=12.3", b"speed_kmh=fast"))
    with pytest.raises(ImplausibleValueError, match="speed_kmh"):
        n42.parse_report(good.replace(b"speed_kmh=12.3", b"speed_kmh=nan"))
    with pytest.raises(ImplausibleValueError, match="duration"):
        n42.parse_report(good.replace(b"<RealTimeDuration>PT9.500S", b"<RealTimeDuration>PT99999999999S"))


def test_untrusted_xml_names_the_size_limit() -> None:
    with pytest.raises(UnsafeDocumentError, match="exceeds the 10-byte limit"):
        parse_untrusted_xml(b"<a>0123456789</a>", "x", max_bytes=10)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_n42_mutated_reports_raise_only_frame_decode_errors(data: st.DataObject) -> None:
    base = n42.encode_report(_report()).decode()
    spans = [m.span() for m in re.finditer(r"\d+(?:\.\d+)?", base)]
    picks = data.draw(st.lists(st.sampled_from(spans), min_size=1, max_size=4, unique=True))
    for start, end in sorted(picks, reverse=True):
        base = base[:start] + data.draw(st.sampled_from([*BAD_NUMBERS, "", "²", "x"])) + base[end:]
    codec = data.draw(st.sampled_from(["utf-8", "utf-16"]))
    if codec != "utf-8":
        base = base.replace('encoding="UTF-8"', 'encoding="UTF-16"')
    try:
        n42.parse_report(base.encode(codec))
    except FrameDecodeError:
        pass
