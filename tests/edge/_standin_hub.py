"""STAND-IN for the hub's Sync service, for the edge tests only — not the hub.

The hub (issue 3, ``borderlink.hub``) builds the real Sync server. Until it offers one, these
tests talk to this minimal servicer, which implements the real generated
``sync_pb2_grpc.SyncServicer`` over real gRPC with mutual TLS on 127.0.0.1 (certificates from
``borderlink.provisioning.ca``) and keeps to the protocol in ``proto/v1/sync.proto``: Hello
first, Resume with next_seq / hub time / last hash / limits, Ack of the highest contiguous
sequence number stored, Reject on a chain gap, mismatch or bad signature, Downlink items newer
than the versions in Hello. It stores records in memory, verifies every signature with the
node's enrolled key and the chain, and is idempotent for records already stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc

from borderlink.proto.errors import BorderlinkError
from borderlink.proto.record import GENESIS_PREV, Record, verify_record
from borderlink.proto.record_types import default_registry
from borderlink.proto.v1 import MAX_MESSAGE_BYTES, sync_pb2, sync_pb2_grpc
from borderlink.provisioning.ca import (
    CertificateAuthority,
    IssuedCertificate,
    cert_from_pem,
    identity_of,
)


@dataclass
class NodeState:
    public_key: bytes
    records: dict[int, Record] = field(default_factory=dict)
    disclosures: dict[int, list[bytes]] = field(default_factory=dict)
    received: list[int] = field(default_factory=list)  # every seq received, duplicates too

    @property
    def last_seq(self) -> int:
        seq = 0
        while seq + 1 in self.records:
            seq += 1
        return seq


class StandInSyncServicer(sync_pb2_grpc.SyncServicer):
    def __init__(self, enrolled: dict[str, bytes], *, clock_offset_ms: int = 0,
                 max_batch_records: int = 256, max_in_flight: int = 4,
                 ack_delay_s: float = 0.0) -> None:
        self.nodes = {n: NodeState(k) for n, k in enrolled.items()}
        self.clock_offset_ms = clock_offset_ms
        self.max_batch_records = max_batch_records
        self.max_in_flight = max_in_flight
        self.ack_delay_s = ack_delay_s
        self.downlinks: list[sync_pb2.Downlink] = []
        self.downlink_acks: list[sync_pb2.DownlinkAck] = []
        self.hellos: list[sync_pb2.Hello] = []
        self.max_unacked_seen = 0
        self.reject_next = False
        self.lock = threading.Lock()

    def Stream(self, request_iterator: Iterator[sync_pb2.EdgeMessage],
               context: grpc.ServicerContext) -> Iterator[sync_pb2.HubMessage]:
        pem = context.auth_context()["x509_pem_cert"][0]
        peer = identity_of(cert_from_pem(pem))
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "hello":
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "Hello must come first")
        hello = first.hello
        if peer.name != hello.node_id or hello.node_id not in self.nodes:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "node id does not match its cert")
        self.hellos.append(hello)
        node = self.nodes[hello.node_id]
        with self.lock:
            last = node.last_seq
            last_hash = node.records[last].hash if last else GENESIS_PREV
        yield sync_pb2.HubMessage(resume=sync_pb2.Resume(
            next_seq=last + 1, hub_time_unix_ms=int(time.time() * 1000) + self.clock_offset_ms,
            last_hash=last_hash, max_batch_records=self.max_batch_records,
            max_batch_bytes=1024 * 1024, max_in_flight_batches=self.max_in_flight))
        held = {v.kind: v.version for v in hello.downlink_versions}
        for item in list(self.downlinks):
            if item.version > held.get(item.kind, 0):
                yield sync_pb2.HubMessage(downlink=item)
        unacked = 0
        for msg in request_iterator:
            which = msg.WhichOneof("msg")
            if which == "downlink_ack":
                self.downlink_acks.append(msg.downlink_ack)
                continue
            if which != "batch":
                continue
            unacked += 1
            self.max_unacked_seen = max(self.max_unacked_seen, unacked)
            batch = msg.batch
            for index, env in enumerate(batch.envelopes):
                reject = self._store(node, env.record, list(env.disclosures))
                if reject is not None:
                    reason, seq, text = reject
                    yield sync_pb2.HubMessage(reject=sync_pb2.Reject(
                        batch_id=batch.batch_id, index_in_batch=index, seq=seq, reason=reason,
                        message=text))
                    break
            if self.ack_delay_s:
                time.sleep(self.ack_delay_s)
            unacked -= 1
            yield sync_pb2.HubMessage(ack=sync_pb2.Ack(
                batch_id=batch.batch_id, highest_contiguous_seq=node.last_seq))

    def _store(self, node: NodeState, raw: bytes,
               disclosures: list[bytes]) -> tuple[int, int, str] | None:
        try:
            record = verify_record(raw, node.public_key, registry=default_registry(),
                                   disclosures=disclosures).record
        except BorderlinkError as exc:
            return sync_pb2.REJECT_REASON_BAD_SIGNATURE, 0, str(exc)
        with self.lock:
            node.received.append(record.seq)
            if self.reject_next:
                self.reject_next = False
                return sync_pb2.REJECT_REASON_INVALID_BODY, record.seq, "told to refuse"
            held = node.records.get(record.seq)
            if held is not None:
                if held.raw != raw:
                    return sync_pb2.REJECT_REASON_EQUIVOCATION, record.seq, "fork"
                return None  # idempotent
            last = node.last_seq
            if record.seq != last + 1:
                return sync_pb2.REJECT_REASON_CHAIN_GAP, record.seq, f"expected {last + 1}"
            expected = node.records[last].hash if last else GENESIS_PREV
            if record.prev_hash != expected:
                return sync_pb2.REJECT_REASON_CHAIN_MISMATCH, record.seq, "prev mismatch"
            node.records[record.seq] = record
            node.disclosures[record.seq] = disclosures
        return None


@dataclass
class StandInHub:
    servicer: StandInSyncServicer
    server: grpc.Server
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(None)


def start_standin_hub(ca: CertificateAuthority, hub_cert: IssuedCertificate,
                      servicer: StandInSyncServicer, port: int = 0) -> StandInHub:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.so_reuseport", 0)])
    sync_pb2_grpc.add_SyncServicer_to_server(servicer, server)
    creds = grpc.ssl_server_credentials([(hub_cert.key_pem(), hub_cert.cert_pem)],
                                        root_certificates=ca.cert_pem,
                                        require_client_auth=True)
    bound = server.add_secure_port(f"127.0.0.1:{port}", creds)
    if bound == 0:
        raise RuntimeError(f"cannot bind 127.0.0.1:{port}")
    server.start()
    return StandInHub(servicer, server, bound)

