"""The spectrometer lane: profile ``riid-handheld`` (protocol ``n42-file``), its decoder, emulator
side and replay, on real spectra (tests/data/real/n42, cited in its README).

Files are built the way instruments write them: RASE's instrument templates (FLIR R440,
N42.42-2011, Foreground only; ORTEC HX, N42.42-2006, Item + Background with CountedZeroes)
filled with the real RASE generic-NaI spectra; a source measurement is the source spectrum plus
the measured background's expected counts over its live time (as in test_real_n42.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from borderlink.cli import main as borderlink_main
from borderlink.edge.replay import replay
from borderlink.hardware_profiles.errors import IncompleteFileError, ProfileValidationError
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.protocols import decoder_for
from borderlink.hardware_profiles.protocols.n42_spectra import (
    N42ImportError,
    N42Spectrum,
    occupancy_report,
    read_spectra,
)
from borderlink.hardware_profiles.simulator.generator import encode_readings
from borderlink.proto.keys import SigningKey

DATA = Path(__file__).resolve().parents[1] / "data" / "real" / "n42"
TEMPLATES = DATA / "templates"


def _one(name: str) -> N42Spectrum:
    (s,) = read_spectra((DATA / f"rase_generic_nai_{name}.n42").read_bytes())
    return s


BG = _one("background")


def _gross(name: str) -> N42Spectrum:
    src = _one(name)
    k = src.live_time_s / BG.live_time_s
    return replace(src, counts=tuple(a + round(b * k) for a, b in zip(src.counts, BG.counts,
                                                                       strict=True)))


def _fill(template: str, values: dict[str, str]) -> bytes:
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    assert "${" not in text, text[text.index("${"):][:60]
    return text.encode("utf-8")


def _cal(s: N42Spectrum) -> str:
    return " ".join(f"{c:.10g}" for c in s.calibration)


def flir_r440(s: N42Spectrum) -> bytes:
    """A FLIR R440 file (2011 schema, target-sg extensions, Foreground only)."""
    text = _fill("FLIR_R440_template.n42", {
        "scenario.acq_time": f"{s.live_time_s:.2f}", "sample_counts": " ".join(map(str, s.counts)),
        "detector.ecal0": "", "detector.ecal1": "", "detector.ecal2": ""})
    return text.replace(b"<CoefficientValues>  </CoefficientValues>",
                        f"<CoefficientValues>{_cal(s)}</CoefficientValues>".encode())


def _counted_zeroes(counts: tuple[int, ...]) -> str:
    out: list[str] = []
    zeros = 0
    for c in counts:
        if c == 0:
            zeros += 1
            continue
        if zeros:
            out += ["0", str(zeros)]
            zeros = 0
        out.append(str(c))
    if zeros:
        out += ["0", str(zeros)]
    return " ".join(out)


def ortec_hx(item: N42Spectrum, bg: N42Spectrum) -> bytes:
    """An ORTEC HX file (2006 schema, Item and Background spectra, CountedZeroes)."""
    text = _fill("ORTEC-HX_template_spectrum.n42", {
        "scenario.acq_time": f"{item.live_time_s:.2f}",
        "secondary_spectrum.realtime": f"{bg.live_time_s:.2f}",
        "secondary_spectrum.livetime": f"{bg.live_time_s:.2f}",
        "compressed_sample_counts": _counted_zeroes(item.counts),
        "secondary_spectrum.get_compressed_counts_as_str()": _counted_zeroes(bg.counts),
        "detector.ecal0": "", "detector.ecal1": "", "detector.ecal2": ""})
    return text.replace(b"<Coefficients>  </Coefficients>",
                        f"<Coefficients>{_cal(item)}</Coefficients>".encode())


@pytest.fixture(scope="module")
def profile():
    return load_profile("riid-handheld")


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


def test_profile_is_a_spectroscopic_n42_file_device(profile, tmp_path: Path) -> None:
    assert profile.device_class == "radionuclide_identifier"
    assert profile.framing.protocol == "n42-file" and profile.transport.scheme == "file"
    assert profile.setting("detector_type") in ("nai", "csi", "labr3", "hpge")
    text = (Path(__file__).resolve().parents[2] / "src" / "borderlink" / "hardware_profiles"
            / "profiles" / "riid-handheld.toml").read_text(encoding="utf-8")
    bad = tmp_path / "pvt.toml"
    bad.write_text(text.replace('detector_type = "nai"', 'detector_type = "pvt"')
                   .replace("resolution_662_pct = 7.0", "pvt_norm_ratio_band = [0.3, 0.52]"))
    with pytest.raises(ProfileValidationError, match="spectroscopic"):
        load_profile(str(bad))


def test_vendor_2006_file_with_item_and_background_names_cs137(profile, key) -> None:
    data = ortec_hx(_gross("cs137"), BG)
    records = list(replay(profile, data, key=key))
    occ = [r for r in records if r["type"] == "radiation.occupancy"]
    alarm = [r for r in records if r["type"] == "radiation.alarm"]
    assert len(occ) == 1 and len(alarm) == 1
    body = alarm[0]["body"]
    assert body["lane"] == "H1" and body["nuisance"] is False
    assert body["nuclides"][0]["name"] == "Cs-137"
    assert "Cs-137" in body["verdict_reason"]


def test_vendor_2006_file_of_thorium_is_a_nuisance_and_says_why(profile, key) -> None:
    records = list(replay(profile, ortec_hx(_gross("th232"), BG), key=key))
    (alarm,) = [r for r in records if r["type"] == "radiation.alarm"]
    assert alarm["body"]["nuisance"] is True
    assert alarm["body"]["verdict_reason"] == "NORM nuisance: the excess is explained by Th-232"


def test_foreground_only_file_is_judged_against_the_last_background(profile) -> None:
    """The FLIR R440 file holds a Foreground only: the decoder uses the instrument's last
    background, and refuses (quarantine) while it has none."""
    decoder = decoder_for(profile)
    fg_only = flir_r440(_gross("co60"))
    with pytest.raises(N42ImportError, match="no Background"):
        decoder.decode(fg_only, "first.n42")
    decoder.decode(ortec_hx(_gross("cs137"), BG), "with-bg.n42")
    (report,) = decoder.decode(fg_only, "second.n42")
    assert report.lane == "H1" and report.background_live_time_s == pytest.approx(BG.live_time_s)
    assert len(report.foreground_spectra[0].counts) == 1024
    from borderlink.edge.processor_registry import default_processor_registry

    proc = default_processor_registry().build(profile, {})
    (alarm,) = [d for d in proc.feed(report) if d.record_type == "radiation.alarm"]
    assert alarm.body["nuisance"] is False
    assert alarm.body["nuclides"][0]["name"] == "Co-60"


def test_a_file_still_being_written_is_incomplete_not_bad(profile) -> None:
    data = ortec_hx(_gross("cs137"), BG)
    with pytest.raises(IncompleteFileError):
        decoder_for(profile).decode(data[: len(data) // 2], "half.n42")
    with pytest.raises(N42ImportError):  # garbage is refused as bad data, not waited for
        decoder_for(profile).decode(b"<RadInstrumentData><x></y></RadInstrumentData>", "bad.n42")


def test_emulator_encoding_round_trips_through_the_decoder(profile) -> None:
    fg = _gross("ir192")
    report = occupancy_report([fg], [BG], lane="H1", start=1_700_000_000.0, occupancy_id=7)
    data = encode_readings(profile, (report,))
    assert b"<RadDetectorKindCode>NaI</RadDetectorKindCode>" in data
    (back,) = decoder_for(profile).decode(data, "emulated.n42")
    assert back.foreground_spectra[0].counts == fg.counts
    assert back.background_spectra[0].counts == BG.counts
    assert back.foreground_spectra[0].calibration == pytest.approx(fg.calibration)
    assert back.live_time_s == pytest.approx(fg.live_time_s, abs=1e-3)
    assert back.start == pytest.approx(1_700_000_000.0, abs=1e-3)


def test_edge_replay_command_decides_on_an_n42_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "item.n42"
    path.write_bytes(ortec_hx(_gross("cs137"), BG))
    rc = borderlink_main(["edge", "replay", "--profile", "riid-handheld", "--input", str(path)])
    assert rc == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    alarms = [r for r in lines if r["type"] == "radiation.alarm"]
    assert len(alarms) == 1 and alarms[0]["body"]["nuclides"][0]["name"] == "Cs-137"
