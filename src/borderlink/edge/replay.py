"""Replay a captured device input through the profile's framer, decoder, processor and recorder.

No device, hub or broker: the records go to a throw-away journal and come out as dicts (the
command prints them as JSON lines). Technicians use it to check a capture; tests use it too.
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from borderlink.hardware_profiles.errors import FrameDecodeError
from borderlink.hardware_profiles.protocols import decoder_for, framer_for
from borderlink.hardware_profiles.schema import Profile
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import verify_record
from borderlink.proto.record_types import default_registry

from .journal import Journal
from .processor_registry import ProcessorRegistry, default_processor_registry
from .processors.base import Processor
from .recorder import Recorded, Recorder

__all__ = ["record_json", "replay"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def record_json(item: Recorded, public_key: bytes) -> dict[str, Any]:
    """Type, body with the disclosed values (verified), seq, exact bytes (base64), signer kid."""
    signed = item.signed
    verified = verify_record(signed.raw, public_key, registry=default_registry(),
                             disclosures=signed.disclosure_bytes)
    record = verified.record
    return {
        "seq": record.seq, "type": record.record_type, "time_ms": record.time_ms,
        "agency": record.agency, "alert": str(item.alert) if item.alert else None,
        "body": _jsonable(verified.body),
        "record_b64": base64.b64encode(signed.raw).decode(),
        "disclosures_b64": [base64.b64encode(d).decode() for d in signed.disclosure_bytes],
        "kid": (record.kid or b"").hex(),
    }


def replay(profile: Profile, data: bytes, *, key: SigningKey, node_id: str = "replay",
           site: str = "REPLAY", unit_id: str = "", chunk_bytes: int = 4096,
           processor: Processor | None = None, processors: ProcessorRegistry | None = None,
           stats: dict[str, int] | None = None) -> Iterator[dict[str, Any]]:
    """Yield each record made from *data* as :func:`record_json` does, in sequence order."""
    if processor is None:
        processor = (processors or default_processor_registry()).build(
            profile, {"node_seed": key.seed})
    decoder = decoder_for(profile, unit_id=unit_id)
    stats = stats if stats is not None else {}
    stats.update(frames=0, readings=0, undecodable=0)
    with tempfile.TemporaryDirectory(prefix="borderlink-replay-") as tmp:
        journal = Journal.open(Path(tmp) / "journal.db")
        try:
            recorder = Recorder.for_journal(key, journal, node_id=node_id, site=site,
                                            registry=default_registry())
            if profile.transport.scheme == "file":
                frames: Iterator[bytes] = iter((data,))
            else:
                framer = framer_for(profile.framing.protocol, profile.framing.max_frame_bytes)
                frames = (f for i in range(0, max(len(data), 1), chunk_bytes)
                          for f in framer.feed(data[i:i + chunk_bytes]))
            last_t = None
            for frame in frames:
                stats["frames"] += 1
                try:
                    readings = decoder.decode(frame)
                except FrameDecodeError:
                    stats["undecodable"] += 1
                    continue
                for reading in readings:
                    stats["readings"] += 1
                    for item in recorder.record_many(processor.feed(reading)):
                        yield record_json(item, key.public)
                    t = getattr(reading, "t", None)
                    if isinstance(t, (int, float)):
                        last_t = float(t)
                        for item in recorder.record_many(processor.tick(last_t)):
                            yield record_json(item, key.public)
            if last_t is not None:  # let time-based logic close what is open
                for item in recorder.record_many(processor.tick(last_t + 10.0)):
                    yield record_json(item, key.public)
        finally:
            journal.close()
