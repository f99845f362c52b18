"""Travellers at a document-reader: MRZs of every format, fraud kinds, watchlisted persons
written with transliteration variants, lost/stolen document numbers."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..mrz import MrzDocument, build_mrz
from ..protocols import reader
from ..readings import MrzRead
from .base import DeviceSim
from .model import Emission, GroundTruth

__all__ = ["DOC_KINDS", "DocumentReaderSim", "name_variants"]

DOC_KINDS = ("valid", "expired", "bad_check_digit", "altered", "specimen", "fantasy", "watchlist",
             "lost_stolen", "uv_fail", "ir_fail")

_NAMES = {
    "AZE": (["MAMMADOV", "ALIYEV", "HASANOV", "HUSEYNOV", "GULIYEV", "ISMAYILOV", "ABBASOV", "BABAYEV",
             "JAFAROV", "RAHIMOV", "SULEYMANOV", "NAJAFOV", "ORUJOV", "VALIYEV", "ASKEROV", "KARIMOV",
             "ZEYNALOV", "GASIMOV", "MUSAYEV", "SADIGOV", "ALIZADA", "HASANLI", "AHMADLI", "RUSTAMLI"],
            ["ELCHIN", "RASHAD", "VUGAR", "TURAL", "ORKHAN", "ELVIN", "FARID", "NIJAT", "KAMRAN", "RUFAT",
             "AYTAN", "GUNEL", "LEYLA", "NARGIZ", "SEVINJ", "KONUL", "AYGUN", "LALA", "NIGAR", "ULVIYYA"]),
    "RUS": (["IVANOV", "SMIRNOV", "KUZNETSOV", "POPOV", "SOKOLOV", "LEBEDEV", "KOZLOV", "NOVIKOV",
             "MOROZOV", "PETROV", "VOLKOV", "SOLOVYOV", "MAMEDOV", "GUSEINOV", "ALIEV"],
            ["ALEKSANDR", "DMITRII", "SERGEI", "ANDREI", "ALEKSEI", "OLGA", "TATIANA", "IRINA", "ELENA",
             "NATALIA", "RUSLAN", "TIMUR"]),
    "IRN": (["MOHAMMADI", "HOSSEINI", "AHMADI", "REZAEI", "MOUSAVI", "JAFARI", "KARIMI", "RAHIMI",
             "HASHEMI", "GHASEMI", "SADEGHI", "NOURI", "AZIZI", "ABBASI"],
            ["MOHAMMAD", "ALI", "HOSSEIN", "REZA", "MAHDI", "AMIR", "SAEED", "FATEMEH", "ZAHRA", "MARYAM",
             "NARGES", "MAHSA"]),
    "GEO": (["BERIDZE", "KAPANADZE", "GELASHVILI", "MAISURADZE", "GIORGADZE"],
            ["GIORGI", "DAVIT", "NINO", "TAMAR", "LEVAN"]),
    "TUR": (["YILMAZ", "KAYA", "DEMIR", "SAHIN", "CELIK", "YILDIZ"], ["MEHMET", "AHMET", "AYSE", "FATMA", "EMRE"]),
}
_NAT_WEIGHTS = {"AZE": 70, "RUS": 10, "IRN": 14, "GEO": 3, "TUR": 3}

# Transliteration substitutions seen between Azerbaijani official, Russian-passport and Persian
# romanisations of one name (pattern in the canonical Latin form -> variant).
_SUBS: list[tuple[str, str]] = [
    (r"^H", "G"), (r"^G(?=[UA])", "H"), (r"KH", "X"), (r"KH", "H"), (r"J", "DZH"), (r"DZH", "J"),
    (r"CH", "C"), (r"SH", "S"), (r"EY", "EI"), (r"EI", "EY"), (r"YEV$", "EV"), (r"YEVA$", "EVA"),
    (r"IYEV$", "IEV"), (r"IEV$", "IYEV"), (r"MM", "M"), (r"(?<=[AEIOU])SS", "S"), (r"AMMAD", "AMED"),
    (r"AMED", "AMMAD"), (r"OV$", "OF"), (r"EV$", "EF"), (r"OVA$", "OVA"), (r"U(?=S)", "Y"),
    (r"HOSS", "HUS"), (r"HUS", "HOSS"), (r"MOHAMMAD", "MAHAMMAD"), (r"MAHAMMAD", "MAGOMED"),
    (r"MOHAMMAD", "MUHAMMAD"), (r"GH", "Q"), (r"Q", "G"), (r"EI$", "EYI"), (r"AE", "A"), (r"AEI", "AYI"),
    (r"^A(?=LI)", "E"), (r"I$", "EE"), (r"AS", "ASS"), (r"ASAN", "ASSAN"), (r"USEYN", "USEIN"),
    (r"USEIN", "USEYN"), (r"UG", "UGH"), (r"^E(?=SMA)", "I"), (r"ISMAYIL", "ISMAIL"),
]


def name_variants(name: str, rng: random.Random, count: int = 1) -> list[str]:
    """Plausible other romanisations of *name* (MRZ Latin), distinct from it where the
    substitution table applies (else *name* itself)."""
    out: list[str] = []
    for _ in range(count * 6):
        variant = name
        for pattern, repl in rng.sample(_SUBS, len(_SUBS)):
            if re.search(pattern, variant):
                variant = re.sub(pattern, repl, variant, count=1)
                if rng.random() < 0.6:
                    break
        if variant != name and variant not in out:
            out.append(variant)
        if len(out) >= count:
            break
    return out or [name]


def _yymmdd(d: dt.date) -> str:
    return f"{d:%y%m%d}"


class DocumentReaderSim(DeviceSim):
    event_kinds = ("traveller",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watchlist = json.loads(Path(self.profile.setting("watchlist_file")).read_text(encoding="utf-8"))
        self.today = dt.datetime.fromtimestamp(self.t0, dt.UTC).date()
        self.reader_id = str(self.opt.get("reader_id", self.spec.id))[:16].upper().replace("_", "-")
        self.reader_id = re.sub(r"[^A-Z0-9-]", "-", self.reader_id)
        self.line = int(self.opt.get("line", 2 if "second" in self.profile.name else 1))
        self.seq = 0

    # -------------------------------------------------------------------------------- people
    def _person(self) -> tuple[str, str, str, str, str]:
        rng = self.rng
        nat = rng.choices(list(_NAT_WEIGHTS), list(_NAT_WEIGHTS.values()))[0]
        surnames, given = _NAMES[nat]
        sex = rng.choice("MF")
        surname = rng.choice(surnames)
        if sex == "F" and surname.endswith(("OV", "EV", "IN")) and nat in ("AZE", "RUS"):
            surname += "A"
        birth = self.today - dt.timedelta(days=rng.randint(18 * 365, 75 * 365))
        return nat, surname, rng.choice(given), _yymmdd(birth), sex

    def _number(self, state: str) -> str:
        rng = self.rng
        digits = "".join(rng.choice("0123456789") for _ in range(8))
        if state == "AZE":
            return "C" + digits
        if state == "IRN":
            return rng.choice("ABDEKLMNPRTUXZ") + digits
        if state == "RUS":
            return digits + rng.choice("0123456789")
        return rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") + rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") + digits[:7]

    def _document(self, doc_kind: str, fmt: str | None) -> tuple[MrzDocument, dict[str, Any]]:
        rng = self.rng
        nat, surname, given, birth, sex = self._person()
        detail: dict[str, Any] = {}
        if doc_kind == "watchlist":
            person = rng.choice(self.watchlist["persons"])
            nat = person["nationality"]
            surname = name_variants(person["surname_latin"], rng)[0] if rng.random() < 0.85 else person["surname_latin"]
            given = name_variants(person["given_names_latin"], rng)[0] if rng.random() < 0.5 else person["given_names_latin"]
            birth = _yymmdd(dt.date.fromisoformat(person["birth_date"]))
            sex = person["sex"]
            detail = {"watchlist_id": person["id"], "listed_surname": person["surname_latin"],
                      "listed_given_names": person["given_names_latin"], "presented_surname": surname,
                      "presented_given_names": given}
        state = nat
        if fmt is None:
            fmt = rng.choices(["TD3", "TD1", "TD2", "MRVA", "MRVB"], [70, 20, 4, 4, 2])[0]
        code = {"TD3": "P", "TD1": "ID" if state == "AZE" else "I", "TD2": "I", "MRVA": "V", "MRVB": "V"}[fmt]
        issue = self.today - dt.timedelta(days=rng.randint(30, 9 * 365))
        expiry = issue + dt.timedelta(days=10 * 365)
        if fmt in ("MRVA", "MRVB"):
            state = "AZE"  # an Azerbaijani visa in a foreign passport
            expiry = self.today + dt.timedelta(days=rng.randint(5, 80))
        if expiry <= self.today:
            expiry = self.today + dt.timedelta(days=rng.randint(30, 3000))
        number = self._number(state)
        if doc_kind == "lost_stolen":
            entry = rng.choice([d for d in self.watchlist["documents"] if d["document_type"] in ("P", "I")])
            number, state = entry["number"], entry["issuing_state"]
            nat = state
            code = "P" if fmt in ("TD3", "MRVA", "MRVB") else ("ID" if state == "AZE" else "I")
            fmt = "TD3" if code == "P" else "TD1"
            detail = {"listed_number": number, "status": entry["status"]}
        if doc_kind == "expired":
            expiry = self.today - dt.timedelta(days=rng.randint(1, 900))
        if doc_kind == "specimen":
            state = nat = "UTO"
            surname, given = rng.choice([("ERIKSSON", "ANNA MARIA"), ("SPECIMEN", "SPECIMEN")])
        if doc_kind == "fantasy":
            state = rng.choice(["WSA", "KSV", "TXA", "ZAR"])  # not ICAO codes (fantasy issuers)
            detail = {"fantasy_state": state}
        optional = self._number("AZE")[1:] if state == "AZE" and fmt == "TD3" else ""
        doc = MrzDocument(fmt, code, state, surname, given, number, nat, birth, sex, _yymmdd(expiry),
                          optional=optional)
        return doc, detail

    # ------------------------------------------------------------------------- emissions
    def emissions(self) -> Iterator[Emission]:
        for ev in self.events():
            doc_kind = str(ev.params.get("doc", "valid"))
            if doc_kind not in DOC_KINDS:
                from ..errors import ScenarioError

                raise ScenarioError(f"{self.scenario.source}: traveller doc {doc_kind!r}; expected one of {list(DOC_KINDS)}")
            doc, detail = self._document(doc_kind, ev.params.get("format"))
            lines = list(build_mrz(doc))
            reasons: list[str] = []
            if doc_kind == "bad_check_digit":
                lines, which = self._break_check_digit(doc, lines)
                detail["broken"] = which
                reasons = ["check_digit"]
            elif doc_kind == "altered":
                lines, which = self._alter(doc)
                detail["altered"] = which
                reasons = ["check_digit"]
            uv_ok = doc_kind not in ("uv_fail", "altered") or (doc_kind == "altered" and self.rng.random() < 0.3)
            ir_ok = doc_kind != "ir_fail"
            if not uv_ok:
                reasons.append("uv")
            if not ir_ok:
                reasons.append("ir")
            verdict, more = {
                "valid": ("clear", []), "expired": ("refer", ["expired"]), "bad_check_digit": ("refer", []),
                "altered": ("refer", []), "specimen": ("refer", ["specimen"]),
                "fantasy": ("refer", ["unknown_state"]), "watchlist": ("hit", ["watchlist"]),
                "lost_stolen": ("hit", ["lost_stolen"]), "uv_fail": ("refer", []), "ir_fail": ("refer", []),
            }[doc_kind]
            reasons = more + reasons
            self.seq += 1
            t_read = round(ev.t + self.rng.uniform(0.3, 1.2), 3)  # placing the page, OCR
            read = MrzRead(lines=tuple(lines), uv_ok=uv_ok, ir_ok=ir_ok, t=t_read, reader_id=self.reader_id,
                           seq=self.seq)
            detail.update({"doc": doc_kind, "format": doc.doc_format, "issuing_state": doc.issuing_state,
                           "number": doc.number, "line": self.line})
            truth = GroundTruth(t=t_read, device_id=self.device_id, event_id=ev.event_id, kind="traveller",
                                record_type="document.check",
                                alert={"clear": None, "refer": "warning", "hit": "alarm"}[verdict],
                                expect={"verdict": verdict, "reasons": reasons, "doc_format": doc.doc_format},
                                start=ev.t, detail=detail)
            yield Emission(t_read, self.device_id, (read,), reader.encode(read), truth)

    def _break_check_digit(self, doc: MrzDocument, lines: list[str]) -> tuple[list[str], str]:
        """Change one check digit (what a forger or a misprint leaves)."""
        fmt = doc.doc_format
        positions = {"TD3": [(1, 9, "number"), (1, 19, "birth_date"), (1, 27, "expiry_date"), (1, 43, "composite")],
                     "TD2": [(1, 9, "number"), (1, 19, "birth_date"), (1, 27, "expiry_date"), (1, 35, "composite")],
                     "TD1": [(0, 14, "number"), (1, 6, "birth_date"), (1, 14, "expiry_date"), (1, 29, "composite")],
                     "MRVA": [(1, 9, "number"), (1, 19, "birth_date"), (1, 27, "expiry_date")],
                     "MRVB": [(1, 9, "number"), (1, 19, "birth_date"), (1, 27, "expiry_date")]}[fmt]
        li, pos, which = self.rng.choice(positions)
        old = lines[li][pos]
        new = str((int(old) + self.rng.randint(1, 9)) % 10) if old.isdigit() else "1"
        lines[li] = lines[li][:pos] + new + lines[li][pos + 1:]
        return lines, which

    def _alter(self, doc: MrzDocument) -> tuple[list[str], str]:
        """A field changed and its own check digit recomputed: only the composite catches it
        (MRV formats have no composite: the birth date is changed without its digit)."""
        which = self.rng.choice(["expiry_date", "birth_date", "number"])
        if which == "expiry_date":
            d = dt.date(2000 + int(doc.expiry_date[:2]), int(doc.expiry_date[2:4]), 1)
            altered = replace(doc, expiry_date=_yymmdd(d.replace(year=d.year + self.rng.randint(3, 8))))
        elif which == "birth_date":
            y = (int(doc.birth_date[:2]) + self.rng.randint(1, 9)) % 100
            altered = replace(doc, birth_date=f"{y:02d}{doc.birth_date[2:]}")
        else:
            num = doc.number
            i = self.rng.randrange(1, len(num))
            altered = replace(doc, number=num[:i] + str((int(num[i]) + 1) % 10 if num[i].isdigit() else 7) + num[i + 1:])
        good = list(build_mrz(doc))
        bad = list(build_mrz(altered))
        if doc.doc_format in ("MRVA", "MRVB"):
            # No composite: the changed field keeps its original check digit.
            pos = {"number": 9, "birth_date": 19, "expiry_date": 27}[which]
            digit = good[1][pos] if good[1][pos] != bad[1][pos] else str((int(bad[1][pos]) + 1) % 10)
            bad[1] = bad[1][:pos] + digit + bad[1][pos + 1:]
            return bad, which
        # Restore the original composite digit: the changed field's digit is right, the composite is not.
        li = 1
        bad[li] = bad[li][:-1] + good[li][-1]
        if bad[li][-1] == build_mrz(altered)[li][-1]:  # the composite happened to agree
            bad[li] = bad[li][:-1] + str((int(good[li][-1]) + 1) % 10)
        return bad, which
