"""Make the negative test vectors of docs/record-contract.md §8 (docs/examples/negative-vectors.json).

Each vector is a record a strict verifier must refuse (or, for the few marked ``accept``, must
take), signed with a *valid* signature wherever the point is something other than the signature:
a verifier that only checks signatures accepts them all, which is exactly what they are for.
Other-language verifiers run their decoder over every vector and compare the verdict.

Deterministic, like make_examples.py: the published test key (seed 32 x 0x07, never use it in the
field), fixed times, salts from a counter. ``tests/proto/test_negative_vectors.py`` checks that the
JSON file is what this prints and that the reference verifier gives every verdict.
Run: ``python docs/examples/make_negative_vectors.py > docs/examples/negative-vectors.json``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import cbor2

from borderlink.proto.cose import sig_structure
from borderlink.proto.keys import SigningKey, key_id
from borderlink.proto.record import GENESIS_PREV, ClockQuality, SignedRecord, make_record
from borderlink.proto.record_types import default_registry

TEST_SEED = bytes([7]) * 32
OTHER_SEED = bytes([8]) * 32

# The fields of the worked example's first record (a radiation alarm), by payload label.
NODE, SITE, TYPE, AGENCY = "az-bil-rpm-01", "AZ-BIL", "radiation.alarm", "SCC"
TIME_MS = 1795000000000


def dumps(value: object) -> bytes:
    return cbor2.dumps(value, canonical=True)


def head(major: int, value: int) -> bytes:
    """The shortest CBOR head of *major* type with argument *value*."""
    if value < 24:
        return bytes([major << 5 | value])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | info]) + value.to_bytes(size, "big")
    raise ValueError(value)


@dataclass
class Payload:
    """A record payload as (key bytes, value bytes) pairs, so a vector can bend one of them."""

    items: list[tuple[bytes, bytes]] = field(default_factory=list)
    indefinite: bool = False

    def encode(self) -> bytes:
        inner = b"".join(k + v for k, v in self.items)
        if self.indefinite:
            return b"\xbf" + inner + b"\xff"
        return head(5, len(self.items)) + inner

    def replace(self, label: int, value_bytes: bytes) -> Payload:
        key = dumps(label)
        return Payload([(k, value_bytes if k == key else v) for k, v in self.items], self.indefinite)


def body_items(sigma: bytes | None = None) -> list[tuple[bytes, bytes]]:
    body = {"kind": "gamma", "lane": "L2", "sigma": 9.5, "end_ms": 1794999999900,
            "nuisance": False, "start_ms": 1794999995800, "threshold_cps": 1450.0}
    items = sorted((dumps(k), dumps(v)) for k, v in body.items())
    if sigma is not None:
        items = [(k, sigma if k == dumps("sigma") else v) for k, v in items]
    return items


def map_of(items: list[tuple[bytes, bytes]]) -> bytes:
    return head(5, len(items)) + b"".join(k + v for k, v in items)


def good_payload() -> Payload:
    digest = hashlib.sha256(b"borderlink negative vector decoy").digest()
    fields: list[tuple[int, bytes]] = [
        (1, dumps(1)), (2, dumps(NODE)), (3, dumps(1)), (4, dumps(bytes(32))),
        (5, dumps(TIME_MS)), (6, dumps(2)), (7, dumps(TYPE)), (8, dumps(AGENCY)),
        (9, dumps(SITE)), (10, map_of(body_items())), (11, dumps([digest])),
    ]
    return Payload([(dumps(label), value) for label, value in fields])


def protected(alg: int | None = -19, kid: bytes | None = None, **extra: object) -> bytes:
    header: dict[int, object] = {}
    if alg is not None:
        header[1] = alg
    if kid is not None:
        header[4] = kid
    for label, value in extra.items():
        header[int(label.lstrip("_"))] = value
    return dumps(header)


def sign1(payload: bytes, *, protected_bytes: bytes, key: SigningKey, unprotected: bytes = b"\xa0",
          tag: bytes = b"\xd2", mangle: Callable[[bytes], bytes] = lambda s: s) -> bytes:
    signature = mangle(key.sign(sig_structure(protected_bytes, payload)))
    return (tag + b"\x84" + dumps(protected_bytes) + unprotected + dumps(payload) + dumps(signature))


def vectors() -> list[dict[str, object]]:
    key, other = SigningKey(TEST_SEED), SigningKey(OTHER_SEED)
    kid = key_id(key.public)
    good = good_payload()
    prot = protected(kid=kid)

    def record(payload: bytes, **kw: object) -> bytes:
        kw.setdefault("protected_bytes", prot)
        kw.setdefault("key", key)
        return sign1(payload, **kw)  # type: ignore[arg-type]

    out: list[dict[str, object]] = []

    def add(name: str, rule: str, raw: bytes, expect: str, error: str,
            disclosures: list[bytes] | None = None) -> None:
        vector: dict[str, object] = {"name": name, "rule": rule, "expect": expect, "error": error,
                                     "public_key": key.public.hex(), "record": raw.hex()}
        if disclosures is not None:
            vector["disclosures"] = [d.hex() for d in disclosures]
        out.append(vector)

    add("valid", "the baseline every other vector bends: a deterministic record, alg -19",
        record(good.encode()), "accept", "")
    add("alg-eddsa", "§1: alg -8 (polymorphic EdDSA) is accepted for an Ed25519 key",
        record(good.encode(), protected_bytes=protected(alg=-8, kid=kid)), "accept", "")
    add("untagged", "§1: an untagged COSE_Sign1 is accepted", record(good.encode(), tag=b""),
        "accept", "")

    # -- the envelope (COSE_Sign1) -----------------------------------------------------------
    add("bad-signature", "§1: the signature does not verify (one bit flipped)",
        record(good.encode(), mangle=lambda s: bytes([s[0] ^ 1]) + s[1:]), "reject",
        "SignatureError")
    add("wrong-kid", "§1: kid is another key's thumbprint (signature itself valid)",
        record(good.encode(), protected_bytes=protected(kid=key_id(other.public))), "reject",
        "KeyIdMismatchError")
    add("alg-es256", "§1: alg -7 (ES256) is not an accepted algorithm",
        record(good.encode(), protected_bytes=protected(alg=-7, kid=kid)), "reject",
        "AlgorithmError")
    add("alg-ed448", "§1: alg -53 (Ed448) is not an accepted algorithm",
        record(good.encode(), protected_bytes=protected(alg=-53, kid=kid)), "reject",
        "AlgorithmError")
    add("alg-unprotected", "§1: the algorithm only in the unprotected header",
        record(good.encode(), protected_bytes=protected(alg=None, kid=kid),
               unprotected=dumps({1: -19})), "reject", "AlgorithmError")
    add("crit-unknown", "§1: crit names a header label the verifier does not know",
        record(good.encode(), protected_bytes=protected(kid=kid, _2=[99], _99=0)), "reject",
        "AlgorithmError")
    add("wrong-tag", "§1: tag 98 (COSE_Sign), not 18", record(good.encode(), tag=b"\xd8\x62"),
        "reject", "Sign1DecodeError")
    add("trailing-bytes", "§1: bytes after the message", record(good.encode()) + b"\x00", "reject",
        "Sign1DecodeError")
    add("oversized", "§1: a whole message over 65,536 bytes",
        record(good.replace(10, map_of(body_items() + [(dumps("pad"), dumps("x" * 66000))]))
               .encode()), "reject", "Sign1DecodeError")

    # -- deterministic encoding of the payload (§2) ----------------------------------------
    add("nonshortest-int", "§2: seq 1 encoded in two bytes (0x18 0x01)",
        record(good.replace(3, b"\x18\x01").encode()), "reject", "NonDeterministicEncodingError")
    add("nonshortest-length", "§2: the node id's length head in two bytes",
        record(good.replace(2, b"\x78" + bytes([len(NODE)]) + NODE.encode()).encode()), "reject",
        "NonDeterministicEncodingError")
    add("nonshortest-float", "§2: sigma 9.5 as a double although a half keeps the value",
        record(good.replace(10, map_of(body_items(sigma=b"\xfb" + struct.pack(">d", 9.5))))
               .encode()), "reject", "NonDeterministicEncodingError")
    swapped = list(good.items)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    add("unsorted-keys", "§2: payload labels 3 before 2", record(Payload(swapped).encode()),
        "reject", "NonDeterministicEncodingError")
    body_swapped = body_items()
    body_swapped[0], body_swapped[1] = body_swapped[1], body_swapped[0]
    add("unsorted-body-keys", "§2: body keys out of bytewise order",
        record(good.replace(10, map_of(body_swapped)).encode()), "reject",
        "NonDeterministicEncodingError")
    add("indefinite-map", "§2: the payload map with an indefinite length",
        record(Payload(good.items, indefinite=True).encode()), "reject", "PayloadError")
    add("duplicate-key", "§2: label 9 (site) twice",
        record(Payload(good.items + [(dumps(9), dumps("AZ-XXX"))]).encode()), "reject",
        "PayloadError")

    # -- payload values (§2, §5) -----------------------------------------------------------
    add("version-2", "§2: schema version 2 is not version 1", record(good.replace(1, dumps(2)).encode()),
        "reject", "PayloadError")
    add("seq-zero", "§2: seq must be at least 1", record(good.replace(3, dumps(0)).encode()),
        "reject", "PayloadError")
    add("prev-short", "§2: prev must be 32 bytes", record(good.replace(4, dumps(bytes(31))).encode()),
        "reject", "PayloadError")
    add("time-float", "§2: time is an unsigned integer of milliseconds",
        record(good.replace(5, dumps(1795000000000.5)).encode()), "reject", "PayloadError")
    add("payload-array", "§2: the payload is an array, not a map",
        record(dumps([1, NODE])), "reject", "PayloadError")
    add("label-12", "§2: labels 12 and up belong to later schema versions: carried, not refused",
        record(Payload(good.items + [(dumps(12), dumps(0))]).encode()), "accept", "")
    add("label-0", "§2: label 0 is outside schema 1 (labels below 12 are all assigned)",
        record(Payload([(dumps(0), dumps(0))] + good.items).encode()), "reject", "PayloadError")
    add("sensitive-in-clear", "§3: a document check with the document number in the clear body",
        record(good.replace(7, dumps("document.check")).replace(8, dumps("SBS")).replace(
            10, map_of(sorted((dumps(k), dumps(v)) for k, v in {
                "line": 1, "doc_format": "TD3", "doc_code": "P", "issuing_state": "UTO",
                "nationality": "UTO", "verdict": "refer", "reasons": ["expired"],
                "document_number": "L898902C3"}.items()))).encode()),
        "reject", "PayloadError")

    # -- selective disclosure (§3) ---------------------------------------------------------
    check = document_check(key)
    disclosures = check.disclosure_bytes
    add("disclosed", "§3: a document check with all its disclosures", check.raw, "accept", "",
        disclosures)
    salt, name, _ = cbor2.loads(disclosures[0])
    forged = dumps([salt, name, "FORGED"])
    add("disclosure-forged", "§3: a disclosure whose digest is not in label 11 (value changed)",
        check.raw, "reject", "DisclosureMismatchError", [forged, *disclosures[1:]])
    add("disclosure-twice", "§3: one disclosure given twice", check.raw, "reject",
        "DisclosureMismatchError", [disclosures[0], disclosures[0]])
    return out


def document_check(key: SigningKey) -> SignedRecord:
    counter = itertools.count()

    def salts(n: int) -> bytes:
        return hashlib.sha256(b"borderlink negative vector %d" % next(counter)).digest()[:n]

    return make_record(
        key, node_id="az-bil-dr-01", seq=1, prev_hash=GENESIS_PREV, time_ms=TIME_MS,
        record_type="document.check", site=SITE, clock=ClockQuality.NTP,
        body={"line": 1, "doc_format": "TD3", "doc_code": "P", "issuing_state": "UTO",
              "nationality": "UTO", "verdict": "refer", "reasons": ["expired"],
              "surname": "ERIKSSON", "given_names": "ANNA MARIA",
              "document_number": "L898902C3", "birth_date": "1974-08-12"},
        registry=default_registry(), salt_source=salts,
    )


def render() -> str:
    doc = {
        "about": "borderlink record contract v1, negative test vectors (docs/record-contract.md §8). "
                 "Published test key: seed 32 x 0x07 — never use it in the field.",
        "vectors": vectors(),
    }
    return json.dumps(doc, indent=1) + "\n"


if __name__ == "__main__":
    print(render(), end="")
