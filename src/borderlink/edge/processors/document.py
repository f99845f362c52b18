"""The document-reader processor: MRZ in, the officer's verdict out (``document.check``).

Verdicts (``body["verdict"]``) and the reasons that lead to them (``body["reasons"]``):

========================================  ========  =========================================
reason                                    verdict   when
========================================  ========  =========================================
``watchlist_person``                      hit       name + birth date match a listed person
                                                    at or above ``name_match_threshold``,
                                                    surname and given names each at least
                                                    ``min_component_score``, birth date
                                                    exact, sex not contradicting (list
                                                    action ``hit``)
``watchlist_document``                    hit       number listed lost/stolen/revoked for
                                                    this issuing state (or for any state)
``watchlist_document_other_state``        refer     number listed for another issuing state
``watchlist_possible``                    refer     a weaker person match: score within
                                                    ``possible_match_margin`` under the
                                                    threshold, day/month swapped, partial
                                                    list date, or list action ``refer``
``check_digit:<field>``                   refer     a check digit fails (``document_number``,
                                                    ``birth_date``, ``expiry_date``,
                                                    ``personal_number``, ``composite``)
``expired``                               refer     expiry before the reading's date minus
                                                    ``expiry_grace_days``
``under_age``                             refer     age below ``min_age_years`` (when > 0)
``uv_flag`` / ``ir_flag``                 refer     the reader flagged UV / IR (if enabled)
``unknown_state_code:<field>``            refer     issuing state or nationality not in the
                                                    ICAO code list (fantasy documents)
``specimen_document``                     refer     a specimen code (``UTO``), a 9303 or
                                                    state specimen number (``SPECI…``)
``unknown_document_code``                 refer     document code not ``P I A C V`` + letter
``bad_date:<kind>`` / ``implausible_dates``  refer  impossible date, expiry before birth, birth
                                                    in the future
``malformed:<problem>``                   refer     sex field, empty primary identifier
``unreadable_mrz``                        refer     the lines are no 9303 format
========================================  ========  =========================================

``clear`` when no reason applies. ``name_truncated`` is informational (``checks``) only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from borderlink.hardware_profiles.readings import MrzRead

from ..errors import MrzFormatError, ProcessorError
from .base import AlertLevel, Decision
from .mrz import Mrz, parse_mrz
from .watchlist import ProtectedWatchlist

__all__ = ["HIT_REASONS", "DocumentConfig", "DocumentProcessor", "load_countries"]

HIT_REASONS = frozenset({"watchlist_person", "watchlist_document"})
_DOC_CODE_FIRST = frozenset("PIACV")
_SPECIMEN_NUMBERS = frozenset({"L898902C3", "D23145890", "L8988901C", "T22000129", "C01X00T47"})
_UTC = dt.UTC


@dataclass(frozen=True)
class DocumentConfig:
    """Parameters of the document-reader processor (``[processing]`` of its profile)."""

    line: int = 1  # control line: 1 first, 2 second
    refer_on_uv_fail: bool = True
    refer_on_ir_fail: bool = True
    min_age_years: int = 0  # 0: no age check
    name_match_threshold: float = 0.86  # person-match score for a hit, 0..1
    possible_match_margin: float = 0.06  # scores this far under the threshold: refer
    min_component_score: float = 0.80  # a hit also needs surname and given names each >= this
    expiry_grace_days: int = 0
    decision_budget_ms: float = 2.0  # informational: the figure the benchmark checks

    def __post_init__(self) -> None:
        if not 0.0 < self.name_match_threshold <= 1.0:
            raise ProcessorError(
                f"name_match_threshold must be in (0, 1], got {self.name_match_threshold}")
        if self.line not in (1, 2):
            raise ProcessorError(f"control line must be 1 or 2, got {self.line}")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], line: int | None = None) -> DocumentConfig:
        return cls(
            line=int(line if line is not None else settings.get("control_line", 1)),
            refer_on_uv_fail=bool(settings.get("refer_on_uv_fail", True)),
            refer_on_ir_fail=bool(settings.get("refer_on_ir_fail", True)),
            min_age_years=int(settings.get("min_age_years", 0)),
            name_match_threshold=float(settings.get("name_match_threshold", 0.86)),
            possible_match_margin=float(settings.get("possible_match_margin", 0.06)),
            min_component_score=float(settings.get("min_component_score", 0.80)),
            expiry_grace_days=int(settings.get("expiry_grace_days", 0)),
            decision_budget_ms=float(settings.get("decision_budget_ms", 2.0)),
        )


def load_countries(text: str) -> dict[str, str]:
    """``icao_countries.csv`` text -> {code: kind} (``iso3166``, ``icao-special``, ``specimen``)."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"code", "kind"} <= set(reader.fieldnames):
        raise ProcessorError("country list needs the columns 'code' and 'kind'")
    return {row["code"].strip(): row["kind"].strip() for row in reader if row["code"].strip()}


class DocumentProcessor:
    """MrzRead in, one ``document.check`` decision out (an alert unless ``clear``).

    *countries* maps valid three-letter codes (without fillers) to their kind;
    *watchlist* is the protected index (None: no watchlist check, and the record says so).
    """

    def __init__(self, config: DocumentConfig, countries: Mapping[str, str],
                 watchlist: ProtectedWatchlist | None = None) -> None:
        if not countries:
            raise ProcessorError("the ICAO country code list is empty")
        self.config = config
        self._countries = dict(countries)
        self._specimen_codes = frozenset(c for c, k in countries.items() if k == "specimen")
        self.watchlist = watchlist

    @classmethod
    def from_profile(cls, profile: Any, *, watchlist_key: bytes, line: int | None = None,
                     watchlist: ProtectedWatchlist | None = None) -> DocumentProcessor:
        """Read the profile's country list and (unless given) build the watchlist index."""
        settings = profile.settings
        if line is None:
            line = int(settings.get("control_line", 2 if "second" in profile.name else 1))
        countries = load_countries(Path(settings["countries_file"]).read_text("utf-8"))
        if watchlist is None and settings.get("watchlist_file"):
            clear = json.loads(Path(settings["watchlist_file"]).read_text("utf-8"))
            watchlist = ProtectedWatchlist.build(clear, watchlist_key)
        return cls(DocumentConfig.from_settings(settings, line), countries, watchlist)

    def tick(self, now: float) -> list[Decision]:
        return []

    def feed(self, reading: Any) -> list[Decision]:
        if not isinstance(reading, MrzRead):
            return []
        return [self.decide(reading)]

    # ------------------------------------------------------------------ the decision
    def decide(self, read: MrzRead) -> Decision:
        today = dt.datetime.fromtimestamp(read.t, _UTC).date()
        try:
            mrz = parse_mrz(read.lines, today)
        except MrzFormatError as exc:
            return self._unreadable(read, str(exc))
        reasons: list[str] = []
        refer: list[str] = []
        cfg = self.config
        for name, ok in mrz.checks.items():
            if not ok:
                refer.append(f"check_digit:{name}")
        for problem in mrz.problems:
            if problem.startswith("bad_"):
                refer.append(f"bad_date:{problem[4:-5]}" if problem.endswith("_date")
                             else f"malformed:{problem[4:]}")
            elif problem == "no_primary_identifier":
                refer.append(f"malformed:{problem}")
        if mrz.doc_code[:1] not in _DOC_CODE_FIRST:
            refer.append("unknown_document_code")
        for field_name, code in (("issuing_state", mrz.issuing_state),
                                 ("nationality", mrz.nationality)):
            if code not in self._countries:
                refer.append(f"unknown_state_code:{field_name}")
        if (mrz.issuing_state in self._specimen_codes or mrz.nationality in self._specimen_codes
                or mrz.document_number in _SPECIMEN_NUMBERS
                or mrz.document_number.startswith("SPECI")):
            refer.append("specimen_document")
        age = None
        if mrz.birth_date is not None:
            if mrz.birth_date > today:
                refer.append("implausible_dates")
            age = _age(mrz.birth_date, today)
            if cfg.min_age_years and age < cfg.min_age_years:
                refer.append("under_age")
        if mrz.expiry_date is not None:
            if mrz.expiry_date + dt.timedelta(days=cfg.expiry_grace_days) < today:
                refer.append("expired")
            if mrz.birth_date is not None and mrz.expiry_date <= mrz.birth_date:
                refer.append("implausible_dates")
        if not read.uv_ok and cfg.refer_on_uv_fail:
            refer.append("uv_flag")
        if not read.ir_ok and cfg.refer_on_ir_fail:
            refer.append("ir_flag")
        watch_body, matched = self._watchlist(mrz, today, reasons, refer)
        reasons.extend(dict.fromkeys(refer))  # keep order, drop duplicates
        if any(r in HIT_REASONS for r in reasons):
            verdict, alert = "hit", AlertLevel.ALARM
        elif reasons:
            verdict, alert = "refer", AlertLevel.WARNING
        else:
            verdict, alert = "clear", None
        body: dict[str, Any] = {
            "line": cfg.line,
            "doc_format": mrz.doc_format,
            "doc_code": mrz.doc_code,
            "issuing_state": mrz.issuing_state,
            "nationality": mrz.nationality,
            "verdict": verdict,
            "reasons": reasons,
            "checks": {**mrz.checks, "name_complete": not mrz.name_truncated},
            "sex": mrz.sex,
            "uv_ok": read.uv_ok,
            "ir_ok": read.ir_ok,
            "surname": mrz.surname,
            "given_names": mrz.given_names,
            "document_number": mrz.document_number,
            "birth_date": (mrz.birth_date.isoformat() if mrz.birth_date else mrz.birth_raw),
            "mrz": list(read.lines),
        }
        if mrz.expiry_date is not None:
            body["expiry"] = mrz.expiry_date.isoformat()
        if age is not None and age >= 0:
            body["age_years"] = age
        if watch_body is not None:
            body["watchlist"] = watch_body
        if mrz.doc_format in ("TD1", "TD2", "TD3") and mrz.optional_data:
            # TD3: the personal number field; TD1/TD2: optional data, where states put the
            # personal identification number (Azerbaijan's FIN). Sensitive either way.
            body["personal_number"] = mrz.optional_data
        summary = f"{verdict}: {', '.join(reasons)}" if reasons else "clear"
        return Decision("document.check", body, read.t, alert, summary, decided_at=read.t,
                        extra={"mrz": mrz, "matches": matched, "reader_id": read.reader_id})

    def _watchlist(self, mrz: Mrz, today: dt.date, reasons: list[str],
                   refer: list[str]) -> tuple[dict[str, Any] | None, list[Any]]:
        wl = self.watchlist
        if wl is None:
            return None, []
        cfg = self.config
        body: dict[str, Any] = {"list": wl.list_id, "version": wl.version, "checked": True}
        matched: list[Any] = []
        for doc in wl.check_document(mrz.document_number):
            matched.append(doc)
            same = not doc.issuing_state or doc.issuing_state == mrz.issuing_state
            if same:
                reasons.append("watchlist_document")
            else:
                refer.append("watchlist_document_other_state")
            body.update(kind="document", status=doc.status, match_list=doc.list_name)
        birth: dt.date | str | None = mrz.birth_date
        if birth is None and mrz.birth_raw[:2].isdigit():
            birth = _partial_birth(mrz.birth_raw, today)
        floor = cfg.name_match_threshold - cfg.possible_match_margin
        persons = wl.match_person(mrz.surname, mrz.given_names, birth, floor, mrz.sex)
        if persons:
            best = persons[0]
            matched.extend(persons)
            strong = (best.score >= cfg.name_match_threshold and best.date_agreement == "exact"
                      and best.action == "hit"
                      and min(best.surname_score, best.given_score) >= cfg.min_component_score)
            if strong:
                reasons.append("watchlist_person")
            else:
                refer.append("watchlist_possible")
            body.update(kind="person" if "kind" not in body else "document+person",
                        score=best.score, category=best.category, match_list=best.list_name,
                        date_agreement=best.date_agreement)
        return body, matched

    def _unreadable(self, read: MrzRead, why: str) -> Decision:
        lines = list(read.lines)
        width = max((len(line) for line in lines), default=0)
        fmt = "TD1" if len(lines) == 3 else ("TD3" if width >= 40 else "TD2")
        body = {
            "line": self.config.line, "doc_format": fmt, "doc_code": "", "issuing_state": "",
            "nationality": "", "verdict": "refer", "reasons": ["unreadable_mrz"],
            "uv_ok": read.uv_ok, "ir_ok": read.ir_ok, "mrz": lines,
        }
        return Decision("document.check", body, read.t, AlertLevel.WARNING,
                        f"refer: unreadable_mrz ({why})", decided_at=read.t,
                        extra={"error": why, "reader_id": read.reader_id})


def _age(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _partial_birth(raw: str, today: dt.date) -> str | None:
    """``YY<<<<`` / ``YYMM<<`` -> ``YYYY-00-00`` / ``YYYY-MM-00`` (century as for birth)."""
    yy = int(raw[:2])
    year = (today.year // 100) * 100 + yy
    if year > today.year:
        year -= 100
    month = raw[2:4] if raw[2:4].isdigit() else "00"
    return f"{year:04d}-{month}-00"
