"""Synthetic travellers and watchlists with realistic Azerbaijani names, and their spellings.

Name pools: common Azerbaijani family and given names (native Latin script). Spelling
systems a border sees for one person:

* ``az_mrz``   — an Azerbaijani passport MRZ (Ə→A Ü→U Ö→O Ç→C Ş→S Ğ→G; X, Q, C kept),
* ``icao``     — the ICAO 9303 Part 3 transliteration table as the device side implements it
  (``hardware_profiles.mrz.transliterate``: Ü→UE, Ö→OE …),
* ``english``  — English-style romanisation (Ç→CH Ş→SH X→KH Q→G C→J Ğ→GH),
* ``russian``  — via the Russian form (H→G X→KH Q→G C→DZH, Ə→E inside words, -iyev→-iev,
  doubled consonants single: Məmmədov → MAMEDOV, Hüseynov → GUSEINOV),
* ``colloquial`` — a variant spelling (a doubled letter single or a single one doubled, one
  unstressed A/E swapped).

Every generator is seeded; nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from borderlink.hardware_profiles.mrz import transliterate

SURNAMES = [
    "Məmmədov", "Əliyev", "Hüseynov", "Həsənov", "Quliyev", "İsmayılov", "Abbasov", "Rzayev",
    "Cəfərov", "Rəhimov", "Nəsirov", "Süleymanov", "Musayev", "Bağırov", "Vəliyev", "Kərimov",
    "Qasımov", "Əhmədov", "Orucov", "Sadıqov", "Əsgərov", "Abdullayev", "İbrahimov", "Babayev",
    "Şirinov", "Hacıyev", "Novruzov", "Qurbanov", "Zeynalov", "Əfəndiyev", "Salmanov",
    "Mirzəyev", "Nağıyev", "Tağıyev", "Xəlilov", "Fərzəliyev", "Allahverdiyev", "Qəmbərov",
    "Yusifov", "Məhərrəmov", "Heydərov", "Cavadov", "Bayramov", "Hümbətov", "Rüstəmov",
    "Sultanov", "Səfərov", "Paşayev", "Əkbərov", "Mustafayev", "Kazımov", "Əsədov", "Namazov",
    "Rəsulov", "Nuriyev", "Şükürov", "Eyvazov", "Əzizov", "Həmidov", "Həsənzadə", "Qulizadə",
]
MALE = [
    "Rəşad", "Elçin", "Vüqar", "Səməd", "Cavid", "Xəyal", "Qasım", "Şahin", "Məhəmməd", "Ramil",
    "Ruslan", "Timur", "Fərid", "Emin", "Elnur", "Tural", "Orxan", "Anar", "Kamran", "Rauf",
    "Namiq", "Elvin", "Nicat", "Ülvi", "Rövşən", "Zaur", "İlqar", "Azər", "Fuad", "Vüsal",
    "Ceyhun", "Səbuhi", "Toğrul", "Elşən", "Mübariz", "Əli", "Hüseyn", "Murad", "Rəşid", "Yaşar",
]
FEMALE = [
    "Günel", "Şəbnəm", "Elmira", "Aynur", "Leyla", "Nərgiz", "Səbinə", "Könül", "Aysel", "Nigar",
    "Lalə", "Gülnar", "Sevinc", "Türkan", "Ülviyyə", "Xədicə", "Fidan", "Aytən", "Kəmalə", "Zəhra",
    "Nərmin", "Samirə", "Arzu", "Vüsalə", "Həcər", "Mehriban", "Solmaz", "Pərvin", "Jalə", "Sona",
]
SYSTEMS = ("az_mrz", "icao", "english", "russian", "colloquial")

_AZ_MRZ = {"Ə": "A", "Ü": "U", "Ö": "O", "Ç": "C", "Ş": "S", "Ğ": "G", "İ": "I", "I": "I"}
_ENGLISH = {"Ə": "A", "Ü": "U", "Ö": "O", "Ç": "CH", "Ş": "SH", "Ğ": "GH", "İ": "I", "I": "I",
            "X": "KH", "Q": "G", "C": "J", "J": "ZH"}
_RUSSIAN = {"Ü": "U", "Ö": "O", "Ç": "CH", "Ş": "SH", "Ğ": "G", "İ": "I", "I": "Y",
            "X": "KH", "Q": "G", "C": "DZH", "J": "ZH", "H": "G"}


def _upper(name: str) -> str:
    return name.replace("i", "İ").replace("ı", "I").upper()


def _map(name: str, table: dict[str, str]) -> str:
    return "".join(table.get(c, c) for c in _upper(name))


def spell(name: str, system: str, rng: random.Random | None = None) -> str:
    """*name* (native) as *system* writes it, upper-case A-Z (spaces kept)."""
    if system == "az_mrz":
        return _map(name, _AZ_MRZ)
    if system == "icao":
        return transliterate(name).replace("<", " ")
    if system == "english":
        return _map(name, _ENGLISH)
    if system == "russian":
        up = _upper(name)
        out = []
        for i, c in enumerate(up):
            if c == "Ə":
                out.append("A" if i == 0 else "E")
            else:
                out.append(_RUSSIAN.get(c, c))
        text = "".join(out).replace("IYEV", "IEV").replace("YEV", "EV").replace("EY", "EI")
        return "".join(ch for i, ch in enumerate(text) if i == 0 or ch != text[i - 1]
                       or ch in "AEIOU")
    if system == "colloquial":
        rng = rng or random.Random(name)
        text = _map(name, _AZ_MRZ)
        ops = []
        for i in range(1, len(text)):
            if text[i] == text[i - 1] and text[i] not in "AEIOU":
                ops.append(("undouble", i))
        for i in range(1, len(text) - 1):
            if text[i] in "AE":
                ops.append(("swap", i))
            if text[i] not in "AEIOU" and text[i - 1] in "AEIOU" and text[i + 1] in "AEIOU":
                ops.append(("double", i))
        if not ops:
            return text
        op, i = rng.choice(ops)
        if op == "undouble":
            return text[:i] + text[i + 1:]
        if op == "double":
            return text[:i] + text[i] + text[i:]
        return text[:i] + ("E" if text[i] == "A" else "A") + text[i + 1:]
    raise ValueError(f"unknown spelling system {system!r}")


@dataclass(frozen=True)
class Person:
    surname: str  # native
    given: str  # native
    sex: str
    birth: dt.date

    def key(self) -> tuple[str, str, dt.date]:
        return (self.surname, self.given, self.birth)


def random_person(rng: random.Random, start: dt.date = dt.date(1950, 1, 1),
                  end: dt.date = dt.date(2005, 12, 31)) -> Person:
    sex = rng.choice("MF")
    surname = rng.choice(SURNAMES)
    if sex == "F":
        surname = surname + "a" if surname.endswith("v") else surname
        given = rng.choice(FEMALE)
    else:
        given = rng.choice(MALE)
    days = rng.randrange((end - start).days + 1)
    return Person(surname, given, sex, start + dt.timedelta(days=days))


def watchlist_doc(persons: list[Person], list_id: str = "TEST-LIST", version: int = 1,
                  documents: tuple[str, ...] = ()) -> dict:
    """A ``borderlink.watchlist.v1`` mapping of *persons* (native + English Latin spelling)."""
    return {
        "format": "borderlink.watchlist.v1", "issuer": "SMS", "list_id": list_id,
        "version": version,
        "persons": [{
            "id": f"T-{i:07d}", "surname": p.surname, "given_names": p.given,
            "surname_latin": spell(p.surname, "english"),
            "given_names_latin": spell(p.given, "english"),
            "birth_date": p.birth.isoformat(), "sex": p.sex, "nationality": "AZE",
            "category": "entry_ban", "action": "hit", "list": list_id,
        } for i, p in enumerate(persons)],
        "documents": [{"number": n, "issuing_state": "AZE", "document_type": "P",
                       "status": "stolen"} for n in documents],
    }
