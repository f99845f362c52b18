"""Find and load hardware profiles: the shipped ones (``profiles/*.toml``) or any TOML file."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

from .errors import ProfileNotFoundError, ProfileValidationError
from .schema import Profile, profile_from_dict

__all__ = ["DATA_DIR", "PROFILES_DIR", "load_profile", "load_profile_file", "shipped_profiles"]

#: Folder of the profiles shipped with borderlink, one TOML per device model.
PROFILES_DIR = Path(str(files("borderlink.hardware_profiles.profiles")))
#: Folder of the shipped reference data (countries, watchlist, border, spectral library).
DATA_DIR = Path(str(files("borderlink.hardware_profiles.data")))


def shipped_profiles() -> list[Path]:
    """Paths of the shipped profiles, sorted by file name."""
    return sorted(PROFILES_DIR.glob("*.toml"))


def load_profile_file(path: str | Path) -> Profile:
    """Read, parse and validate one profile file (relative ``*_file`` paths resolve against it)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileNotFoundError(f"{path}: cannot read profile: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProfileValidationError(f"{path}: expected UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileValidationError(f"{path}: expected valid TOML: {exc}") from exc
    return profile_from_dict(data, str(path), path.resolve().parent)


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name (``rpm-lane``) or a profile file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return load_profile_file(candidate)
    path = PROFILES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        names = ", ".join(p.stem for p in shipped_profiles())
        raise ProfileNotFoundError(f"no profile {str(name_or_path)!r}; shipped profiles: {names}")
    return load_profile_file(path)
