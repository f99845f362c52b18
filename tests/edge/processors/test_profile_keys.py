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
