"""Transliteration-aware name keys and similarity for watchlist matching (pure code).

One person's surname reaches the border in many spellings: Azerbaijani Latin (Məmmədov),
its ICAO MRZ transliteration (MAMMADOV, or MAMMEDOV), the English romanisation (MAMMADOV),
the Russian form (Мамедов, MAMEDOV), colloquial MAMADOV. :func:`fold` turns any of them into
upper-case ASCII; :func:`skeleton` reduces it to a coarse phonetic key used for *blocking*
(looking up candidates in an index); :func:`fine_key` keeps more of the name for *scoring*
with :func:`name_similarity` (Jaro-Winkler and Levenshtein).

Rewrite rules, applied in this order (they are the documented contract of the keys):

1. **Fold** (:func:`fold`): Azerbaijani letters ``Ə→A Ü→U Ö→O Ğ→GH Ç→CH Ş→SH İ/ı→I``;
   Russian and Azerbaijani Cyrillic by the ICAO 9303 Part 3 §6 table (``Х→KH Ж→ZH Ч→CH
   Ш→SH Щ→SHCH Ц→TS Й→I Ю→IU Я→IA``, ``Ъ Ь`` dropped, ``Ә→A Ғ→GH Ҹ→J Һ→H Ү→U Ө→O Ј→Y``);
   other Latin letters lose their diacritics (NFKD); MRZ fillers, hyphens, apostrophes
   and digits become spaces.
2. **Long vowels and umlauts**: English/French-style ``EE→I OO OU→U`` (Persian ALEE = ALI,
   MOUSAVI = MUSAVI); ICAO ``UE OE AE`` after a consonant → ``U O A`` (9303 writes Ü as UE:
   HUESEYNOV = HUSEYNOV).
3. **Consonant classes** (both keys): ``SHCH→S``, ``DZH DJ ZH CH C J→J`` (Azerbaijani
   ``C`` is /dʒ/, ``Ç`` /tʃ/: English JAFAROV, MRZ CAFAROV, Russian DZHAFAROV are one name),
   ``SH→S``, ``KH X GH Q G H→H`` (Azerbaijani ``X``/``Q``/``Ğ``/``H`` against Russian
   ``Х``/``Г``: HUSEYNOV = GUSEINOV, QULIYEV = GULIYEV), ``PH F W→V`` (so ``-OV -EV -OF
   -OFF -EFF`` end alike), ``Y→I``. The skeleton also merges ``K`` into ``H`` (Russian
   КУЛИЕВ for Quliyev); the fine key keeps ``K``.
4. **Vowels**: the skeleton keeps only a leading vowel, as ``A`` (Əliyev/Aliyev/Aliev →
   ``ALV``), and drops the others; the fine key keeps vowel classes ``A E→A``, ``I→I``,
   ``O U→U``, and drops an ``I`` between two of them (the glide: RZAYEV = RZAEV).
5. **Doubles**: runs of one letter collapse (MAMMADOV → MAMADUV / ``MDV``).

Spaces separate name components; the skeleton of a multi-part surname joins its parts.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "fine_key",
    "fold",
    "jaro_winkler",
    "levenshtein_similarity",
    "name_similarity",
    "skeleton",
    "word_similarity",
]

_AZ = {
    "Ə": "A", "ə": "A", "Ü": "U", "ü": "U", "Ö": "O", "ö": "O", "Ğ": "GH", "ğ": "GH",
    "Ç": "CH", "ç": "CH", "Ş": "SH", "ş": "SH", "İ": "I", "ı": "I", "I": "I",
}
_CYRILLIC = {
    "А": "A", "Б": "B", "В": "V", "Г": "G", "Д": "D", "Е": "E", "Ё": "E", "Ж": "ZH", "З": "Z",
    "И": "I", "Й": "I", "К": "K", "Л": "L", "М": "M", "Н": "N", "О": "O", "П": "P", "Р": "R",
    "С": "S", "Т": "T", "У": "U", "Ф": "F", "Х": "KH", "Ц": "TS", "Ч": "CH", "Ш": "SH",
    "Щ": "SHCH", "Ъ": "", "Ы": "Y", "Ь": "", "Э": "E", "Ю": "IU", "Я": "IA",
    "Ә": "A", "Ғ": "GH", "Ҹ": "J", "Һ": "H", "Ү": "U", "Ө": "O", "Ј": "Y", "Ҝ": "G",
}
_TABLE = {ord(k): v for k, v in _AZ.items()}
_TABLE.update({ord(k): v for k, v in _CYRILLIC.items() if len(k) == 1})
_TABLE.update({ord(k.lower()): v for k, v in _CYRILLIC.items() if len(k) == 1})
_NON_ALPHA = re.compile(r"[^A-Z]+")

# Consonant classes, longest first (one regex pass, so rewrites never chain).
_MULTI = [("SHCH", "S"), ("DZH", "J"), ("DJ", "J"), ("ZH", "J"), ("CH", "J"), ("SH", "S"),
          ("KH", "H"), ("GH", "H"), ("PH", "V")]
_SINGLE = {"C": "J", "X": "H", "Q": "H", "G": "H", "F": "V", "W": "V", "Y": "I"}
_REWRITE = re.compile("|".join(a for a, _ in _MULTI) + "|[" + "".join(_SINGLE) + "]")
_MAP = dict(_MULTI) | _SINGLE
_FINE_VOWELS = str.maketrans({"E": "A", "O": "U"})
_VOWELS = frozenset("AEIOU")


@lru_cache(maxsize=65536)
def fold(name: str) -> str:
    """Upper-case ASCII letters and single spaces (rule 1)."""
    text = name.translate(_TABLE).upper()
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(_NON_ALPHA.sub(" ", text).split())


def _collapse(text: str) -> str:
    out = []
    last = ""
    for char in text:
        if char != last:
            out.append(char)
            last = char
    return "".join(out)


_GLIDE = re.compile(r"(?<=[AU])I(?=[AU])")  # RZAYEV = RZAEV, MUSAYEV = MUSAEV
_UMLAUT = re.compile(r"(?<=[^AEIOU])([UOA])E")


def _classes(word: str) -> str:
    word = word.replace("EE", "I").replace("OO", "U").replace("OU", "U")
    word = _UMLAUT.sub(r"\1", word)
    return _REWRITE.sub(lambda m: _MAP[m.group(0)], word)


@lru_cache(maxsize=65536)
def fine_key(name: str) -> str:
    """The scoring key: rules 1-3 (``K`` kept), vowel classes and doubles collapsed."""
    words = fold(name).split()
    return " ".join(_collapse(_GLIDE.sub("", _collapse(_classes(w).translate(_FINE_VOWELS))))
                    for w in words)


@lru_cache(maxsize=65536)
def skeleton(name: str) -> str:
    """The blocking key: rules 1-5, consonants only but a leading vowel (as ``A``)."""
    word = _classes(fold(name).replace(" ", "")).replace("K", "H")
    if not word:
        return ""
    head = "A" if word[0] in _VOWELS else word[0]
    return _collapse(head + "".join(c for c in word[1:] if c not in _VOWELS))


def jaro_winkler(a: str, b: str, prefix_scale: float = 0.1) -> float:
    """Jaro-Winkler similarity of two strings, 0.0 .. 1.0 (Winkler 1990, prefix <= 4)."""
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    window = max(la, lb) // 2 - 1
    window = max(window, 0)
    matched_b = [False] * lb
    a_matches = []
    for i, char in enumerate(a):
        lo = i - window if i > window else 0
        hi = min(lb, i + window + 1)
        for j in range(lo, hi):
            if not matched_b[j] and b[j] == char:
                matched_b[j] = True
                a_matches.append(char)
                break
    m = len(a_matches)
    if not m:
        return 0.0
    b_matches = [b[j] for j in range(lb) if matched_b[j]]
    transpositions = sum(1 for x, y in zip(a_matches, b_matches) if x != y) // 2
    jaro = (m / la + m / lb + (m - transpositions) / m) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4]):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * prefix_scale * (1 - jaro)


def levenshtein_similarity(a: str, b: str) -> float:
    """``1 - edit distance / longer length`` (Levenshtein, unit costs), 0.0 .. 1.0."""
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    previous = list(range(lb + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[lb] / max(la, lb)


def word_similarity(a: str, b: str) -> float:
    """The mean of Jaro-Winkler and Levenshtein similarity: JW rewards a shared prefix and
    shared letters, Levenshtein penalises each edit; their mean separates short given names
    (RUVSAN/RUSLAN 0.79) better than either alone while variants of one name stay >= 0.9."""
    if a == b:
        return 1.0
    return (jaro_winkler(a, b) + levenshtein_similarity(a, b)) / 2


def name_similarity(read: str, listed: str) -> float:
    """Similarity of two fine keys: whole-name Jaro-Winkler, or the best word-set alignment.

    A read name with extra components (a second given name, a patronymic) still matches a
    listed name of fewer components: each listed word is matched to its best read word.
    """
    if read == listed:
        return 1.0
    whole = word_similarity(read, listed)
    read_words, listed_words = read.split(), listed.split()
    if len(read_words) == 1 and len(listed_words) == 1:
        return whole
    if not read_words or not listed_words:
        return whole
    per_word = sum(max(word_similarity(w, r) for r in read_words) for w in listed_words)
    return max(whole, per_word / len(listed_words))
