"""A watchlist or config downlink not signed by its own issuer is refused by the node.

Each kind trusts its own issuers only: a key trusted for config items cannot sign a watchlist
(and the reverse), a trusted key cannot name another issuer, a rogue key, a changed byte or an
unsigned item are refused; the genuine item of each kind verifies, so each refusal can only come
from what was changed.
"""

from __future__ import annotations

import cbor2
import pytest

from borderlink.edge.downlink import DownlinkVerifier, sign_downlink
from borderlink.edge.errors import DownlinkVerificationError
from borderlink.proto.keys import SigningKey

SMS, SCC, ROGUE = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
#: The watchlist is SMS's, the configuration SCC's.
ISSUERS = {"watchlist": ("SMS", SMS), "config": ("SCC", SCC)}
VERIFIER = DownlinkVerifier({"watchlist": {"SMS": SMS.public}, "config": {"SCC": SCC.public}},
                            node_id="bil-doc-01", site="AZ-BIL")


def _signed(kind: str, key: SigningKey, issuer: str) -> bytes:
    return sign_downlink(key, kind=kind, version=2, target="*", issuer=issuer,
                         content={"entries": ["x"]})


def _forgeries(kind: str) -> dict[str, tuple[bytes, str]]:
    issuer, key = ISSUERS[kind]
    other_kind = "config" if kind == "watchlist" else "watchlist"
    other_issuer, other_key = ISSUERS[other_kind]
    genuine = bytearray(_signed(kind, key, issuer))
    genuine[-70] ^= 0x01  # inside the payload or the signature: either way it must not verify
    return {
        "rogue key": (_signed(kind, ROGUE, issuer), "not a trusted"),
        "the other kind's issuer key": (_signed(kind, other_key, other_issuer), "not a trusted"),
        "trusted key naming another issuer": (_signed(kind, key, other_issuer), "names issuer"),
        "one byte changed": (bytes(genuine), "does not verify|not a COSE_Sign1|signed item"),
        "unsigned": (cbor2.dumps({"kind": kind, "version": 2, "target": "*", "issuer": issuer,
                                  "content": {"entries": ["x"]}}), "not a COSE_Sign1"),
    }


@pytest.mark.parametrize("kind", list(ISSUERS))
def test_the_genuine_item_of_each_kind_verifies(kind: str) -> None:
    issuer, key = ISSUERS[kind]
    item = VERIFIER.verify(kind, 2, _signed(kind, key, issuer), "*", held_version=1)
    assert (item.issuer, item.content) == (issuer, {"entries": ["x"]})


@pytest.mark.parametrize("forgery", list(_forgeries("watchlist")))
@pytest.mark.parametrize("kind", list(ISSUERS))
def test_an_item_not_signed_by_its_issuer_is_refused(kind: str, forgery: str) -> None:
    signed, reason = _forgeries(kind)[forgery]
    with pytest.raises(DownlinkVerificationError, match=reason):
        VERIFIER.verify(kind, 2, signed, "*", held_version=1)
