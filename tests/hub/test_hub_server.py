"""The hub process parts around ingest: downlink, Admin, health, reflection, metrics, shutdown."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import hubkit
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from hubkit import (
    ORIGIN,
    Hub,
    Pki,
    TestNode,
    connect,
    envelope,
    pg_schema,
    pg_schema_url,
    start_hub,
    wait_for,
)

from borderlink.cli import main
from borderlink.hub.policy import EXAMPLE_POLICY
from borderlink.hub.storage import DownlinkAckRow, DownlinkKind, open_storage
from borderlink.proto.checkpoint import open_checkpoint
from borderlink.proto.keys import SigningKey
from borderlink.proto.v1 import admin_pb2, admin_pb2_grpc, sync_pb2

pki = hubkit.pki
hub = hubkit.hub

CONFIG = sync_pb2.DOWNLINK_KIND_CONFIG
WATCHLIST = sync_pb2.DOWNLINK_KIND_WATCHLIST


def _publish(hub: Hub, kind: int, version: int, target: str, payload: bytes = b"signed") -> int:
    resp = hub.admin().PublishDownlink(
        admin_pb2.PublishDownlinkRequest(
            downlink=sync_pb2.Downlink(
                kind=kind, version=version, signed_payload=payload, target=target
            )
        ),
        timeout=5,
    )
    return resp.delivered_now


def test_downlink_on_connect_pushed_and_acknowledged(hub: Hub, pki: Pki) -> None:
    node = TestNode.make(pki, "bil-dr-20")
    node.enroll(hub)
    assert _publish(hub, CONFIG, 1, "bil-dr-20", b"cfg1") == 0
    assert _publish(hub, WATCHLIST, 3, "*", b"wl3") == 0
    # On connect: everything newer than Hello's versions (the watchlist v3 is already held).
    stream = hubkit.Stream(hub.channel(node.cert))
    stream.hello(node, versions={WATCHLIST: 3})
    stream.until("resume")
    msg, _ = stream.until("downlink")
    assert (msg.downlink.kind, msg.downlink.version, msg.downlink.signed_payload) == (
        CONFIG,
        1,
        b"cfg1",
    )
    # While connected: pushed at once.
    assert _publish(hub, WATCHLIST, 4, "site:AZ-BIL", b"wl4") == 1
    msg, _ = stream.until("downlink", timeout=2)
    assert (msg.downlink.kind, msg.downlink.version, msg.downlink.target) == (
        WATCHLIST,
        4,
        "site:AZ-BIL",
    )
    # Not for this node: not delivered.
    assert _publish(hub, CONFIG, 1, "site:AZ-AST") == 0
    # Published by another hub process on the same store: found by polling.
    other = open_storage(hub.storage_url)
    try:
        from borderlink.hub.storage import DownlinkItem, DownlinkKind

        other.put_downlink(DownlinkItem(DownlinkKind.CONFIG, "bil-dr-20", 2, b"cfg2", 0))
    finally:
        other.close()
    msg, _ = stream.until("downlink", timeout=2)
    assert (msg.downlink.kind, msg.downlink.version) == (CONFIG, 2)
    # Older or equal versions are refused at publish time.
    with pytest.raises(grpc.RpcError) as err:
        _publish(hub, CONFIG, 2, "bil-dr-20")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    stream.send(downlink_ack=sync_pb2.DownlinkAck(kind=CONFIG, version=2, applied=True))
    acks = hub.server.metrics.downlink_acks.labels("config", "true")
    wait_for(lambda: acks._value.get() == 1)
    stream.close()


@pytest.fixture(params=["sqlite", "postgres"])
def any_hub(request: pytest.FixtureRequest, pki: Pki, tmp_path: Path) -> Iterator[Hub]:
    """A hub on SQLite, then on PostgreSQL."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite://{tmp_path / 'hub.db'}"
        else:
            url = pg_schema_url(stack.enter_context(pg_schema()))
        h = start_hub(pki, url)
        try:
            yield h
        finally:
            h.server.stop(0.5)


def test_downlink_acks_are_kept_and_listed_with_the_key_history(
    any_hub: Hub, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = any_hub
    node = TestNode.make(pki, "bil-dr-22")
    node.enroll(hub)
    stream, _ = connect(hub, node)
    acks = [
        sync_pb2.DownlinkAck(kind=CONFIG, version=1, applied=True),
        sync_pb2.DownlinkAck(kind=WATCHLIST, version=3, applied=False, message="bad signature"),
        sync_pb2.DownlinkAck(kind=0, version=9, applied=True),  # unknown kind: counted only
        sync_pb2.DownlinkAck(kind=CONFIG, version=2, applied=True),
    ]
    for ack in acks:
        stream.send(downlink_ack=ack)

    def stored_when_all_arrived() -> list[DownlinkAckRow] | None:
        got = hub.storage.latest_downlink_acks([node.node_id])
        return got if got and got[0].version == 2 else None

    stored = wait_for(stored_when_all_arrived)
    assert [(a.kind, a.version, a.applied, a.message) for a in stored] == [
        (DownlinkKind.CONFIG, 2, True, ""),
        (DownlinkKind.WATCHLIST, 3, False, "bad signature"),
    ]
    assert all(a.received_ms > 0 for a in stored)
    assert stream.error is None  # an ack of an unknown kind does not end the stream
    stream.close()
    # The node is revoked and enrolled again with a new key: both keys are listed.
    admin = hub.admin()
    admin.RevokeNode(admin_pb2.RevokeNodeRequest(node_id=node.node_id, reason="rekey"), timeout=5)
    new_key = SigningKey.generate()
    again = admin.EnrollNode(
        admin_pb2.EnrollNodeRequest(
            node_id=node.node_id, public_key=new_key.public, site="AZ-BIL", agency="SBS",
            record_types=["document.check"],
        ),
        timeout=5,
    )
    assert [k.kid for k in again.keys] == [node.key.kid, new_key.kid]
    (listed,) = admin.ListNodes(admin_pb2.ListNodesRequest(), timeout=5).nodes
    assert [(k.kid, k.revoked_at_unix_ms > 0) for k in listed.keys] == [
        (node.key.kid, True),
        (new_key.kid, False),
    ]
    assert [(a.kind, a.version, a.applied, a.message) for a in listed.downlink_acks] == [
        (CONFIG, 2, True, ""),
        (WATCHLIST, 3, False, "bad signature"),
    ]
    # What an operator reads: `borderlink hub nodes`, as JSON and as a table.
    d = pki.dir
    conn = ["--hub", f"127.0.0.1:{hub.port}", "--cert", str(d / "admin.pem"),
            "--key", str(d / "admin.key"), "--ca", str(d / "ca.pem")]  # fmt: skip
    assert main(["hub", "nodes", "--json", *conn]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert [k["kid"] for k in row["keys"]] == [node.key.kid.hex(), new_key.kid.hex()]
    assert row["keys"][1]["public_key"] == new_key.public.hex()
    assert [(a["kind"], a["version"], a["applied"]) for a in row["downlink_acks"]] == [
        ("config", 2, True),
        ("watchlist", 3, False),
    ]
    assert main(["hub", "nodes", *conn]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split()[7] == "2"  # keys
    assert table[1].endswith("config v2 applied, watchlist v3 refused: bad signature")


def test_admin_enroll_list_revoke_and_policy(hub: Hub, pki: Pki) -> None:
    node = TestNode.make(pki, "bil-dr-21")
    info = node.enroll(hub)
    assert info.kid == node.key.kid and info.site == "AZ-BIL" and info.revoked_at_unix_ms == 0
    with pytest.raises(grpc.RpcError) as err:
        node.enroll(hub)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    admin = hub.admin()
    with pytest.raises(grpc.RpcError) as err:
        admin.EnrollNode(
            admin_pb2.EnrollNodeRequest(
                node_id="n2", public_key=b"short", site="AZ-BIL", agency="SBS"
            ),
            timeout=5,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        admin.EnrollNode(
            admin_pb2.EnrollNodeRequest(
                node_id="n2", public_key=node.key.public, site="AZ-BIL", agency="XYZ"
            ),
            timeout=5,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "XYZ" in err.value.details()
    # Certificate of another node: refused.
    from cryptography.hazmat.primitives.serialization import Encoding

    der = pki.ca.issue_node("someone-else").certificate.public_bytes(Encoding.DER)
    with pytest.raises(grpc.RpcError) as err:
        admin.EnrollNode(
            admin_pb2.EnrollNodeRequest(
                node_id="n3",
                public_key=node.key.public,
                certificate_der=der,
                site="AZ-BIL",
                agency="SBS",
                record_types=["document.check"],
            ),
            timeout=5,
        )
    assert "someone-else" in err.value.details()
    # No record types declared: refused (the hub would not know what the node may sign).
    for types in ([], ["document.check", "bad type"]):
        with pytest.raises(grpc.RpcError) as err:
            admin.EnrollNode(
                admin_pb2.EnrollNodeRequest(
                    node_id="n4", public_key=node.key.public, site="AZ-BIL", agency="SBS",
                    record_types=types,
                ),
                timeout=5,
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "record_types is required" in err.value.details()
    # ListNodes shows last seq, backlog and skew after a sync.
    stream, _ = connect(hub, node, journal_seq=10)
    stream.batch(1, [envelope(r) for r in node.records(4)])
    stream.until("ack")
    (listed,) = admin.ListNodes(admin_pb2.ListNodesRequest(), timeout=5).nodes
    assert listed.last_seq == 4 and listed.backlog == 6
    assert 500 < listed.clock_skew_ms < 5000  # the test node's clock runs 1.5 s ahead
    assert listed.last_seen_unix_ms > 0
    revoked = admin.RevokeNode(
        admin_pb2.RevokeNodeRequest(node_id=node.node_id, reason="lost"), timeout=5
    )
    assert revoked.revoked_at_unix_ms > 0
    assert admin.ListNodes(admin_pb2.ListNodesRequest(include_revoked=False), timeout=5).nodes == []
    with pytest.raises(grpc.RpcError) as err:
        admin.RevokeNode(admin_pb2.RevokeNodeRequest(node_id="nobody"), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    # Policy: validated, stored, digest returned; a bad policy names the problem.
    example = EXAMPLE_POLICY
    text = example.read_bytes()
    dry = admin.LoadPolicy(admin_pb2.LoadPolicyRequest(policy_toml=text, dry_run=True), timeout=5)
    assert hub.storage.current_policy() is None and set(dry.agencies) == {"SBS", "SCC", "SMS"}
    done = admin.LoadPolicy(admin_pb2.LoadPolicyRequest(policy_toml=text), timeout=5)
    assert hub.storage.current_policy().digest == done.policy_digest == dry.policy_digest
    with pytest.raises(grpc.RpcError) as err:
        admin.LoadPolicy(admin_pb2.LoadPolicyRequest(policy_toml=b"[agency.XYZ]\n"), timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    stream.close()


def test_health_and_reflection(hub: Hub, pki: Pki) -> None:
    channel = hub.channel(pki.admin)
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "borderlink.v1.Sync", "borderlink.v1.Transparency", "borderlink.v1.Admin"):
        resp = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING, service
    db = ProtoReflectionDescriptorDatabase(channel)
    services = set(db.get_services())
    assert {
        "borderlink.v1.Sync",
        "borderlink.v1.Transparency",
        "borderlink.v1.Admin",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= services
    sync = db.FindFileContainingSymbol("borderlink.v1.Sync")
    assert sync.name.endswith("sync.proto")


def test_health_on_a_plaintext_loopback_port_for_probes(pki: Pki, tmp_path: Path) -> None:
    """A probe without a client certificate (grpc_health_probe, a load balancer) asks the
    loopback health port; that port answers health and nothing else."""
    h = start_hub(pki, f"sqlite://{tmp_path / 'h.db'}", health_port=0)
    try:
        assert h.server.health_port and h.server.health_port != h.server.port
        channel = grpc.insecure_channel(f"127.0.0.1:{h.server.health_port}")
        probe = health_pb2_grpc.HealthStub(channel)
        for service in ("", "borderlink.v1.Sync"):
            resp = probe.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING, service
        with pytest.raises(grpc.RpcError) as err:  # no other service behind the plaintext port
            admin_pb2_grpc.AdminStub(channel).ListNodes(admin_pb2.ListNodesRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        # the TLS port still wants a client certificate: plaintext health there is refused
        with pytest.raises(grpc.RpcError):
            health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{h.server.port}")).Check(
                health_pb2.HealthCheckRequest(), timeout=2)
        h.server.health.enter_graceful_shutdown()  # what stop() does first: probes see it
        resp = probe.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.NOT_SERVING
        channel.close()
    finally:
        h.server.stop(0.2)


def test_metrics_endpoint(pki: Pki, tmp_path: Path) -> None:
    h = start_hub(pki, f"sqlite://{tmp_path / 'm.db'}", metrics_port=0)
    try:
        node = TestNode.make(pki, "bil-dr-22")
        node.enroll(h)
        stream, _ = connect(h, node, journal_seq=7)
        stream.batch(1, [envelope(r) for r in node.records(3)])
        stream.batch(2, [hubkit.common_pb2.Envelope(record=b"junk")])
        stream.until("ack")
        stream.until("ack")
        wait_for(lambda: h.server.last_checkpoint and h.server.last_checkpoint.tree_size == 3)
        url = f"http://127.0.0.1:{h.server.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        assert "borderlink_hub_records_stored_total 3.0" in text
        assert 'borderlink_hub_records_refused_total{reason="MALFORMED"} 1.0' in text
        assert "borderlink_hub_log_size 3.0" in text
        assert 'borderlink_hub_node_last_seq{node="bil-dr-22"} 3.0' in text
        # the node reported 7 journalled at Hello; 3 are stored since: the gauge follows acks
        assert 'borderlink_hub_node_backlog{node="bil-dr-22"} 4.0' in text
        assert "borderlink_hub_checkpoint_age_seconds" in text
        assert "process_resident_memory_bytes" in text and "process_cpu_seconds_total" in text
        assert 'borderlink_build_info{component="hub"' in text
        enroll = 'borderlink_hub_rpcs_handled_total{code="OK",method="/borderlink.v1.Admin/EnrollNode"} 1.0'
        assert enroll in text
        assert 'borderlink_hub_rpc_handling_seconds_count{method="/borderlink.v1.Admin/EnrollNode"} 1.0' in text
        assert "_ms" not in "".join(line.split("{")[0] for line in text.splitlines()
                                    if not line.startswith("#"))  # base units only
        stream.close()
    finally:
        h.server.stop(0.2)


@pytest.mark.parametrize("workers", [0, 1], ids=["in-thread", "pool"])
def test_graceful_shutdown_finishes_and_publishes_a_checkpoint(
    pki: Pki, tmp_path: Path, workers: int
) -> None:
    url = f"sqlite://{tmp_path / 'g.db'}"
    h = start_hub(pki, url, checkpoint_interval_s=1.0, verify_workers=workers)
    node = TestNode.make(pki, "bil-dr-23")
    node.enroll(h)
    stream, _ = connect(h, node)
    stream.batch(1, [envelope(r) for r in node.records(50)])
    stream.batch(2, [envelope(r) for r in node.records(50)])
    acked = stream.until("ack")[0].ack.highest_contiguous_seq
    last = h.server.stop(grace_s=2.0)
    # The stream ends with UNAVAILABLE after its batches are answered.
    seen = [acked]
    while (msg := stream.recv()) is not None:
        if msg.WhichOneof("msg") == "ack":
            seen.append(msg.ack.highest_contiguous_seq)
    assert (
        stream.error.code() == grpc.StatusCode.UNAVAILABLE
        and "shutting down" in stream.error.details()
    )
    store = open_storage(url)
    try:
        size = store.log_state().size
        assert size == store.get_node("bil-dr-23").last_seq == max(seen)
        cp = store.latest_checkpoint()
        assert cp.tree_size == size == last.tree_size
        assert open_checkpoint(cp.signed_note, h.signer.verifier, origin=ORIGIN).size == size
    finally:
        store.close()


def test_federation_is_served_by_the_hub_with_the_loaded_policy(hub: Hub, pki: Pki) -> None:
    from borderlink.proto.v1 import federation_pb2, federation_pb2_grpc

    node = TestNode.make(pki, "bil-dr-24")
    node.enroll(hub)
    stream, _ = connect(hub, node)
    recs = node.records(3)
    stream.batch(1, [envelope(r) for r in recs])
    stream.until("ack")
    stream.close()
    sbs = federation_pb2_grpc.FederationStub(hub.channel(pki.ca.issue_agency("SBS")))
    query = federation_pb2.QueryRequest(limit=10)
    assert list(sbs.Query(query, timeout=5).records) == []  # no policy loaded: deny all
    example = EXAMPLE_POLICY
    hub.admin().LoadPolicy(admin_pb2.LoadPolicyRequest(policy_toml=example.read_bytes()), timeout=5)
    got = sbs.Query(query, timeout=5).records
    assert [r.record for r in got] == [r.raw for r in recs]
    assert sorted(got[0].disclosures) == sorted(recs[0].disclosure_bytes)  # SBS: disclose all
    assert got[0].node_key.public_key == node.key.public
    # A node certificate is no agency.
    with pytest.raises(grpc.RpcError) as err:
        federation_pb2_grpc.FederationStub(hub.channel(node.cert)).Query(query, timeout=5)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
