"""A record with the disclosures that travel beside it, as one CBOR item for files and bundles.

On gRPC the pair is the ``Envelope`` message (``v1/common.proto``); on disk it is the CBOR
array ``[record: bstr, disclosures: [* bstr]]`` — both carry the record's exact bytes, so
either converts to the other without touching a signature.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import cbor2

from .errors import RecordDecodeError

MAX_DISCLOSURES = 64


@dataclass(frozen=True, slots=True)
class RecordEnvelope:
    record: bytes
    disclosures: tuple[bytes, ...] = ()


def encode_envelope(record: bytes, disclosures: Sequence[bytes] = ()) -> bytes:
    return cbor2.dumps([record, list(disclosures)])


def decode_record_file(data: bytes) -> RecordEnvelope:
    """A record file: a bare COSE_Sign1 (tagged or not), or an envelope array."""
    try:
        decoder = cbor2.CBORDecoder(
            io.BytesIO(data), allow_indefinite=False, allow_duplicate_keys=False, max_depth=16
        )
        item = decoder.decode()
        trailing = len(data) - decoder.fp.tell()
    except (cbor2.CBORDecodeError, ValueError) as exc:
        raise RecordDecodeError(f"not well-formed CBOR: {exc}") from exc
    if trailing:
        raise RecordDecodeError(f"{trailing} bytes follow the CBOR item")
    if (
        isinstance(item, (list, tuple))
        and len(item) == 2
        and isinstance(item[0], bytes)
        and isinstance(item[1], (list, tuple))
    ):
        disclosures = item[1]
        if len(disclosures) > MAX_DISCLOSURES or not all(isinstance(d, bytes) for d in disclosures):
            raise RecordDecodeError(
                f"an envelope holds at most {MAX_DISCLOSURES} disclosures, each a byte string"
            )
        return RecordEnvelope(item[0], tuple(disclosures))
    return RecordEnvelope(data)
