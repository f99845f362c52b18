"""The N42 spectrum importer refuses hostile documents with N42ImportError, and only that.

DTDs in every encoding (UTF-16 with and without BOM got past a byte search), NaN/inf/absurd
numbers, and CountedZeroes runs that would expand past the channel count (a 4 KB file once
asked for a 1.5 GB list) are refused before anything large is allocated.
"""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderlink.hardware_profiles.protocols.n42_spectra import (
    MAX_CHANNELS,
    N42ImportError,
    read_spectra,
)

REAL = Path(__file__).resolve().parents[2] / "data" / "real" / "n42"
CS137 = (REAL / "rase_generic_nai_cs137.n42").read_bytes()
PORTAL = (REAL / "interspec_passthrough_excerpt.n42").read_bytes()


def _doc(channel_data: str, compression: str = "CountedZeroes", coefficients: str = "0 3") -> bytes:
    return (f"<N42InstrumentData><Measurement><Spectrum><LiveTime>PT1S</LiveTime>"
            f"<Calibration><Equation><Coefficients>{coefficients}</Coefficients></Equation>"
            f"</Calibration><ChannelData Compression='{compression}'>{channel_data}</ChannelData>"
            f"</Spectrum></Measurement></N42InstrumentData>").encode()


def test_a_counted_zeroes_bomb_is_refused_before_it_allocates() -> None:
    bomb = _doc(" ".join(["0 1048576"] * 400))  # 4 KB asking for 400 M channels
    assert len(bomb) < 5000
    tracemalloc.start()
    try:
        with pytest.raises(N42ImportError, match=f"beyond {MAX_CHANNELS} channels"):
            read_spectra(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MAX_CHANNELS * 8  # a few spectra's worth, never hundreds of MB


def test_many_spectra_of_long_runs_in_4_kb_are_refused_before_they_allocate() -> None:
    # each spectrum stays under MAX_CHANNELS, together they asked for 11.5 MB per 4 KB (and
    # about 23 GB at the 8 MB document limit): the document's own size bounds the expansion
    spectrum = ("<Spectrum><LiveTime>PT1S</LiveTime><Calibration><Equation><Coefficients>0 3"
                "</Coefficients></Equation></Calibration><ChannelData Compression='CountedZeroes'>"
                f"0 {MAX_CHANNELS}</ChannelData></Spectrum>")
    bomb = ("<N42InstrumentData><Measurement>" + spectrum * 21
            + "</Measurement></N42InstrumentData>").encode()
    assert len(bomb) < 4096
    tracemalloc.start()
    try:
        with pytest.raises(N42ImportError, match="more channels than its size allows"):
            read_spectra(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MAX_CHANNELS * 8, peak


def test_runs_up_to_the_channel_count_still_expand() -> None:
    [s] = read_spectra(_doc(f"7 0 {MAX_CHANNELS - 2} 9"))
    assert len(s.counts) == MAX_CHANNELS and s.counts[0] == 7 and s.counts[-1] == 9
    with pytest.raises(N42ImportError, match="CountedZeroes"):
        read_spectra(_doc(f"7 0 {MAX_CHANNELS} 9"))
    with pytest.raises(N42ImportError, match="channels, more than"):
        read_spectra(_doc(" ".join(["1"] * (MAX_CHANNELS + 1)), compression="None"))


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "1e309", "1e300"])
def test_non_finite_or_absurd_numbers_are_refused(bad: str) -> None:
    with pytest.raises(N42ImportError, match="not a plausible value|beyond"):
        read_spectra(_doc(f"1 2 {bad} 4", compression="None"))
    with pytest.raises(N42ImportError, match="not a plausible value"):
        read_spectra(_doc("1 2 3", compression="None", coefficients=f"0 {bad}"))


def test_a_polynomial_of_absurd_degree_is_refused() -> None:
    with pytest.raises(N42ImportError, match="calibration coefficients"):
        read_spectra(_doc("1 2 3", compression="None", coefficients=" ".join(["1"] * 200)))


def test_absurd_durations_are_refused() -> None:
    doc = _doc("1 2 3", compression="None").replace(b"PT1S", b"PT99999999999S")
    with pytest.raises(N42ImportError, match="duration"):
        read_spectra(doc)


@pytest.mark.parametrize("codec,declared", [("utf-8", "UTF-8"), ("utf-16", "UTF-16"),
                                            ("utf-16-le", None), ("utf-16-be", None),
                                            ("utf-16-le", "UTF-16LE")])
def test_a_dtd_is_refused_in_every_encoding(codec: str, declared: str | None) -> None:
    text = CS137.decode()
    body = text.split("?>", 1)[1]
    head = f'<?xml version="1.0" encoding="{declared}"?>' if declared else ""
    evil = head + '<!DOCTYPE N42InstrumentData [<!ENTITY big "x">]>' + body
    data = evil.encode(codec)
    if codec.startswith("utf-16"):
        assert b"<!DOCTYPE" not in data  # what the old byte search missed
    with pytest.raises(N42ImportError, match="DTD"):
        read_spectra(data)


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-32", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("declared", [True, False])
def test_a_dtd_with_a_bom_or_in_utf32_is_refused(codec: str, declared: bool) -> None:
    # expat reads UTF-8 with a BOM (refused as a DTD) and no UTF-32 at all (refused as not
    # well formed): either way the tree is never built and no entity is expanded
    body = CS137.decode().split("?>", 1)[1]
    head = f'<?xml version="1.0" encoding="{codec.split("-s")[0].upper()}"?>' if declared else ""
    data = (head + '<!DOCTYPE N42InstrumentData [<!ENTITY big "x">]>' + body).encode(codec)
    with pytest.raises(N42ImportError, match="DTD" if codec == "utf-8-sig" else "well-formed"):
        read_spectra(data)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_real_files_in_utf16_still_read(codec: str) -> None:
    body = CS137.decode().split("?>", 1)[1].lstrip()
    head = '<?xml version="1.0" encoding="UTF-16"?>' if codec == "utf-16" else ""
    assert read_spectra((head + body).encode(codec)) == read_spectra(CS137)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_mutated_real_files_raise_only_n42_import_errors(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([CS137, PORTAL])).decode()
    spans = [m.span() for m in re.finditer(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", base)]
    picks = data.draw(st.lists(st.sampled_from(spans), min_size=1, max_size=5, unique=True))
    for start, end in sorted(picks, reverse=True):
        token = data.draw(st.sampled_from(["nan", "inf", "-1", "1e300", "0 999999999", "", "x",
                                           "65536", "0 65536", "²"]))
        base = base[:start] + token + base[end:]
    codec = data.draw(st.sampled_from(["utf-8", "utf-16"]))
    if codec != "utf-8":
        base = base.replace('encoding="UTF-8"', 'encoding="UTF-16"')
    try:
        spectra = read_spectra(base.encode(codec))
    except N42ImportError:
        return
    assert all(len(s.counts) <= MAX_CHANNELS for s in spectra)
