"""A verified watchlist downlink reaches the document processor, atomically, and survives a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from borderlink.edge.agent import _downlink_hook, _restore_downlinks
from borderlink.edge.downlink import DownlinkStore, DownlinkVerifier, sign_downlink
from borderlink.edge.errors import DownlinkError
from borderlink.edge.journal import Journal
from borderlink.edge.processor_registry import default_processor_registry
from borderlink.edge.uplink import TlsMaterial, Uplink, UplinkConfig
from borderlink.hardware_profiles.loader import DATA_DIR, load_profile
from borderlink.hardware_profiles.readings import MrzRead
from borderlink.proto.keys import SigningKey

SPECIMEN = MrzRead(lines=("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                          "L898902C36UTO7408122F1204159ZE184226B<<<<<10"),
                   uv_ok=True, ir_ok=True, t=1_000_000_000.0, reader_id="R1")


def _watchlist_with(number: str, version: int) -> dict:
    data = json.loads((DATA_DIR / "watchlist.json").read_text("utf-8"))
    data["version"] = version
    data["documents"].append({"number": number, "issuing_state": "UTO", "document_type": "P",
                              "status": "stolen", "reported": "2000-01-01",
                              "reporting_agency": "SMS"})
    return data


def test_a_signed_watchlist_replaces_the_readers_index_and_is_restored(tmp_path: Path) -> None:
    sms = SigningKey.generate()
    profile = load_profile("docreader-first-line")
    registry = default_processor_registry()
    options = {"node_seed": b"n" * 32}
    processor = registry.build(profile, options)
    before = processor.feed(SPECIMEN)[0].body["reasons"]
    assert "watchlist_document" not in before

    verifier = DownlinkVerifier({"watchlist": {"SMS": sms.public}}, node_id="dr1", site="S")
    hook = _downlink_hook(registry, profile, processor, options)
    signed = sign_downlink(sms, kind="watchlist", version=2, target="dr1", issuer="SMS",
                           content=_watchlist_with("L898902C3", 2))
    item = verifier.verify("watchlist", 2, signed, "dr1", 0)
    swap = hook(item)
    assert swap is not None
    assert "watchlist_document" not in processor.feed(SPECIMEN)[0].body["reasons"]  # not yet
    swap()
    assert "watchlist_document" in processor.feed(SPECIMEN)[0].body["reasons"]

    # Content that does not fit the processor is refused before anything is applied.
    bad = sign_downlink(sms, kind="watchlist", version=3, target="dr1", issuer="SMS",
                        content={"format": "something else"})
    with pytest.raises(DownlinkError, match="not usable"):
        hook(verifier.verify("watchlist", 3, bad, "dr1", 2))

    # After a restart the held item is verified again and handed to the new processor.
    with Journal.open(tmp_path / "j.db") as journal:
        store = DownlinkStore(tmp_path / "dl", journal)
        store.apply(item)
        fresh = registry.build(profile, options)
        up = Uplink(UplinkConfig(("127.0.0.1:1",)), TlsMaterial(b"", b"", b""), journal,
                    node_id="dr1", verifier=verifier, store=store)
        _restore_downlinks(up, _downlink_hook(registry, profile, fresh, options))
        assert "watchlist_document" in fresh.feed(SPECIMEN)[0].body["reasons"]
        # A held file someone altered is not used.
        store.path("watchlist").write_bytes(signed[:-1] + bytes([signed[-1] ^ 1]))
        other = registry.build(profile, options)
        _restore_downlinks(up, _downlink_hook(registry, profile, other, options))
        assert "watchlist_document" not in other.feed(SPECIMEN)[0].body["reasons"]
