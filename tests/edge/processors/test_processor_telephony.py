"""The telephony / IP unit processor: outages, degradation, call records, simulated days."""

from __future__ import annotations

import random

import pytest

from borderlink.edge.errors import ProcessorError
from borderlink.edge.processors.base import AlertLevel
from borderlink.edge.processors.telephony import TelephonyConfig, TelephonyProcessor
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.readings import CallDetailRecord, LinkStatus
from borderlink.proto.record_types import default_registry

REGISTRY = default_registry()
T0 = 1_795_000_000.0


def lnk(t, state="up", latency=20.0, loss=0.0, link="WAN1", exchange="BIL-PBX"):
    return LinkStatus(t=t, exchange_id=exchange, link_id=link, state=state, latency_ms=latency,
                      loss_pct=loss, jitter_ms=2.0)


def run(proc, items):
    """Feed readings; a float in *items* is a tick at that time."""
    out = []
    for item in items:
        decisions = proc.tick(item) if isinstance(item, float) else proc.feed(item)
        for d in decisions:
            REGISTRY[d.record_type].validate(d.body)
            out.append(d)
    return out


def states(decisions):
    return [d.body["state"] for d in decisions if d.record_type == "link.status"]


def test_steady_link_records_nothing_and_a_link_found_down_is_recorded():
    proc = TelephonyProcessor(TelephonyConfig())
    items = []
    for i in range(100):
        items += [lnk(T0 + 5 * i), T0 + 5 * i + 2.5]
    assert run(proc, items) == []
    assert proc.link_state("BIL-PBX/WAN1") == "up"
    out = run(proc, [lnk(T0, "down", None, 100.0, link="E1")])
    assert states(out) == ["down"] and out[0].alert == AlertLevel.ALARM
    assert out[0].body == {"link": "E1", "state": "down", "since_ms": int(T0 * 1000),
                           "loss_pct": 100.0}


def test_reported_down_is_immediate_and_recovery_carries_the_outage():
    proc = TelephonyProcessor(TelephonyConfig())
    out = run(proc, [lnk(T0), lnk(T0 + 5, "down", None, None), lnk(T0 + 10, "down", None, None),
                     lnk(T0 + 35)])
    assert states(out) == ["down", "up"]
    down, up = out[0], out[1]
    assert down.alert == AlertLevel.ALARM and down.t == T0 + 5
    assert up.alert == AlertLevel.INFO and up.body["outage_ms"] == 30_000


def test_silence_is_an_outage_after_the_window_and_not_before():
    proc = TelephonyProcessor(TelephonyConfig(outage_window_s=15))
    out = run(proc, [lnk(T0), T0 + 10.0, T0 + 15.0])
    assert states(out) == []
    out = run(proc, [T0 + 15.5, T0 + 16.0, T0 + 30.0])
    assert states(out) == ["down"]
    assert out[0].t == T0 + 15.5 and out[0].body["since_ms"] == int(T0 * 1000)
    out = run(proc, [lnk(T0 + 40)])
    assert states(out) == ["up"] and out[0].body["outage_ms"] == 40_000


def test_degradation_needs_consecutive_bad_lines_and_recovers():
    proc = TelephonyProcessor(TelephonyConfig(degrade_after=2, recover_after=2))
    out = run(proc, [lnk(T0), lnk(T0 + 5, loss=12.0), lnk(T0 + 10), lnk(T0 + 15, latency=450.0),
                     lnk(T0 + 20, loss=8.0), lnk(T0 + 25, "degraded", 80.0, 1.0),
                     lnk(T0 + 30), lnk(T0 + 35)])
    assert states(out) == ["degraded", "up"]
    assert out[0].alert == AlertLevel.WARNING and out[0].body["loss_pct"] == 8.0
    assert "outage_ms" not in out[1].body  # degraded is not an outage
    # The unit's own "degraded" is believed at once.
    out = run(proc, [lnk(T0 + 40, "degraded", 500.0, 9.0)])
    assert states(out) == ["degraded"] and out[0].t == T0 + 40


def test_links_are_independent():
    proc = TelephonyProcessor(TelephonyConfig(outage_window_s=15))
    items = []
    for i in range(10):
        t = T0 + 5 * i
        items.append(lnk(t, link="WAN1"))
        if i < 2:
            items.append(lnk(t, link="E1-TRUNK"))
        items.append(t + 1.0)
    out = run(proc, items)
    assert [(d.body["link"], d.body["state"]) for d in out] == [("E1-TRUNK", "down")]
    assert proc.link_state("BIL-PBX/WAN1") == "up"


def test_call_records_and_summary():
    proc = TelephonyProcessor(TelephonyConfig(min_mos=3.5))
    cdrs = [
        CallDetailRecord(T0 + 100, "BIL-PBX", 1, T0, 95.0, "+994501112233", "2201", "SIP1",
                         "out", "answered", 4.2),
        CallDetailRecord(T0 + 200, "BIL-PBX", 2, T0 + 150, 40.0, "2202", "2203", "INT",
                         "internal", "answered", 3.1),
        CallDetailRecord(T0 + 300, "BIL-PBX", 3, T0 + 290, 0.0, "2202", "+994129998877", "E1",
                         "out", "failed", None),
    ]
    out = run(proc, cdrs)
    assert [d.record_type for d in out] == ["call.record"] * 3 and all(d.alert is None for d in out)
    assert out[0].body == {"exchange": "BIL-PBX", "start_ms": int(T0 * 1000), "duration_s": 95.0,
                           "result": "answered", "trunk": "SIP1",
                           "calling_number": "+994501112233", "called_number": "2201"}
    assert out[1].extra["poor_quality"] and "poor quality" in out[1].summary
    summary = proc.call_summary()["BIL-PBX"]
    assert (summary.calls, summary.answered, summary.failed, summary.poor_quality) == (3, 2, 1, 1)
    assert summary.answer_ratio == pytest.approx(2 / 3)
    assert summary.mean_mos == pytest.approx(3.65)
    assert summary.talk_time_s == 135.0 and summary.by_trunk == {"SIP1": 1, "INT": 1, "E1": 1}


def test_out_of_order_and_foreign_readings_are_ignored():
    proc = TelephonyProcessor(TelephonyConfig())
    run(proc, [lnk(T0 + 10)])
    assert proc.feed(lnk(T0, "down")) == [] and proc.feed(object()) == []


def test_from_profile_and_validation():
    profile = load_profile("telephony-unit")
    proc = TelephonyProcessor.from_profile(profile)
    assert proc.config.outage_window_s == profile.setting("outage_window_s")
    assert proc.config.degraded_loss_pct == profile.setting("degraded_loss_pct")
    with pytest.raises(ProcessorError):
        TelephonyConfig(outage_window_s=0)
    with pytest.raises(ProcessorError):
        TelephonyConfig(degrade_after=0)


@pytest.mark.parametrize("seed", range(5))
def test_simulated_day_every_outage_detected_in_window_no_false_outage(seed):
    """Three links, LNK lines every 5 s +-0.5 s, a skipped line now and then, isolated loss
    spikes, and outages of two kinds (the unit reports down; the lines stop). Ticks every
    second. Every outage is detected within the window (+ one line interval and one tick for
    silent ones), and no other down is reported."""
    rng = random.Random(seed)
    window = 15.0
    proc = TelephonyProcessor(TelephonyConfig(outage_window_s=window))
    links = ["WAN1", "WAN2", "E1"]
    day = 6 * 3600
    outages = {link: [] for link in links}
    for link in links:
        t = 600.0
        while True:
            t += rng.uniform(900, 3000)
            if t > day - 1200:
                break
            outages[link].append((T0 + t, T0 + t + rng.uniform(20, 600), rng.choice(["down", "mute"])))
    events: list[tuple[float, int, object]] = []
    for k, link in enumerate(links):
        t = T0 + rng.uniform(0, 5)
        skipped = False
        while t < T0 + day:
            current = [o for o in outages[link] if o[0] <= t < o[1]]
            if current:
                if current[0][2] == "down":
                    events.append((t, k, lnk(t, "down", None, None, link=link)))
            elif skipped or rng.random() > 0.01:  # 1 % of lines skipped, never two in a row
                loss = 7.0 if rng.random() < 0.05 else rng.uniform(0, 1)  # isolated spikes
                events.append((t, k, lnk(t, "up", rng.uniform(10, 40), loss, link=link)))
                skipped = False
            else:
                skipped = True
            t += 5.0 + rng.uniform(-0.5, 0.5)
    for second in range(day):
        events.append((T0 + second + 0.999, 9, T0 + second + 0.999))
    events.sort(key=lambda e: (e[0], e[1]))
    out = run(proc, [e[2] for e in events])
    downs = {link: [d for d in out if d.body["link"] == link
                    and d.body["state"] == "down"] for link in links}
    for link in links:
        assert len(downs[link]) == len(outages[link]), (link, len(downs[link]))
        for (start, _, _), d in zip(outages[link], downs[link]):
            assert start <= d.t <= start + window + 5.0 + 1.0, (link, start, d.t)


def test_wire_lines_through_the_driver_side():
    """Byte-exact CDR/LNK lines (CRC trailers) from the hardware-profile encoder, framed and
    decoded, then processed; a corrupted line is dropped by the framer, not misread."""
    from borderlink.hardware_profiles.protocols import cdr

    lines = [lnk(T0 + 5 * i, "down" if 2 <= i < 5 else "up") for i in range(8)]
    call = CallDetailRecord(T0 + 40, "BIL-PBX", 7, T0 + 10, 12.5, "1101", "+994125551234",
                            "PSTN1", "out", "answered", 4.1)
    wire = b"".join(cdr.encode_link(s) for s in lines) + cdr.encode_cdr(call)
    bad = bytearray(cdr.encode_link(lnk(T0 + 1, "down")))
    bad[12] ^= 0x20
    framer = cdr.Framer()
    decoder = cdr.Decoder()
    readings = [r for f in framer.feed(bytes(bad) + wire) for r in decoder.decode(f)]
    assert len(readings) == 9
    out = run(TelephonyProcessor(TelephonyConfig()), readings)
    assert states(out) == ["down", "up"]
    assert out[1].body["outage_ms"] == 15_000
    assert out[-1].record_type == "call.record" and out[-1].body["duration_s"] == 12.5
