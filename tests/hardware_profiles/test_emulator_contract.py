"""The contract every emulator passes: it opens on its real transport (pty, TCP, folder), speaks
valid protocol (checked by our framer AND by independent parsers), and each fault mode shows."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import time
import xml.etree.ElementTree as ET
from typing import Any

import cbor2
import pynmea2
import pytest

from borderlink.hardware_profiles.emulators import supported_faults
from borderlink.hardware_profiles.errors import FrameDecodeError, IncompleteFileError
from borderlink.hardware_profiles.loader import load_profile, shipped_profiles
from borderlink.hardware_profiles.protocols import decoder_for, framer_for
from borderlink.hardware_profiles.readings import (
    CountSample,
    LabRun,
    LinkStatus,
    MrzRead,
    NmeaFix,
    OccupancyReport,
    SensorFrame,
)

from .conftest import Consumer, Running, pty_is_tty

PROFILES = [p.stem for p in shipped_profiles()]
WINDOW_S = 0.25

# ------------------------------------------------------------------ independent checkers
_DIGIT = {**{str(i): i for i in range(10)}, **{chr(65 + i): 10 + i for i in range(26)}, "<": 0}


def independent_check_digit(text: str) -> str:
    """ICAO 9303 Part 3 §4.9, written again here on purpose (not the package's function)."""
    return str(sum(_DIGIT[c] * w for c, w in zip(text, [7, 3, 1] * 20)) % 10)


def mrz_digits_ok(lines: tuple[str, ...]) -> bool:
    if len(lines) == 3:  # TD1
        l1, l2 = lines[0], lines[1]
        fields = [(l1[5:14], l1[14]), (l2[0:6], l2[6]), (l2[8:14], l2[14]),
                  (l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29])]
    else:
        l2 = lines[1]
        fields = [(l2[0:9], l2[9]), (l2[13:19], l2[19]), (l2[21:27], l2[27])]
        if lines[0][0] == "P":  # TD3: personal number + composite
            fields += [(l2[28:42], l2[42]) if l2[28:42].strip("<") else ("", "<"),
                       (l2[0:10] + l2[13:20] + l2[21:43], l2[43])]
        elif lines[0][0] in "IAC" and len(l2) == 36:  # TD2 composite
            fields += [(l2[0:10] + l2[13:20] + l2[21:35], l2[35])]
    for text, digit in fields:
        if text == "" and digit == "<":
            continue
        if independent_check_digit(text) != digit:
            return False
    return True


def independent_crc(data: bytes) -> int:
    """CRC-16/CCITT-FALSE bit by bit, written again here on purpose."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def crc_ok(covered: bytes, expected: int) -> bool:
    return independent_crc(covered) == expected


def independent_check(run: Running, frames: list[bytes], readings: list[Any]) -> None:
    cls = run.profile.device_class
    if cls == "document_reader":
        for f in frames:
            body_end = f.rindex(b"\x03")
            assert crc_ok(f[1: body_end + 1], int(f[body_end + 1: body_end + 5], 16))
        by_number = {t.detail["number"]: t.detail["doc"] for t in list(run.truths)}
        checked = 0
        for r in readings:
            lines = r.lines
            number = (lines[0][5:14] if len(lines) == 3 else lines[1][0:9]).rstrip("<")
            kind = by_number.get(number)
            if kind is None:
                continue
            checked += 1
            assert mrz_digits_ok(lines) == (kind not in ("bad_check_digit", "altered")), (kind, lines)
        assert checked >= 3
    elif cls == "radiation_portal_monitor":
        for f in frames:
            assert crc_ok(f[2:-2], struct.unpack(">H", f[-2:])[0])
            if f[3] == 0x03:
                root = ET.fromstring(f[10:-2])
                assert root.tag.endswith("RadInstrumentData")
    elif cls == "ground_sensor":
        for f in frames:
            (length,) = struct.unpack(">H", f[4:6])
            payload = cbor2.loads(f[6: 6 + length])
            key = hmac.new(b"borderlink demo UGS master secret -- never deploy",
                           payload["s"].encode(), hashlib.sha256).digest()
            assert hmac.compare_digest(hmac.new(key, f[2: 6 + length], hashlib.sha256).digest(),
                                       f[6 + length: 38 + length])
            assert crc_ok(f[2:-2], struct.unpack(">H", f[-2:])[0])
    elif cls == "patrol_radio":
        for f in frames:
            msg = pynmea2.parse(f.decode("ascii"), check=True)
            if isinstance(msg, (pynmea2.types.talker.GGA, pynmea2.types.talker.RMC)):
                assert 39.0 < msg.latitude < 39.8 and 47.8 < msg.longitude < 48.8
    elif cls == "telephony":
        for f in frames:
            body, _, crc = f.rpartition(b"*")
            assert crc_ok(body, int(crc, 16))
            assert body.split(b"|")[0] in (b"CDR", b"LNK")
    elif cls == "radionuclide_identifier":
        for r in readings:  # physics, not our decoder's word: K-40 where K-40 is
            assert isinstance(r, OccupancyReport) and r.foreground_spectra and r.background_spectra
            bg = r.background_spectra[0]
            window = [i for i in range(len(bg.counts)) if 1300 <= bg.energy(i + 0.5) < 1600]
            k40 = bg.energy(max(window, key=bg.counts.__getitem__) + 0.5)
            assert abs(k40 - 1460.8) < 40, k40
    else:
        for r in readings:
            assert isinstance(r, LabRun) and r.chromatogram is not None


def _decode_stream(run: Running, chunks: list[tuple[float, bytes]]) -> tuple[Any, list[bytes], list[Any],
                                                                            list[tuple[float, int, Any]]]:
    framer = framer_for(run.profile.framing.protocol)
    decoder = decoder_for(run.profile, unit_id="U") if run.profile.device_class == "patrol_radio" \
        else decoder_for(run.profile)
    frames, readings, arrivals = [], [], []
    for wall, data in chunks:
        got = framer.feed(data)
        arrivals.append((wall, len(got), None))
        for f in got:
            frames.append(f)
            try:
                out = decoder.decode(f)
            except FrameDecodeError:
                continue
            readings.extend(out)
            for r in out:
                arrivals.append((wall, 0, r))
    return framer, frames, readings, arrivals


def _lab_runs(run: Running, consumer: Consumer) -> list[LabRun]:
    out = []
    for name, data in consumer.files().items():
        try:
            out.append(consumer.parse(name, data))
        except IncompleteFileError:
            pass
    return out


# ------------------------------------------------------------------ the contract
@pytest.mark.parametrize("name", PROFILES)
def test_opens_and_speaks_valid_protocol(name: str, start_emulator: Any) -> None:
    run: Running = start_emulator(name)
    url = run.emulator.url()
    assert url.startswith(run.scheme + "://") and "{" not in url
    consumer = Consumer(run).open()
    try:
        if run.scheme == "serial":
            assert pty_is_tty(run.emulator.endpoint.device_path)
        if run.scheme == "file":
            time.sleep(WINDOW_S * 2)
            runs = _lab_runs(run, consumer)
            assert len(runs) >= 2
            independent_check(run, [], runs)
            for r in runs:
                if isinstance(r, OccupancyReport):
                    continue
                assert r.sample_id and r.chromatogram and r.chromatogram.ri_calibration
                if run.profile.device_class == "gc_ms":
                    assert r.spectra and all(max(s.intensities) == pytest.approx(999, abs=0.1) for s in r.spectra)
            return
        chunks: list[tuple[float, bytes]] = []
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            chunks += consumer.chunks(WINDOW_S)
            if len(_decode_stream(run, chunks)[1]) >= 8:
                break
    finally:
        consumer.close()
    framer, frames, readings, _ = _decode_stream(run, chunks)
    assert len(frames) >= 5, framer.stats
    assert framer.stats.bad_checksum == 0
    # a pty opened mid-stream may show the tail of one frame; a TCP client never does
    assert framer.stats.garbage_bytes <= (run.profile.framing.max_frame_bytes if run.scheme == "serial" else 0)
    expected = {"document_reader": MrzRead, "radiation_portal_monitor": CountSample, "ground_sensor": SensorFrame,
                "patrol_radio": NmeaFix, "telephony": LinkStatus}[run.profile.device_class]
    assert any(isinstance(r, expected) for r in readings)
    independent_check(run, frames, readings)


def _fault_cases() -> list[tuple[str, str]]:
    return [(name, mode) for name in PROFILES
            for mode in supported_faults(load_profile(name).device_class)]


@pytest.mark.parametrize(("name", "mode"), _fault_cases(), ids=[f"{n}-{m}" for n, m in _fault_cases()])
def test_fault_mode_shows(name: str, mode: str, start_emulator: Any) -> None:
    run: Running = start_emulator(name)
    consumer = Consumer(run).open()
    try:
        if run.scheme == "file":
            _check_file_fault(run, consumer, mode)
        else:
            _check_stream_fault(run, consumer, mode)
    finally:
        consumer.close()


def _values(run: Running, readings: list[Any]) -> list[tuple[Any, float]]:
    """(key, value) of each reading whose value a stuck or drifting sensor changes."""
    out: list[tuple[Any, float]] = []
    for r in readings:
        if isinstance(r, CountSample):
            out.append((r.panel, float(r.gamma)))
        elif isinstance(r, SensorFrame) and r.event == "detect":
            out.append((r.sensor_id, r.value))
        elif isinstance(r, NmeaFix):
            out.append((r.sentence, r.lat))
        elif isinstance(r, LinkStatus) and r.latency_ms is not None:
            out.append((r.link_id, r.latency_ms))
        elif isinstance(r, MrzRead):
            out.append(("mrz", float(hash(r.lines) % 1_000_003)))
    return out


def _stream_fault_problem(run: Running, mode: str, chunks: list[tuple[float, bytes]]) -> str | None:
    """None when the fault shows in what was read so far, else what is still missing."""
    framer, frames, readings, arrivals = _decode_stream(run, chunks)
    values: dict[Any, list[float]] = {}
    for key, value in _values(run, readings):
        values.setdefault(key, []).append(value)
    if mode == "noise":
        return None if framer.stats.garbage_bytes > 0 and len(frames) >= 3 else f"no garbage yet {framer.stats}"
    if mode == "drop":
        return None if framer.stats.garbage_bytes + framer.stats.bad_checksum > 0 else f"nothing lost {framer.stats}"
    if mode == "stuck":
        long = [v for v in values.values() if len(v) >= 3]
        if not long:
            return "need three readings of one sensor"
        moving = [v[-3:] for v in long if len(set(v[-3:])) != 1]
        return f"values still move: {moving}" if moving else None
    if mode == "drift":
        if isinstance(next(iter(readings), None), SensorFrame):  # signatures vary 50x: look for the impossible
            peak = max((v for vs in values.values() for v in vs), default=0.0)
            return None if peak > 100.0 else f"no impossible value yet ({peak})"  # mm/s, nT
        series = max(values.values(), key=len, default=[])
        if len(series) >= 2 and (series[-1] > series[0] * 1.2 or series[-1] - series[0] > 0.004):
            return None
        return f"no drift yet: {series[:3]} … {series[-3:]}"
    if mode == "clock":
        skews = [r.t - run.scenario_now(wall) for wall, _, r in arrivals if r is not None and hasattr(r, "t")]
        top = max(skews, default=0.0)
        return None if top > 20.0 + run.pump.speed * 0.2 else f"device clock still near true time ({top:.1f} s)"
    if mode == "burst":
        per_chunk = [n for _, n, r in arrivals if r is None]
        return None if max(per_chunk, default=0) >= 6 else f"frames per read: {per_chunk}"
    raise AssertionError(mode)


def _check_stream_fault(run: Running, consumer: Consumer, mode: str) -> None:
    em = run.emulator
    consumer.chunks(0.05)  # settle on a frame boundary
    if mode == "disconnect":
        em.set_fault("disconnect", 0.3)
        consumer.chunks(2.0)
        assert consumer.eof, "the reader must see the device go away"
        assert em.endpoint.stats.disconnects == 1
        consumer.close()
        time.sleep(0.35)
        consumer.open()
        chunks: list[tuple[float, bytes]] = []
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline and not _decode_stream(run, chunks)[1]:
            chunks += consumer.chunks(0.15)
        assert _decode_stream(run, chunks)[1], "frames flow again after the reconnect"
        assert em.endpoint.stats.reconnects == 1
        return
    levels = {"noise": 1.0, "drop": 0.05, "stuck": 1.0, "drift": 1200.0, "clock": 3000.0, "burst": 8.0}
    em.set_fault(mode, levels[mode])
    chunks = []
    problem: str | None = "nothing read"
    deadline = time.monotonic() + 4.0  # normally met within a few hundred ms; slack for a busy CI
    try:
        while problem is not None and time.monotonic() < deadline:
            chunks += consumer.chunks(0.15)
            problem = _stream_fault_problem(run, mode, chunks)
    finally:
        em.clear_fault(mode)
    assert problem is None, problem


def _measured(r: Any) -> bool:
    """A complete export: a lab run with its chromatogram, or a spectrometer's measurement."""
    return isinstance(r, OccupancyReport) or r.chromatogram is not None


def _check_file_fault(run: Running, consumer: Consumer, mode: str) -> None:
    em = run.emulator
    before = set(consumer.files())
    if mode == "disconnect":
        emitted = em.emitted
        em.set_fault("disconnect", 0.5)
        time.sleep(0.35)
        during = set(consumer.files())
        assert len(during - before) <= 1  # at most one export that was already on its way
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline and em.endpoint.stats.reconnects == 0:
            time.sleep(0.05)
        time.sleep(0.1)
        queued = em.emitted - emitted
        after = set(consumer.files())
        assert em.endpoint.stats.reconnects == 1
        assert queued >= 1 and len(after - before) >= queued - 1, "queued exports are written when back"
        return
    if mode == "half_written":
        em.set_fault("half_written", 0.4)
        seen_incomplete: set[str] = set()
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline and not seen_incomplete:
            for name, data in consumer.files().items():
                if name in before:
                    continue
                try:
                    consumer.parse(name, data)
                except IncompleteFileError:
                    seen_incomplete.add(name)
            time.sleep(0.02)
        em.clear_fault("half_written")
        assert seen_incomplete, "a half-written export was visible"
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            files = consumer.files()
            try:
                done = [consumer.parse(name, files[name]) for name in seen_incomplete]
                break
            except IncompleteFileError:
                time.sleep(0.05)
        assert all(_measured(r) for r in done)  # completed later
        return
    if mode == "burst":
        em.set_fault("burst", 5)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and len(set(consumer.files()) - before) < 5:
            time.sleep(0.02)
        em.clear_fault("burst")
        folder = em.endpoint.folder
        times = sorted(os.stat(folder / n).st_mtime for n in set(consumer.files()) - before)
        clumped = max(sum(1 for u in times if t <= u < t + 0.1) for t in times)
        assert clumped >= 4, times  # normally ~0.25 s apart; a burst lands together
        return
    levels = {"stuck": 1.0, "drift": 6000.0, "clock": 6000.0}
    em.set_fault(mode, levels[mode])

    def complete() -> list[Any]:  # exports written in place may still be half there: skip those
        out = []
        for name, data in consumer.files().items():
            if name not in before:
                try:
                    out.append(consumer.parse(name, data))
                except IncompleteFileError:
                    pass
        return [r for r in out if _measured(r)]

    # Three exports, not two: the fault is timed from the next reading, so the first export
    # made under it is still unchanged (factor 1, no skew), and one more may have been on its way
    # before the fault was set. Only the third is sure to show it. Exports come ~0.25 s apart;
    # the long deadline is slack for a loaded CI machine, not the expected wait.
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline and len(complete()) < 3:
        time.sleep(0.05)
    # read before the fault is cleared (an export written after it is a healthy one), in the
    # order the instrument made them (a folder lists files in no particular order)
    new = sorted(complete(), key=lambda r: r.t)
    em.clear_fault(mode)
    assert len(new) >= 3, f"only {len(new)} complete exports in 15 s"
    spectra = isinstance(new[0], OccupancyReport)  # a spectrometer's files, else lab runs
    if mode == "stuck":
        later = new[1:]
        if spectra:  # the same spectrum again and again
            assert len({r.foreground_spectra[0].counts for r in later}) == 1
        else:
            assert all(len(set(r.chromatogram.intensities)) == 1 for r in later)  # type: ignore[union-attr]
    elif mode == "drift":
        if spectra:  # sensitivity drift: the counts grow (the background measurement does not)
            base = [sum(r.foreground_spectra[0].counts) / sum(r.background_spectra[0].counts)
                    * r.background_live_time_s / r.live_time_s for r in new]
        else:
            base = [min(r.chromatogram.intensities) for r in new]  # type: ignore[union-attr]
        assert base[-1] > base[0] * 1.5, base
    else:
        key = "uuid" if spectra else "sample_id"
        truth_t = {t.expect[key]: t.t for t in list(run.truths) if key in t.expect}
        skews = [r.t - truth_t[getattr(r, key)] for r in new if getattr(r, key) in truth_t]
        assert skews and max(skews) > 5.0, skews
