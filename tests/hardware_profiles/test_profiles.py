"""Profiles: every shipped one validates; each broken variant fails naming file, key, expectation."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from borderlink.cli import main
from borderlink.hardware_profiles.errors import ProfileNotFoundError, ProfileValidationError
from borderlink.hardware_profiles.loader import (
    PROFILES_DIR,
    load_profile,
    load_profile_file,
    shipped_profiles,
)
from borderlink.hardware_profiles.schema import (
    ALERT_RECORD_TYPES,
    DEVICE_CLASSES,
    RECORD_TYPES,
    profile_from_dict,
)

SHIPPED = shipped_profiles()


def test_every_device_class_has_a_shipped_profile() -> None:
    classes = {load_profile_file(p).device_class for p in SHIPPED}
    assert classes == set(DEVICE_CLASSES)
    assert len(SHIPPED) >= 8


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_profile_validates(path: Path) -> None:
    profile = load_profile_file(path)
    assert profile.name == path.stem
    assert set(profile.produces) <= RECORD_TYPES
    for alert in set(profile.produces) & ALERT_RECORD_TYPES:
        assert alert in profile.journal.never_drop
    for key, value in profile.processing:
        if key.endswith("_file"):
            assert Path(value).is_file(), key
    assert "{" not in profile.transport.url()


def test_load_by_name_and_unknown_name() -> None:
    assert load_profile("rpm-lane").device_class == "radiation_portal_monitor"
    with pytest.raises(ProfileNotFoundError, match="rpm-lane"):
        load_profile("no-such-device")


def test_channel_conversion_applies_scale_and_offset() -> None:
    seismic = load_profile("ground-sensor-node").channel("seismic")
    assert seismic.unit == "mm/s"
    assert seismic.convert(250) == pytest.approx(2.5)


def _base() -> dict[str, Any]:
    return tomllib.loads((PROFILES_DIR / "rpm-lane.toml").read_text())


def _set(doc: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = doc
    for part in parts[:-1]:
        node = node[part]
    if value is _DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value


_DELETE = object()

# (mutation key, new value, key the error must name, words of the expectation)
FAILURES = [
    ("profile.class", "toaster", "profile.class", "one of"),
    ("profile.name", _DELETE, "profile.name", "missing"),
    ("profile.agency", "FBI", "profile.agency", "one of"),
    ("transport.url", "gopher://x:{port}", "transport.url", "scheme"),
    ("transport.port", 70000, "transport.port", "0..65535"),
    ("transport.port", "7101", "transport.port", "integer"),
    ("framing.protocol", "nmea0183", "framing.protocol", "rpm-count-frame"),
    ("framing.max_frame_bytes", 4, "framing.max_frame_bytes", "16"),
    ("processing.gamma_false_alarm_rate", 2.5, "processing.gamma_false_alarm_rate", "0..1"),
    ("processing.background_window_s", _DELETE, "processing.background_window_s", "required"),
    ("processing.pvt_norm_ratio_band", [0.6, 0.2], "processing.pvt_norm_ratio_band", "low < high"),
    ("processing.pvt_norm_ratio_band", _DELETE, "processing.pvt_norm_ratio_band", "detector_type 'pvt'"),
    ("processing.detector_type", "geiger", "processing.detector_type", "one of"),
    ("processing.gamma_windows_s", [0.5, -1.0], "processing.gamma_windows_s", "non-negative"),
    ("processing.detector_type", "nai", "processing.resolution_662_pct", "detector_type 'nai'"),
    ("records.produces", ["radiation.alarm", "coffee.break"], "records.produces[1]", "record type"),
    ("journal.thin", ["radiation.alarm"], "journal.thin[0]", "never thinned"),
    ("journal.never_drop", [], "journal.never_drop", "radiation.alarm"),
    ("journal.keep_one_in", 1, "journal.keep_one_in", ">= 2"),
    ("journal.surprise", 1, "journal.surprise", "known keys"),
]


@pytest.mark.parametrize(("key", "value", "named", "expect"), FAILURES,
                         ids=[f"{k}={v!r}"[:40] for k, v, *_ in FAILURES])
def test_validation_failure_names_file_key_and_expectation(key: str, value: Any, named: str,
                                                           expect: str) -> None:
    doc = copy.deepcopy(_base())
    _set(doc, key, value)
    with pytest.raises(ProfileValidationError) as caught:
        profile_from_dict(doc, "lane.toml", PROFILES_DIR)
    message = str(caught.value)
    assert message.startswith("lane.toml: ")
    assert f"[{named}]" in message
    assert expect in message


def test_serial_parameters_checked() -> None:
    doc = tomllib.loads((PROFILES_DIR / "patrol-radio.toml").read_text())
    doc["transport"]["baud"] = 12345
    with pytest.raises(ProfileValidationError, match=r"\[transport.baud\].*standard baud"):
        profile_from_dict(doc, "radio.toml", PROFILES_DIR)


def test_missing_data_file_is_named(tmp_path: Path) -> None:
    text = (PROFILES_DIR / "gcms-qp2010.toml").read_text().replace("../data/ms_library.json",
                                                                   "nowhere.json")
    bad = tmp_path / "gcms.toml"
    bad.write_text(text)
    with pytest.raises(ProfileValidationError, match=r"gcms.toml: \[processing.library_file\]"):
        load_profile_file(bad)


def test_cli_list_and_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "list"]) == 0
    out = capsys.readouterr().out
    for path in SHIPPED:
        assert path.stem in out
    assert main(["profiles", "validate"]) == 0
    assert capsys.readouterr().out.count("ok ") == len(SHIPPED)
    bad = tmp_path / "broken.toml"
    bad.write_text("[profile]\nname = 'x'\n")
    assert main(["profiles", "validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "broken.toml" in err and "[profile.class]" in err
    garbage = tmp_path / "garbage.toml"
    garbage.write_text("= = =")
    assert main(["profiles", "validate", str(garbage)]) == 1
    assert "valid TOML" in capsys.readouterr().err
