"""The edge agent's real uplink (journal + recorder + Uplink) against the real hub over mTLS."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from borderlink.edge.journal import Journal, ThinningPolicy
from borderlink.edge.recorder import Recorder
from borderlink.edge.uplink import TlsMaterial, Uplink, UplinkConfig
from borderlink.proto.chain import verify_chain
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import decode_record
from borderlink.proto.record_types import default_registry
from borderlink.proto.v1 import admin_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))
from hubkit import Pki, start_hub, wait_for


def test_edge_uplink_syncs_its_journal_into_the_hub_once(tmp_path: Path) -> None:
    pki = Pki.make(tmp_path / "pki")
    hub = start_hub(pki, f"sqlite://{tmp_path / 'hub.db'}")
    journal = Journal.open(
        tmp_path / "journal.db", max_bytes=64 * 1024 * 1024, policy=ThinningPolicy()
    )
    key = SigningKey.generate()
    node_id = "bil-edge-01"
    try:
        hub.admin().EnrollNode(
            admin_pb2.EnrollNodeRequest(
                node_id=node_id, public_key=key.public, site="AZ-BIL", agency="SBS",
                record_types=["document.check"],
            ),
            timeout=5,
        )
        recorder = Recorder.for_journal(
            key, journal, node_id=node_id, site="AZ-BIL", registry=default_registry()
        )
        for i in range(300):  # a backlog from before the link came up
            recorder.record_event("node.tamper", {"kind": "test", "detail": str(i)})
        cert = pki.ca.issue_node(node_id)
        tls = TlsMaterial(ca_pem=pki.ca.cert_pem, cert_pem=cert.cert_pem, key_pem=cert.key_pem())
        cfg = UplinkConfig(
            addresses=(f"127.0.0.1:{hub.port}",),
            retry_initial_s=0.05,
            retry_max_s=0.3,
            linger_ms=5,
            connect_timeout_s=2.0,
        )
        up = Uplink(cfg, tls, journal, node_id=node_id, recorder=recorder, rng=random.Random(1))
        recorder.add_listener(up.notify)
        up.start()
        try:
            wait_for(lambda: journal.last_acked_seq == 300, timeout=20)
            for i in range(20):  # live records
                recorder.record_event("node.tamper", {"kind": "live", "detail": str(i)})
            wait_for(lambda: journal.last_acked_seq == 320, timeout=20)
        finally:
            up.stop()
        store = hub.storage
        page = store.scan_records(0, limit=1000, with_disclosures=False)
        assert [r.seq for r in page.records] == list(range(1, 321))  # each stored once, in order
        assert verify_chain([decode_record(r.record) for r in page.records]).ok
        assert store.list_equivocations() == []
        wait_for(lambda: (cp := store.latest_checkpoint()) is not None and cp.tree_size == 320)
        node = store.get_node(node_id)
        assert (
            node.last_seq == 320
            and node.clock_skew_ms is not None
            and abs(node.clock_skew_ms) < 2000
        )
        assert time.time() * 1000 - node.last_seen_ms < 60_000
    finally:
        hub.server.stop(0.5)
        journal.close()
