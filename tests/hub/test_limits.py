"""Resource limits of the real hub (gRPC over mutual TLS): streams per identity, the TLS
handshake timeout, and bounded equivocation evidence per (node, seq) on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import hubkit
import pytest
from hubkit import (
    Hub,
    Pki,
    Stream,
    TestNode,
    connect,
    envelope,
    pg_schema,
    pg_schema_url,
    start_hub,
    wait_for,
)

from borderlink.hub.sync_service import SyncLimits
from borderlink.proto.v1 import admin_pb2, federation_pb2, federation_pb2_grpc, sync_pb2

pki = hubkit.pki

#: Streams that never say Hello keep their slot for the whole test.
HOLDING = SyncLimits(hello_timeout_s=30.0, downlink_poll_s=0.2, max_streams_per_node=2)


@pytest.fixture
def capped(pki: Pki, tmp_path: Path) -> Iterator[Hub]:
    h = start_hub(pki, f"sqlite://{tmp_path / 'hub.db'}", limits=HOLDING,
                  max_streams_per_agency=2, handshake_timeout_s=1.0)  # fmt: skip
    try:
        yield h
    finally:
        h.server.stop(0.5)


def test_sync_streams_per_node_are_capped_and_a_closed_one_frees_its_slot(capped: Hub,
                                                                          pki: Pki) -> None:
    hub = capped
    flooder, other = TestNode.make(pki, "bil-dr-21"), TestNode.make(pki, "bil-dr-22")
    for n in (flooder, other):
        n.enroll(hub)
    held = [Stream(hub.channel(flooder.cert)) for _ in range(2)]  # open, never say Hello
    slots = hub.server.sync.slots
    wait_for(lambda: slots.open_count("bil-dr-21") == 2)
    extra = Stream(hub.channel(flooder.cert))
    err = extra.ended()
    assert err is not None and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "node bil-dr-21 already has 2 open Sync streams" in (err.details() or "")
    metric = hub.server.metrics.streams_over_limit.labels("Sync")
    assert metric._value.get() == 1
    # another node is served meanwhile
    stream, resume = connect(hub, other)
    assert resume.next_seq == 1
    stream.close()
    # a stream that ends frees its slot: the node can connect again
    for s in held:
        s.cancel()
    wait_for(lambda: slots.open_count("bil-dr-21") == 0)
    again, _ = connect(hub, flooder)
    again.batch(1, [envelope(r) for r in flooder.records(1)])
    assert again.until("ack")[0].ack.highest_contiguous_seq == 1
    again.close()
    assert metric._value.get() == 1


def test_subscribe_streams_per_agency_are_capped(capped: Hub, pki: Pki) -> None:
    hub = capped
    sbs = pki.ca.issue_agency("SBS")
    req = federation_pb2.SubscribeRequest(follow=True)
    held = [federation_pb2_grpc.FederationStub(hub.channel(sbs)).Subscribe(req, timeout=30)
            for _ in range(2)]  # fmt: skip
    slots = hub.server.agency_slots
    wait_for(lambda: slots.open_count("SBS") == 2)
    with pytest.raises(grpc.RpcError) as refused:
        next(iter(federation_pb2_grpc.FederationStub(hub.channel(sbs)).SubscribeBatches(
            req, timeout=10)))  # fmt: skip
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "agency SBS already has 2 open Subscribe streams" in (refused.value.details() or "")
    assert hub.server.metrics.streams_over_limit.labels("Subscribe")._value.get() == 1
    # another agency still subscribes
    scc = federation_pb2_grpc.FederationStub(hub.channel(pki.ca.issue_agency("SCC")))
    one = scc.Subscribe(req, timeout=30)
    wait_for(lambda: slots.open_count("SCC") == 1)
    one.cancel()
    held[0].cancel()
    wait_for(lambda: slots.open_count("SBS") == 1)
    again = federation_pb2_grpc.FederationStub(hub.channel(sbs)).Subscribe(req, timeout=30)
    wait_for(lambda: slots.open_count("SBS") == 2)
    again.cancel()
    held[1].cancel()
    wait_for(lambda: slots.open_count("SBS") == 0)


#: A TLS record header announcing a 512-byte handshake message, then only 5 bytes of it.
HALF_CLIENT_HELLO = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03])


@pytest.mark.parametrize("sent", [b"", HALF_CLIENT_HELLO], ids=["nothing", "half-hello"])
def test_a_handshake_that_never_finishes_is_dropped(capped: Hub, sent: bytes) -> None:
    hub = capped
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as raw:
        raw.sendall(sent)
        start = time.monotonic()
        try:
            data = raw.recv(4096)
        except ConnectionResetError:
            data = b""
        waited = time.monotonic() - start
        # The hub says nothing and closes: within the 1 s bound (and not at once).
        assert data == b"" and 0.5 < waited < 4.0, (data, waited)
        # a normal client is served while (and after) the stalled one hangs
        nodes = hub.admin().ListNodes(admin_pb2.ListNodesRequest(), timeout=5)
        assert list(nodes.nodes) == []


@pytest.fixture(params=["sqlite", "postgres"])
def backend_hub(request: pytest.FixtureRequest, pki: Pki, tmp_path: Path) -> Iterator[Hub]:
    if request.param == "sqlite":
        h = start_hub(pki, f"sqlite://{tmp_path / 'hub.db'}", max_equivocations_kept=3)
        try:
            yield h
        finally:
            h.server.stop(0.5)
    else:
        with pg_schema() as schema:
            h = start_hub(pki, pg_schema_url(schema), max_equivocations_kept=3)
            try:
                yield h
            finally:
                h.server.stop(0.5)


def test_equivocation_evidence_per_seq_is_bounded(backend_hub: Hub, pki: Pki) -> None:
    """A stolen key floods one seq with 8 variants: 3 are kept as evidence, 5 only counted."""
    hub = backend_hub
    node = TestNode.make(pki, "bil-dr-23")
    node.enroll(hub)
    stream, _ = connect(hub, node)
    recs = node.records(2)
    stream.batch(1, [envelope(r) for r in recs])
    assert stream.until("ack")[0].ack.highest_contiguous_seq == 2
    chain_type = type(node.chain)
    variants = [
        chain_type(node.key, node_id=node.node_id, site=node.site, registry=node.registry,
                   next_seq=2, prev_hash=recs[0].record.hash,
                   ).prepare("node.boot", {"software": f"v{i}", "profile": "p"},
                             time_ms=node.t0 + 2)
        for i in range(8)
    ]  # fmt: skip
    messages = []
    for i, v in enumerate(variants):
        stream.batch(10 + i, [envelope(v)])
        ack, before = stream.until("ack")
        assert [m.reject.reason for m in before] == [sync_pb2.REJECT_REASON_EQUIVOCATION]
        assert ack.ack.highest_contiguous_seq == 2
        messages.append(before[0].reject.message)
    kept = hub.storage.list_equivocations("bil-dr-23")
    assert [e.conflicting_record for e in kept] == [v.raw for v in variants[:3]]
    assert hub.storage.equivocations_dropped("bil-dr-23", 2) == 5
    assert all("both kept as evidence" in m for m in messages[:3])
    assert all("counted, not kept" in m for m in messages[3:])
    assert hub.server.metrics.equivocations._value.get() == 8
    assert hub.server.metrics.equivocations_dropped._value.get() == 5
    # a kept version sent again is neither kept twice nor counted as dropped
    stream.batch(99, [envelope(variants[0])])
    stream.until("ack")
    assert len(hub.storage.list_equivocations("bil-dr-23")) == 3
    assert hub.storage.equivocations_dropped("bil-dr-23", 2) == 5
    assert hub.storage.get_record("bil-dr-23", 2).record == recs[1].raw  # type: ignore[union-attr]
    stream.close()
