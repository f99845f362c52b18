"""Federation over real gRPC + mutual TLS on 127.0.0.1, on SQLite and on PostgreSQL.

A minimal in-test gRPC server registers only the Federation servicer over a store filled
directly with real signed records (``borderlink.proto.record``) and the shipped example
policy. Every agency — and a node certificate — calls every RPC; each sees exactly what the
policy grants, withheld fields are absent, and every received record still verifies.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from borderlink.hub.federation_service import (
    FederationServicer,
    FederationView,
    add_federation_servicer,
    encode_federated_batch,
    encode_federated_record,
    encode_query_response,
)
from borderlink.hub.policy import EXAMPLE_POLICY, Policy, load_policy, parse_policy
from borderlink.hub.storage import (
    CheckpointRow,
    NewDisclosure,
    NewRecord,
    NodeEnrollment,
    Storage,
)
from borderlink.proto import merkle
from borderlink.proto.checkpoint import Checkpoint, NoteSigner, open_checkpoint, sign_checkpoint
from borderlink.proto.errors import VerificationError
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import RecordChain, SignedRecord, verify_record
from borderlink.proto.record_types import default_registry
from borderlink.proto.v1 import common_pb2, federation_pb2, federation_pb2_grpc
from borderlink.provisioning.ca import CertificateAuthority, IssuedCertificate

EXAMPLE_POLICY = EXAMPLE_POLICY
REGISTRY = default_registry()
T0 = 1_795_000_000_000
ORIGIN = "borderlink.test/hub/federation"
IDENTITY = {"surname", "given_names", "document_number", "birth_date"}
ALL_DOC = IDENTITY | {"personal_number", "mrz"}

# --------------------------------------------------------------------------- records


def doc_body(verdict: str, reasons: list[str], watch: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "line": 1, "doc_format": "TD3", "doc_code": "P", "issuing_state": "AZE",
        "nationality": "AZE", "verdict": verdict, "reasons": reasons,
        "surname": "ALIYEV", "given_names": "RASHAD", "document_number": "C01234567",
        "birth_date": "1980-02-03", "personal_number": "5ZXK9QA",
        "mrz": ["P<AZEALIYEV<<RASHAD<<<<<<<<<<<<<<<<<<<<<<<<<", "C012345678AZE8002031M3001019<<<<<<<<<<<<<<02"],
    }  # fmt: skip
    if watch:
        body["watchlist"] = {"list": "W", "version": 3, "category": watch}
    return body


def occupancy() -> dict[str, Any]:
    return {"lane": "L1", "start_ms": T0, "end_ms": T0 + 4000, "gamma_counts": 900,
            "gamma_background_cps": 210.0, "neutron_counts": 2, "neutron_background_cps": 0.4,
            "max_sigma": 1.2, "alarm": False, "plate": "10-AB-123"}  # fmt: skip


def alarm(nuisance: bool) -> dict[str, Any]:
    return {"lane": "L1", "kind": "gamma", "nuisance": nuisance, "sigma": 9.5,
            "threshold_cps": 300.0, "start_ms": T0, "end_ms": T0 + 4000, "plate": "10-AB-123"}  # fmt: skip


def lab() -> dict[str, Any]:
    return {"case_id": "SZ-2026-0042", "sample_id": "S1", "instrument": "GCMS-QP2010",
            "method": "GC-MS", "findings": [{"substance": "heroin", "match": 0.93}],
            "controlled_found": True, "analyst": "N. Mammadova"}  # fmt: skip


def intrusion(kind: str) -> dict[str, Any]:
    return {"sector": "S-7", "sensors": ["s1", "s2", "s3"], "class": kind, "direction": "inbound",
            "speed_mps": 1.4, "first_ms": T0, "last_ms": T0 + 30_000}  # fmt: skip


def call() -> dict[str, Any]:
    return {"exchange": "BIL-CMD", "start_ms": T0, "duration_s": 62.0, "result": "answered",
            "calling_number": "+994501112233", "called_number": "+994125556677"}  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One record of the data set and what each agency must receive of it."""

    label: str
    node: str
    record_type: str
    body: dict[str, Any]
    # agency -> disclosed fields (absent agency: the record must not arrive at all)
    sees: dict[str, frozenset[str]]


def _s(*names: str) -> frozenset[str]:
    return frozenset(names)


SMS_DOC = frozenset(IDENTITY | {"personal_number"})
CASES = [
    Case("doc-clear", "bil-dr-01", "document.check", doc_body("clear", []),
         {"SBS": frozenset(ALL_DOC), "SMS": SMS_DOC}),
    Case("occupancy", "bil-rpm-01", "radiation.occupancy", occupancy(), {"SCC": _s("plate")}),
    Case("doc-customs", "bil-dr-01", "document.check",
         doc_body("refer", ["uv_flag", "customs_referral"]),
         {"SBS": frozenset(ALL_DOC), "SMS": SMS_DOC, "SCC": frozenset(IDENTITY)}),
    Case("alarm-real", "bil-rpm-01", "radiation.alarm", alarm(False),
         {"SCC": _s("plate"), "SBS": _s()}),
    Case("intrusion-person", "bil-ugs-01", "intrusion.alert", intrusion("person"), {"SBS": _s()}),
    Case("alarm-norm", "bil-rpm-01", "radiation.alarm", alarm(True), {"SCC": _s("plate")}),
    Case("lab", "lab-gcms-01", "lab.analysis", lab(), {"SCC": _s("analyst")}),
    Case("doc-smuggler", "bil-dr-01", "document.check",
         doc_body("hit", ["watchlist_person"], "smuggling"),
         {"SBS": frozenset(ALL_DOC), "SMS": SMS_DOC, "SCC": frozenset(IDENTITY)}),
    Case("doc-banned", "bil-dr-01", "document.check",
         doc_body("hit", ["watchlist_person"], "entry_ban"),
         {"SBS": frozenset(ALL_DOC), "SMS": SMS_DOC}),
    Case("intrusion-vehicle", "bil-ugs-01", "intrusion.alert", intrusion("vehicle"),
         {"SBS": _s(), "SCC": _s()}),
    Case("call", "bil-tel-01", "call.record", call(),
         {"SBS": _s("calling_number", "called_number")}),
    Case("doc-refer-plain", "bil-dr-01", "document.check", doc_body("refer", ["expired"]),
         {"SBS": frozenset(ALL_DOC), "SMS": SMS_DOC}),
]  # fmt: skip
SITES = {"lab-gcms-01": "AZ-BAK"}


def to_new(signed: SignedRecord) -> NewRecord:
    r = signed.record
    return NewRecord(
        node_id=r.node_id,
        seq=r.seq,
        prev_hash=r.prev_hash,
        record=r.raw,
        record_type=r.record_type,
        agency=r.agency,
        site=r.site,
        time_ms=r.time_ms,
        disclosures=tuple(NewDisclosure(d.digest, d.field, d.raw) for d in signed.disclosures),
    )


@dataclass
class World:
    """A store with enrolled nodes and a helper to append signed records to it."""

    storage: Storage
    chains: dict[str, RecordChain] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)  # by log index
    clock: int = T0

    def node(self, node_id: str) -> RecordChain:
        chain = self.chains.get(node_id)
        if chain is None:
            key = SigningKey.generate()
            site = SITES.get(node_id, "AZ-BIL")
            agency = "SCC" if node_id.startswith(("bil-rpm", "lab")) else "SBS"
            self.storage.enroll_node(
                NodeEnrollment(
                    node_id, key.public, key.kid, site, agency, "test",
                    record_types=tuple(REGISTRY.names()),
                ),
                enrolled_at_ms=T0 - 1000,
            )
            chain = self.chains[node_id] = RecordChain(
                key, node_id=node_id, site=site, registry=REGISTRY
            )
        return chain

    def rekey(self, node_id: str) -> SigningKey:
        """Revoke the node now and enrol it again with a new key; its chain goes on."""
        old = self.node(node_id)
        self.storage.revoke_node(node_id, revoked_at_ms=self.clock + 1, reason="key rotation")
        key = SigningKey.generate()
        self.storage.enroll_node(
            NodeEnrollment(
                node_id, key.public, key.kid, old.site, "SBS", "test",
                record_types=tuple(REGISTRY.names()),
            ),
            enrolled_at_ms=self.clock + 2,
        )
        self.chains[node_id] = RecordChain(
            key,
            node_id=node_id,
            site=old.site,
            registry=REGISTRY,
            next_seq=old.next_seq,
            prev_hash=old.prev_hash,
        )
        return key

    def add(self, node_id: str, record_type: str, body: dict[str, Any], label: str) -> int:
        chain = self.node(node_id)
        self.clock += 1000
        signed = chain.prepare(record_type, body, time_ms=self.clock)
        (index,) = self.append([to_new(signed)])
        chain.commit(signed)
        self.labels.append(label)
        assert index == len(self.labels) - 1
        return index

    def append(self, records: list[NewRecord]) -> tuple[int, ...]:
        """Append and number *records* (PostgreSQL numbers them in the sequencer's step)."""
        self.storage.append_records(records, received_ms=self.clock)
        self.storage.assign_log_indexes(10_000)
        found = [self.storage.get_record(r.node_id, r.seq) for r in records]
        return tuple(f.log_index for f in found if f is not None and f.log_index is not None)

    def add_cases(self, rounds: int = 1) -> None:
        for _ in range(rounds):
            for case in CASES:
                self.add(case.node, case.record_type, case.body, case.label)

    def checkpoint(self, signer: NoteSigner) -> CheckpointRow:
        """What the sequencer does: store interior hashes, sign a checkpoint of the log."""
        size = self.storage.log_state().size
        cr = merkle.CompactRange()
        nodes = cr.extend(self.storage.leaf_hashes(0, size))
        self.storage.put_merkle_nodes(nodes, integrated_size=size)
        note = sign_checkpoint(Checkpoint(ORIGIN, size, cr.root()), signer)
        row = CheckpointRow(size, cr.root(), self.clock, note)
        self.storage.add_checkpoint(row)
        return row


# --------------------------------------------------------------------------- gRPC


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("federation test CA")


@pytest.fixture(scope="module")
def certs(ca: CertificateAuthority) -> dict[str, IssuedCertificate]:
    out = {name: ca.issue_agency(name) for name in ("SBS", "SCC", "SMS")}
    out["hub"] = ca.issue_hub()
    out["node"] = ca.issue_node("bil-dr-01")
    out["admin"] = ca.issue_admin("tech-01")
    return out


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(EXAMPLE_POLICY)


@dataclass
class Hub:
    port: int
    servicer: FederationServicer
    ca: CertificateAuthority
    certs: dict[str, IssuedCertificate]
    channels: list[grpc.Channel] = field(default_factory=list)

    def stub(self, who: str) -> federation_pb2_grpc.FederationStub:
        client = self.certs[who]
        creds = grpc.ssl_channel_credentials(
            root_certificates=self.ca.cert_pem,
            private_key=client.key_pem(),
            certificate_chain=client.cert_pem,
        )
        channel = grpc.secure_channel(f"127.0.0.1:{self.port}", creds)
        self.channels.append(channel)
        return federation_pb2_grpc.FederationStub(channel)

    def subscribe(self, who: str, **request: Any) -> list[federation_pb2.FederatedRecord]:
        filt = request.pop("filter", None)
        req = federation_pb2.SubscribeRequest(filter=filt, **request)
        return list(self.stub(who).Subscribe(req, timeout=20))


def start_hub(
    storage: Storage,
    policy: Policy,
    ca: CertificateAuthority,
    certs: dict[str, IssuedCertificate],
    port: int = 0,
    **options: Any,
) -> tuple[grpc.Server, Hub]:
    servicer = FederationServicer(storage, policy, **options)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    add_federation_servicer(servicer, server)
    creds = grpc.ssl_server_credentials(
        [(certs["hub"].key_pem(), certs["hub"].cert_pem)],
        root_certificates=ca.cert_pem,
        require_client_auth=True,
    )
    port = server.add_secure_port(f"127.0.0.1:{port}", creds)
    server.start()
    return server, Hub(port, servicer, ca, certs)


@pytest.fixture
def world(open_store: Callable[[], Storage]) -> World:
    return World(open_store())


@pytest.fixture
def hub(
    world: World, policy: Policy, ca: CertificateAuthority, certs: dict[str, IssuedCertificate]
) -> Iterator[Hub]:
    # Small pages, so every test crosses page boundaries (and read-ahead fills its queue).
    server, running = start_hub(
        world.storage, policy, ca, certs, poll_interval_s=0.05, page_records=5
    )
    try:
        yield running
    finally:
        running.servicer.stop()
        for channel in running.channels:
            channel.close()
        server.stop(None)


def check_received(
    world: World, agency: str, got: list[federation_pb2.FederatedRecord]
) -> list[str]:
    """Verify every record with its node key; check disclosed fields; return the labels."""
    labels = []
    for fr in got:
        label = world.labels[fr.log_index]
        case = next(c for c in CASES if c.label == label)
        verified = verify_record(
            fr.record, fr.node_key.public_key, registry=REGISTRY, disclosures=fr.disclosures
        )
        assert verified.record.node_id == fr.node_key.node_id
        assert set(verified.disclosed) == case.sees[agency], (agency, label)
        spec = REGISTRY[case.record_type]
        withheld = spec.sensitive - case.sees[agency]
        assert not withheld & set(verified.body), (agency, label)
        for name in case.sees[agency]:
            assert verified.body[name] == case.body[name]
        labels.append(label)
    return labels


def expected_labels(agency: str, rounds: int = 1) -> list[str]:
    return [c.label for _ in range(rounds) for c in CASES if agency in c.sees]


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("agency", ["SBS", "SCC", "SMS"])
def test_subscribe_delivers_exactly_the_policy_and_records_verify(
    world: World, hub: Hub, agency: str
) -> None:
    world.add_cases()
    got = hub.subscribe(agency)
    assert check_received(world, agency, got) == expected_labels(agency)
    indexes = [r.log_index for r in got]
    assert indexes == sorted(indexes)
    # Each next_cursor is past its record and not past the next one delivered (within a page
    # exactly at it); resuming from the last one delivers nothing more.
    for this, nxt in itertools.pairwise(got):
        assert this.log_index < this.next_cursor <= nxt.log_index
    assert sum(this.next_cursor == nxt.log_index for this, nxt in itertools.pairwise(got)) > 0
    assert got[-1].log_index < got[-1].next_cursor <= len(world.labels)
    assert hub.subscribe(agency, cursor=got[-1].next_cursor) == []


@pytest.mark.parametrize("agency", ["SBS", "SCC", "SMS"])
def test_query_pages_match_subscribe(world: World, hub: Hub, agency: str) -> None:
    world.add_cases(rounds=2)
    stub = hub.stub(agency)
    cursor, pages, got = 0, 0, []
    while True:
        resp = stub.Query(federation_pb2.QueryRequest(cursor=cursor, limit=3), timeout=10)
        assert len(resp.records) <= 3
        got.extend(resp.records)
        cursor, pages = resp.next_cursor, pages + 1
        if not resp.more:
            break
    assert check_received(world, agency, got) == expected_labels(agency, rounds=2)
    assert pages >= len(got) // 3
    assert cursor == len(world.labels)


@pytest.mark.parametrize("who", ["node", "admin"])
def test_non_agency_certificates_are_denied_on_every_rpc(world: World, hub: Hub, who: str) -> None:
    world.add_cases()
    stub = hub.stub(who)
    with pytest.raises(grpc.RpcError) as err:
        list(stub.Subscribe(federation_pb2.SubscribeRequest(), timeout=5))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "agency" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.Query(federation_pb2.QueryRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_types_beyond_policy_are_skipped_not_errors(world: World, hub: Hub) -> None:
    world.add_cases()
    # SMS asks for laboratory and radiation records: nothing, and no error.
    denied = common_pb2.RecordFilter(types=["lab.analysis", "radiation.alarm"])
    assert hub.subscribe("SMS", filter=denied) == []
    resp = hub.stub("SMS").Query(federation_pb2.QueryRequest(filter=denied), timeout=5)
    assert list(resp.records) == [] and not resp.more
    # SCC asks for lab + call records: only the lab analysis arrives.
    mixed = common_pb2.RecordFilter(types=["lab.analysis", "call.record"])
    assert check_received(world, "SCC", hub.subscribe("SCC", filter=mixed)) == ["lab"]


def test_filters_sites_nodes_and_time(world: World, hub: Hub) -> None:
    world.add_cases()
    by_site = hub.subscribe("SCC", filter=common_pb2.RecordFilter(sites=["AZ-BAK"]))
    assert check_received(world, "SCC", by_site) == ["lab"]
    by_node = hub.subscribe("SBS", filter=common_pb2.RecordFilter(node_ids=["bil-ugs-01"]))
    assert check_received(world, "SBS", by_node) == ["intrusion-person", "intrusion-vehicle"]
    # Records are 1 s apart from T0 + 1 s: [T0+3s, T0+8s) holds log indexes 2..6.
    window = common_pb2.RecordFilter(since_unix_ms=T0 + 3000, until_unix_ms=T0 + 8000)
    got = hub.subscribe("SCC", filter=window)
    assert [r.log_index for r in got] == [2, 3, 5, 6]
    assert check_received(world, "SCC", got) == ["doc-customs", "alarm-real", "alarm-norm", "lab"]


@pytest.mark.parametrize("agency", ["SCC", "SMS"])
def test_resume_from_cursor_has_no_loss_and_no_duplicates(
    world: World, hub: Hub, agency: str
) -> None:
    world.add_cases(rounds=3)
    expected = expected_labels(agency, rounds=3)
    received: list[federation_pb2.FederatedRecord] = []
    cursor = 0
    for take in (1, 2, 3):  # read a few records, disconnect, resume from the last cursor
        stream = hub.stub(agency).Subscribe(
            federation_pb2.SubscribeRequest(cursor=cursor, follow=True), timeout=20
        )
        for fr in stream:
            received.append(fr)
            cursor = fr.next_cursor
            take -= 1
            if take == 0:
                break
        stream.cancel()
    received += hub.subscribe(agency, cursor=cursor)  # the rest, to the end of the log
    assert check_received(world, agency, received) == expected
    assert len({r.log_index for r in received}) == len(received)
    # The cancelled streams' read-ahead threads are gone.
    deadline = time.monotonic() + 5
    while any(t.name == "federation-prefetch" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "prefetch threads outlive their streams"
        time.sleep(0.02)


def test_follow_delivers_live_appends_in_order(world: World, hub: Hub) -> None:
    world.add_cases()
    stream = hub.stub("SCC").Subscribe(
        federation_pb2.SubscribeRequest(cursor=0, follow=True), timeout=30
    )
    got: list[federation_pb2.FederatedRecord] = []
    done = threading.Event()

    def reader() -> None:
        for fr in stream:
            got.append(fr)
            if len(got) == len(expected_labels("SCC", rounds=3)):
                break
        done.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    time.sleep(0.2)
    world.add_cases()  # picked up by polling (no notifier call)
    time.sleep(0.2)
    world.add_cases()
    hub.servicer.notifier.notify()  # and by the notifier the server calls on append
    assert done.wait(15), f"only {len(got)} records arrived"
    stream.cancel()
    assert check_received(world, "SCC", got) == expected_labels("SCC", rounds=3)


@pytest.mark.parametrize("cursor_past_end", [1, 10**12])
def test_forged_cursor_is_refused(world: World, hub: Hub, cursor_past_end: int) -> None:
    world.add_cases()
    forged = len(world.labels) + cursor_past_end
    with pytest.raises(grpc.RpcError) as err:
        list(hub.stub("SBS").Subscribe(federation_pb2.SubscribeRequest(cursor=forged), timeout=5))
    assert err.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert str(forged) in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        hub.stub("SCC").Query(federation_pb2.QueryRequest(cursor=forged), timeout=5)
    assert err.value.code() == grpc.StatusCode.OUT_OF_RANGE
    # The end of the log itself is a valid cursor: nothing yet.
    assert hub.subscribe("SBS", cursor=len(world.labels)) == []


def test_inclusion_proofs_verify_against_the_signed_checkpoint(world: World, hub: Hub) -> None:
    signer = NoteSigner.generate(ORIGIN)
    world.add_cases()
    first = world.checkpoint(signer)
    world.add_cases()  # beyond the checkpoint: not delivered with proofs until the next one
    got = hub.subscribe("SCC", include_inclusion_proof=True)
    assert check_received(world, "SCC", got) == expected_labels("SCC")
    for fr in got:
        proof = fr.inclusion_proof
        cp = open_checkpoint(proof.checkpoint.signed_note, signer.verifier, origin=ORIGIN)
        assert cp.size == proof.tree_size == first.tree_size
        assert proof.leaf_hash == merkle.leaf_hash(fr.record)
        merkle.verify_inclusion(proof.leaf_hash, fr.log_index, cp.size, proof.hashes, cp.root_hash)
    world.checkpoint(signer)
    resp = hub.stub("SCC").Query(
        federation_pb2.QueryRequest(cursor=got[-1].next_cursor, include_inclusion_proof=True),
        timeout=5,
    )
    assert check_received(world, "SCC", list(resp.records)) == expected_labels("SCC")
    for fr in resp.records:
        assert fr.inclusion_proof.tree_size == len(world.labels)
    # Without proofs nothing waits for a checkpoint.
    assert len(hub.subscribe("SBS")) == len(expected_labels("SBS", rounds=2))


def test_hand_encoding_is_the_protobuf_encoding() -> None:
    node_key = common_pb2.NodeKey(node_id="n", public_key=b"k" * 32, kid=b"i" * 8)
    proof = common_pb2.InclusionProof(log_index=300, tree_size=1000, hashes=[b"h" * 32])
    node_field = b"\x22" + bytes([len(node_key.SerializeToString())]) + node_key.SerializeToString()
    for index, nxt in (
        (0, 1),
        (300, 70000),
        (2**21 - 1, 2**21),
        (2**28 - 1, 2**28),
        (2**40, 2**64 - 1),
    ):
        raw = encode_federated_record(
            index, b"R" * 200, [b"d1", b"d" * 300], node_field, proof.SerializeToString(), nxt
        )
        expected = federation_pb2.FederatedRecord(
            log_index=index,
            record=b"R" * 200,
            disclosures=[b"d1", b"d" * 300],
            node_key=node_key,
            inclusion_proof=proof,
            next_cursor=nxt,
        )
        assert federation_pb2.FederatedRecord.FromString(raw) == expected
        assert raw == expected.SerializeToString()
    resp = encode_query_response([expected.SerializeToString()] * 2, 99, True)
    parsed = federation_pb2.QueryResponse.FromString(resp)
    assert list(parsed.records) == [expected, expected] and parsed.next_cursor == 99 and parsed.more


def test_a_new_policy_applies_to_open_streams(
    world: World, policy: Policy, ca: CertificateAuthority, certs: dict[str, IssuedCertificate]
) -> None:
    current = {"policy": policy}
    server, running = start_hub(
        world.storage, lambda: current["policy"], ca, certs, poll_interval_s=0.05
    )
    try:
        world.add_cases()
        stream = running.stub("SMS").Subscribe(
            federation_pb2.SubscribeRequest(follow=True), timeout=20
        )
        first = [next(stream) for _ in expected_labels("SMS")]
        assert check_received(world, "SMS", first) == expected_labels("SMS")
        # Migration is now granted laboratory results only (a policy reload on the hub).
        current["policy"] = parse_policy(
            'version = 1\n[[agency.SMS.grant]]\ntypes = ["lab.analysis"]\ndisclose = "none"\n'
        )
        world.add_cases()
        fr = next(stream)
        stream.cancel()
        assert world.labels[fr.log_index] == "lab" and list(fr.disclosures) == []
        verify_record(fr.record, fr.node_key.public_key, registry=REGISTRY)
    finally:
        running.servicer.stop()
        for channel in running.channels:
            channel.close()
        server.stop(None)


def test_view_skips_records_whose_body_cannot_be_read(world: World, policy: Policy) -> None:
    """Sans-IO core: a stored record that does not parse is withheld where a grant needs its
    body (SCC's conditional document checks), never an error; unconditional grants pass it."""
    world.add_cases()
    head = world.storage.chain_head("bil-dr-01")
    junk = NewRecord(
        node_id="bil-dr-01",
        seq=head.seq + 1,
        prev_hash=head.hash,
        record=b"\xd2\x84not a COSE message",
        record_type="document.check",
        agency="SBS",
        site="AZ-BIL",
        time_ms=world.clock + 1,
    )
    (junk_index,) = world.append([junk])
    everything = common_pb2.RecordFilter()
    end = world.storage.log_state().size
    scc = FederationView(world.storage, "SCC").page(policy, everything, 0, end)
    got = [federation_pb2.FederatedRecord.FromString(r) for r in scc.records]
    assert junk_index not in [r.log_index for r in got]
    assert check_received(world, "SCC", got) == expected_labels("SCC")
    assert scc.next_cursor == end
    sms = FederationView(world.storage, "SMS").page(policy, everything, 0, end)
    last = federation_pb2.FederatedRecord.FromString(sms.records[-1])
    assert last.log_index == junk_index and last.record == junk.record


# --------------------------------------------------------------------------- SubscribeBatches


def subscribe_batches(hub: Hub, who: str, **request: Any) -> list[federation_pb2.FederatedBatch]:
    filt = request.pop("filter", None)
    req = federation_pb2.SubscribeRequest(filter=filt, **request)
    return list(hub.stub(who).SubscribeBatches(req, timeout=20))


@pytest.mark.parametrize("agency", ["SBS", "SCC", "SMS"])
def test_batches_deliver_what_subscribe_delivers(world: World, hub: Hub, agency: str) -> None:
    world.add_cases(rounds=2)
    batches = subscribe_batches(hub, agency)
    got = [fr for b in batches for fr in b.records]
    assert got == hub.subscribe(agency)  # same records, disclosures, keys and cursors
    assert check_received(world, agency, got) == expected_labels(agency, rounds=2)
    assert len(batches) > 1  # pages of 5 storage rows: several messages
    assert all(len(b.records) <= 5 for b in batches)
    cursor = 0
    for b in batches:  # cursors only move on; a batch's cursor is its last record's
        assert b.next_cursor > cursor
        if b.records:
            assert b.records[0].log_index >= cursor
            assert b.next_cursor == b.records[-1].next_cursor
        cursor = b.next_cursor
    assert cursor == len(world.labels)
    assert subscribe_batches(hub, agency, cursor=cursor) == []


def test_batches_resume_without_loss_or_duplicates(world: World, hub: Hub) -> None:
    world.add_cases(rounds=3)
    expected = expected_labels("SCC", rounds=3)
    received: list[federation_pb2.FederatedRecord] = []
    cursor, resumes = 0, 0
    while True:  # one batch per connection, then disconnect and resume from its cursor
        stream = hub.stub("SCC").SubscribeBatches(
            federation_pb2.SubscribeRequest(cursor=cursor, follow=True), timeout=20
        )
        if cursor >= len(world.labels):
            stream.cancel()
            break
        batch = next(stream)
        stream.cancel()
        received.extend(batch.records)
        cursor, resumes = batch.next_cursor, resumes + 1
    assert resumes > 3
    assert check_received(world, "SCC", received) == expected
    assert len({r.log_index for r in received}) == len(received)


def test_batches_filter_by_policy_and_move_past_what_is_withheld(world: World, hub: Hub) -> None:
    world.add_cases(rounds=2)
    # SMS asks for laboratory and radiation records only: none arrive, no error, and the
    # batches still carry the cursor to the end of the log, so a resume does not rescan.
    denied = common_pb2.RecordFilter(types=["lab.analysis", "radiation.alarm"])
    batches = subscribe_batches(hub, "SMS", filter=denied)
    assert [fr for b in batches for fr in b.records] == []
    assert batches and batches[-1].next_cursor == len(world.labels)
    # SCC: conditional document checks and lab records pass their grants; withheld fields
    # are absent and every record verifies (check_received).
    got = [fr for b in subscribe_batches(hub, "SCC") for fr in b.records]
    assert check_received(world, "SCC", got) == expected_labels("SCC", rounds=2)
    mixed = common_pb2.RecordFilter(types=["lab.analysis", "call.record"])
    got = [fr for b in subscribe_batches(hub, "SCC", filter=mixed) for fr in b.records]
    assert check_received(world, "SCC", got) == ["lab", "lab"]


@pytest.mark.parametrize("who", ["node", "admin"])
def test_batches_refuse_non_agency_certificates(world: World, hub: Hub, who: str) -> None:
    world.add_cases()
    with pytest.raises(grpc.RpcError) as err:
        subscribe_batches(hub, who)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "agency" in err.value.details()


def test_batches_refuse_a_forged_cursor(world: World, hub: Hub) -> None:
    world.add_cases()
    with pytest.raises(grpc.RpcError) as err:
        subscribe_batches(hub, "SBS", cursor=len(world.labels) + 1)
    assert err.value.code() == grpc.StatusCode.OUT_OF_RANGE


def test_batches_follow_live_appends(world: World, hub: Hub) -> None:
    world.add_cases()
    stream = hub.stub("SMS").SubscribeBatches(
        federation_pb2.SubscribeRequest(follow=True), timeout=30
    )
    want = len(expected_labels("SMS", rounds=2))
    got: list[federation_pb2.FederatedRecord] = []
    done = threading.Event()

    def reader() -> None:
        for batch in stream:
            got.extend(batch.records)
            if len(got) >= want:
                break
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    time.sleep(0.2)
    world.add_cases()
    hub.servicer.notifier.notify()
    assert done.wait(15), f"only {len(got)} records arrived"
    stream.cancel()
    assert check_received(world, "SMS", got) == expected_labels("SMS", rounds=2)


def test_batch_hand_encoding_is_the_protobuf_encoding() -> None:
    records = [
        federation_pb2.FederatedRecord(log_index=i, record=b"R" * i, next_cursor=i + 1)
        for i in (1, 200, 70_000)
    ]
    for nxt in (0, 5, 2**40):
        raw = encode_federated_batch([r.SerializeToString() for r in records], nxt)
        expected = federation_pb2.FederatedBatch(records=records, next_cursor=nxt)
        assert raw == expected.SerializeToString()
    assert (
        encode_federated_batch([], 7)
        == federation_pb2.FederatedBatch(next_cursor=7).SerializeToString()
    )


def test_records_signed_before_a_reenrolment_come_with_the_key_that_signed_them(
    world: World, hub: Hub
) -> None:
    doc = CASES[0]  # document.check of bil-dr-01: SBS sees it
    for _ in range(3):
        world.add(doc.node, doc.record_type, doc.body, doc.label)
    old_key = world.chains[doc.node].key
    revoked_at = world.clock + 1
    new_key = world.rekey(doc.node)
    for _ in range(4):
        world.add(doc.node, doc.record_type, doc.body, doc.label)
    old_record = world.storage.get_record(doc.node, 1)
    assert old_record is not None
    with pytest.raises(VerificationError):  # the node's current key cannot verify it
        verify_record(old_record.record, new_key.public, registry=REGISTRY)
    batches = subscribe_batches(hub, "SBS")
    query = hub.stub("SBS").Query(federation_pb2.QueryRequest(), timeout=20).records
    for got in (hub.subscribe("SBS"), [fr for b in batches for fr in b.records], list(query)):
        # check_received verifies every record with the key sent beside it.
        assert check_received(world, "SBS", got) == [doc.label] * 7
        keys = [fr.node_key for fr in got]
        assert [k.kid for k in keys] == [old_key.kid] * 3 + [new_key.kid] * 4
        assert {k.revoked_at_unix_ms for k in keys[:3]} == {revoked_at}
        assert {k.revoked_at_unix_ms for k in keys[3:]} == {0}


def test_view_reads_a_node_again_for_a_key_enrolled_since_it_cached_the_node(
    world: World, policy: Policy
) -> None:
    """Sans-IO core: within its cache period a view meets records signed with a key enrolled
    after it cached the node; it must not send them with the cached (old) key."""
    doc = CASES[0]
    world.add(doc.node, doc.record_type, doc.body, doc.label)
    view = FederationView(world.storage, "SBS", now=lambda: 0.0)  # the cache never expires
    everything = common_pb2.RecordFilter()
    first = view.page(policy, everything, 0, world.storage.log_state().size)
    old_key = world.chains[doc.node].key
    new_key = world.rekey(doc.node)
    world.add(doc.node, doc.record_type, doc.body, doc.label)
    page = view.page(policy, everything, 0, world.storage.log_state().size)
    got = [federation_pb2.FederatedRecord.FromString(r) for r in [*first.records, *page.records]]
    assert [fr.node_key.kid for fr in got] == [old_key.kid, old_key.kid, new_key.kid]
    assert check_received(world, "SBS", got) == [doc.label] * 3
