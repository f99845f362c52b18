"""A fault campaign: a running site, a schedule of faults, a drain, the invariants.

One *round* provisions a fresh site (CA, hub, agents, emulators, as :mod:`borderlink.demo.site`
does), starts the scenario's devices and, while they produce records, fires the faults of a
seeded random schedule, each at its instant, in its own thread:

``kill-agent``   ``kill -9`` of one edge agent's process group, restarted after a pause
``kill-hub``     ``kill -9`` of the hub (and its verify workers), restarted on the same store
``cut``          the node's link dropped (connections reset, new ones refused), then restored
``flap``         the link cut and restored several times in quick succession
``stall``        the link half-open: connections stay up, nothing passes, no reset is sent
``slow``         every chunk on the link held back (a congested line)
``blackhole``    the link half-open for longer than the keepalive (:data:`BLACKHOLE_S`): the
                 connections stay up, every byte both ways is dropped, no reset; the node
                 must notice (dial again) before the line returns, then sync within
                 :data:`CLOCK_RECOVERY_BOUND_S`
``break-stream`` an agency's federation stream broken off; it resumes from its cursor
``disk-full``    the filesystem under a node's journal filled up (a ballast file), then freed;
                 the nodes that take it have their journal on a small tmpfs of their own
``poison-export`` a lab export with ``##NPOINTS=nan`` dropped (renamed in, complete) into a
                 JCAMP-DX instrument's watched folder; it must be quarantined with exactly one
                 ``node.device_fault`` naming it while the instrument's own exports go on
``pg-terminate`` every PostgreSQL connection of the hub ended (``pg_terminate_backend``)
                 while the nodes sync, three times in a row; the hub must store the nodes'
                 records again within :data:`PG_RECOVERY_BOUND_S` (rounds whose hub is on
                 PostgreSQL only, see :mod:`.postgres`)
``clock-node``   the node's wall clock jumped forward by hours (its link dropped meanwhile, so
                 that it reconnects and measures its skew under the wrong clock), then as far
                 back, then right again (its agent runs under :mod:`.clock`); it must sync
                 within :data:`CLOCK_RECOVERY_BOUND_S` of its clock's return
``clock-hub``    the same for the hub's clock: meanwhile the nodes' records are refused as
                 ``TIME_IN_FUTURE`` (counted by reason), none lost

After the devices finish, every link is restored and the suite waits until each node's journal
tip is at the hub, then checks the invariants (:mod:`.invariants`). A long run is several
rounds with different seeds.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

import grpc

from borderlink.demo.audit import CheckpointWatcher
from borderlink.demo.monitor import SiteConsole
from borderlink.demo.site import Node, Site
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.protocols import jcamp
from borderlink.hardware_profiles.readings import Chromatogram
from borderlink.hub.storage import open_storage
from borderlink.hub_init import DEFAULT_ORIGIN
from borderlink.proto.record import decode_record

from .attacks import STOLEN, Attacker, AttackResult, run_attacks
from .clock import write_offset
from .errors import FaultSuiteError
from .follower import AgencyFollower
from .invariants import Invariants, check_round, journal_tip
from .postgres import DEFAULT_URL, RoundStore
from .refusal_metrics import refused_by_reason, scrape_refusals

#: Fault kinds, in the order the table prints them.
FAULT_KINDS = ("kill-agent", "kill-hub", "cut", "flap", "stall", "slow", "break-stream",
               "disk-full", "poison-export", "pg-terminate", "clock-node", "clock-hub",
               "blackhole")
#: How long a ``blackhole`` lasts (s): past the uplink's keepalive (a ping after 20 s without
#: an answer in 10 s) and the hub's (30 s + 10 s).
BLACKHOLE_S = (35.0, 42.0)
#: Fault kinds that need the processes started under an offset clock (:mod:`.clock`).
CLOCK_KINDS = frozenset({"clock-node", "clock-hub"})
#: Seconds within which the nodes must have synced what they held when a clock or a line
#: came right.
CLOCK_RECOVERY_BOUND_S = 30.0
#: Fault kinds only a round whose hub stores on PostgreSQL can take.
POSTGRES_KINDS = frozenset({"pg-terminate"})
#: Seconds within which the hub must store records again after its connections were ended.
PG_RECOVERY_BOUND_S = 30.0
#: Size of the filesystem a ``disk-full`` target's journal lives on.
SMALL_DISK = "16m"
#: Seconds the emulators wait before the first frame (the agents open their devices first).
START_DELAY_S = 6.0


@dataclass(frozen=True)
class CampaignConfig:
    """What one run does; :data:`SHORT` and :data:`LONG` are the two documented runs."""

    scenario: str = "smoke"
    rounds: int = 1
    duration_s: float | None = 50.0  # scenario seconds of device activity per round (None: all)
    speed: float = 1.0
    seed: int = 0
    #: Faults per round, by kind.
    faults: dict[str, int] = field(default_factory=dict)
    drain_timeout_s: float = 180.0
    #: The site broker: ``"own"`` starts a Mosquitto of the round's own on a free loopback port
    #: (so that no other run on the machine can publish into the round's alert topics), a
    #: ``(host, port)`` uses that broker, ``None`` runs without a site bus.
    broker: tuple[str, int] | str | None = "own"
    #: Run the attack corpus (:mod:`.attacks`) once per round, mid-round.
    attacks: bool = True
    #: A PostgreSQL server (libpq URL): the hub of every *postgres_every*-th round (1: every
    #: round) stores there, in a schema of the round's own; None: every hub on SQLite.
    postgres: str | None = None
    postgres_every: int = 1

    def on_postgres(self, index: int) -> bool:
        """Whether round *index* (0-based) has its hub on PostgreSQL."""
        return self.postgres is not None and self.postgres_every > 0 \
            and index % self.postgres_every == self.postgres_every - 1


#: The CI run: one round of about a minute with every fault kind.
SHORT = CampaignConfig(
    rounds=1, duration_s=45.0,
    faults={"kill-agent": 6, "kill-hub": 2, "cut": 3, "flap": 2, "stall": 2, "slow": 2,
            "break-stream": 4, "disk-full": 2, "poison-export": 2, "clock-node": 2,
            "clock-hub": 1, "blackhole": 1},
)
#: The long run: ten rounds of two minutes of the stress scenario (rates far above a real site,
#: so that kills land while records are being written and sent), a fault about every second;
#: every second round's hub on PostgreSQL, its connections terminated under load.
LONG = CampaignConfig(
    scenario="stress", rounds=10, duration_s=120.0,
    faults={"kill-agent": 40, "kill-hub": 6, "cut": 10, "flap": 6, "stall": 6, "slow": 6,
            "break-stream": 12, "disk-full": 6, "poison-export": 6, "pg-terminate": 6,
            "clock-node": 6, "clock-hub": 2, "blackhole": 4},
    postgres=DEFAULT_URL, postgres_every=2,
)


@dataclass
class RoundResult:
    """What one round injected and what the invariants found."""

    seed: int
    injected: Counter[str]
    survived: Counter[str]
    invariants: Invariants
    seconds: float
    attacks: list[AttackResult] = field(default_factory=list)
    #: Records the real nodes made and the hub accepted while the attacks ran, and for how long.
    healthy_made: int = 0
    healthy_accepted: int = 0
    attack_seconds: float = 0.0
    #: The hub's store: ``sqlite`` or ``postgresql``.
    storage: str = "sqlite"
    #: Per ``pg-terminate``: seconds from the connections' end to the next record stored.
    pg_recovery_s: list[float] = field(default_factory=list)
    #: Per clock jump: seconds from the clock's return to the nodes' journals synced.
    clock_recovery_s: list[float] = field(default_factory=list)
    #: Records the hub refused as TIME_IN_FUTURE during the clock jumps (its /metrics).
    refused_time_in_future: int = 0
    #: Per ``blackhole``: seconds until the node dialled again, and from the line's return
    #: until the node's journal was synced.
    blackhole_detect_s: list[float] = field(default_factory=list)
    blackhole_recovery_s: list[float] = field(default_factory=list)


@dataclass
class _Fault:
    at_s: float
    kind: str
    target: str  # node id, "hub", or an agency


def schedule(config: CampaignConfig, nodes: list[str], agencies: list[str], active_s: float,
             rng: random.Random, lab_nodes: list[str] | None = None) -> list[_Fault]:
    """The round's faults at seeded random instants within the devices' active window.
    ``poison-export`` targets one of *lab_nodes* (nodes reading JCAMP-DX from a folder)."""
    out = []
    for kind, count in config.faults.items():
        if kind not in FAULT_KINDS:
            raise FaultSuiteError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if kind in POSTGRES_KINDS and count and not config.postgres:
            raise FaultSuiteError(f"{kind} needs the round's hub on PostgreSQL (--postgres URL)")
        if kind == "poison-export" and count and not lab_nodes:
            raise FaultSuiteError("poison-export needs a node reading JCAMP-DX exports from a "
                                  "folder; the scenario has none")
        for _ in range(count):
            at = START_DELAY_S + rng.uniform(0.05, 0.9) * active_s
            target = ("hub" if kind in ("kill-hub", "pg-terminate", "clock-hub") else
                      rng.choice(agencies) if kind == "break-stream" else
                      rng.choice(lab_nodes or nodes) if kind == "poison-export" else
                      rng.choice(nodes))
            out.append(_Fault(at, kind, target))
    return sorted(out, key=lambda f: f.at_s)


class _Injector:
    """Performs faults on a running site; one lock per target so faults on it do not overlap."""

    def __init__(self, site: Site, followers: dict[str, AgencyFollower], rng: random.Random,
                 log: Callable[[str], None], store: RoundStore | None = None) -> None:
        self.site = site
        self.store = store
        self.pg_recovery_s: list[float] = []
        self.clock_recovery_s: list[float] = []
        #: Held while the hub's clock is off (the attack phase waits for it, see _AttackPhase).
        self.hub_clock = threading.Lock()
        self.refused_time_in_future = 0
        self.blackhole_detect_s: list[float] = []
        self.blackhole_recovery_s: list[float] = []
        self.followers = followers
        self.rng = rng
        self.log = log
        self.locks: dict[str, threading.Lock] = {}
        self.survived: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.errors: list[str] = []
        self._guard = threading.Lock()
        self._poisoned = 0

    def fire(self, fault: _Fault) -> None:
        with self._guard:
            lock = self.locks.setdefault(fault.target, threading.Lock())
        with lock:
            try:
                getattr(self, "_" + fault.kind.replace("-", "_"))(fault.target)
            except Exception as exc:  # a fault that could not be injected is a suite failure
                self.errors.append(f"{fault.kind} on {fault.target}: {exc}")
                return
            with self._guard:
                self.injected[fault.kind] += 1

    # -- the faults ------------------------------------------------------------------------

    def _node(self, node_id: str) -> Node:
        return next(n for n in self.site.nodes if n.node_id == node_id)

    def _kill_agent(self, node_id: str) -> None:
        node = self._node(node_id)
        process = self.site.processes[f"edge-{node_id}"]
        _kill9(process.pid)
        process.wait(10)
        time.sleep(self.rng.uniform(0.2, 2.0))
        self.site.spawn_agent(node)
        self.log(f"killed -9 and restarted the agent of {node_id}")

    def _kill_hub(self, _target: str) -> None:
        process = self.site.processes["hub"]
        _kill9(process.pid)
        process.wait(10)
        time.sleep(self.rng.uniform(0.3, 1.5))
        self.site.start_hub()
        self.log("killed -9 and restarted the hub")

    def _relay(self, node_id: str):  # noqa: ANN202 - LinkRelay, kept out of the signature
        relay = self._node(node_id).relay
        if relay is None:
            raise FaultSuiteError(f"{node_id} has no link relay")
        return relay

    def _cut(self, node_id: str) -> None:
        relay = self._relay(node_id)
        relay.cut()
        time.sleep(self.rng.uniform(1.0, 4.0))
        relay.restore()
        self.log(f"cut and restored the link of {node_id}")

    def _flap(self, node_id: str) -> None:
        relay = self._relay(node_id)
        for _ in range(5):
            relay.cut()
            time.sleep(self.rng.uniform(0.1, 0.4))
            relay.restore()
            time.sleep(self.rng.uniform(0.2, 0.6))
        self.log(f"flapped the link of {node_id}")

    def _stall(self, node_id: str) -> None:
        relay = self._relay(node_id)
        relay.stall()
        time.sleep(self.rng.uniform(3.0, 8.0))
        relay.restore()
        self.log(f"stalled (half-open) and restored the link of {node_id}")

    def _blackhole(self, node_id: str) -> None:
        relay = self._relay(node_id)
        dialled = relay.accepted
        relay.blackhole()
        began = time.monotonic()
        lasts = self.rng.uniform(*BLACKHOLE_S)
        noticed: float | None = None
        while time.monotonic() - began < lasts:
            if noticed is None and relay.accepted > dialled:
                noticed = time.monotonic() - began
            time.sleep(0.1)
        relay.restore()
        if noticed is None:
            raise FaultSuiteError(f"{node_id} did not notice its dead link in {lasts:.0f} s "
                                  "(no new connection while every byte was dropped)")
        recovered = self._synced([self._node(node_id)], f"{node_id}'s link's return")
        with self._guard:
            self.blackhole_detect_s.append(noticed)
            self.blackhole_recovery_s.append(recovered)
        self.log(f"blackholed the link of {node_id} for {lasts:.0f} s: it dialled again after "
                 f"{noticed:.1f} s and synced {recovered:.1f} s after the line returned")

    def _synced(self, nodes: list[Node], since: str) -> float:
        """Seconds until the hub holds every record *nodes* held in their journals now."""
        began = time.monotonic()
        owed = {n.node_id: journal_tip(n.journal_path) for n in nodes}
        while True:
            storage = open_storage(self.site.store_url)
            try:
                behind = {}
                for node_id, tip in owed.items():
                    row = storage.get_node(node_id)
                    if (row.last_seq if row is not None else 0) < tip:
                        behind[node_id] = tip
            finally:
                storage.close()
            if not behind:
                return time.monotonic() - began
            if time.monotonic() - began > CLOCK_RECOVERY_BOUND_S:
                raise FaultSuiteError(f"{', '.join(sorted(behind))} not synced within "
                                      f"{CLOCK_RECOVERY_BOUND_S:g} s of {since} (journal tips "
                                      f"then: {behind})")
            time.sleep(0.2)

    def _slow(self, node_id: str) -> None:
        relay = self._relay(node_id)
        relay.slow(self.rng.uniform(0.05, 0.3))
        time.sleep(self.rng.uniform(3.0, 6.0))
        relay.restore()
        self.log(f"slowed and restored the link of {node_id}")

    def _disk_full(self, node_id: str) -> None:
        disk = self._node(node_id).journal_path.parent
        ballast = disk / "ballast"
        fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:  # unbuffered: the write that finds the disk full fails here, not at close
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError:
            pass  # full
        finally:
            os.close(fd)
        time.sleep(self.rng.uniform(3.0, 8.0))
        ballast.unlink()
        self.log(f"filled and freed the disk under the journal of {node_id}")

    def _poison_export(self, node_id: str) -> None:
        node = self._node(node_id)
        folder = Path(unquote(urlsplit(node.url).path))
        with self._guard:
            self._poisoned += 1
            name = f"poisoned-{self._poisoned:03d}.jdx"
        tmp = folder / f".{name}.tmp"
        tmp.write_bytes(poisoned_export())
        os.replace(tmp, folder / name)  # complete when it appears: bad, not half-written
        kept = folder / "quarantine" / name
        deadline = time.monotonic() + 30.0
        while not (kept.exists() and len(_quarantine_faults(node.journal_path, name)) >= 1):
            if time.monotonic() > deadline:
                raise FaultSuiteError(f"{name} in {folder} was not quarantined with a fault "
                                      "record within 30 s")
            time.sleep(0.2)
        time.sleep(2.0)  # a storm would add records every fault interval
        faults = _quarantine_faults(node.journal_path, name)
        if len(faults) != 1:
            raise FaultSuiteError(f"{name}: {len(faults)} fault records, expected one: {faults}")
        self.log(f"dropped {name} (##NPOINTS=nan) into the export folder of {node_id}: "
                 "quarantined with one fault record")

    def _pg_terminate(self, _target: str) -> None:
        if self.store is None:
            raise FaultSuiteError("the round's hub is not on PostgreSQL")
        ended = 0
        for last in (False, False, True):  # again as the pool reconnects: batches in flight
            ended += self.store.terminate_hub()
            if not last:
                time.sleep(self.rng.uniform(0.2, 0.8))
        began = time.monotonic()  # recovery: from the last termination to a record stored
        made0, stored0 = _made_and_stored(self.site)
        if not ended:
            raise FaultSuiteError("the hub had no PostgreSQL connection to terminate")
        while True:
            made, stored = _made_and_stored(self.site)
            if stored > stored0:
                break
            waited = time.monotonic() - began
            if waited > PG_RECOVERY_BOUND_S:
                if made > made0:  # records were waiting and none was stored
                    raise FaultSuiteError(
                        f"the hub stored none of {made - made0} new records within "
                        f"{PG_RECOVERY_BOUND_S:g} s of its PostgreSQL connections' end")
                self.log("pg-terminate: the nodes made no record meanwhile; recovery unmeasured")
                return
            time.sleep(0.1)
        recovered = time.monotonic() - began
        with self._guard:
            self.pg_recovery_s.append(recovered)
        self.log(f"terminated {ended} PostgreSQL connections of the hub; it stored records "
                 f"again {recovered:.1f} s later")

    def _clock_node(self, node_id: str) -> None:
        node = self._node(node_id)
        relay = node.relay
        if relay is None:
            raise FaultSuiteError(f"{node_id} has no link relay")

        def reconnect() -> None:  # a Hello and Resume under the wrong clock
            relay.cut()
            time.sleep(self.rng.uniform(0.3, 1.0))
            relay.restore()

        self._clock_jump(f"edge-{node_id}", [node], reconnect)

    def _clock_hub(self, _target: str) -> None:
        with self.hub_clock:
            self._clock_jump("hub", self.site.nodes)

    def _clock_jump(self, process: str, waiting: list[Node],
                    while_ahead: Callable[[], None] | None = None) -> None:
        """Forward by hours, as far back, then right; then the nodes must catch up."""
        path = clock_file(self.site, process)
        hours = self.rng.choice((1, 2, 3))
        url = f"http://127.0.0.1:{self.site.metrics_port}/metrics"
        before = refused_by_reason(url)
        for offset in (hours * 3600.0, -hours * 3600.0):
            write_offset(path, offset)
            if while_ahead is not None and offset > 0:
                time.sleep(0.5)
                while_ahead()
            time.sleep(self.rng.uniform(3.0, 6.0))
        write_offset(path, 0.0)
        recovered = self._synced(waiting, f"the {process} clock's return")
        after = refused_by_reason(url)
        future = 0
        if before is not None and after is not None:  # None: a hub kill reset the counters
            future = round(after.get("TIME_IN_FUTURE", 0.0) - before.get("TIME_IN_FUTURE", 0.0))
        with self._guard:
            self.clock_recovery_s.append(recovered)
            self.refused_time_in_future += max(0, future)
        self.log(f"clock of {process} jumped +{hours} h, -{hours} h and back; synced "
                 f"{recovered:.1f} s later, {future} records refused TIME_IN_FUTURE meanwhile")

    def _break_stream(self, agency: str) -> None:
        self.followers[agency].break_stream()
        self.log(f"broke off the federation stream of {agency}")


def poisoned_export() -> bytes:
    """A complete JCAMP-DX chromatogram whose ``##NPOINTS=`` is NaN (the issue's file)."""
    times = tuple(round(i * 0.01, 6) for i in range(11))
    good = jcamp.encode_chromatogram_file(Chromatogram(
        0.0, "GC-2010", "POISON", "", "FID", times, tuple(100.0 for _ in times), (), "m"))
    head, _, rest = good.partition(b"##NPOINTS=")
    return head + b"##NPOINTS=nan" + rest[rest.index(b"\r\n"):]


def _quarantine_faults(journal: Path, name: str) -> list[str]:
    """The ``detail`` of each quarantine fault in *journal* naming *name*."""
    if not journal.exists():
        return []
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5.0)
    try:
        raws = [row[0] for row in conn.execute(
            "SELECT raw FROM records WHERE type = 'node.device_fault'")]
    except sqlite3.OperationalError:  # the schema not made yet
        return []
    finally:
        conn.close()
    bodies = [decode_record(raw).body for raw in raws]
    return [str(b.get("detail", "")) for b in bodies
            if b.get("kind") == "quarantined" and str(b.get("detail", "")).startswith(name + " ")]


def clock_file(site: Site, process: str) -> Path:
    """The offset file of *process*'s clock (``hub``, ``edge-<node>``)."""
    return site.work / "clocks" / f"{process}.offset"


def _offset_clocks(site: Site) -> None:
    """Start the hub and the agents under clocks the suite sets (all right at first)."""
    (site.work / "clocks").mkdir(exist_ok=True)

    def launcher(name: str) -> list[str]:
        if name != "hub" and not name.startswith("edge-"):
            return ["-m", "borderlink"]
        if not clock_file(site, name).exists():
            write_offset(clock_file(site, name), 0.0)
        return ["-m", "borderlink.faults.clock", str(clock_file(site, name))]

    site.launcher = launcher


def _made_and_stored(site: Site) -> tuple[int, int]:
    """Records the real nodes hold in their journals, and hold at the hub (read from both
    stores, never from what a process says)."""
    made = sum(journal_tip(n.journal_path) for n in site.nodes)
    storage = open_storage(site.store_url)
    try:
        stored = 0
        for node in site.nodes:
            row = storage.get_node(node.node_id)
            stored += row.last_seq if row is not None else 0
    finally:
        storage.close()
    return made, stored


def _lab_nodes(site: Site) -> list[str]:
    """Nodes whose device is a folder of JCAMP-DX exports."""
    out = []
    for node in site.nodes:
        profile = load_profile(node.profile)
        if profile.transport.scheme == "file" and profile.framing.protocol == "jcamp-dx":
            out.append(node.node_id)
    return out


def _kill9(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the process group: the hub's verify workers too
    except ProcessLookupError:
        pass


def run_round(config: CampaignConfig, seed: int, work: Path,
              log: Callable[[str], None], *, postgres: bool | None = None) -> RoundResult:
    """One round on a fresh site in *work*; raises :class:`FaultSuiteError` if it cannot run.
    With *postgres* (default: whether the config names a server) the hub stores there."""
    begin = time.monotonic()
    if postgres is None:
        postgres = config.postgres is not None
    if not postgres:  # the PostgreSQL-only faults wait for a round on PostgreSQL
        config = replace(config, postgres=None, faults={
            k: v for k, v in config.faults.items() if k not in POSTGRES_KINDS})
    store = RoundStore.new(config.postgres) if config.postgres else None
    rng = random.Random(seed)
    own_broker: subprocess.Popen[bytes] | None = None
    broker = config.broker
    if broker == "own":
        own_broker, broker = _start_broker(work)
    assert broker is None or isinstance(broker, tuple)
    site = Site(work, config.scenario, seed, config.speed, broker)
    console: SiteConsole | None = None
    followers: dict[str, AgencyFollower] = {}
    watcher: CheckpointWatcher | None = None
    small_disks: list[Path] = []
    try:
        site.provision()
        if store is not None:
            store.check()
            store.use_in(site.hub_dir / "hub.toml")
            site.storage_url = store.reader_url
        if any(config.faults.get(kind) for kind in CLOCK_KINDS):
            _offset_clocks(site)
        site.start_hub()
        site.enroll_all()
        watcher = CheckpointWatcher(_monitor_channel(site),
                                    (site.hub_dir / "log.vkey").read_text().strip(),
                                    DEFAULT_ORIGIN)
        watcher.run(1.0)
        attacker = None
        if config.attacks:
            attacker = Attacker(site, site.ca) if site.ca is not None else None
            if attacker is None:
                raise FaultSuiteError("the site has no CA to issue the attacker's certificates")
            attacker.enroll()
        if broker is not None:
            console = SiteConsole(broker[0], broker[1], site.site_id)
            if not console.start():
                raise FaultSuiteError(f"the site broker {broker[0]}:{broker[1]} refused the "
                                      "console; pass --broker none to run without")
        site.start_devices(START_DELAY_S, config.duration_s)
        small_disks = _small_disks(site, config)
        site.start_agents()
        agencies = sorted({"SBS", "SCC", "SMS"})
        for agency in agencies:
            followers[agency] = AgencyFollower(site, agency).start()
        active_s = (config.duration_s or site.scenario_duration_s) / config.speed
        plan = schedule(config, [n.node_id for n in site.nodes], agencies, active_s, rng,
                        _lab_nodes(site))
        injector = _Injector(site, followers, rng, log, store)
        threads = _fire_on_time(plan, injector)
        attack_phase = _AttackPhase(site, attacker, injector.hub_clock)
        if attacker is not None:
            threads.append(attack_phase.start(START_DELAY_S + 0.3 * active_s))
        simulator = site.processes["simulator"]
        deadline = time.monotonic() + START_DELAY_S + active_s + 120
        while simulator.poll() is None:
            if time.monotonic() > deadline:
                raise FaultSuiteError("the device emulators did not finish in time")
            time.sleep(0.5)
        for thread in threads:
            thread.join(60)
        for node in site.nodes:
            if node.relay is not None:
                node.relay.restore()
        if injector.errors:
            raise FaultSuiteError("; ".join(injector.errors))
        _restart_dead(site, log)
        drained = _drain(site, config.drain_timeout_s)
        for node in site.nodes:
            site.stop(f"edge-{node.node_id}")
        invariants = check_round(site, followers, console, watcher, drained,
                                 {STOLEN: attacker.legit_records} if attacker else {})
        for result in attack_phase.results:
            if not result.refused:
                invariants.problems.append(f"attack not refused: {result.name}: {result.answer}")
        survived = Counter(injector.injected) if invariants.held else Counter()
        return RoundResult(seed, injector.injected, survived, invariants,
                           time.monotonic() - begin, attack_phase.results,
                           attack_phase.healthy_made, attack_phase.healthy_accepted,
                           attack_phase.seconds, "postgresql" if store else "sqlite",
                           injector.pg_recovery_s, injector.clock_recovery_s,
                           injector.refused_time_in_future, injector.blackhole_detect_s,
                           injector.blackhole_recovery_s)
    finally:
        for disk in small_disks:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)
        if watcher is not None:
            watcher.stop()
        for follower in followers.values():
            follower.stop()
        if console is not None:
            console.stop()
        site.stop_all()
        if own_broker is not None:
            own_broker.terminate()
            own_broker.wait(10)
        if store is not None:
            try:
                store.drop()
            except FaultSuiteError as exc:
                log(f"could not drop the round's schema {store.schema}: {exc}")


def _start_broker(work: Path) -> tuple[subprocess.Popen[bytes], tuple[str, int]]:
    """A Mosquitto of the round's own on a free loopback port (local-only, anonymous)."""
    import shutil
    import socket

    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    (work / "logs").mkdir(parents=True, exist_ok=True)
    log = open(work / "logs" / "broker.txt", "ab")  # noqa: SIM115 - the child keeps it
    try:
        process = subprocess.Popen([binary, "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        raise FaultSuiteError(f"cannot start Mosquitto ({binary}): {exc}; "
                              "pass --broker HOST:PORT or --broker none") from exc
    finally:
        log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, ("127.0.0.1", port)
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    raise FaultSuiteError(f"Mosquitto did not listen on 127.0.0.1:{port}; see {work}/logs")


class _AttackPhase:
    """Every attack once, mid-round, while the real nodes keep recording and syncing."""

    def __init__(self, site: Site, attacker: Attacker | None,
                 hub_clock: threading.Lock | None = None) -> None:
        self.site = site
        self.attacker = attacker
        #: Held while the attacks run: a hub whose clock is hours off refuses the attacker's
        #: one genuine record as dated ahead, which is the clock's doing, not a refusal.
        self.hub_clock = hub_clock or threading.Lock()
        self.results: list[AttackResult] = []
        self.healthy_made = self.healthy_accepted = 0
        self.seconds = 0.0

    def start(self, at_s: float) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(at_s,), name="attacks", daemon=True)
        thread.start()
        return thread

    def _counts(self) -> tuple[int, int]:
        """Records the real nodes hold in their journals, and hold at the hub."""
        return _made_and_stored(self.site)

    def _counted(self, attacks: Iterator[AttackResult]) -> Iterator[AttackResult]:
        """Each attack's result, with whether the hub's /metrics counted its refusal."""
        url = f"http://127.0.0.1:{self.site.metrics_port}/metrics"
        before = scrape_refusals(url)
        for result in attacks:
            after = scrape_refusals(url)
            # A restarted hub starts its counters again: then the attack's count is unknown.
            moved = None if before is None or after is None or after < before \
                else after > before
            yield replace(result, counted=moved)
            before = after

    def _run(self, at_s: float) -> None:
        assert self.attacker is not None
        time.sleep(at_s)
        with self.hub_clock:
            made0, accepted0 = self._counts()
            began = time.monotonic()
            self.results = list(self._counted(run_attacks(self.attacker)))
            self.seconds = time.monotonic() - began
            made1, accepted1 = self._counts()
        self.healthy_made, self.healthy_accepted = made1 - made0, accepted1 - accepted0


def _small_disks(site: Site, config: CampaignConfig) -> list[Path]:
    """Put every node's journal on a small filesystem of its own (``disk-full`` may hit any)."""
    if not config.faults.get("disk-full"):
        return []
    mounts: list[Path] = []
    for node in site.nodes:
        disk = node.directory / "disk"
        disk.mkdir(exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK},mode=0700",
                               "tmpfs", str(disk)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            for mounted in mounts:
                subprocess.run(["umount", "-l", str(mounted)], capture_output=True, check=False)
            raise FaultSuiteError(f"disk-full needs a size-limited filesystem (mount as root): "
                                  f"{done.stderr.strip()}; or pass --fault disk-full=0")
        mounts.append(disk)
        node.journal = "disk/journal.db"
    return mounts


def _monitor_channel(site: Site) -> grpc.Channel:
    """A log monitor's channel (an agency identity: any agency may read the log)."""
    cert, key = site.agency_files("SBS")
    credentials = grpc.ssl_channel_credentials(
        (site.hub_dir / "ca.pem").read_bytes(), key.read_bytes(), cert.read_bytes())
    return grpc.secure_channel(site.hub_address, credentials)


def _fire_on_time(plan: list[_Fault], injector: _Injector) -> list[threading.Thread]:
    start = time.monotonic()
    threads = []
    for fault in plan:
        def fire(fault: _Fault = fault) -> None:
            delay = fault.at_s - (time.monotonic() - start)
            if delay > 0:
                time.sleep(delay)
            injector.fire(fault)

        thread = threading.Thread(target=fire, name=f"fault-{fault.kind}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def _restart_dead(site: Site, log: Callable[[str], None]) -> None:
    """A process that died by itself is a finding, not a fault we injected: restart and say so."""
    for name in site.check_alive():
        log(f"{name} had died on its own; restarting it for the drain")
        if name == "hub":
            site.start_hub()
        elif name.startswith("edge-"):
            node = next(n for n in site.nodes if f"edge-{n.node_id}" == name)
            site.spawn_agent(node)


def _drain(site: Site, timeout_s: float) -> dict[str, int]:
    """Wait until every node's journal tip is at the hub (read from both stores, not told) and
    stays there for a while; the journal tips then, by node.

    Agents keep recording after their devices stop (a device that goes away is a
    ``node.device_fault``), so a tip seen once at the hub may not be the last: the site has
    drained when two looks a second apart find every tip unchanged and at the hub, and every
    stored record has its place in the log (a PostgreSQL hub numbers them a moment later).
    """
    deadline = time.monotonic() + timeout_s
    pending: dict[str, tuple[int, int]] = {}
    previous: dict[str, int] | None = None
    while time.monotonic() < deadline:
        tips: dict[str, int] = {}
        storage = open_storage(site.store_url)
        try:
            pending = {}
            for node in site.nodes:
                tip = tips[node.node_id] = journal_tip(node.journal_path)
                row = storage.get_node(node.node_id)
                at_hub = row.last_seq if row is not None else 0
                if at_hub < tip:
                    pending[node.node_id] = (at_hub, tip)
            held = sum(n.last_seq for n in storage.list_nodes())  # every node's, the hub's too
            logged = storage.log_state().size
            if logged < held:  # stored, not numbered yet (PostgreSQL's sequencer runs after)
                pending["log"] = (logged, held)
        finally:
            storage.close()
        if not pending and tips == previous:
            return tips
        previous = tips if not pending else None
        time.sleep(1.0)
    raise FaultSuiteError(f"not drained after {timeout_s:g} s (hub seq, journal tip): {pending}")


def run_campaign(config: CampaignConfig, keep: Path | None,
                 log: Callable[[str], None]) -> list[RoundResult]:
    """Every round of *config*; work folders under *keep* (kept) or a temporary folder."""
    results = []
    for index in range(config.rounds):
        seed = config.seed + index
        on_pg = config.on_postgres(index)
        if keep is not None:
            work = keep / f"round-{index + 1}"
            work.mkdir(parents=True, exist_ok=True)
            results.append(run_round(config, seed, work, log, postgres=on_pg))
        else:
            with tempfile.TemporaryDirectory(prefix="borderlink-faults-") as tmp:
                results.append(run_round(config, seed, Path(tmp), log, postgres=on_pg))
        log(f"round {index + 1}/{config.rounds}: "
            f"{'held' if results[-1].invariants.held else 'VIOLATED'}")
    return results
