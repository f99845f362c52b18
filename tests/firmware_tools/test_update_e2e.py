"""A firmware update end to end, every part real: a hub process (``borderlink hub serve``), a
node under ``borderlink firmware supervise`` running ``borderlink edge run``, a technician's
``borderlink firmware offer``, gRPC over mutual TLS on loopback. The release installed is the
borderlink under test repacked as 0.2.0 (``borderlink.demo.firmware``): it must start, record
and reach the hub to be committed. Bad offers are refused by the node with a reason that
reaches the hub as a signed record, and the running release keeps running."""

from __future__ import annotations

import time
from pathlib import Path

from borderlink.firmware_tools.manifest import Image
from borderlink.proto.keys import SigningKey

from .fwsite import NODE, FirmwareSite, wait_for


def _step_types(site: FirmwareSite) -> list[str]:
    return [r.record_type for r in site.check_hub_chain()
            if r.record_type.startswith("node.firmware_")]


def test_offer_through_the_hub_installs_commits_and_bad_offers_are_refused(
        tmp_path: Path) -> None:
    site = FirmwareSite(tmp_path)
    try:
        site.start_hub()
        site.provision_node(health_deadline_s=25)
        site.start_supervisor()
        wait_for(lambda: site.hub_has("node.boot", software="borderlink 0.1.0"), 30,
                 "the factory agent's node.boot at the hub")

        offered = site.offer(site.image("0.2.0", 2))
        assert offered["delivered_now"] == 1  # the node was connected: sent at once
        began = time.monotonic()
        wait_for(lambda: site.hub_has("node.firmware_committed", version="0.2.0"), 40,
                 f"the commit at the hub; supervisor: {site.supervisor_log()[-2000:]}")
        took = time.monotonic() - began
        print(f"offer -> committed at the hub: {took:.1f} s")
        new_boot = site.hub_has("node.boot", software="borderlink 0.2.0")
        assert len(new_boot) == 1
        applied = site.hub_has("node.downlink_applied", kind="firmware")
        assert applied and applied[0].body["version"] == offered["downlink_version"]
        assert applied[0].seq < new_boot[0].seq  # the old agent took the offer in
        state = site.state()
        assert (state.active, state.trial, state.running_version) == ("b", None, "0.2.0")
        assert (site.slots / "b" / "lib" / "borderlink" / "__init__.py").read_text().count(
            '__version__ = "0.2.0"') == 1
        assert _step_types(site) == ["node.firmware_offered", "node.firmware_installing",
                                     "node.firmware_committed"]
        committed = site.hub_has("node.firmware_committed")[0]
        assert committed.body["previous"] == "factory" and committed.body["sequence"] == 2
        running = site.agent_pid()
        assert running is not None

        # bad offers: each refused with its reason, recorded, nothing else changes
        good3 = site.image("0.3.0", 3)
        image = Image.decode(good3)
        wheel = next(n for n in image.files if n.endswith(".whl"))
        data = bytearray(image.files[wheel])
        data[len(data) // 2] ^= 0x01  # one bit inside the wheel
        tampered = Image(image.manifest_bytes, image.envelope,
                         {**image.files, wheel: bytes(data)}).encode()
        bad = [
            (site.image("0.3.0", 3, key=SigningKey.generate()), "bad_signature_or_digest",
             "envelope"),
            (tampered, "bad_signature_or_digest", f"file {wheel!r}"),
            (site.image("0.1.9", 1), "downgrade", "sequence 1 is not above the 2"),
            (site.image("0.2.0", 2), "replay", "sequence 2 is not above the 2"),
        ]
        for n, (offer_image, reason, detail) in enumerate(bad, start=1):
            site.offer(offer_image)
            refused = wait_for(lambda n=n: (lambda got: got if len(got) >= n else None)(
                site.hub_has("node.firmware_refused")), 20,
                f"refusal {n} ({reason}) at the hub")[n - 1]
            assert refused.body["reason"] == reason, refused.body
            assert detail in refused.body["detail"], refused.body
            assert "version" in refused.body and "sequence" in refused.body
        assert site.agent_pid() == running  # the same agent process ran throughout
        state = site.state()
        assert (state.active, state.trial, state.running_version, state.highest_sequence) == (
            "b", None, "0.2.0", 2)
        assert len(site.hub_has("node.boot")) == 2  # no restart after a refusal
        assert _step_types(site) == ["node.firmware_offered", "node.firmware_installing",
                                     "node.firmware_committed"] + ["node.firmware_refused"] * 4
        assert not list((site.slots / "download").glob("*.part"))
        assert NODE in {r.node_id for r in site.hub_records()}
    finally:
        site.stop()
