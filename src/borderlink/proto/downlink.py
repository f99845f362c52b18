"""The signed form of a downlink item (the contract between an issuer's tool and the node).

A downlink item is a COSE_Sign1 (Ed25519) by its *issuer* (an agency's or the operator's
downlink key) over the deterministic CBOR map::

    {"kind": "watchlist" | "config" | "firmware", "version": uint, "target": text,
     "issuer": text, "content": any}

The node verifies it (``borderlink.edge.downlink``); the hub only carries it. Issuing tools
(a watchlist export, ``borderlink firmware offer``) sign with :func:`sign_downlink`.
"""

from __future__ import annotations

from typing import Any

import cbor2

from .cose import sign1
from .keys import SigningKey

__all__ = ["DOWNLINK_KINDS", "downlink_payload", "sign_downlink"]

#: DownlinkKind enum value (sync.proto) <-> name.
DOWNLINK_KINDS = {1: "watchlist", 2: "config", 3: "firmware"}


def downlink_payload(*, kind: str, version: int, target: str, issuer: str,
                     content: Any) -> bytes:
    """The canonical bytes an issuer signs."""
    if kind not in DOWNLINK_KINDS.values():
        raise ValueError(f"unknown downlink kind {kind!r}; known: "
                         f"{', '.join(DOWNLINK_KINDS.values())}")
    return cbor2.dumps({"kind": kind, "version": version, "target": target,
                        "issuer": issuer, "content": content}, canonical=True)


def sign_downlink(key: SigningKey, *, kind: str, version: int, target: str, issuer: str,
                  content: Any) -> bytes:
    """Sign a downlink item as its issuer."""
    return sign1(downlink_payload(kind=kind, version=version, target=target, issuer=issuer,
                                  content=content), key)
