"""Offer an edge-agent image to nodes through the hub's downlink (``borderlink firmware offer``).

The offer is a downlink item of kind ``firmware`` (``borderlink.proto.downlink``) signed by the
operator's downlink issuer key, which nodes trust under ``[downlink.keys.firmware]``; the hub
only carries it (Admin.PublishDownlink, an admin certificate). Its content names the image and
pins its bytes::

    {"source": "<path or file:// URL where the node fetches the image>",
     "size": <bytes>, "sha256": <32 bytes, of the whole image file>,
     "version": "<manifest version>", "sequence": <manifest sequence>}

``version`` and ``sequence`` are for people reading the downlink; the node believes only the
manifest, checked under its pinned firmware-signing key (``firmware_tools/supervisor.py``).
The offer's own signature and the image's are separate keys on purpose: the operator decides
who is offered what, the release key vouches for what the image is.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from borderlink.proto.downlink import sign_downlink
from borderlink.proto.keys import SigningKey

from .manifest import Image

__all__ = ["FirmwareOffer", "offer_content"]


def offer_content(image_bytes: bytes, source: str) -> dict[str, Any]:
    manifest = Image.decode(image_bytes).manifest
    return {"source": source, "size": len(image_bytes),
            "sha256": hashlib.sha256(image_bytes).digest(),
            "version": manifest.version, "sequence": manifest.sequence}


@dataclass(frozen=True)
class FirmwareOffer:
    """One signed firmware downlink item, ready for Admin.PublishDownlink."""

    target: str
    version: int
    signed: bytes
    content: dict[str, Any]

    @classmethod
    def make(cls, image_bytes: bytes, *, source: str, target: str, issuer: str,
             key: SigningKey, version: int | None = None) -> FirmwareOffer:
        """*version* is the downlink's (monotonic per target at the hub and at the node),
        not the release's; by default the time in milliseconds."""
        version = version if version is not None else int(time.time() * 1000)
        content = offer_content(image_bytes, source)
        signed = sign_downlink(key, kind="firmware", version=version, target=target,
                               issuer=issuer, content=content)
        return cls(target, version, signed, content)
