"""Wire formats: published vectors, byte-exact frames, round trips, resync on garbage, fuzz."""

from __future__ import annotations

import datetime as dt
import math
import struct
import xml.etree.ElementTree as ET

import pynmea2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderlink.hardware_profiles.errors import (
    FrameAuthenticationError,
    FrameDecodeError,
    IncompleteFileError,
    UndatedSentenceError,
)
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.mrz import MrzDocument, build_mrz, check_digit, transliterate
from borderlink.hardware_profiles.protocols import (
    andi,
    cdr,
    crc16_ccitt,
    decoder_for,
    framer_for,
    jcamp,
    n42,
    netcdf3,
    nmea,
    reader,
    rpm,
    sensor,
)
from borderlink.hardware_profiles.readings import (
    CallDetailRecord,
    Chromatogram,
    CountSample,
    LabRun,
    LinkStatus,
    MassSpectrum,
    MrzRead,
    NmeaFix,
    OccupancyReport,
    PanelCounts,
    RadioStatus,
    SensorFrame,
)

T0 = 1795806000.0  # 2026-11-27T19:00:00Z


# --------------------------------------------------------------------------- checksums
def test_crc16_ccitt_false_check_value() -> None:
    assert crc16_ccitt(b"123456789") == 0x29B1
    assert crc16_ccitt(b"") == 0xFFFF


# ICAO Doc 9303 specimens (Part 4 TD3, Part 5 TD1, Part 6 TD2, Part 7 MRV-A/MRV-B).
SPECIMENS = [
    (MrzDocument("TD3", "P", "UTO", "ERIKSSON", "ANNA MARIA", "L898902C3", "UTO", "740812", "F",
                 "120415", "ZE184226B"),
     ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")),
    (MrzDocument("TD1", "I", "UTO", "ERIKSSON", "ANNA MARIA", "D23145890", "UTO", "740812", "F",
                 "120415"),
     ("I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")),
    (MrzDocument("TD2", "I", "UTO", "ERIKSSON", "ANNA MARIA", "D23145890", "UTO", "740812", "F",
                 "120415"),
     ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6")),
    (MrzDocument("MRVA", "V", "UTO", "ERIKSSON", "ANNA MARIA", "L8988901C", "XXX", "400907", "F",
                 "961210", "6ZE184226B"),
     ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L8988901C4XXX4009078F96121096ZE184226B<<<<<<")),
    (MrzDocument("MRVB", "V", "UTO", "ERIKSSON", "ANNA MARIA", "L8988901C", "XXX", "400907", "F",
                 "961210"),
     ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<")),
]


@pytest.mark.parametrize(("doc", "lines"), SPECIMENS, ids=[d.doc_format for d, _ in SPECIMENS])
def test_mrz_builder_reproduces_icao_specimens(doc: MrzDocument, lines: tuple[str, ...]) -> None:
    assert build_mrz(doc) == lines


@pytest.mark.parametrize(("field", "digit"), [("L898902C3", "6"), ("740812", "2"), ("120415", "9"),
                                              ("ZE184226B<<<<<", "1"), ("<<<<<<", "0")])
def test_check_digit_vectors(field: str, digit: str) -> None:
    assert check_digit(field) == digit


def test_transliteration_of_azerbaijani_and_german() -> None:
    assert transliterate("Məmmədov") == "MAMMADOV"
    assert transliterate("Müller-Lüdenscheidt") == "MUELLER<LUEDENSCHEIDT"


# --------------------------------------------------------------------------- reader frame
def gen_reader_frame(seq: int, t_ms: int, rid: str, flags: str, lines: list[str]) -> bytes:
    body = "|".join(["RDR1", str(seq), str(t_ms), rid, flags, str(len(lines)), *lines]).encode() + b"\x03"
    return b"\x02" + body + f"{crc16_ccitt(body):04X}".encode() + b"\r\n"


MRZ_TD3 = SPECIMENS[0][1]


def test_reader_frame_is_byte_exact_and_round_trips() -> None:
    read = MrzRead(MRZ_TD3, uv_ok=True, ir_ok=False, t=T0 + 0.123, reader_id="FL-01", seq=7)
    frame = reader.encode(read)
    assert frame == gen_reader_frame(7, 1795806000123, "FL-01", "U1I0", list(MRZ_TD3))
    framer = reader.Framer()
    assert framer.feed(frame) == [frame]
    assert reader.Decoder().decode(frame) == [read]


READER_BAD = [
    (b"\x02RDR2|1|1|R|U1I1|2|A|B\x03", "RDR1"),
    (b"\x02RDR1|x|1|R|U1I1|2|" + MRZ_TD3[0].encode() + b"|" + MRZ_TD3[1].encode() + b"\x03", "decimal"),
    (b"\x02RDR1|1|1|R|U2I1|2|" + MRZ_TD3[0].encode() + b"|" + MRZ_TD3[1].encode() + b"\x03", "flags"),
    (b"\x02RDR1|1|1|R|U1I1|3|" + MRZ_TD3[0].encode() + b"|" + MRZ_TD3[1].encode() + b"\x03", "line count"),
    (b"\x02RDR1|1|1|R|U1I1|2|" + MRZ_TD3[0].encode() + b"|short\x03", "not an MRZ line"),
]


@pytest.mark.parametrize(("frame", "why"), READER_BAD, ids=[w for _, w in READER_BAD])
def test_reader_decoder_failure_table(frame: bytes, why: str) -> None:
    with pytest.raises(FrameDecodeError, match=why):
        reader.Decoder().decode(frame)


# --------------------------------------------------------------------------- NMEA
def test_nmea_sentences_parse_with_pynmea2_and_round_trip() -> None:
    gga = NmeaFix(T0 + 0.25, "P7", 39.383117, 48.358, True, "GGA", 1, 9, 0.9, 12.0)
    rmc = NmeaFix(T0 + 0.25, "P7", 39.383117, 48.358, True, "RMC", speed_kn=3.2, course_deg=120.0)
    status = RadioStatus(T0, "P7", False, "low_battery", 15)
    emergency = RadioStatus(T0, "P7", True, "emergency", lat=39.1, lon=48.2)
    stream = b"".join([nmea.encode_rmc(rmc), nmea.encode_gga(gga), nmea.encode_status(status),
                       nmea.encode_status(emergency)])
    framer = nmea.Framer()
    frames = framer.feed(stream)
    assert len(frames) == 4 and framer.stats.garbage_bytes == 0
    parsed = [pynmea2.parse(f.decode(), check=True) for f in frames]  # independent parser
    assert parsed[0].latitude == pytest.approx(39.383117, abs=1e-5)
    assert parsed[1].longitude == pytest.approx(48.358, abs=1e-5)
    assert parsed[1].num_sats == "09"
    assert parsed[2].manufacturer == "BDL"
    decoder = nmea.Decoder("P7")
    out = [decoder.decode(f)[0] for f in frames]
    assert out[0].t == pytest.approx(rmc.t) and out[0].speed_kn == 3.2
    assert out[1].t == pytest.approx(gga.t) and out[1].sats == 9  # date taken from the RMC
    assert out[1].lat == pytest.approx(gga.lat, abs=1e-6)
    assert out[2] == status
    assert out[3] == emergency


def test_nmea_known_sentence_vector() -> None:
    # A widely published GGA example; checksum 0x47.
    line = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"
    framer = nmea.Framer()
    [frame] = framer.feed(line)
    [fix] = nmea.Decoder("X", date_hint=dt.date(1994, 3, 23)).decode(frame)
    assert fix.lat == pytest.approx(48 + 7.038 / 60) and fix.lon == pytest.approx(11 + 31 / 60)
    assert fix.altitude_m == 545.4 and fix.sats == 8
    assert fix.t == dt.datetime(1994, 3, 23, 12, 35, 19, tzinfo=dt.UTC).timestamp()
    assert framer.feed(line.replace(b"*47", b"*48")) == []
    assert framer.stats.bad_checksum == 1


def test_nmea_gga_without_any_date_is_refused_not_dated_by_the_wall_clock() -> None:
    gga = NmeaFix(T0 + 0.25, "P7", 39.383117, 48.358, True, "GGA", 1, 9, 0.9, 12.0)
    rmc = NmeaFix(T0 + 5.0, "P7", 39.383117, 48.358, True, "RMC", speed_kn=3.2, course_deg=1.0)
    [gga_frame] = nmea.Framer().feed(nmea.encode_gga(gga))
    [rmc_frame] = nmea.Framer().feed(nmea.encode_rmc(rmc))
    decoder = nmea.Decoder("P7")
    with pytest.raises(UndatedSentenceError, match="without a date"):
        decoder.decode(gga_frame)
    assert decoder.decode(rmc_frame)[0].t == pytest.approx(rmc.t)
    assert decoder.decode(gga_frame)[0].t == pytest.approx(gga.t)  # dated by the RMC now
    hinted = nmea.Decoder.from_profile(None, unit_id="P7",
                                       date_hint=dt.datetime.fromtimestamp(T0, dt.UTC).date())
    assert hinted.decode(gga_frame)[0].t == pytest.approx(gga.t)


# --------------------------------------------------------------------------- RPM + N42
def _report() -> OccupancyReport:
    return OccupancyReport(T0 + 10, "L1", 17, T0, T0 + 9.5, 9.5,
                           (PanelCounts(1, 1000, 500, 3), PanelCounts(2, 990, 480, 2)),
                           (PanelCounts(1, 60000, 30000, 100), PanelCounts(2, 61000, 29000, 110)),
                           60.0, 12.3, None, "9f1c")


def gen_rpm_counts(seq: int, t_ms: int, lane: bytes, flags: int, panels: list[tuple[int, int, int, int]]) -> bytes:
    payload = struct.pack(">Q4sBHB", t_ms, lane, flags, 0xFFFF, len(panels))
    for p in panels:
        payload += struct.pack(">BHHH", *p)
    body = struct.pack(">BBHI", 1, 1, len(payload), seq) + payload
    return b"\xaa\x55" + body + struct.pack(">H", crc16_ccitt(body))


def test_rpm_counts_frame_is_byte_exact_and_round_trips() -> None:
    samples = [CountSample(T0 + 0.1, "L1", p, 120, 60, 1, True, 5) for p in (1, 2)]
    frame = rpm.encode_counts(samples, seq=5)
    assert frame == gen_rpm_counts(5, 1795806000100, b"L1  ", 1, [(1, 120, 60, 1), (2, 120, 60, 1)])
    assert rpm.Decoder().decode(frame) == samples


def test_n42_report_is_well_formed_and_round_trips() -> None:
    xml = n42.encode_report(_report())
    root = ET.fromstring(xml)  # independent well-formedness check
    ns = {"n": n42.NS}
    assert root.tag == f"{{{n42.NS}}}RadInstrumentData"
    classes = [m.findtext("n:MeasurementClassCode", namespaces=ns) for m in root.findall("n:RadMeasurement", ns)]
    assert classes == ["Background", "Foreground"]
    refs = {d.get("id") for d in root.findall("n:RadDetectorInformation", ns)}
    for gc in root.iter(f"{{{n42.NS}}}GrossCounts"):
        assert gc.get("radDetectorInformationReference") in refs
    assert n42.parse_report(xml) == _report()
    frame = rpm.encode_report(_report(), seq=9)
    assert rpm.Decoder().decode(frame) == [_report()]


@pytest.mark.parametrize(("data", "why"), [
    (b"<RadInstrumentData", "well-formed"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>', "DTD"),
    (b"<Other/>", "root element"),
    (f'<RadInstrumentData xmlns="{n42.NS}"/>'.encode(), "Foreground"),
])
def test_n42_failure_table(data: bytes, why: str) -> None:
    with pytest.raises(FrameDecodeError, match=why):
        n42.parse_report(data)


# --------------------------------------------------------------------------- sensor frames
SENSOR = SensorFrame(T0 + 0.5, "UGS-S2-N1", "UGS-S2-N1-SEI040", 3, "detect", "seismic", 1.25, 21000.0,
                     40.0, 3600)


def _sensor_decoder() -> sensor.Decoder:
    return sensor.Decoder(lambda sid, _v: sensor.demo_sensor_key(sid))


def test_sensor_frame_round_trip_and_layout() -> None:
    frame = sensor.encode(SENSOR, sensor.demo_sensor_key(SENSOR.sensor_id))
    assert frame[:4] == b"\xb5\x4e\x01\x01"
    (length,) = struct.unpack(">H", frame[4:6])
    assert len(frame) == 6 + length + 32 + 2
    assert _sensor_decoder().decode(frame) == [SENSOR]


def test_sensor_frame_authentication_failures() -> None:
    key = sensor.demo_sensor_key(SENSOR.sensor_id)
    frame = sensor.encode(SENSOR, key)
    forged = sensor.encode(SENSOR, b"\x00" * 32)
    with pytest.raises(FrameAuthenticationError, match="does not verify"):
        _sensor_decoder().decode(forged)
    with pytest.raises(FrameAuthenticationError, match="no key"):
        sensor.Decoder(lambda _s, _v: None).decode(frame)
    decoder = _sensor_decoder()
    decoder.decode(frame)
    with pytest.raises(FrameAuthenticationError, match="replay"):
        decoder.decode(frame)


def test_sensor_decoder_from_profile_scales_raw_values() -> None:
    decoder = decoder_for(load_profile("ground-sensor-node"))
    frame = sensor.encode(SENSOR, sensor.demo_sensor_key(SENSOR.sensor_id))
    assert decoder.decode(frame)[0].value == pytest.approx(1.25)


# --------------------------------------------------------------------------- CDR lines
def test_cdr_and_link_lines_round_trip() -> None:
    c = CallDetailRecord(T0 + 100, "PBX-BCP", 12, T0, 100.0, "1201", "+994125551234", "SIP1", "out",
                         "answered", 4.1)
    link = LinkStatus(T0 + 100, "PBX-BCP", "WAN-HUB", "down", None, 100.0)
    data = cdr.encode_cdr(c) + cdr.encode_link(link)
    assert data.startswith(b"CDR|1|PBX-BCP|12|1795806100000|1795806000000|100000|")
    framer = cdr.Framer()
    frames = framer.feed(data)
    assert [cdr.Decoder().decode(f)[0] for f in frames] == [c, link]


# --------------------------------------------------------------------------- JCAMP-DX
def _chrom(detector: str = "FID") -> Chromatogram:
    times = tuple(round(i * 0.01, 6) for i in range(1201))
    ys = tuple(100 + 5e4 * math.exp(-(((t - 6.0) / 0.03) ** 2)) for t in times)
    return Chromatogram(T0, "GC-2010", "S-1", "CASE-9", detector, times, ys, ((5.0, 1500.0), (7.0, 1700.0)), "m")


def test_jcamp_chromatogram_round_trip() -> None:
    data = jcamp.encode_chromatogram_file(_chrom())
    assert data.startswith(b"##TITLE=") and b"##XYDATA=(X++(Y..Y))" in data
    run = jcamp.parse_file(data, "S-1.jdx")
    assert run.chromatogram is not None
    assert run.chromatogram.times_min == _chrom().times_min
    assert max(abs(a - b) for a, b in zip(run.chromatogram.intensities, _chrom().intensities)) < 0.01
    assert run.chromatogram.ri_calibration == ((5.0, 1500.0), (7.0, 1700.0))


def test_jcamp_gcms_link_file_and_half_written() -> None:
    ms = MassSpectrum(T0, "QP2010", "S-1", "CASE-9", 6.0, (82.0, 182.0, 303.0), (100.0, 88.0, 26.0))
    run = LabRun(T0, "QP2010", "S-1", "CASE-9", _chrom("TIC"), (ms,), "")
    data = jcamp.encode_gcms_file(run)
    parsed = jcamp.parse_file(data)
    assert parsed.spectra == (ms,) and parsed.sample_id == "S-1" and parsed.case_id == "CASE-9"
    assert parsed.chromatogram is not None and parsed.chromatogram.detector == "TIC"
    assert parsed.chromatogram.times_min == run.chromatogram.times_min  # type: ignore[union-attr]
    for cut in (len(data) // 3, len(data) - 9):
        with pytest.raises(IncompleteFileError):
            jcamp.parse_file(data[:cut])
    with pytest.raises(IncompleteFileError):
        jcamp.parse_file(b"")
    with pytest.raises(FrameDecodeError, match="NPOINTS"):
        jcamp.parse_file(data.replace(b"##NPOINTS=3", b"##NPOINTS=4"))


# --------------------------------------------------------------------------- resync + fuzz
def _frames_for(protocol: str) -> list[bytes]:
    if protocol == "mrz-reader-frame":
        return [reader.encode(MrzRead(MRZ_TD3, True, True, T0 + i, "FL-01", i)) for i in range(3)]
    if protocol == "nmea0183":
        return [nmea.encode_rmc(NmeaFix(T0 + i, "P", 39.3, 48.3, True, "RMC", speed_kn=1.0, course_deg=2.0))
                for i in range(3)]
    if protocol == "rpm-count-frame":
        return [rpm.encode_counts([CountSample(T0 + i, "L1", 1, 100, 50, 0, False)], seq=i) for i in range(2)] + \
            [rpm.encode_report(_report())]
    if protocol == "sensor-cbor-hmac":
        key = sensor.demo_sensor_key(SENSOR.sensor_id)
        return [sensor.encode(SensorFrame(T0 + i, "N", SENSOR.sensor_id, i, "detect", "pir", 1.0), key)
                for i in range(3)]
    return [cdr.encode_link(LinkStatus(T0 + i, "X", "L", "up", 1.0, 0.0)) for i in range(3)]


FRAMED = ["mrz-reader-frame", "nmea0183", "rpm-count-frame", "sensor-cbor-hmac", "cdr-lines"]
_SYNC_FIRST = {"mrz-reader-frame": 0x02, "nmea0183": ord("$"), "rpm-count-frame": 0xAA,
               "sensor-cbor-hmac": 0xB5, "cdr-lines": ord("\n")}


@pytest.mark.parametrize("protocol", FRAMED)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_framer_resyncs_after_garbage_and_counts_it(protocol: str, data: st.DataObject) -> None:
    frames = _frames_for(protocol)
    banned = _SYNC_FIRST[protocol]
    garbage = [data.draw(st.binary(max_size=40).map(lambda b: bytes(x for x in b if x not in (banned, 0x0A))))
               for _ in frames]
    if protocol == "cdr-lines":  # lines: garbage ends with its own newline
        garbage = [g + b"\n" if g else g for g in garbage]
    stream = b"".join(g + f for g, f in zip(garbage, frames))
    chunk = data.draw(st.integers(min_value=1, max_value=64))
    framer = framer_for(protocol)
    got: list[bytes] = []
    for i in range(0, len(stream), chunk):
        got += framer.feed(stream[i: i + chunk])
    decoded = [f.rstrip(b"\r\n") for f in frames]
    assert [g.rstrip(b"\r\n") for g in got] == decoded
    assert framer.stats.frames == len(frames)
    assert framer.stats.garbage_bytes == sum(len(g) for g in garbage)


@pytest.mark.parametrize("protocol", FRAMED)
@settings(max_examples=60, deadline=None)
@given(blob=st.binary(max_size=600))
def test_framer_and_decoder_never_crash_on_noise(protocol: str, blob: bytes) -> None:
    framer = framer_for(protocol)
    frames = framer.feed(blob) + framer.feed(_frames_for(protocol)[0])
    profile = {"mrz-reader-frame": "docreader-first-line", "nmea0183": "patrol-radio",
               "rpm-count-frame": "rpm-lane", "sensor-cbor-hmac": "ground-sensor-node",
               "cdr-lines": "telephony-unit"}[protocol]
    decoder = decoder_for(load_profile(profile))
    for frame in frames:
        try:
            decoder.decode(frame)
        except FrameDecodeError:
            pass


@settings(max_examples=60, deadline=None)
@given(blob=st.binary(max_size=2000))
def test_jcamp_parser_never_crashes(blob: bytes) -> None:
    try:
        jcamp.parse_file(b"##TITLE=x\r\n" + blob)
    except FrameDecodeError:
        pass


# --------------------------------------------------------------------------- netCDF-3 / ANDI-MS
def gen_cdf1_tiny() -> bytes:
    """A one-dimension, one-attribute, one-variable CDF-1 file, byte by byte from the spec."""
    def name(text: bytes) -> bytes:
        return struct.pack(">i", len(text)) + text + b"\0" * ((4 - len(text) % 4) % 4)

    head = b"CDF\x01" + struct.pack(">i", 0)
    head += struct.pack(">ii", 0x0A, 1) + name(b"n") + struct.pack(">i", 3)  # dim_list
    head += struct.pack(">ii", 0x0C, 1) + name(b"title") + struct.pack(">ii", 2, 2) + b"hi\0\0"  # gatt_list
    var = name(b"v") + struct.pack(">ii", 1, 0) + struct.pack(">ii", 0, 0) + struct.pack(">ii", 4, 12)
    begin = len(head) + 8 + len(var) + 4
    head += struct.pack(">ii", 0x0B, 1) + var + struct.pack(">i", begin)
    return head + struct.pack(">3i", 7, -1, 65536)


def test_netcdf3_writer_is_byte_exact_and_reads_back() -> None:
    ds = netcdf3.Dataset(dims={"n": 3}, attrs={"title": "hi"},
                         variables={"v": netcdf3.Variable(("n",), netcdf3.NC_INT, [7, -1, 65536])})
    data = netcdf3.encode(ds)
    assert data == gen_cdf1_tiny()
    back = netcdf3.decode(data)
    assert back.dims == {"n": 3} and back.attrs == {"title": "hi"} and back.variables["v"].values == [7, -1, 65536]
    with pytest.raises(IncompleteFileError):
        netcdf3.decode(data[:-4])
    with pytest.raises(FrameDecodeError, match="magic"):
        netcdf3.decode(b"HDF\x01" + data[4:])


def test_andi_ms_round_trip_and_half_written() -> None:
    spectra = (MassSpectrum(T0, "QP2010", "S-2", "C-1", 6.0, (82.0, 182.0, 303.0), (999.0, 880.0, 260.0)),)
    run = LabRun(T0, "QP2010", "S-2", "C-1", _chrom("TIC"), spectra, "S-2.cdf")
    data = andi.encode_andi_ms(run)
    back = andi.parse_file(data, "S-2.cdf")
    assert back.sample_id == "S-2" and back.case_id == "C-1" and back.t == T0
    assert back.chromatogram is not None and back.chromatogram.times_min == run.chromatogram.times_min  # type: ignore[union-attr]
    assert back.chromatogram.ri_calibration == ((5.0, 1500.0), (7.0, 1700.0))
    [ms] = back.spectra
    assert ms.mz == (82.0, 182.0, 303.0) and ms.intensities == (999.0, 880.0, 260.0)
    assert ms.retention_time_min == pytest.approx(6.0, abs=1 / 120)  # the nearest scan
    ds = netcdf3.decode(data)
    assert ds.attrs["dataset_completeness"] == "C1+C2" and ds.attrs["test_ionization_mode"] == "Electron Impact"
    assert sum(ds.variables["point_count"].values) == 3
    for cut in (10, len(data) // 2, len(data) - 1):
        with pytest.raises(IncompleteFileError):
            andi.parse_file(data[:cut])


@settings(max_examples=80, deadline=None)
@given(blob=st.binary(max_size=400), cut=st.integers(min_value=0, max_value=400))
def test_netcdf_reader_never_crashes(blob: bytes, cut: int) -> None:
    base = gen_cdf1_tiny()
    for data in (blob, b"CDF\x01" + blob, base[:cut] + blob):
        try:
            netcdf3.decode(data)
        except FrameDecodeError:
            pass
