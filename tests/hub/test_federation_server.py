"""Federation through the whole hub (``hub/server.py``): real ingest, real sequencer checkpoints.

Nodes push records over the Sync stream; an agency that subscribed before them receives, live
and with inclusion proofs against checkpoints signed by the hub's log key, exactly what the
example policy (loaded through the Admin service) grants it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from hubkit import (
    DOC_BODY,
    ORIGIN,
    Hub,
    Pki,
    TestNode,
    connect,
    envelope,
    pg_schema,
    pg_schema_url,
    start_hub,
)

from borderlink.hub.policy import EXAMPLE_POLICY
from borderlink.proto import merkle
from borderlink.proto.checkpoint import open_checkpoint
from borderlink.proto.record import verify_record
from borderlink.proto.record_types import default_registry
from borderlink.proto.v1 import admin_pb2, federation_pb2, federation_pb2_grpc
from borderlink.provisioning.ca import crl_to_pem

EXAMPLE = EXAMPLE_POLICY
REGISTRY = default_registry()
DOC = {**DOC_BODY, "birth_date": "1980-02-03", "mrz": ["P<AZEALIYEV<<RASHAD", "C01234567"]}
ALARM = {"lane": "L1", "kind": "gamma", "nuisance": False, "sigma": 9.5, "threshold_cps": 300.0,
         "start_ms": 1, "end_ms": 2, "plate": "10-AB-123"}  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def full_hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    pki = Pki.make(tmp_path / "pki")
    if request.param == "sqlite":
        hub = start_hub(pki, f"sqlite://{tmp_path / 'hub.db'}", checkpoint_interval_s=0.05)
        try:
            yield hub
        finally:
            hub.server.stop(0.5)
    else:
        with pg_schema() as schema:
            hub = start_hub(pki, pg_schema_url(schema), checkpoint_interval_s=0.05)
            try:
                yield hub
            finally:
                hub.server.stop(0.5)


def test_live_subscription_through_the_hub_with_proofs(full_hub: Hub) -> None:
    hub, pki = full_hub, full_hub.pki
    hub.admin().LoadPolicy(admin_pb2.LoadPolicyRequest(policy_toml=EXAMPLE.read_bytes()), timeout=5)
    reader = TestNode.make(pki, "bil-dr-01")
    portal = TestNode.make(pki, "bil-rpm-01", agency="SCC")
    for node in (reader, portal):
        node.enroll(hub)

    sms = federation_pb2_grpc.FederationStub(hub.channel(pki.ca.issue_agency("SMS")))
    stream = sms.Subscribe(
        federation_pb2.SubscribeRequest(follow=True, include_inclusion_proof=True), timeout=30
    )
    got: list[federation_pb2.FederatedRecord] = []
    three = threading.Event()

    def read() -> None:
        try:
            for fr in stream:
                got.append(fr)
                if len(got) == 3:
                    three.set()
        except grpc.RpcError as exc:  # the cancel() below ends the stream
            assert exc.code() == grpc.StatusCode.CANCELLED

    threading.Thread(target=read, daemon=True).start()

    docs = [reader.record("document.check", DOC) for _ in range(3)]
    alarm = portal.record("radiation.alarm", ALARM)
    for node, batch in ((reader, docs[:2]), (portal, [alarm]), (reader, docs[2:])):
        sync, _ = connect(hub, node)
        sync.batch(1, [envelope(r) for r in batch])
        sync.until("ack")
        sync.close()

    assert three.wait(15), f"{len(got)} of 3 records arrived"
    stream.cancel()
    assert [fr.record for fr in got] == [d.raw for d in docs]  # no radiation alarm for SMS
    for fr in got:
        verified = verify_record(
            fr.record, fr.node_key.public_key, registry=REGISTRY, disclosures=fr.disclosures
        )
        assert set(verified.disclosed) == {
            "surname",
            "given_names",
            "document_number",
            "birth_date",
        }
        assert "mrz" not in verified.body  # withheld from migration, still verifies
        proof = fr.inclusion_proof
        cp = open_checkpoint(proof.checkpoint.signed_note, hub.signer.verifier, origin=ORIGIN)
        assert cp.size == proof.tree_size > fr.log_index
        merkle.verify_inclusion(
            merkle.leaf_hash(fr.record), fr.log_index, cp.size, list(proof.hashes), cp.root_hash
        )


def test_revoked_agency_certificate_reads_nothing(tmp_path: Path) -> None:
    pki = Pki.make(tmp_path / "pki")
    scc, sms = pki.ca.issue_agency("SCC"), pki.ca.issue_agency("SMS")
    crl = tmp_path / "crl.pem"
    crl.write_bytes(crl_to_pem(pki.ca.revoke(scc.certificate)))
    hub = start_hub(pki, f"sqlite://{tmp_path / 'hub.db'}", crl_path=crl)
    try:
        hub.admin().LoadPolicy(
            admin_pb2.LoadPolicyRequest(policy_toml=EXAMPLE.read_bytes()), timeout=5
        )
        revoked = federation_pb2_grpc.FederationStub(hub.channel(scc))
        with pytest.raises(grpc.RpcError) as err:
            list(revoked.Subscribe(federation_pb2.SubscribeRequest(), timeout=5))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "revoked" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            revoked.Query(federation_pb2.QueryRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # Another agency of the same CA is served.
        valid = federation_pb2_grpc.FederationStub(hub.channel(sms))
        assert valid.Query(federation_pb2.QueryRequest(), timeout=5).more is False
    finally:
        hub.server.stop(0.5)
