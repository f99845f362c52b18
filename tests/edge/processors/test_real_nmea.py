"""Real NMEA logs (tests/data/real/nmea, cited there) through the framer, decoder and the
patrol-radio processor: high-precision lengths, every talker, GLL/VTG, void fixes, dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from borderlink.edge.processors.radio import BorderGeometry, RadioConfig, RadioProcessor
from borderlink.hardware_profiles.errors import FrameDecodeError, UndatedSentenceError
from borderlink.hardware_profiles.protocols import nmea
from borderlink.hardware_profiles.readings import FixLoss, NmeaFix

_DIR = Path(__file__).parents[2] / "data/real/nmea"


def _decode(name: str, date_hint: dt.date | None = None,
            errors: list | None = None) -> tuple[list, nmea.Framer]:
    framer = nmea.Framer()
    decoder = nmea.Decoder("u1", date_hint=date_hint)
    out = []
    for frame in framer.feed((_DIR / name).read_bytes()):
        try:
            out.extend(decoder.decode(frame))
        except FrameDecodeError as exc:  # one bad frame never blocks the others
            if errors is None:
                raise
            errors.append(exc)
    return out, framer


def test_high_precision_receiver_fits_the_limit_and_decodes():
    errors: list = []
    readings, framer = _decode("unicore_um981.nmea", None, errors)
    assert len(errors) == 2 and all(isinstance(e, UndatedSentenceError) for e in errors)
    lengths = [len(line) + 1 for line in (_DIR / "unicore_um981.nmea").read_bytes().splitlines()
               if line]
    assert max(lengths) > nmea.STANDARD_SENTENCE  # the receiver does exceed 82 ...
    assert framer.stats.frames == 5 and framer.stats.oversize == 0  # ... and all are kept
    fixes = [r for r in readings if isinstance(r, NmeaFix)]
    # the first GGA and GLL come before any date (the log starts there): undated, refused
    assert [f.sentence for f in fixes] == ["RMC", "GGA", "GLL"]
    for f in fixes:  # 53°27.0359894' N, 2°14.4146715' W (GLL's "-0214…,W" included)
        assert f.lat == pytest.approx(53 + 27.03598 / 60, abs=1e-6)
        assert f.lon == pytest.approx(-(2 + 14.4146 / 60), abs=1e-4)
    rmc = fixes[0]
    assert dt.datetime.fromtimestamp(rmc.t, dt.UTC).date() == dt.date(2026, 2, 24)


def test_start_up_void_fixes_are_fix_losses_not_positions():
    errors: list = []
    readings, framer = _decode("ublox_startup_nofix.nmea", dt.date(2021, 3, 6), errors)
    assert framer.stats.bad_checksum == 0 and framer.stats.frames == 12
    # RMC, GGA, GLL: void and without a time before any time was known
    assert len(errors) == 3 and all(isinstance(e, UndatedSentenceError) for e in errors)
    # no time at all before the first fix: undated, so the decoder stamps nothing itself
    decoder = nmea.Decoder("u1")
    with pytest.raises(FrameDecodeError, match="void fix without a time"):
        decoder.decode(b"$GNRMC,,V,,,,,,,,,,N,V*37")
    assert not [r for r in readings if isinstance(r, NmeaFix)]


def test_void_fixes_after_a_position_become_one_fix_lost_record():
    border = BorderGeometry([(48.0, 39.0), (48.5, 39.5)])
    proc = RadioProcessor(RadioConfig(), border)
    decoder = nmea.Decoder("u1")
    good = decoder.decode(nmea.sentence("GPRMC,120000.00,A,3915.000,N,04815.000,E,1.0,90.0,060321,,,A"))
    out = proc.feed(good[0])
    assert any(d.record_type == "radio.position" for d in out)
    events = []
    for frame in nmea.Framer().feed((_DIR / "ublox_startup_nofix.nmea").read_bytes()):
        for reading in decoder.decode(frame):  # times known now: void fixes take the last
            assert not isinstance(reading, NmeaFix)
            events.extend(proc.feed(reading))
    assert [d.record_type for d in events] == ["radio.fix_lost"]
    body = events[0].body
    assert body["reason"] == "status_void" and body["sentence"] == "RMC"
    assert body["lat"] == pytest.approx(39.25) and body["lon"] == pytest.approx(48.25)
    # a new accepted fix re-arms it
    proc.feed(decoder.decode(nmea.sentence(
        "GPRMC,120010.00,A,3915.001,N,04815.001,E,1.0,90.0,060321,,,A"))[0])
    again = proc.feed(decoder.decode(nmea.sentence("GNGGA,120011.00,,,,,0,00,99.99,,,,,,"))[0])
    assert [d.record_type for d in again] == ["radio.fix_lost"]
    assert again[0].body["reason"] == "quality_0"


def test_published_examples_gll_vtg_and_the_1994_date():
    readings, _ = _decode("depriest_examples.nmea")
    rmc, gga, gll = readings
    assert dt.datetime.fromtimestamp(rmc.t, dt.UTC).date() == dt.date(1994, 3, 23)
    assert (gga.speed_kn, gga.course_deg) == (5.5, 54.7)  # from the VTG before it
    assert gll.sentence == "GLL" and gll.lat == pytest.approx(49 + 16.45 / 60)
    assert gll.lon == pytest.approx(-(123 + 11.12 / 60))
    assert dt.datetime.fromtimestamp(gll.t, dt.UTC).date() == dt.date(1994, 3, 23)


@pytest.mark.parametrize("hint,year", [(None, 1994), (dt.date(2026, 12, 7), 1994),
                                       (dt.date(2090, 1, 1), 2094)])
def test_two_digit_year_pivot(hint, year):
    body = "GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,191194,003.1,W"
    fix = nmea.Decoder("u1", date_hint=hint).decode(nmea.sentence(body))[0]
    assert dt.datetime.fromtimestamp(fix.t, dt.UTC).year == year
    fix = nmea.Decoder("u1").decode(nmea.sentence(body.replace("191194", "191124")))[0]
    assert dt.datetime.fromtimestamp(fix.t, dt.UTC).year == 2024


@pytest.mark.parametrize("talker", ["GP", "GN", "GL", "GA", "GB", "BD", "GI", "GQ", "II", "YD",
                                    "IN"])
def test_every_talker_decodes(talker):
    body = f"{talker}GGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"
    fix = nmea.Decoder("u1", date_hint=dt.date(2026, 1, 1)).decode(nmea.sentence(body))[0]
    assert isinstance(fix, NmeaFix) and fix.lat == pytest.approx(48 + 7.038 / 60)


def test_old_vtg_layout_and_void_vtg():
    decoder = nmea.Decoder("u1", date_hint=dt.date(2026, 1, 1))
    assert decoder.decode(nmea.sentence("GPVTG,054.7,034.4,005.5,010.2")) == []
    fix = decoder.decode(nmea.sentence("GPGLL,4916.45,N,12311.12,W,225444,A"))[0]
    assert (fix.speed_kn, fix.course_deg) == (5.5, 54.7)
    decoder.decode(nmea.sentence("GNVTG,,,,,,,,,N"))
    fix = decoder.decode(nmea.sentence("GPGLL,4916.45,N,12311.12,W,225445,A"))[0]
    assert fix.speed_kn is None


def test_garbage_and_overlong_lines_are_refused():
    framer = nmea.Framer()
    long_body = "GPGGA," + "1" * (nmea.MAX_SENTENCE)
    data = (nmea.sentence(long_body) + b"$GPGGA,\x01\x02garbage*00\r\n"
            + nmea.sentence("GPGLL,4916.45,N,12311.12,W,225444,A").replace(b"A*", b"\xffA*"))
    assert framer.feed(data) == []
    assert framer.stats.oversize == 1 and framer.stats.bad_checksum == 2
    decoder = nmea.Decoder("u1", date_hint=dt.date(2026, 1, 1))
    with pytest.raises(FrameDecodeError):
        decoder.decode(nmea.sentence("GPGLL,9916.45,N,12311.12,W,225444,A"))  # 99° latitude


def test_void_fix_is_never_a_position():
    decoder = nmea.Decoder("u1", date_hint=dt.date(2026, 1, 1))
    for body in ("GPRMC,210209.000,V,5347.5779,N,00754.1630,E,000.0,000.0,300717,,,N",
                 "GPGGA,210210.000,5347.5779,N,00754.1630,E,0,00,0.0,52.8,M,0.0,M,,0000",
                 "GPGLL,5347.5779,N,00754.1630,E,210211.000,V,N"):
        (reading,) = decoder.decode(nmea.sentence(body))
        assert isinstance(reading, FixLoss)
