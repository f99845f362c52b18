"""Transports by URL and the device runner over real ptys, TCP sockets and folders."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from borderlink.edge.device import DeviceRunner
from borderlink.edge.drivers import open_url
from borderlink.edge.drivers.folder import FolderTransport
from borderlink.edge.drivers.serialport import SerialTransport
from borderlink.edge.drivers.tcp import TcpTransport
from borderlink.edge.journal import Journal
from borderlink.edge.recorder import Recorder
from borderlink.hardware_profiles.protocols import nmea

from ._radio import MinimalRadioProcessor, gen_emergency, gen_fix


def wait_for(cond: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what or cond}")


def types_in(journal: Journal) -> list[str]:
    return [r.record_type for r in journal.iter_all()]


def faults_in(journal: Journal) -> dict[str, int]:
    from borderlink.proto.record import decode_record

    out: dict[str, int] = {}
    for r in journal.iter_all():
        if r.record_type == "node.device_fault":
            body = decode_record(r.raw).body
            out[body["kind"]] = out.get(body["kind"], 0) + body["count"]
    return out


# --------------------------------------------------------------------------- URLs
@pytest.mark.parametrize("url, cls", [
    ("serial:///dev/ttyUSB0?baud=4800&parity=N&bytesize=8&stopbits=1", SerialTransport),
    ("tcp://127.0.0.1:7101", TcpTransport),
    ("file:///var/spool/gcms?settle_s=2", FolderTransport),
])
def test_url_picks_the_transport_of_its_scheme(url: str, cls: type) -> None:
    assert isinstance(open_url(url), cls)


@pytest.mark.parametrize("url, message", [
    ("usb://x", "unknown device URL scheme 'usb'"),
    ("/dev/ttyUSB0", "unknown device URL scheme ''"),
    ("tcp://127.0.0.1", "tcp://host:port"),
    ("serial:///dev/ttyS0?baud=fast", "integers"),
    ("serial:///dev/ttyS0?speed=9600", "unknown serial options"),
    ("file:///x?settle=1", "unknown folder options"),
])
def test_bad_urls_are_value_errors_naming_the_problem(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_url(url)


def test_serial_url_options_are_parsed() -> None:
    t = open_url("serial:///dev/ttyUSB2?baud=4800&parity=e&bytesize=7&stopbits=2")
    assert isinstance(t, SerialTransport)
    assert (t.port, t.baud, t.parity, t.bytesize, t.stopbits) == ("/dev/ttyUSB2", 4800, "E", 7,
                                                                 "2")


# --------------------------------------------------------------------------- pty device
class PtyDevice:
    """A serial device on a pty, reachable at a stable symlink (like /dev/serial/by-id/…)."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master = -1
        self.plug()

    def plug(self) -> None:
        self.master, slave = os.openpty()
        name = os.ttyname(slave)
        os.close(slave)
        tmp = self.link.with_suffix(".new")
        os.symlink(name, tmp)
        os.replace(tmp, self.link)

    def unplug(self) -> None:
        self.link.unlink()
        os.close(self.master)
        self.master = -1

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        if self.master >= 0:
            os.close(self.master)


def _runner(url: str, recorder: Recorder, **kw: object) -> DeviceRunner:
    return DeviceRunner(open_url(url), framer_factory=nmea.Framer,
                        decoder=nmea.Decoder(unit_id="P1"), processor=MinimalRadioProcessor(),
                        recorder=recorder, reconnect_s=0.05, tick_s=0.05, fault_report_s=0.1,
                        **kw)  # type: ignore[arg-type]


def test_pty_device_garbage_partial_frames_unplug_and_replug(
        tmp_path: Path, journal: Journal, recorder: Recorder) -> None:
    dev = PtyDevice(tmp_path / "ttyRADIO")
    runner = _runner(f"serial://{dev.link}?baud=4800", recorder)
    runner.start()
    try:
        wait_for(lambda: runner.health.state == "connected", what="pty open")
        dev.write(gen_fix(1) + b"\x00\xffNOISE" + gen_fix(2))
        half = gen_fix(3)
        dev.write(half[:20])  # a frame split across two reads
        time.sleep(0.05)
        dev.write(half[20:] + gen_fix(4)[:-5].replace(b"*", b"#") + b"\r\n")  # garbage line
        dev.write(gen_emergency(5))
        wait_for(lambda: "radio.emergency" in types_in(journal), what="emergency record")
        assert types_in(journal).count("radio.position") == 3
        wait_for(lambda: faults_in(journal).get("garbage", 0) >= 1, what="garbage fault")
        # Unplug mid-frame, then plug back at the same path.
        dev.write(gen_fix(6)[:15])
        time.sleep(0.05)
        dev.unplug()
        wait_for(lambda: runner.health.state == "disconnected", what="disconnect seen")
        dev.plug()
        wait_for(lambda: runner.health.state == "connected", what="reconnect")
        dev.write(gen_fix(7))
        wait_for(lambda: types_in(journal).count("radio.position") == 4, what="after replug")
        wait_for(lambda: {"disconnect", "reconnect"} <= set(faults_in(journal)),
                 what="disconnect/reconnect faults")
        # The cut frame 6 was discarded, never glued to frame 7.
        from borderlink.proto.record import decode_record

        fixes = [decode_record(r.raw).body["fix_ms"] for r in journal.iter_all()
                 if r.record_type == "radio.position"]
        assert fixes == [int((1_790_000_000.0 + i) * 1000) for i in (1, 2, 3, 7)]
    finally:
        runner.stop()
        dev.close()


def test_overload_drops_are_counted_and_recorded_without_slowing_the_reader(
        tmp_path: Path, journal: Journal, recorder: Recorder) -> None:
    class SlowProcessor(MinimalRadioProcessor):
        def feed(self, reading: object) -> list:  # type: ignore[override]
            time.sleep(0.02)
            return super().feed(reading)

    dev = PtyDevice(tmp_path / "ttyRADIO")
    runner = DeviceRunner(open_url(f"serial://{dev.link}"), framer_factory=nmea.Framer,
                          decoder=nmea.Decoder(unit_id="P1"), processor=SlowProcessor(),
                          recorder=recorder, queue_frames=4, reconnect_s=0.05,
                          tick_s=0.05, fault_report_s=0.1, max_batch_frames=1)
    runner.start()
    try:
        wait_for(lambda: runner.health.state == "connected")
        burst = b"".join(gen_fix(i) for i in range(60))
        t0 = time.monotonic()
        dev.write(burst)
        wait_for(lambda: runner.health.frames == 60, what="reader took the whole burst")
        read_time = time.monotonic() - t0
        assert read_time < 0.6  # 60 frames x 20 ms of processing would be 1.2 s
        dropped = runner.health.faults["overload"]
        assert dropped > 0
        wait_for(lambda: faults_in(journal).get("overload", 0) == dropped, what="overload record")
        wait_for(lambda: types_in(journal).count("radio.position") == 60 - dropped,
                 what="every queued frame processed")
    finally:
        runner.stop()
        dev.close()


# --------------------------------------------------------------------------- TCP device
def test_tcp_device_reconnects_after_the_device_drops_the_connection(
        journal: Journal, recorder: Recorder) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    conns: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                c, _ = server.accept()
            except OSError:
                return
            conns.append(c)

    threading.Thread(target=accept, daemon=True).start()
    runner = _runner(f"tcp://127.0.0.1:{port}", recorder)
    runner.start()
    try:
        wait_for(lambda: len(conns) == 1, what="first connection")
        conns[0].sendall(gen_fix(1) + gen_fix(2))
        wait_for(lambda: types_in(journal).count("radio.position") == 2)
        conns[0].close()
        wait_for(lambda: len(conns) == 2, what="reconnection")
        conns[1].sendall(gen_fix(3))
        wait_for(lambda: types_in(journal).count("radio.position") == 3)
        wait_for(lambda: {"disconnect", "reconnect"} <= set(faults_in(journal)))
    finally:
        runner.stop()
        server.close()
        for c in conns:
            c.close()


# --------------------------------------------------------------------------- folders
def _end_marker(data: bytes) -> bool:
    return data.rstrip().endswith(b"##END=")


def test_folder_returns_only_completed_files_and_moves_them(tmp_path: Path) -> None:
    now = [100.0]
    t = FolderTransport("file://x", tmp_path, settle_s=1.0, poll_s=0.0,
                        is_complete=_end_marker, clock=lambda: now[0])
    t.connect()
    (tmp_path / ".run1.jdx").write_bytes(b"##TITLE=a\n##END=\n")  # being written under a temp name
    (tmp_path / "run2.jdx.part").write_bytes(b"##TITLE=b\n")
    half = tmp_path / "run3.jdx"
    half.write_bytes(b"##TITLE=c\n##XYDATA=1 2\n")  # written in place, no rename
    assert t.read(0) == []  # first sight: not settled
    now[0] += 0.5
    with half.open("ab") as f:
        f.write(b"3 4\n")
    os.utime(half, ns=(0, 10**9))
    assert t.read(0) == []  # it grew: half-written
    assert t.partial_files == 1
    now[0] += 1.5
    assert t.read(0) == []  # settled but no end marker: still partial, not returned
    assert t.partial_files == 2
    with half.open("ab") as f:
        f.write(b"##END=\n")
    os.utime(half, ns=(0, 2 * 10**9))
    assert t.read(0) == []
    now[0] += 1.5
    assert t.read(0) == [b"##TITLE=c\n##XYDATA=1 2\n3 4\n##END=\n"]
    assert (tmp_path / "processed" / "run3.jdx").exists() and not half.exists()
    os.replace(tmp_path / ".run1.jdx", tmp_path / "run1.jdx")  # the atomic rename
    now[0] += 0.1
    assert t.read(0) == []
    now[0] += 1.5
    assert t.read(0) == [b"##TITLE=a\n##END=\n"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["processed", "run2.jdx.part"]


def test_atomic_folder_takes_renamed_files_at_once_and_gives_up_on_truncated(
        tmp_path: Path) -> None:
    now = [0.0]
    t = FolderTransport("file://x", tmp_path, poll_s=0.0, atomic=True, give_up_s=10,
                        is_complete=_end_marker, clock=lambda: now[0])
    t.connect()
    (tmp_path / "a.jdx").write_bytes(b"x\n##END=\n")
    (tmp_path / "b.jdx").write_bytes(b"truncated")
    assert t.read(0) == [b"x\n##END=\n"]
    assert t.partial_files == 1
    now[0] += 11
    assert t.read(0) == []
    assert t.rejected_files == 1 and (tmp_path / "rejected" / "b.jdx").exists()


def test_missing_folder_is_a_disconnected_device(tmp_path: Path) -> None:
    from borderlink.edge.errors import DeviceDisconnectedError

    t = open_url(f"file://{tmp_path}/nope")
    with pytest.raises(DeviceDisconnectedError, match="not there"):
        t.connect()


def _strict_end_marker(data: bytes) -> bool:
    """A decoder stand-in: False while being written, an error (of any type) when bad."""
    if b"poison" in data:
        raise ValueError("##NPOINTS=nan is no count")  # even a bare ValueError
    if b"bug" in data:
        raise RuntimeError("decoder bug")
    return _end_marker(data)


def test_bad_files_are_quarantined_and_the_scan_goes_on(tmp_path: Path) -> None:
    now = [0.0]
    t = FolderTransport("file://x", tmp_path, settle_s=1.0, poll_s=0.0,
                        is_complete=_strict_end_marker, clock=lambda: now[0])
    t.connect()
    (tmp_path / "a.jdx").write_bytes(b"poison\n##END=\n")
    (tmp_path / "b.jdx").write_bytes(b"bug\n##END=\n")
    (tmp_path / "c.jdx").write_bytes(b"good\n##END=\n")
    (tmp_path / "d.jdx").write_bytes(b"still being written")
    assert t.read(0) == []
    now[0] += 1.5
    assert t.read(0) == [b"good\n##END=\n"]  # after the two bad ones, in the same scan
    taken = t.take_quarantined()
    assert [(q.name, q.reason) for q in taken] == [
        ("a.jdx", "ValueError: ##NPOINTS=nan is no count"),
        ("b.jdx", "RuntimeError: decoder bug")]
    assert [q.path for q in taken] == [tmp_path / "quarantine" / "a.jdx",
                                       tmp_path / "quarantine" / "b.jdx"]
    assert (tmp_path / "quarantine" / "a.jdx").read_bytes() == b"poison\n##END=\n"
    assert stat.S_IMODE((tmp_path / "quarantine").stat().st_mode) == 0o700
    assert t.take_quarantined() == [] and t.quarantined_files == 2  # each taken once
    assert (tmp_path / "d.jdx").exists() and t.partial_files == 1  # partial: not quarantined
    now[0] += 5
    assert t.read(0) == [] and t.take_quarantined() == []  # and never re-offered


def test_oversized_files_are_quarantined_unread_once_settled(tmp_path: Path) -> None:
    now = [0.0]
    looked_at: list[bytes] = []

    def complete(data: bytes) -> bool:
        looked_at.append(data)
        return True

    t = FolderTransport("file://x", tmp_path, settle_s=1.0, poll_s=0.0, max_file_bytes=100,
                        is_complete=complete, clock=lambda: now[0])
    t.connect()
    big = tmp_path / "big.jdx"
    big.write_bytes(b"x" * 101)
    assert t.read(0) == []
    now[0] += 0.5
    with big.open("ab") as f:  # still being written: the settling rule holds for big files too
        f.write(b"y")
    os.utime(big, ns=(0, 10**9))
    assert t.read(0) == [] and big.exists()
    now[0] += 1.5
    (tmp_path / "edge.jdx").write_bytes(b"z" * 100)  # exactly the limit is fine
    assert t.read(0) == []
    [q] = t.take_quarantined()
    assert q.name == "big.jdx" and "102 bytes exceeds the profile's limit of 100 bytes" in q.reason
    assert looked_at == []  # never read
    now[0] += 1.5
    assert t.read(0) == [b"z" * 100]


def test_quarantine_folder_from_the_url_and_names_never_overwritten(tmp_path: Path) -> None:
    watched, kept = tmp_path / "in", tmp_path / "held" / "lab"
    watched.mkdir()
    t = open_url(f"file://{watched}?atomic=1&poll_s=0&quarantine={kept}",
                 is_complete=_strict_end_marker)
    t.connect()
    for n in range(3):
        (watched / "run.jdx").write_bytes(b"poison %d" % n)
        (watched / "ok.jdx").write_bytes(b"ok %d\n##END=\n" % n)
        assert t.read(0) == [b"ok %d\n##END=\n" % n]
        for q in t.take_quarantined():
            t.reported(q)  # the runner says so once the fault is in the journal
    assert sorted(p.name for p in kept.iterdir()) == ["run.1.jdx", "run.2.jdx", "run.jdx"]
    assert [(kept / f).read_bytes() for f in ("run.jdx", "run.1.jdx", "run.2.jdx")] == [
        b"poison 0", b"poison 1", b"poison 2"]
    assert sorted(p.name for p in (watched / "processed").iterdir()) == [
        "ok.1.jdx", "ok.2.jdx", "ok.jdx"]  # an instrument reusing a name loses nothing either
    os.replace(kept / "run.1.jdx", watched / "run.jdx")  # re-offered by the technician
    (watched / "run.jdx").write_bytes(b"fixed\n##END=\n")
    assert t.read(0) == [b"fixed\n##END=\n"]


def test_a_file_that_cannot_be_moved_is_reported_once_and_never_blocks(tmp_path: Path) -> None:
    watched = tmp_path / "in"
    watched.mkdir()
    not_a_folder = tmp_path / "quarantine-is-a-file"
    not_a_folder.write_bytes(b"")
    t = FolderTransport("file://x", watched, poll_s=0.0, atomic=True,
                        is_complete=_strict_end_marker, quarantine=not_a_folder)
    t.connect()
    (watched / "a.jdx").write_bytes(b"poison")
    (watched / "b.jdx").write_bytes(b"b\n##END=\n")
    assert t.read(0) == [b"b\n##END=\n"]
    [q] = t.take_quarantined()
    assert q.path == watched / "a.jdx" and "could not be moved" in q.reason
    for _ in range(3):  # left in place, skipped while unchanged: no fault storm, no block
        (watched / "c.jdx").write_bytes(b"c\n##END=\n")
        assert t.read(0) == [b"c\n##END=\n"]
        assert t.take_quarantined() == []
    (watched / "a.jdx").write_bytes(b"a fixed\n##END=\n")  # changed: looked at again
    assert t.read(0) == [b"a fixed\n##END=\n"]


def test_a_fault_owed_when_the_agent_stopped_is_reported_after_the_restart_once(
        tmp_path: Path) -> None:
    def agent() -> FolderTransport:
        t = FolderTransport("file://x", tmp_path, poll_s=0.0, atomic=True,
                            is_complete=_strict_end_marker)
        t.connect()
        return t

    first = agent()
    (tmp_path / "a.jdx").write_bytes(b"poison")
    (tmp_path / "b.jdx").write_bytes(b"poison too")
    assert first.read(0) == []
    a, b = first.take_quarantined()
    first.reported(a)  # b's fault record never made it: killed -9 before the journal write
    assert sorted(p.name for p in (tmp_path / "quarantine").iterdir()) == [
        ".b.jdx.fault-owed", "a.jdx", "b.jdx"]
    second = agent()
    [again] = second.take_quarantined()
    assert (again.name, again.path) == ("b.jdx", b.path)
    assert again.reason == b.reason + " (found after a restart)"
    assert second.take_quarantined() == []
    second.connect()  # a reconnect while the fault is being recorded: not handed out twice
    assert second.take_quarantined() == []
    second.reported(again)
    assert agent().take_quarantined() == []
    assert sorted(p.name for p in (tmp_path / "quarantine").iterdir()) == ["a.jdx", "b.jdx"]


def test_stopped_between_claiming_a_name_and_the_move_loses_nothing(tmp_path: Path) -> None:
    quarantine = tmp_path / "quarantine"
    quarantine.mkdir()
    (tmp_path / "c.jdx").write_bytes(b"poison")  # still in the watched folder
    (quarantine / "c.jdx").write_bytes(b"")  # the claimed name, empty
    (quarantine / ".c.jdx.fault-owed").write_text('{"name": "c.jdx", "reason": "x"}')
    t = FolderTransport("file://x", tmp_path, poll_s=0.0, atomic=True,
                        is_complete=_strict_end_marker)
    t.connect()
    assert t.take_quarantined() == [] and not any(quarantine.iterdir())
    assert t.read(0) == []
    [q] = t.take_quarantined()  # quarantined now, under its own name
    assert q.path == quarantine / "c.jdx" and q.path.read_bytes() == b"poison"
