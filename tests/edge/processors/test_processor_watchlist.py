"""Name keys, the protected watchlist: recall on transliteration variants, false hits, protection."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from traveller_synth import SYSTEMS, random_person, spell, watchlist_doc

from borderlink.edge.errors import WatchlistError
from borderlink.edge.processors.document import DocumentConfig, DocumentProcessor, load_countries
from borderlink.edge.processors.names import (
    fine_key,
    fold,
    jaro_winkler,
    levenshtein_similarity,
    name_similarity,
    skeleton,
)
from borderlink.edge.processors.watchlist import ProtectedWatchlist, normalise_document_number
from borderlink.hardware_profiles.loader import DATA_DIR
from borderlink.hardware_profiles.mrz import MrzDocument, build_mrz
from borderlink.hardware_profiles.readings import MrzRead

DATA = DATA_DIR
KEY = b"k" * 32
T = dt.datetime(2026, 11, 27, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize("group", [
    ["Məmmədov", "MAMMADOV", "MAMEDOV", "MAMADOV", "Мамедов", "MAMMEDOV"],
    ["Hüseynov", "HUSEYNOV", "GUSEINOV", "Гусейнов", "HUSEINOV", "HUESEYNOV"],
    ["Əliyev", "ALIYEV", "ALIEV", "Алиев"],
    ["Quliyev", "QULIYEV", "GULIYEV", "KULIEV", "Кулиев"],
    ["Cəfərov", "CAFAROV", "JAFAROV", "DZHAFAROV", "Джафаров"],
    ["İsmayılov", "ISMAYILOV", "ISMAILOV"],
    ["Rzayev", "RZAYEV", "RZAEV"],
    ["HOSSEINI", "HOSEYNI", "HUSSEINI", "HOSEINI"],
    ["Xəlilov", "XALILOV", "KHALILOV", "Халилов"],
])
def test_transliteration_variants_share_the_blocking_skeleton(group):
    assert len({skeleton(name) for name in group}) == 1, {n: skeleton(n) for n in group}


def test_fold_and_keys():
    assert fold("Məmmədov-Əliyeva") == "MAMMADOV ALIYEVA"
    assert fold("ERIKSSON<<ANNA<MARIA") == "ERIKSSON ANNA MARIA"
    assert fold("Щукин") == "SHCHUKIN"
    assert fine_key("Məmmədov") == fine_key("MAMEDOV") == "MAMADUV"
    assert skeleton("") == "" and fine_key("") == ""
    assert skeleton("Məmmədov") != skeleton("Hüseynov")


def test_similarity_functions_published_values():
    # Winkler (1990) / Wikipedia examples for Jaro-Winkler.
    assert jaro_winkler("MARTHA", "MARHTA") == pytest.approx(0.9611, abs=1e-4)
    assert jaro_winkler("DWAYNE", "DUANE") == pytest.approx(0.84, abs=1e-4)
    assert jaro_winkler("DIXON", "DICKSONX") == pytest.approx(0.8133, abs=1e-4)
    assert levenshtein_similarity("KITTEN", "SITTING") == pytest.approx(1 - 3 / 7)
    assert jaro_winkler("", "A") == 0.0 and levenshtein_similarity("A", "A") == 1.0


@pytest.fixture(scope="module")
def synthetic():
    rng = random.Random(20261127)
    listed = [random_person(rng) for _ in range(20_000)]
    return listed, ProtectedWatchlist.build(watchlist_doc(listed), KEY), rng


@pytest.fixture(scope="module")
def countries():
    return load_countries((DATA / "icao_countries.csv").read_text("utf-8"))


def _read(person, system, rng):
    surname = spell(person.surname, system, rng)
    given = spell(person.given, system, rng)
    return MrzRead(build_mrz(MrzDocument(
        "TD3", "P", "AZE", surname, given, f"C{rng.randrange(10**8):08d}", "AZE",
        person.birth.strftime("%y%m%d"), person.sex, "301231")), True, True, T)


def test_recall_on_transliteration_variants(synthetic, countries):
    listed, wl, _ = synthetic
    proc = DocumentProcessor(DocumentConfig(), countries, wl)
    rng = random.Random(7)
    total = hits = 0
    misses = []
    for person in listed[:400]:
        for system in SYSTEMS:
            verdict = proc.feed(_read(person, system, rng))[0].body["verdict"]
            total += 1
            hits += verdict == "hit"
            if verdict != "hit":
                misses.append((person.surname, person.given, system))
    recall = hits / total
    print(f"watchlist recall on {total} transliteration variants: {recall:.4f}")
    assert recall >= 0.99, misses[:10]


def test_recall_on_the_shipped_list(countries):
    clear = json.loads((DATA / "watchlist.json").read_text("utf-8"))
    proc = DocumentProcessor(DocumentConfig(), countries, ProtectedWatchlist.build(clear, KEY))
    variants = {
        "SMS-P-0001": ["MAMMADOV", "MAMEDOV", "MAMADOV", "MAMMEDOV"],
        "SMS-P-0002": ["HUSEYNOV", "GUSEINOV", "HUESEYNOV", "HUSEINOV"],
        "SMS-P-0003": ["ALIYEV", "ALIEV"],
        "SMS-P-0004": ["QULIYEV", "GULIYEV", "KULIEV"],
        "SMS-P-0006": ["CAFAROV", "JAFAROV", "DZHAFAROV"],
        "SMS-P-0018": ["HOSSEINI", "HOSEINI", "HOSEYNI", "HUSSEINI"],
        "SMS-P-0021": ["JAFARI", "JAAFARI", "DJAFARI"],
        "SMS-P-0022": ["GHASEMI", "QASEMI", "GASEMI"],
    }
    persons = {p["id"]: p for p in clear["persons"]}
    for ref, surnames in variants.items():
        p = persons[ref]
        birth = dt.date.fromisoformat(p["birth_date"]).strftime("%y%m%d")
        for surname in surnames:
            lines = build_mrz(MrzDocument("TD3", "P", "AZE", surname, p["given_names_latin"],
                                          "C11111111", "AZE", birth, p["sex"], "301231"))
            d = proc.feed(MrzRead(lines, True, True, T))[0]
            assert d.body["verdict"] == "hit", (ref, surname, d.summary, d.extra["matches"])
            assert d.extra["matches"][0].ref == ref


def test_false_hits_on_clear_travellers(synthetic, countries):
    listed, wl, _ = synthetic
    proc = DocumentProcessor(DocumentConfig(), countries, wl)
    listed_keys = {(fine_key(p.surname), fine_key(p.given), p.birth) for p in listed}
    rng = random.Random(99)
    clear = false_hits = refers = homonyms = 0
    while clear < 10_000:
        person = random_person(rng)
        read = _read(person, "az_mrz", rng)
        if (fine_key(person.surname), fine_key(person.given), person.birth) in listed_keys:
            homonyms += 1  # same name and birth date as a listed person: not a clear traveller
            continue
        clear += 1
        body = proc.feed(read)[0].body
        false_hits += body["verdict"] == "hit"
        refers += body["verdict"] == "refer"
    rate = false_hits / clear
    print(f"false hits {false_hits}/{clear} = {rate:.4%}; refers {refers}; homonyms {homonyms}")
    assert rate <= 0.001


def test_documents_exact_after_normalisation():
    clear = {"format": "borderlink.watchlist.v1", "list_id": "SLTD", "version": 9,
             "documents": [{"number": "AB-123 4567", "issuing_state": "GEO", "status": "lost"}]}
    wl = ProtectedWatchlist.build(clear, KEY)
    assert normalise_document_number("ab<1234567<") == "AB1234567"
    [match] = wl.check_document("AB1234567<<")
    assert (match.status, match.issuing_state, match.list_name) == ("lost", "GEO", "SLTD")
    assert wl.check_document("AB1234568") == []
    assert wl.check_document("AB123456") == []


def test_protected_index_reveals_no_clear_data_and_needs_its_key():
    clear = json.loads((DATA / "watchlist.json").read_text("utf-8"))
    wl = ProtectedWatchlist.build(clear, KEY)
    blob = wl.dumps()
    for person in clear["persons"]:
        for field in ("surname", "surname_latin", "given_names_latin", "birth_date", "id"):
            assert person[field].encode() not in blob
        assert fine_key(person["surname_latin"]).encode() not in blob
        skel = skeleton(person["surname_latin"])
        if len(skel) >= 4:  # shorter byte strings occur in any ciphertext by chance
            assert skel.encode() not in blob
    for document in clear["documents"]:
        assert document["number"].encode() not in blob
    again = ProtectedWatchlist.loads(blob, KEY)
    assert again.match_person("MAMEDOV", "RASHAD", "1979-05-12", 0.8)[0].ref == "SMS-P-0001"
    assert again.check_document("C94482246")
    with pytest.raises(WatchlistError, match="another device key"):
        ProtectedWatchlist.loads(blob, b"x" * 32)
    # Another device's index of the same list shares no tag with this one.
    other = ProtectedWatchlist.build(clear, b"z" * 32)
    assert not set(other._persons) & set(wl._persons)
    assert not set(other._documents) & set(wl._documents)


@pytest.mark.parametrize("bad,match", [
    ({"format": "other"}, "format"),
    ({"format": "borderlink.watchlist.v1", "persons": [{"surname": "X"}]}, "birth_date"),
    ({"format": "borderlink.watchlist.v1", "persons": [{"birth_date": "1980-01-01"}]},
     "no surname"),
    ({"format": "borderlink.watchlist.v1", "persons": [{"surname": "X", "birth_date": "80"}]},
     "YYYY-MM-DD"),
    ({"format": "borderlink.watchlist.v1", "documents": [{"status": "lost"}]}, "number"),
])
def test_bad_watchlists_are_refused(bad, match):
    with pytest.raises(WatchlistError, match=match):
        ProtectedWatchlist.build(bad, KEY)
    with pytest.raises(WatchlistError):
        ProtectedWatchlist.loads(b"\xff\x00", KEY)
    with pytest.raises(WatchlistError, match="16 bytes"):
        ProtectedWatchlist.build({"format": "borderlink.watchlist.v1"}, b"short")


def test_block_lookup_is_indexed_not_scanned(synthetic):
    listed, wl, _ = synthetic
    # 20,000 persons spread over thousands of blocks: a look-up opens one small bucket.
    assert wl.block_count > 2_000
    person = listed[0]
    matches = wl.match_person(spell(person.surname, "russian"), spell(person.given, "russian"),
                              person.birth, 0.5, person.sex)
    assert matches and all(m.date_agreement == "exact" for m in matches)


def test_recall_on_the_simulators_name_variants(countries):
    """The hardware-profiles simulator's own romanisation table (Azerbaijani, Russian and
    Persian variants: MAGOMED, HUS/HOSS, -EE for -I …) against the shipped list."""
    from borderlink.hardware_profiles.simulator.documents import name_variants

    clear = json.loads((DATA / "watchlist.json").read_text("utf-8"))
    proc = DocumentProcessor(DocumentConfig(), countries, ProtectedWatchlist.build(clear, KEY))
    rng = random.Random(5)
    total = hits = 0
    misses = []
    for p in clear["persons"]:
        birth = dt.date.fromisoformat(p["birth_date"]).strftime("%y%m%d")
        for _ in range(25):
            surname = name_variants(p["surname_latin"], rng)[0]
            given = name_variants(p["given_names_latin"], rng)[0]
            lines = build_mrz(MrzDocument("TD3", "P", "IRN", surname, given, "P12345678", "IRN",
                                          birth, p["sex"], "301231"))
            verdict = proc.feed(MrzRead(lines, True, True, T))[0].body["verdict"]
            total += 1
            hits += verdict == "hit"
            if verdict != "hit":
                misses.append((p["surname_latin"], surname, p["given_names_latin"], given))
    assert hits / total >= 0.99, misses[:10]


def test_list_action_refer_and_combined_matches(countries):
    clear = {"format": "borderlink.watchlist.v1", "list_id": "L", "version": 4,
             "persons": [{"id": "R1", "surname": "Bağırov", "given_names": "Anar",
                          "birth_date": "1977-07-07", "sex": "M", "action": "refer",
                          "category": "interview"}],
             "documents": [{"number": "C70707070", "issuing_state": "AZE", "status": "stolen"}]}
    proc = DocumentProcessor(DocumentConfig(), countries, ProtectedWatchlist.build(clear, KEY))
    lines = build_mrz(MrzDocument("TD3", "P", "AZE", "BAGIROV", "ANAR", "C12121212", "AZE",
                                  "770707", "M", "301231"))
    body = proc.feed(MrzRead(lines, True, True, T))[0].body
    assert body["verdict"] == "refer" and body["reasons"] == ["watchlist_possible"]
    assert body["watchlist"]["category"] == "interview"
    lines = build_mrz(MrzDocument("TD3", "P", "AZE", "BAGHIROV", "ANAR", "C70707070", "AZE",
                                  "770707", "M", "301231"))
    body = proc.feed(MrzRead(lines, True, True, T))[0].body
    assert body["verdict"] == "hit"
    assert body["reasons"] == ["watchlist_document", "watchlist_possible"]
    assert body["watchlist"]["kind"] == "document+person"


_NAME_TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ <-'ƏÜÖĞÇŞİıəüöğçşАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ",
                     max_size=30)


@settings(max_examples=300, deadline=None)
@given(_NAME_TEXT, _NAME_TEXT)
def test_name_keys_properties(a, b):
    folded = fold(a)
    assert all(c == " " or "A" <= c <= "Z" for c in folded)
    assert fold(folded) == folded  # idempotent
    assert skeleton(a) == skeleton(folded) and fine_key(a) == fine_key(folded)
    assert all(c not in "EIOU" for c in skeleton(a)[1:])
    sim = name_similarity(fine_key(a), fine_key(b))
    assert 0.0 <= sim <= 1.0
    assert name_similarity(fine_key(a), fine_key(a)) == 1.0
