"""Power cut at process level during a firmware update: ``kill -9`` of the supervisor's whole
process group (supervisor and agent, as a power cut stops both) mid-download, and of the
supervisor alone mid-install (its agent must die with it). After each restart the node runs a
whole release — the old one or the new one, never a half-written slot — and the download
resumes where the cut left it. Same real parts as test_update_e2e: hub process, supervise,
edge run, firmware offer, gRPC on loopback."""

from __future__ import annotations

import hashlib
import os
import re
import signal
from pathlib import Path

from borderlink.firmware_tools.manifest import Manifest

from .fwsite import FirmwareSite, wait_for

RATE = 300_000  # bytes/s: the ~0.7 MB image takes about 2 s to fetch, long enough to cut


def slot_is_whole(site: FirmwareSite, slot: str) -> bool:
    """Every file the slot's manifest lists is there with its size and SHA-256."""
    folder = site.slots / slot
    manifest = Manifest.decode((folder / "manifest.cbor").read_bytes())
    return all(hashlib.sha256((folder / f.name).read_bytes()).digest() == f.sha256
               for f in manifest.files)


def check_bootable(site: FirmwareSite) -> None:
    """What the state says boots next is whole: the factory install or a complete slot; a
    trial, if one is marked, is complete too."""
    state = site.state()  # readable after every cut: never a torn state file
    if state.active in state.versions:
        assert slot_is_whole(site, state.active)
    if state.trial is not None:
        assert slot_is_whole(site, state.trial)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_kill_9_mid_download_and_mid_install_leaves_a_whole_release_and_resumes(
        tmp_path: Path) -> None:
    site = FirmwareSite(tmp_path)
    try:
        site.start_hub()
        site.provision_node(health_deadline_s=25, download_rate_bytes_per_s=RATE)
        site.start_supervisor()
        wait_for(lambda: site.hub_has("node.boot", software="borderlink 0.1.0"), 30,
                 "the factory agent's node.boot at the hub")
        image = site.image("0.2.0", 2)
        site.offer(image)

        # 1. power cut mid-download: supervisor and agent killed together
        downloads = site.slots / "download"

        def partway() -> int:
            parts = list(downloads.glob("*.part")) if downloads.exists() else []
            size = parts[0].stat().st_size if parts else 0
            return size if 2 * 65536 <= size < len(image) - 65536 else 0
        wait_for(partway, 20, "the download to be under way")
        assert site.supervisor is not None
        os.killpg(site.supervisor.pid, signal.SIGKILL)
        site.supervisor.wait()
        cut_at = next(downloads.glob("*.part")).stat().st_size
        assert 0 < cut_at < len(image)
        check_bootable(site)
        state = site.state()
        assert (state.active, state.trial, state.versions, state.highest_sequence) == (
            "a", None, {}, 0)  # nothing accepted yet: the factory install boots
        assert not (site.slots / "b").exists() and not (site.slots / "b.new").exists()

        # 2. restart: the download resumes at the cut; kill -9 of the supervisor alone as
        # soon as it starts unpacking
        site.start_supervisor()
        installing = wait_for(lambda: [e for e in site.events()
                                       if e["type"] == "node.firmware_installing"], 20,
                              f"the install to start; log: {site.supervisor_log()[-1500:]}")
        agent = site.agent_pid()
        half_written = (site.slots / "b.new").exists()
        site.kill_supervisor()
        resumed = re.findall(r"download resumed at (\d+) of (\d+) bytes", site.supervisor_log())
        assert resumed and int(resumed[0][0]) >= cut_at and int(resumed[0][1]) == len(image)
        assert len(installing) == 1
        if agent is not None:  # the old agent dies with its supervisor (PR_SET_PDEATHSIG)
            wait_for(lambda: not alive(agent), 5, "the orphaned agent to die")
        check_bootable(site)
        state = site.state()
        assert state.active == "a" and state.highest_sequence == 2  # accepted, not committed
        print(f"cut mid-download at {cut_at} of {len(image)} bytes; second cut "
              f"{'while b.new was half written' if half_written else 'after the unpack'}")

        # 3. restart: the install is taken up again from the complete download and commits
        site.start_supervisor()
        wait_for(lambda: site.hub_has("node.firmware_committed", version="0.2.0"), 40,
                 f"the commit at the hub; log: {site.supervisor_log()[-2000:]}")
        state = site.state()
        assert (state.active, state.trial, state.running_version) == ("b", None, "0.2.0")
        assert slot_is_whole(site, "b") and not (site.slots / "b.new").exists()
        boots = [r.body["software"] for r in site.check_hub_chain()
                 if r.record_type == "node.boot"]
        assert boots[0] == "borderlink 0.1.0" and boots[-1] == "borderlink 0.2.0"
        assert "borderlink 0.2.0" not in boots[:-1]  # no half-installed release ever booted
        kinds = [e["type"] for e in site.events()]
        assert kinds == ["node.firmware_offered", "node.firmware_installing",
                         "node.firmware_offered", "node.firmware_installing",
                         "node.firmware_committed"], kinds
        assert not list(downloads.glob("*.part"))
    finally:
        site.stop()
