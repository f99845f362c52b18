"""Install with rollback: the offer checks, the slot state machine, and the real supervisor
process (``borderlink firmware supervise``) running small real releases: wheels whose
``borderlink`` package shadows the installed one and whose entry point exits (a release that
crashes at start) or runs without ever reaching a hub. kill -9 of the supervisor is tested at
random points of an install."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cbor2
import pytest

from borderlink.firmware_tools.install import InstallRefused, Slots, check_offer, fetch_resumable
from borderlink.firmware_tools.manifest import Image, sign_image
from borderlink.proto.cose import sign1
from borderlink.proto.keys import SigningKey

PY = sys.executable


def wheel(main_py: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("borderlink/__init__.py", "")
        z.writestr("borderlink/__main__.py", main_py)
        z.writestr("borderlink-9.0.0.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: borderlink\nVersion: 9.0.0\n")
    return buf.getvalue()


def release(key: SigningKey, *, version: str, sequence: int, main_py: str = "",
            target: str = "edge-agent") -> bytes:
    files = {"borderlink-9.0.0-py3-none-any.whl": wheel(main_py),
             "requirements.txt": b"cbor2==5.6.0\n"}
    image = Image.create(target, version, sequence, "0.0.0", files)
    return sign_image(image, key).encode()


@pytest.fixture
def fw_key() -> SigningKey:
    return SigningKey.generate()


def test_offer_checks_refuse_tampered_wrong_target_downgrade_replay(fw_key: SigningKey) -> None:
    pub = fw_key.public
    good = release(fw_key, version="1.1.0", sequence=5)
    assert check_offer(good, pub, target="edge-agent", highest_sequence=4,
                       running_version="1.0.0").sequence == 5
    image = Image.decode(good)
    name = next(iter(image.files))
    tampered = Image(image.manifest_bytes, image.envelope,
                     {**image.files, name: image.files[name][:-1] + b"X"}).encode()
    other_key = release(SigningKey.generate(), version="1.1.0", sequence=5)
    cases = {
        "bad_signature_or_digest": [tampered, other_key],
        "wrong_target": [release(fw_key, version="1.1.0", sequence=5, target="sensor-node")],
        "downgrade": [release(fw_key, version="1.0.1", sequence=3)],
        "replay": [good],
    }
    for reason, offers in cases.items():
        for offer in offers:
            with pytest.raises(InstallRefused) as err:
                check_offer(offer, pub, target="edge-agent",
                            highest_sequence=5 if reason == "replay" else 4,
                            running_version="1.0.0")
            assert err.value.reason == reason


def test_fetch_resumes_from_partial_file(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    asked: list[int] = []

    def read_at(offset: int, n: int) -> bytes:
        asked.append(offset)
        return data[offset:offset + n]

    partial = tmp_path / "x.part"
    partial.write_bytes(data[:200_000])  # what a power cut left
    assert fetch_resumable(read_at, len(data), partial) == data
    assert asked[0] == 200_000 and all(o >= 200_000 for o in asked)


def test_slots_commit_and_rollback_and_trial_resolution(tmp_path: Path,
                                                         fw_key: SigningKey) -> None:
    slots = Slots(tmp_path / "slots")
    image = release(fw_key, version="1.1.0", sequence=2)
    manifest = Image.decode(image).manifest
    slots.accept(manifest)
    state = slots.install(image, manifest)
    assert state.trial == "b" and state.active == "a"
    assert (slots.slot("b") / "lib" / "borderlink" / "__main__.py").exists()
    slots.start_trial()
    state, rolled = slots.resolve_on_start()  # the supervisor died during the trial
    assert rolled == "1.1.0" and state.trial is None and state.active == "a"
    image3 = release(fw_key, version="1.2.0", sequence=3)
    m3 = Image.decode(image3).manifest
    slots.accept(m3)
    slots.install(image3, m3)
    slots.start_trial()
    state = slots.commit()
    assert state.active == "b" and state.running_version == "1.2.0"
    assert Slots(tmp_path / "slots").load().highest_sequence == 3


# -- the real supervisor process ---------------------------------------------------------

def node_setup(tmp_path: Path, fw_key: SigningKey, deadline: float) -> tuple[Path, Path, Path]:
    downlink = tmp_path / "downlink"
    downlink.mkdir()
    cfg = tmp_path / "node.toml"
    # Only what the supervisor reads: the factory agent (no slot yet) fails on this config,
    # which is the supervisor's problem to survive (it restarts it), not the test's subject.
    cfg.write_text(f'[downlink]\ndir = "{downlink}"\n[journal]\npath = "{tmp_path}/j.db"\n'
                   f'[firmware]\nsigning_key = "{fw_key.public.hex()}"\n'
                   f'health_deadline_s = {deadline}\n')
    return cfg, downlink, tmp_path / "slots"


def offer(downlink: Path, tmp_path: Path, image: bytes, n: int) -> None:
    src = tmp_path / f"image-{n}.bin"
    src.write_bytes(image)
    issuer = SigningKey.generate()
    payload = cbor2.dumps({"kind": "firmware", "version": n, "target": "*", "issuer": "OPS",
                           "content": {"source": str(src), "size": len(image)}},
                          canonical=True)
    tmp = downlink / ".firmware.cose.tmp"
    tmp.write_bytes(sign1(payload, issuer))
    os.replace(tmp, downlink / "firmware.cose")


def events(slots: Path) -> list[dict]:
    try:
        return [json.loads(x) for x in (slots / "events.jsonl").read_text().splitlines()]
    except FileNotFoundError:
        return []


def wait_event(slots: Path, kind: str, timeout: float = 20) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for e in events(slots):
            if e["type"] == kind:
                return e
        time.sleep(0.05)
    raise AssertionError(f"no {kind}; events: {events(slots)}")


def supervise(cfg: Path, slots: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([PY, "-m", "borderlink", "firmware", "supervise",
                             "--node-config", str(cfg), "--slots", str(slots)],
                            stderr=subprocess.DEVNULL)


def stop(p: subprocess.Popen[bytes]) -> None:
    p.send_signal(signal.SIGTERM)
    p.wait(15)


@pytest.mark.parametrize("main_py,why", [
    ("raise SystemExit(3)\n", "exited with status 3"),
    ("import time\ntime.sleep(60)\n", "no acknowledged node.boot"),
])
def test_supervisor_rolls_back_a_release_that_crashes_or_never_reaches_a_hub(
        tmp_path: Path, fw_key: SigningKey, main_py: str, why: str) -> None:
    cfg, downlink, slots = node_setup(tmp_path, fw_key, deadline=1.5)
    sup = supervise(cfg, slots)
    try:
        offer(downlink, tmp_path, release(fw_key, version="2.0.0", sequence=7,
                                          main_py=main_py), 1)
        rolled = wait_event(slots, "node.firmware_rolled_back")
        assert why in rolled["body"]["reason"]
        kinds = [e["type"] for e in events(slots)]
        assert kinds == ["node.firmware_offered", "node.firmware_installing",
                         "node.firmware_rolled_back"]
        state = Slots(slots).load()
        assert state.trial is None and state.active == "a" and state.highest_sequence == 7
        # the same offer again (a replay) and an older one are refused with a record
        offer(downlink, tmp_path, release(fw_key, version="2.0.0", sequence=7), 2)
        assert "sequence 7" in wait_event(slots, "node.firmware_refused")["body"]["detail"]
    finally:
        stop(sup)


def test_supervisor_refuses_tampered_and_wrong_target_offers(tmp_path: Path,
                                                              fw_key: SigningKey) -> None:
    cfg, downlink, slots = node_setup(tmp_path, fw_key, deadline=1.0)
    sup = supervise(cfg, slots)
    try:
        offer(downlink, tmp_path, release(fw_key, version="2.0.0", sequence=7,
                                          target="sensor-node"), 1)
        assert wait_event(slots, "node.firmware_refused")["body"]["reason"] == "wrong_target"
        image = Image.decode(release(fw_key, version="2.0.0", sequence=7))
        name = next(iter(image.files))
        bad = Image(image.manifest_bytes, image.envelope, {**image.files, name: b"x"}).encode()
        offer(downlink, tmp_path, bad, 2)
        end = time.monotonic() + 10
        while len(events(slots)) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        assert events(slots)[1]["body"]["reason"] == "bad_signature_or_digest"
        assert not (slots / "a").exists() and not (slots / "b").exists()
    finally:
        stop(sup)


def test_kill_9_of_the_supervisor_during_install_leaves_a_bootable_slot(
        tmp_path: Path, fw_key: SigningKey) -> None:
    cfg, downlink, slots = node_setup(tmp_path, fw_key, deadline=1.0)
    image = release(fw_key, version="2.0.0", sequence=7, main_py="raise SystemExit(3)\n")
    offer(downlink, tmp_path, image, 1)
    rng = random.Random(13)
    for _ in range(4):
        sup = supervise(cfg, slots)
        time.sleep(rng.uniform(0.3, 1.5))
        sup.kill()
        sup.wait()
        state = Slots(slots).load()  # readable after every kill: never a torn state file
        assert state.active == "a"
        if state.trial is not None:
            assert (slots / state.trial / "manifest.cbor").exists()
    sup = supervise(cfg, slots)
    try:
        wait_event(slots, "node.firmware_rolled_back")
        end = time.monotonic() + 10
        while Slots(slots).load().trial is not None and time.monotonic() < end:
            time.sleep(0.05)
        state = Slots(slots).load()
        assert state.trial is None and state.active == "a" and state.done_sequence == 7
    finally:
        stop(sup)
