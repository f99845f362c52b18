"""Every processing parameter a processor reads is in the device's profile and its schema:
no processor runs on a default hidden in code (profiles are data)."""

from __future__ import annotations

from typing import Any

import pytest

from borderlink.edge.processors.document import DocumentConfig
from borderlink.edge.processors.radio import RadioConfig
from borderlink.edge.processors.telephony import TelephonyConfig
from borderlink.hardware_profiles.errors import ProfileValidationError
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.schema import DEVICE_CLASSES

READERS = {
    "docreader-first-line": lambda s: DocumentConfig.from_settings(s),
    "docreader-second-line": lambda s: DocumentConfig.from_settings(s),
    "patrol-radio": lambda s: RadioConfig.from_settings(s),
    "telephony-unit": lambda s: TelephonyConfig.from_settings(s),
}


class Recording(dict):
    """Settings that remember every key read through ``get`` / ``[]``."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


@pytest.mark.parametrize("name", sorted(READERS))
def test_every_key_a_processor_reads_is_in_the_profile_and_required(name: str) -> None:
    profile = load_profile(name)
    settings = Recording(profile.settings)
    READERS[name](settings)
    missing = sorted(k for k in settings.read if k not in profile.settings and k != "unit_sectors")
    assert not missing, f"{name}: read with a code default, absent from the profile: {missing}"
    required = set(DEVICE_CLASSES[profile.device_class][1])
    assert not sorted(settings.read - required - {"unit_sectors"}), name


@pytest.mark.parametrize("name,key", [("docreader-first-line", "possible_match_margin"),
                                      ("patrol-radio", "emergency_repeat_s"),
                                      ("telephony-unit", "recover_after")])
def test_a_profile_without_a_key_a_processor_reads_is_refused(tmp_path, name: str,
                                                              key: str) -> None:
    from borderlink.hardware_profiles.loader import PROFILES_DIR

    text = (PROFILES_DIR / f"{name}.toml").read_text("utf-8")
    lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key} =")]
    assert len(lines) == len(text.splitlines()) - 1
    bad = tmp_path / f"{name}.toml"
    bad.write_text("\n".join(lines).replace('"../data/', f'"{PROFILES_DIR.parent}/data/'), "utf-8")
    with pytest.raises(ProfileValidationError, match=f"processing.{key}"):
        load_profile(bad)


# Configurations built from every field the profile holds (``from_settings`` takes the known
# keys): each field must be in the profile, except those the framing gives, or that do not
# apply to the profile's device (named here).
_NOT_FROM_PROCESSING = {"lane", "panels", "sample_interval_s", "layouts", "norm_ratio_band"}
_NOT_APPLICABLE = {
    "rpm-lane": {"resolution_662_pct", "photopeak_min_sigma", "man_made_min_share",
                 "norm_min_share"},  # photopeaks: spectroscopic (NaI, HPGe) monitors only
    "gc-fid-gc2010": {"min_match_factor", "min_reverse_match", "scan_range_mz",
                      "rt_match_tolerance_min", "min_ion_pct", "background_ions", "mz_power",
                      "intensity_power"},  # mass spectra: GC-MS only
    "gcms-qp2010": {"ri_ambiguity_ratio", "min_area_pct", "fid_reports_controlled"},
    "gcms-qp2010-andi": {"ri_ambiguity_ratio", "min_area_pct", "fid_reports_controlled"},
}


@pytest.mark.parametrize("name", ["rpm-lane", "ground-sensor-node", "ground-sensor-gateway",
                                  "gc-fid-gc2010", "gcms-qp2010", "gcms-qp2010-andi"])
def test_every_config_field_is_in_the_profile(name: str) -> None:
    import dataclasses

    from borderlink.edge.processors.ground_sensors import GroundSensorConfig
    from borderlink.edge.processors.lab import LabConfig
    from borderlink.edge.processors.radiation import RadiationConfig

    profile = load_profile(name)
    config = {"radiation_portal_monitor": RadiationConfig, "ground_sensor": GroundSensorConfig,
              "gc_fid": LabConfig, "gc_ms": LabConfig}[profile.device_class]
    fields = {f.name for f in dataclasses.fields(config)}
    missing = fields - set(profile.settings) - _NOT_FROM_PROCESSING - _NOT_APPLICABLE.get(name, set())
    assert not missing, f"{name}: in code only: {sorted(missing)}"
    built = config.from_settings(profile.settings)
    for key in fields & set(profile.settings):
        want = profile.settings[key]
        got = getattr(built, key)
        assert got == (tuple(want) if isinstance(want, (list, tuple)) else want), key
