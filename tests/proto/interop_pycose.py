"""Drive pycose (an independent COSE implementation) for the interoperability tests.

Runs in its own virtual environment (``pycose==1.1.0`` with ``cbor2<6``: pycose 1.1.0 cannot
decode with cbor2 6), never imports borderlink, and talks JSON on stdin/stdout with every
byte string in hex:

    stdin:  [{"op": "verify", "message": HEX, "x": HEX} | {"op": "verify", "message": HEX,
              "cose_key": HEX} | {"op": "sign", "seed": HEX, "payload": HEX, "alg": -8,
              "tagged": true, "kid": HEX, "kid_where": "protected"|"unprotected",
              "extra": false}, ...]
    stdout: [{"ok": bool, "alg": int, "payload": HEX, "error": str} | {"message": HEX}, ...]

``--teach-ed25519`` registers COSE algorithm -19 (Ed25519, RFC 9864), which pycose 1.1.0
does not know, as a subclass of pycose's own EdDSA (-8) restricted to the Ed25519 curve:
it teaches pycose the fully-specified identifier and changes nothing else — signing and
verification are pycose's EdDSA code (through ``cryptography``), the Sig_structure and
header handling are pycose's.
"""

from __future__ import annotations

import json
import sys

import cbor2
from pycose import headers
from pycose.algorithms import CoseAlgorithm, EdDSA
from pycose.keys import CoseKey
from pycose.keys.curves import Ed25519 as Ed25519Curve
from pycose.keys.okp import OKPKey
from pycose.messages import Sign1Message


def teach_ed25519() -> None:
    @CoseAlgorithm.register_attribute()
    class Ed25519(EdDSA):
        """RFC 9864 fully-specified Ed25519: pycose's EdDSA, only with an Ed25519 key."""

        identifier = -19
        fullname = "ED25519"

        @classmethod
        def _check(cls, key: OKPKey) -> None:
            if key.crv.fullname != "ED25519":
                raise ValueError(f"alg -19 needs an Ed25519 key, got {key.crv.fullname}")

        @classmethod
        def sign(cls, key, data: bytes) -> bytes:
            cls._check(key)
            return super().sign(key, data)

        @classmethod
        def verify(cls, key, data: bytes, signature: bytes) -> bool:
            cls._check(key)
            return super().verify(key, data, signature)


def _decode(message: bytes) -> Sign1Message:
    item = cbor2.loads(message)
    if isinstance(item, cbor2.CBORTag):
        return Sign1Message.decode(message)
    # pycose's decode() wants the tag; an untagged COSE_Sign1 is the same array.
    return Sign1Message.from_cose_obj(list(item), True)


def verify(request: dict) -> dict:
    try:
        msg = _decode(bytes.fromhex(request["message"]))
        if request.get("cose_key"):
            msg.key = CoseKey.decode(bytes.fromhex(request["cose_key"]))
        else:
            msg.key = OKPKey(crv=Ed25519Curve, x=bytes.fromhex(request["x"]))
        alg = msg.get_attr(headers.Algorithm)
        ok = bool(msg.verify_signature())
        return {"ok": ok, "alg": getattr(alg, "identifier", alg), "payload": msg.payload.hex()}
    except Exception as exc:  # noqa: BLE001 - reported to the test, which asserts on it
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def sign(request: dict) -> dict:
    alg = CoseAlgorithm.from_id(request["alg"])
    phdr: dict = {headers.Algorithm: alg}
    uhdr: dict = {}
    if request.get("kid"):
        where = phdr if request.get("kid_where", "protected") == "protected" else uhdr
        where[headers.KID] = bytes.fromhex(request["kid"])
    if request.get("extra"):
        phdr[headers.ContentType] = "application/cbor"
        phdr[headers.Critical] = [headers.ContentType.identifier]
        uhdr[99] = "unprotected note"  # a private-use label the verifier need not know
    msg = Sign1Message(phdr=phdr, uhdr=uhdr, payload=bytes.fromhex(request["payload"]))
    msg.key = OKPKey(crv=Ed25519Curve, d=bytes.fromhex(request["seed"]))
    return {"message": msg.encode(tag=request.get("tagged", True)).hex()}


def main() -> int:
    if "--teach-ed25519" in sys.argv[1:]:
        teach_ed25519()
    requests = json.load(sys.stdin)
    ops = {"verify": verify, "sign": sign}
    json.dump([ops[r["op"]](r) for r in requests], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
