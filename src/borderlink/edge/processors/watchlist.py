"""A watchlist kept on the device as keyed hashes and sealed buckets (pure code, no I/O).

Agencies push watchlists as ``borderlink.watchlist.v1`` documents (see
``hardware_profiles/data/watchlist.json``): persons (native and Latin spellings, birth date,
list, action) and lost/stolen/revoked document numbers. :meth:`ProtectedWatchlist.build`
turns one into a protected index under a per-device key ``K`` (32 random bytes, held in the
node's key store, never in the watchlist file); :meth:`~ProtectedWatchlist.dumps` /
:meth:`~ProtectedWatchlist.loads` move the index without ever writing the clear list, so the
hub (or the provisioning station) can build it and the device need only hold the result.

How it is protected
-------------------
* **Documents**: the index holds ``HMAC-SHA256(K, "doc|" + number)`` truncated to 64 bits,
  ``number`` normalised (upper case, only ``A-Z 0-9``: fillers, spaces, dashes dropped). Its
  value (status, issuing state, list) is sealed with AES-256-GCM under
  ``HMAC(K, "dockey|" + number)``: the device learns it only when that number is presented.
* **Persons**: blocking keys are the phonetic :func:`~.names.skeleton` of each surname
  spelling plus the birth year; the index holds ``HMAC(K, "blk|" + skeleton + "|" + year)``
  (64 bits) and, per block, one AES-256-GCM sealed bucket under
  ``HMAC(K, "key|" + skeleton + "|" + year)`` with the entries' scoring data (fine name keys,
  birth date, list, action, category, reference). Native spellings never leave the builder.
* A lookup computes the traveller's keys, so only the buckets of the presented
  skeleton/year (and document number) are ever opened; nothing is kept decrypted.

What remains exposed
--------------------
* Without ``K`` (a stolen index file, a memory image without the key): the number of
  document tags, of persons and of person blocks, and bucket sizes. Nothing else.
* With ``K`` as well (the whole device, key included): a dictionary attack. Surname
  skeletons of a population are few (thousands) and years ~100, so an attacker enumerates
  skeleton x year pairs offline and opens every person bucket, learning the fine name keys
  (normalised names), birth dates and list data; document numbers fall to enumeration of
  their format (an ``AZE`` passport number is one letter and 8 digits: ~10^9 HMACs).
  Keyed hashing therefore protects the list at rest and against casual extraction, not
  against an attacker holding device and key with time. Keep ``K`` in a hardware key
  store where there is one, rotate it with each pushed version, and keep the native script
  and identities (``ref`` is the agency's opaque entry id) off the device, as this does.
* The matching itself leaks by design: the officer's screen shows a hit's list and score.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import WatchlistError
from .names import fine_key, name_similarity, skeleton

__all__ = [
    "PROTECTED_FORMAT",
    "WATCHLIST_FORMAT",
    "DocumentMatch",
    "PersonMatch",
    "ProtectedWatchlist",
    "normalise_document_number",
]

WATCHLIST_FORMAT = "borderlink.watchlist.v1"
PROTECTED_FORMAT = "borderlink.watchlist.protected.v1"
_US, _RS, _GS = "\x1f", "\x1e", "\x1d"  # unit, record, group separators inside a bucket
_SEXES = frozenset("MF")


def normalise_document_number(number: str) -> str:
    """Upper case, only ``A-Z 0-9`` (MRZ fillers, spaces, dashes and dots dropped)."""
    return "".join(c for c in number.upper() if c.isascii() and c.isalnum())


@dataclass(frozen=True, slots=True)
class PersonMatch:
    """A listed person whose keys agree with the traveller's. ``score`` 0..1 on names."""

    ref: str
    list_name: str
    action: str  # "hit" or "refer", the agency's instruction
    category: str
    score: float
    surname_score: float
    given_score: float
    date_agreement: str  # "exact", "swapped" (day/month), "partial" (list date incomplete)


@dataclass(frozen=True, slots=True)
class DocumentMatch:
    """A listed lost, stolen or revoked document number."""

    list_name: str
    status: str
    issuing_state: str
    document_type: str


def _tag(key: bytes, label: bytes) -> int:
    return int.from_bytes(hmac.digest(key, label, "sha256")[:8], "big")


def _sub_key(key: bytes, label: bytes) -> bytes:
    return hmac.digest(key, label, "sha256")


def _seal(key: bytes, label: bytes, nonce_label: bytes, plain: str) -> bytes:
    nonce = hmac.digest(key, b"nonce|" + nonce_label, "sha256")[:12]
    return nonce + AESGCM(_sub_key(key, label)).encrypt(nonce, plain.encode(), None)


def _open(key: bytes, label: bytes, sealed: bytes) -> str | None:
    try:
        return AESGCM(_sub_key(key, label)).decrypt(sealed[:12], sealed[12:], None).decode()
    except InvalidTag:  # a 64-bit tag collision with another block: not ours
        return None


class ProtectedWatchlist:
    """The protected index: look-ups by document number and by name + birth date.

    Build it with :meth:`build` (from a clear ``borderlink.watchlist.v1`` mapping) or
    :meth:`loads` (from :meth:`dumps` bytes); the constructor only takes the parts.
    """

    def __init__(self, *, key: bytes, list_id: str, issuer: str, version: int,
                 documents: Mapping[int, bytes], persons: Mapping[int, bytes],
                 person_count: int = 0) -> None:
        if len(key) < 16:
            raise WatchlistError("the device watchlist key must be at least 16 bytes")
        self._key = key
        self.list_id = list_id
        self.issuer = issuer
        self.version = version
        self._documents = dict(documents)
        self._persons = dict(persons)
        self.person_count = person_count  # listed persons (their blocks are what is stored)

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, watchlists: Mapping[str, Any] | Iterable[Mapping[str, Any]],
              key: bytes) -> ProtectedWatchlist:
        """Index one or several clear watchlists under the device *key*."""
        lists = [watchlists] if isinstance(watchlists, Mapping) else list(watchlists)
        if not lists:
            raise WatchlistError("no watchlist given")
        documents: dict[int, bytes] = {}
        doc_payloads: dict[str, list[str]] = {}
        blocks: dict[tuple[str, str], list[str]] = {}
        person_count = 0
        for data in lists:
            if data.get("format") != WATCHLIST_FORMAT:
                raise WatchlistError(
                    f"watchlist format is {data.get('format')!r}; expected {WATCHLIST_FORMAT!r}")
            default_list = str(data.get("list_id", ""))
            for i, doc in enumerate(data.get("documents", ())):
                try:
                    number = normalise_document_number(str(doc["number"]))
                except KeyError:
                    raise WatchlistError(f"documents[{i}] has no 'number'") from None
                if not number:
                    raise WatchlistError(f"documents[{i}] has an empty number")
                doc_payloads.setdefault(number, []).append(_US.join((
                    str(doc.get("list", default_list)), str(doc.get("status", "stolen")),
                    str(doc.get("issuing_state", "")), str(doc.get("document_type", "")))))
            for i, person in enumerate(data.get("persons", ())):
                entry, block_keys = _person_entry(person, default_list, i)
                person_count += 1
                for block in block_keys:
                    blocks.setdefault(block, []).append(entry)
        version = max(int(d.get("version", 0)) for d in lists)
        vlabel = str(version).encode()
        for number, payloads in doc_payloads.items():
            label = number.encode()
            documents[_tag(key, b"doc|" + label)] = _seal(
                key, b"dockey|" + label, b"doc|" + vlabel + b"|" + label, _RS.join(payloads))
        persons: dict[int, bytes] = {}
        for (skel, year), entries in blocks.items():
            label = f"{skel}|{year}".encode()
            persons[_tag(key, b"blk|" + label)] = _seal(
                key, b"key|" + label, b"blk|" + vlabel + b"|" + label, _RS.join(entries))
        first = lists[0]
        list_id = "+".join(str(d.get("list_id", "")) for d in lists)
        return cls(key=key, list_id=list_id, issuer=str(first.get("issuer", "")),
                   version=version, documents=documents, persons=persons,
                   person_count=person_count)

    def dumps(self) -> bytes:
        """The protected index as CBOR (no clear names, numbers or dates in it)."""
        return cbor2.dumps({
            "format": PROTECTED_FORMAT, "list_id": self.list_id, "issuer": self.issuer,
            "version": self.version, "key_check": _tag(self._key, b"key-check"),
            "documents": self._documents, "persons": self._persons,
            "person_count": self.person_count,
        }, canonical=True)

    @classmethod
    def loads(cls, blob: bytes, key: bytes) -> ProtectedWatchlist:
        """Load :meth:`dumps` bytes; :class:`WatchlistError` if *key* is not the one used."""
        try:
            data = cbor2.loads(blob)
        except Exception as exc:  # cbor2 raises several decode error types
            raise WatchlistError(f"protected watchlist does not decode: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != PROTECTED_FORMAT:
            raise WatchlistError(f"not a {PROTECTED_FORMAT} blob")
        if data.get("key_check") != _tag(key, b"key-check"):
            raise WatchlistError("the protected watchlist was built under another device key")
        return cls(key=key, list_id=data["list_id"], issuer=data["issuer"],
                   version=data["version"], documents=data["documents"],
                   persons=data["persons"], person_count=int(data.get("person_count", 0)))

    # ------------------------------------------------------------------ look-ups
    @property
    def document_count(self) -> int:
        return len(self._documents)

    @property
    def block_count(self) -> int:
        return len(self._persons)

    def check_document(self, number: str) -> list[DocumentMatch]:
        """Listed entries for a document number (exact after normalisation)."""
        label = normalise_document_number(number).encode()
        sealed = self._documents.get(_tag(self._key, b"doc|" + label))
        if sealed is None:
            return []
        plain = _open(self._key, b"dockey|" + label, sealed)
        if plain is None:
            return []
        return [DocumentMatch(*payload.split(_US)) for payload in plain.split(_RS)]

    def match_person(self, surname: str, given_names: str, birth: dt.date | str | None,
                     min_score: float, sex: str = "") -> list[PersonMatch]:
        """Listed persons in the traveller's block whose birth date agrees, best first.

        *birth* is a date, or a partial ``YYYY-MM-DD`` text with ``00`` for unknown parts.
        Only entries whose birth date agrees (exactly, day/month swapped, or the list's
        date is partial) and whose sex does not contradict *sex* (both ``M``/``F``) are scored; ``score`` = 0.6 surname + 0.4 given names similarity
        (:func:`~.names.name_similarity` on fine keys; 1.0 for given names when the list has
        none). Entries below *min_score* are left out.
        """
        if birth is None:
            return []
        birth_text = birth.isoformat() if isinstance(birth, dt.date) else birth
        year = birth_text[:4]
        if not year.isdigit():
            return []
        skel = skeleton(surname)
        if not skel:
            return []
        label = f"{skel}|{year}".encode()
        sealed = self._persons.get(_tag(self._key, b"blk|" + label))
        if sealed is None:
            return []
        plain = _open(self._key, b"key|" + label, sealed)
        if plain is None:
            return []
        swapped = f"{year}-{birth_text[8:10]}-{birth_text[5:7]}"
        read_surname = fine_key(surname)
        read_given = fine_key(given_names)
        matches = []
        seen = set()
        for entry in plain.split(_RS):
            ref, list_name, action, category, date, listed_sex, surnames, givens = \
                entry.split(_US)
            if sex in _SEXES and listed_sex in _SEXES and sex != listed_sex:
                continue
            if _partial_agrees(date, birth_text):
                agreement = "partial"
            elif date == birth_text:
                agreement = "exact"
            elif date == swapped:
                agreement = "swapped"
            else:
                continue
            if ref in seen:
                continue
            s_score = max(name_similarity(read_surname, k) for k in surnames.split(_GS))
            if givens:
                g_score = max(name_similarity(read_given, k) for k in givens.split(_GS))
            else:
                g_score = 1.0
            score = 0.6 * s_score + 0.4 * g_score
            if score >= min_score:
                seen.add(ref)
                matches.append(PersonMatch(ref, list_name, action, category, round(score, 4),
                                           round(s_score, 4), round(g_score, 4), agreement))
        matches.sort(key=lambda m: -m.score)
        return matches


def _partial_agrees(a: str, b: str) -> bool:
    """Same year and, where both know it, the same month (``00`` = unknown part)."""
    if "-00" not in a and "-00" not in b:
        return False
    if a[5:7] == "00" or b[5:7] == "00":
        return True
    return a[5:7] == b[5:7]


def _person_entry(person: Mapping[str, Any], default_list: str,
                  index: int) -> tuple[str, set[tuple[str, str]]]:
    try:
        birth = str(person["birth_date"])
    except KeyError:
        raise WatchlistError(f"persons[{index}] has no 'birth_date'") from None
    if len(birth) != 10 or not birth[:4].isdigit():
        raise WatchlistError(f"persons[{index}] birth_date {birth!r} is not YYYY-MM-DD")
    surnames = [str(person[k]) for k in ("surname", "surname_latin") if person.get(k)]
    surnames += [str(a) for a in person.get("surname_aliases", ())]
    givens = [str(person[k]) for k in ("given_names", "given_names_latin") if person.get(k)]
    givens += [str(a) for a in person.get("given_names_aliases", ())]
    if not surnames:
        raise WatchlistError(f"persons[{index}] has no surname")
    surname_keys = sorted({fine_key(s) for s in surnames} - {""})
    given_keys = sorted({fine_key(g) for g in givens} - {""})
    entry = _US.join((
        str(person.get("id", f"#{index}")), str(person.get("list", default_list)),
        str(person.get("action", "hit")), str(person.get("category", "")), birth,
        str(person.get("sex", "")), _GS.join(surname_keys), _GS.join(given_keys)))
    blocks = {(skeleton(s), birth[:4]) for s in surnames} - {("", birth[:4])}
    return entry, blocks
