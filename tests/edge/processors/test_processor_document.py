"""The document-reader processor: every verdict reason, record bodies, the shipped profiles."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from borderlink.edge.errors import ProcessorError
from borderlink.edge.processors.base import AlertLevel
from borderlink.edge.processors.document import (
    DocumentConfig,
    DocumentProcessor,
    load_countries,
)
from borderlink.edge.processors.watchlist import ProtectedWatchlist
from borderlink.hardware_profiles.loader import DATA_DIR, load_profile
from borderlink.hardware_profiles.mrz import MrzDocument, build_mrz
from borderlink.hardware_profiles.readings import MrzRead
from borderlink.proto.record_types import default_registry

DATA = DATA_DIR
KEY = bytes(range(32))
T = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC).timestamp()
REGISTRY = default_registry()


@pytest.fixture(scope="module")
def countries():
    return load_countries((DATA / "icao_countries.csv").read_text("utf-8"))


@pytest.fixture(scope="module")
def watchlist():
    clear = json.loads((DATA / "watchlist.json").read_text("utf-8"))
    return ProtectedWatchlist.build(clear, KEY)


@pytest.fixture
def proc(countries, watchlist):
    return DocumentProcessor(DocumentConfig(min_age_years=16), countries, watchlist)


def doc(**kw):
    base = {"doc_format": "TD3", "doc_code": "P", "issuing_state": "AZE", "surname": "NAMAZOV",
                "given_names": "TURAL", "number": "C01234567", "nationality": "AZE", "birth_date": "880304",
                "sex": "M", "expiry_date": "310101"}
    base.update(kw)
    return MrzDocument(**base)


def decide(proc, lines, uv=True, ir=True, t=T):
    decisions = proc.feed(MrzRead(tuple(lines), uv, ir, t, reader_id="R1", seq=1))
    assert len(decisions) == 1
    d = decisions[0]
    REGISTRY[d.record_type].validate(d.body)  # every body validates against its type
    assert d.record_type == "document.check" and d.t == t and d.decided_at == t
    return d


def test_clear_traveller(proc):
    d = decide(proc, build_mrz(doc()))
    assert d.body["verdict"] == "clear" and d.body["reasons"] == [] and d.alert is None
    assert d.body["surname"] == "NAMAZOV" and d.body["document_number"] == "C01234567"
    assert d.body["birth_date"] == "1988-03-04" and d.body["expiry"] == "2031-01-01"
    assert d.body["age_years"] == 38 and d.body["watchlist"]["checked"] is True
    assert "score" not in d.body["watchlist"]


# (case name, document changes or raw lines, reader flags, expected verdict, expected reasons)
LINES = build_mrz(doc())
CASES = [
    ("check digit", [LINES[0], LINES[1][:9] + "0" + LINES[1][10:]], (True, True), "refer",
     ["check_digit:document_number", "check_digit:composite"]),
    ("expired", doc(expiry_date="251231"), (True, True), "refer", ["expired"]),
    ("under age", doc(birth_date="150101"), (True, True), "refer", ["under_age"]),
    ("uv flag", doc(), (False, True), "refer", ["uv_flag"]),
    ("ir flag", doc(), (True, False), "refer", ["ir_flag"]),
    ("unknown state", doc(issuing_state="WSA", nationality="WSA"), (True, True), "refer",
     ["unknown_state_code:issuing_state", "unknown_state_code:nationality"]),
    ("specimen", doc(issuing_state="UTO", nationality="UTO"), (True, True), "refer",
     ["specimen_document"]),
    ("unknown document code", doc(doc_code="Z"), (True, True), "refer",
     ["unknown_document_code"]),
    ("impossible date", doc(birth_date="881304"), (True, True), "refer", ["bad_date:birth"]),
    ("birth after expiry", doc(birth_date="990101", expiry_date="980101"), (True, True), "refer",
     ["expired", "implausible_dates"]),
    ("stolen document", doc(number="C94482246"), (True, True), "hit", ["watchlist_document"]),
    ("stolen number, other state", doc(number="C94482246", issuing_state="GEO"), (True, True),
     "refer", ["watchlist_document_other_state"]),
    ("listed person (Russian spelling)", doc(surname="MAMEDOV", given_names="RASHAD",
                                             birth_date="790512"), (True, True),
     "hit", ["watchlist_person"]),
    ("listed person, day/month swapped", doc(surname="MAMMADOV", given_names="RASHAD",
                                             birth_date="791205"), (True, True),
     "refer", ["watchlist_possible"]),
    ("listed name, other birth date", doc(surname="MAMMADOV", given_names="RASHAD",
                                          birth_date="790513"), (True, True), "clear", []),
    ("listed name, other sex", doc(surname="MAMMADOV", given_names="RASHAD", sex="F",
                                   birth_date="790512"), (True, True), "clear", []),
    ("stateless and refugee codes are valid", doc(nationality="XXA"), (True, True), "clear", []),
    ("German D<< code is valid", doc(issuing_state="D<<", nationality="D<<"), (True, True),
     "clear", []),
    ("UN laissez-passer", doc(issuing_state="UNO", nationality="XXX"), (True, True), "clear", []),
    ("unreadable", ["P<AZE", "C0123"], (True, True), "refer", ["unreadable_mrz"]),
]


@pytest.mark.parametrize("name,case,flags,verdict,reasons", CASES, ids=[c[0] for c in CASES])
def test_every_verdict_reason(proc, name, case, flags, verdict, reasons):
    lines = build_mrz(case) if isinstance(case, MrzDocument) else case
    d = decide(proc, lines, *flags)
    assert d.body["verdict"] == verdict, d.summary
    assert d.body["reasons"] == reasons, d.summary
    expected_alert = {"clear": None, "refer": AlertLevel.WARNING, "hit": AlertLevel.ALARM}
    assert d.alert == expected_alert[verdict]


def test_hit_and_refer_reasons_combine(proc):
    d = decide(proc, build_mrz(doc(surname="GUSEINOV", given_names="ELCHIN", birth_date="841102",
                                   expiry_date="200101")), False, True)
    assert d.body["verdict"] == "hit"
    assert d.body["reasons"] == ["watchlist_person", "expired", "uv_flag"]
    wl = d.body["watchlist"]
    assert wl["kind"] == "person" and wl["score"] >= 0.86 and wl["category"] == "wanted"
    assert "SMS-P" not in json.dumps(wl)  # no identity of the listed person in the record


def test_specimens_are_referred(proc):
    lines = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
             "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
    d = decide(proc, lines)
    assert d.body["reasons"] == ["specimen_document", "expired"]
    assert d.body["personal_number"] == "ZE184226B"


def test_state_specimen_numbers_are_referred(proc):
    lines = ("P<NLDDE<BRUIJN<<WILLEKE<LISELOTTE<<<<<<<<<<<",
             "SPECI20142NLD6503101F2403096999999990<<<<<84")
    d = decide(proc, lines)
    assert d.body["reasons"] == ["specimen_document", "expired"]
    assert d.body["surname"] == "DE BRUIJN"


def test_td1_optional_data_is_recorded_as_personal_number(proc):
    lines = build_mrz(doc(doc_format="TD1", doc_code="ID", optional="5ZJ8K2Q"))
    body = decide(proc, lines).body
    assert body["personal_number"] == "5ZJ8K2Q" and body["verdict"] == "clear"
    assert "personal_number" in REGISTRY["document.check"].sensitive


def test_refer_flags_follow_the_profile(countries, watchlist):
    quiet = DocumentProcessor(DocumentConfig(refer_on_uv_fail=False, refer_on_ir_fail=False),
                              countries, watchlist)
    d = decide(quiet, build_mrz(doc()), False, False)
    assert d.body["verdict"] == "clear" and d.body["uv_ok"] is False


def test_expiry_grace(countries):
    lenient = DocumentProcessor(DocumentConfig(expiry_grace_days=30), countries)
    assert decide(lenient, build_mrz(doc(expiry_date="261120"))).body["verdict"] == "clear"
    assert decide(lenient, build_mrz(doc(expiry_date="261020"))).body["reasons"] == ["expired"]


def test_without_watchlist_the_record_says_nothing_was_checked(countries):
    d = decide(DocumentProcessor(DocumentConfig(), countries), build_mrz(doc(number="C94482246")))
    assert d.body["verdict"] == "clear" and "watchlist" not in d.body


def test_partial_birth_date_still_matches_by_year(countries):
    clear = {"format": "borderlink.watchlist.v1", "list_id": "L", "version": 3, "persons": [
        {"id": "X1", "surname": "Nəsirov", "given_names": "Ramil", "birth_date": "1966-00-00",
         "action": "hit"}]}
    proc = DocumentProcessor(DocumentConfig(), countries, ProtectedWatchlist.build(clear, KEY))
    d = decide(proc, build_mrz(doc(surname="NASIROV", given_names="RAMIL", birth_date="66<<<<")))
    assert d.body["verdict"] == "refer" and d.body["reasons"] == ["watchlist_possible"]
    assert d.body["watchlist"]["date_agreement"] == "partial"
    assert d.body["birth_date"] == "66<<<<"


def test_non_mrz_readings_are_ignored(proc):
    assert proc.feed("not a reading") == [] and proc.tick(T) == []


@pytest.mark.parametrize("name,line", [("docreader-first-line", 1), ("docreader-second-line", 2)])
def test_from_shipped_profile(name, line):
    profile = load_profile(name)
    proc = DocumentProcessor.from_profile(profile, watchlist_key=KEY)
    assert proc.config.line == line
    assert proc.config.name_match_threshold == profile.setting("name_match_threshold")
    assert proc.watchlist is not None and proc.watchlist.document_count > 0
    d = decide(proc, build_mrz(doc(surname="ALIEV", given_names="VUGAR", birth_date="900123")))
    assert d.body["verdict"] == "hit" and d.body["line"] == line


def test_config_is_validated():
    with pytest.raises(ProcessorError, match="name_match_threshold"):
        DocumentConfig(name_match_threshold=1.5)
    with pytest.raises(ProcessorError, match="control line"):
        DocumentConfig(line=3)
    cfg = DocumentConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.line = 2  # type: ignore[misc]
