"""Attacks on the running hub, as one stolen node, a LAN intruder and a curious agency would try.

The attacker holds what a thief of one enrolled edge node holds: its TLS certificate and key,
its record-signing key, the CA certificate (``bil-stolen-01``, enrolled like any node of the
site but with no agent running, so that the attacks cannot disturb a real node's chain). It
also holds an agency's credentials (SMS), a certificate from a CA of its own, an expired
certificate and one for a node that was never enrolled.

The LAN intruder also speaks MQTT: ``anonymous LAN ack`` acknowledges real nodes' records on
the round's site broker, and is refused when no node journals it (docs/site-bus.md).

Each attack is one function that performs it over real gRPC and returns what the hub answered
(a reject reason, a gRPC status, or what a read returned); it is *refused* when that answer is
one of the answers the contract gives for it. What the attacks leave behind is checked by the
round's invariants too: the stolen node holds exactly the one record it was allowed to send,
and nothing else is stored.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from borderlink.proto.keys import SigningKey
from borderlink.proto.record import RecordChain, SignedRecord
from borderlink.proto.record_types import node_registry
from borderlink.proto.v1 import (
    GRPC_MESSAGE_OPTIONS,
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    federation_pb2,
    federation_pb2_grpc,
    sync_pb2,
    sync_pb2_grpc,
)
from borderlink.provisioning.ca import CertificateAuthority, IssuedCertificate

from .errors import FaultSuiteError

STOLEN = "bil-stolen-01"
GHOST = "bil-ghost-01"
#: Record types SMS's example policy never grants (it sees document checks only).
BEYOND_SMS = ["radiation.occupancy", "radiation.alarm", "lab.analysis", "intrusion.alert"]


@dataclass(frozen=True)
class AttackResult:
    name: str
    answer: str  # what the hub answered
    refused: bool
    #: Whether the hub's /metrics counted a refusal while it ran (None: could not be scraped).
    counted: bool | None = None


@dataclass
class Credentials:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


class _Sync:
    """One Sync stream: send EdgeMessages, read HubMessages, learn how the stream ended."""

    _END = object()

    def __init__(self, address: str, creds: Credentials) -> None:
        self.channel = _channel(address, creds)
        self._out: queue.Queue[Any] = queue.Queue()
        self._in: queue.Queue[Any] = queue.Queue()
        self.code: grpc.StatusCode | None = None
        self.call = sync_pb2_grpc.SyncStub(self.channel).Stream(iter(self._out.get, self._END))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self._in.put(message)
        except grpc.RpcError as exc:
            self.code = exc.code()
        self._in.put(self._END)

    def send(self, **kw: Any) -> None:
        self._out.put(sync_pb2.EdgeMessage(**kw))

    def hello(self, node_id: str) -> None:
        self.send(hello=sync_pb2.Hello(node_id=node_id, node_time_unix_ms=_now_ms(),
                                       agent_version="attacker"))

    def answer(self, wanted: str, timeout: float = 15.0) -> str:
        """The first Reject or *wanted* message, or the status the stream ended with."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = self._in.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return "no answer"
            if item is self._END:
                return self.code.name if self.code is not None else "ended"
            kind = item.WhichOneof("msg")
            if kind == "reject":
                return sync_pb2.RejectReason.Name(item.reject.reason)
            if kind == wanted:
                return "ack" if kind == "ack" else kind

    def close(self) -> None:
        self._out.put(self._END)
        self.call.cancel()
        self.channel.close()


class Attacker:
    """Everything the attacks need, prepared on a provisioned, running site."""

    def __init__(self, site: Any, ca: CertificateAuthority) -> None:
        self.site = site
        self.address = site.hub_address
        ca_pem = (site.hub_dir / "ca.pem").read_bytes()
        self.ca, self.ca_pem = ca, ca_pem
        self.key = SigningKey.generate()
        self.stolen = _creds(ca_pem, ca.issue_node(STOLEN))
        self.ghost = _creds(ca_pem, ca.issue_node(GHOST))
        now = dt.datetime.now(dt.UTC)
        self.expired = _creds(ca_pem, ca.issue_node(
            STOLEN, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)))
        foreign = CertificateAuthority.create("an intruder's own CA")
        self.foreign = _creds(ca_pem, foreign.issue_node(STOLEN))
        cert, key = site.agency_files("SMS")
        self.sms = Credentials(ca_pem, cert.read_bytes(), key.read_bytes())
        # Signed as the edge signs for an SCC node: its node.* records are SCC's own.
        self.chain = RecordChain(self.key, node_id=STOLEN, site=site.site_id,
                                 registry=node_registry("SCC"))
        self.legit_records = 0

    def enroll(self) -> None:
        """Enrol the node whose identity the attacker will steal, as a technician did."""
        done = self.site._cli("hub", "enroll", STOLEN, "--public-key", self.key.public_hex,
                              "--site", self.site.site_id, "--agency", "SCC", "--profile",
                              "rpm-lane", *self.site.admin_args())
        if done.returncode != 0:
            raise FaultSuiteError(f"enrolling {STOLEN} failed: {done.stderr.strip()}")

    def record(self, commit: bool = True) -> SignedRecord:
        signed = self.chain.prepare("node.tamper", {"kind": "attack", "detail": "probe"},
                                    time_ms=_now_ms())
        if commit:
            self.chain.commit(signed)
        return signed


def _creds(ca_pem: bytes, issued: IssuedCertificate) -> Credentials:
    return Credentials(ca_pem, issued.cert_pem, issued.key_pem())


def _channel(address: str, creds: Credentials) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(creds.ca_pem, creds.key_pem, creds.cert_pem)
    return grpc.secure_channel(address, credentials, GRPC_MESSAGE_OPTIONS)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _envelope(raw: bytes, disclosures: tuple[bytes, ...] = ()) -> common_pb2.Envelope:
    return common_pb2.Envelope(record=raw, disclosures=list(disclosures))


def _send_one(a: Attacker, raw: bytes, creds: Credentials | None = None,
              node_id: str = STOLEN, disclosures: tuple[bytes, ...] = ()) -> str:
    stream = _Sync(a.address, creds or a.stolen)
    try:
        stream.hello(node_id)
        resume = stream.answer("resume")
        if resume != "resume":
            return resume
        stream.send(batch=sync_pb2.RecordBatch(batch_id=1,
                                               envelopes=[_envelope(raw, disclosures)]))
        return stream.answer("ack")
    finally:
        stream.close()


def _rpc_status(call: Callable[[], Any]) -> str:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code().name
    return "answered"


# -- the attacks ---------------------------------------------------------------------------

def forged_signature(a: Attacker) -> str:
    """A record in the stolen node's name, signed with a key that is not its enrolled key."""
    forger = RecordChain(SigningKey.generate(), node_id=STOLEN, site=a.site.site_id,
                         registry=node_registry("SCC"))
    raw = forger.prepare("node.tamper", {"kind": "attack", "detail": "forged"},
                         time_ms=_now_ms()).raw
    return _send_one(a, raw)


def legit_then_replayed(a: Attacker) -> str:
    """The node's genuine first record, accepted; then the same bytes again (a replay)."""
    signed = a.record()
    first = _send_one(a, signed.raw)
    if first != "ack":
        return f"first record not accepted: {first}"
    a.legit_records += 1
    again = _send_one(a, signed.raw)
    return "idempotent" if again == "ack" else again  # stored once: checked by the invariants


def _claiming(a: Attacker, record_type: str, body: dict[str, Any], *, site: str | None = None,
              agency: str | None = None, time_ms: int | None = None) -> str:
    """The stolen node's next record, validly signed with its enrolled key, claiming what
    the enrolment does not allow (never committed: refused, it takes no place in the chain)."""
    chain = RecordChain(a.key, node_id=STOLEN, site=site or a.site.site_id,
                        registry=node_registry("SCC"), next_seq=a.chain.next_seq,
                        prev_hash=a.chain.prev_hash)
    signed = chain.prepare(record_type, body, agency=agency,
                           time_ms=_now_ms() if time_ms is None else time_ms)
    return _send_one(a, signed.raw, disclosures=tuple(signed.disclosure_bytes))


#: A document check with an invented traveller on a watchlist: what a stolen radiation
#: portal node would sign to make SBS and SMS act.
WATCHLIST_HIT = {
    "line": 1, "doc_format": "TD3", "doc_code": "P", "issuing_state": "AZE",
    "nationality": "AZE", "verdict": "hit", "reasons": ["watchlist"],
    "watchlist": {"list": "SMS-banned", "version": 1, "score": 0.99},
    "surname": "INVENTED", "given_names": "TRAVELLER", "document_number": "X0000000",
}
_TAMPER = {"kind": "attack", "detail": "claims"}
#: 2200-01-01T00:00:00Z in ms.
YEAR_2200_MS = 7_258_118_400_000


def portal_signs_watchlist_hit(a: Attacker) -> str:
    """The radiation portal's key signs a document.check its hardware never produces."""
    return _claiming(a, "document.check", WATCHLIST_HIT, agency="SBS")


def record_claims_another_site(a: Attacker) -> str:
    return _claiming(a, "node.tamper", _TAMPER, site="AZ-ASTARA")


def record_claims_another_agency(a: Attacker) -> str:
    """An SCC node's health record claiming SMS owns it (SMS's grant would then match)."""
    return _claiming(a, "node.tamper", _TAMPER, agency="SMS")


def health_record_as_sbs(a: Attacker) -> str:
    """An SCC node's node.* record owned by SBS, as the edge stamped them before #18."""
    return _claiming(a, "node.tamper", _TAMPER, agency="SBS")


def stolen_key_backdates_after_revocation(a: Attacker) -> str:
    """A node revoked as compromised since a minute ago; its stolen key then signs a record
    dated two minutes ago, before the revocation it knows of. Refused: revocation is judged
    by when the record reaches the log, never by the time it claims. (A node of its own, so
    the other attacks keep theirs.)"""
    node_id = f"az-bil-rev-{uuid.uuid4().hex[:8]}"
    key = SigningKey.generate()
    creds = _creds(a.ca_pem, a.ca.issue_node(node_id))
    done = a.site._cli("hub", "enroll", node_id, "--public-key", key.public_hex, "--site",
                       a.site.site_id, "--agency", "SCC", "--profile", "rpm-lane",
                       *a.site.admin_args())
    if done.returncode != 0:
        return f"attack failed: enrolling {node_id}: {done.stderr.strip()}"
    done = a.site._cli("hub", "revoke", node_id, "--at-ms", str(_now_ms() - 60_000),
                       "--reason", "key reported stolen", *a.site.admin_args())
    if done.returncode != 0:
        return f"attack failed: revoking {node_id}: {done.stderr.strip()}"
    chain = RecordChain(key, node_id=node_id, site=a.site.site_id, registry=node_registry("SCC"))
    raw = chain.prepare("node.tamper", {"kind": "attack", "detail": "backdated"},
                        time_ms=_now_ms() - 120_000).raw
    return _send_one(a, raw, creds, node_id=node_id)


def record_dated_2200(a: Attacker) -> str:
    return _claiming(a, "node.tamper", _TAMPER, time_ms=YEAR_2200_MS)


def record_dated_1970_after_newer(a: Attacker) -> str:
    """Dated 1970, after the node's record of today (stored by the replay attack before)."""
    return _claiming(a, "node.tamper", _TAMPER, time_ms=1000)


def chain_gap(a: Attacker) -> str:
    """A record two sequence numbers ahead of what the hub holds."""
    skipped = a.record()  # never sent
    del skipped
    return _send_one(a, a.record().raw)


def garbage_record(a: Attacker) -> str:
    return _send_one(a, b"\xd2\x84garbage that is not a COSE_Sign1 message")


def deeply_nested_cbor(a: Attacker) -> str:
    # 5,000 levels in 5 KB: small enough for every size limit, far too deep for any record
    return _send_one(a, b"\xd2\x84" + b"\x81" * 5_000 + b"\x00")


def huge_declared_length(a: Attacker) -> str:
    return _send_one(a, b"\xd2\x84\x5b" + (1 << 60).to_bytes(8, "big"))


def oversized_message(a: Attacker) -> str:
    return _send_one(a, b"\x00" * (5 * 1024 * 1024))


def impersonate_node(a: Attacker) -> str:
    """The stolen certificate, a Hello in the name of another (real, running) node."""
    victim = a.site.nodes[0].node_id
    stream = _Sync(a.address, a.stolen)
    try:
        stream.hello(victim)
        return stream.answer("resume")
    finally:
        stream.close()


def unknown_node(a: Attacker) -> str:
    """A valid certificate from the site's CA for a node that was never enrolled."""
    return _send_one(a, a.record(commit=False).raw, creds=a.ghost, node_id=GHOST)


def foreign_ca(a: Attacker) -> str:
    return _send_one(a, a.record(commit=False).raw, creds=a.foreign)


def expired_certificate(a: Attacker) -> str:
    return _send_one(a, a.record(commit=False).raw, creds=a.expired)


def batch_before_hello(a: Attacker) -> str:
    stream = _Sync(a.address, a.stolen)
    try:
        stream.send(batch=sync_pb2.RecordBatch(batch_id=1,
                                               envelopes=[_envelope(a.record(commit=False).raw)]))
        return stream.answer("ack")
    finally:
        stream.close()


def malformed_protobuf(a: Attacker) -> str:
    """Bytes that are no EdgeMessage on the Sync stream (a client below the generated code)."""
    with _channel(a.address, a.stolen) as channel:
        call = channel.stream_stream("/borderlink.v1.Sync/Stream",
                                     request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)
        try:
            for _ in call(iter([b"\xff\xff\xff\xff\x0f garbage"]), timeout=10):
                pass
        except grpc.RpcError as exc:
            return exc.code().name
    return "answered"


def idle_stream(a: Attacker) -> str:
    """A stream that never says Hello: the hub closes it (its hello timeout)."""
    stream = _Sync(a.address, a.stolen)
    try:
        return stream.answer("resume", timeout=30)
    finally:
        stream.close()


def _admin_as(a: Attacker, creds: Credentials) -> str:
    with _channel(a.address, creds) as channel:
        stub = admin_pb2_grpc.AdminStub(channel)
        return _rpc_status(lambda: stub.ListNodes(admin_pb2.ListNodesRequest(), timeout=10))


def node_on_admin(a: Attacker) -> str:
    return _admin_as(a, a.stolen)


def node_on_federation(a: Attacker) -> str:
    with _channel(a.address, a.stolen) as channel:
        stub = federation_pb2_grpc.FederationStub(channel)
        return _rpc_status(lambda: stub.Query(federation_pb2.QueryRequest(limit=10), timeout=10))


def agency_on_admin(a: Attacker) -> str:
    return _admin_as(a, a.sms)


def agency_beyond_policy(a: Attacker) -> str:
    """SMS asks for record types its policy never grants it."""
    with _channel(a.address, a.sms) as channel:
        stub = federation_pb2_grpc.FederationStub(channel)
        try:
            reply = stub.Query(federation_pb2.QueryRequest(
                filter=common_pb2.RecordFilter(types=BEYOND_SMS), limit=1000), timeout=10)
        except grpc.RpcError as exc:
            return exc.code().name
    return "nothing beyond its policy" if not reply.records else f"{len(reply.records)} records"


#: Streams the flood opens at once from the stolen identity: well over the hub's default
#: ``max_streams_per_node`` (4), well under its ``max_workers`` (256).
FLOOD_STREAMS = 12


def stream_flood(a: Attacker) -> str:
    """The stolen certificate opens many Sync streams at once and holds them (no Hello)."""
    streams = [_Sync(a.address, a.stolen) for _ in range(FLOOD_STREAMS)]
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            codes = [s.code for s in streams if s.code is not None]
            if grpc.StatusCode.RESOURCE_EXHAUSTED in codes:
                return "RESOURCE_EXHAUSTED"
            if codes:
                return codes[0].name
            time.sleep(0.05)
        return f"all {FLOOD_STREAMS} streams held open"
    finally:
        for s in streams:
            s.close()


#: A TLS record header announcing a 512-byte ClientHello, then only its first bytes.
HALF_CLIENT_HELLO = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
#: The hub's default handshake timeout (``[server] handshake_timeout_s``) and some slack.
HANDSHAKE_BOUND_S = 10.0 + 5.0


def slow_handshake(a: Attacker) -> str:
    """Slowloris: TCP to the hub, half a ClientHello, then silence. The hub must drop it."""
    import socket

    host, _, port = a.address.rpartition(":")
    start = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=HANDSHAKE_BOUND_S + 5) as raw:
        raw.sendall(HALF_CLIENT_HELLO)
        try:
            data = raw.recv(4096)
        except TimeoutError:
            return "held open"
        except ConnectionResetError:
            data = b""
    waited = time.monotonic() - start
    if data:
        return "answered"
    return "dropped in time" if waited <= HANDSHAKE_BOUND_S else f"dropped after {waited:.0f} s"


#: Variants the flood signs for one stored seq: more than the hub keeps (4 by default).
EQUIVOCATION_VARIANTS = 10


def equivocation_flood(a: Attacker) -> str:
    """The stolen key signs many different records for its stored seq 1 (after the replay
    attack stored it): all refused; the hub keeps a bounded few as evidence and counts the rest."""
    stream = _Sync(a.address, a.stolen)
    try:
        stream.hello(STOLEN)
        resume = stream.answer("resume")
        if resume != "resume":
            return resume
        notes = []
        for i in range(EQUIVOCATION_VARIANTS):
            fork = RecordChain(a.key, node_id=STOLEN, site=a.site.site_id,
                               registry=node_registry("SCC"))
            raw = fork.prepare("node.tamper", {"kind": "attack", "detail": f"variant {i}"},
                               time_ms=_now_ms()).raw
            stream.send(batch=sync_pb2.RecordBatch(batch_id=100 + i, envelopes=[_envelope(raw)]))
            deadline = time.monotonic() + 15
            while True:
                item = stream._in.get(timeout=max(0.01, deadline - time.monotonic()))
                if item is _Sync._END:
                    return stream.code.name if stream.code is not None else "ended"
                kind = item.WhichOneof("msg")
                if kind == "reject":
                    if item.reject.reason != sync_pb2.REJECT_REASON_EQUIVOCATION:
                        return sync_pb2.RejectReason.Name(item.reject.reason)
                    notes.append(item.reject.message)
                elif kind == "ack":
                    break
        if len(notes) != EQUIVOCATION_VARIANTS:
            return f"{len(notes)} of {EQUIVOCATION_VARIANTS} variants refused"
        # what the store keeps is checked by the round's audit (at most the bound per seq)
        return "evidence bounded" if "counted, not kept" in notes[-1] else "every variant kept"
    except queue.Empty:
        return "no answer"
    finally:
        stream.close()


def anonymous_lan_ack(a: Attacker) -> str:
    """Issue #18 §3 as found: an anonymous MQTT client on the site's LAN acknowledges a real
    node's latest record ("resolved_false_alarm" by an invented operator), on a console's
    topic and on the old ``console/ack`` topic. Refused when no node that was online on the
    bus recorded it (the round's broker logs nobody in, so the nodes take no ack at all)."""
    import json

    import paho.mqtt.client as mqtt

    site = a.site
    if site.broker is None:
        return "no site bus"
    marker = f"resolved_false_alarm-{uuid.uuid4().hex[:8]}"
    births: dict[str, str] = {}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"lan-intruder-{uuid.uuid4().hex[:8]}")
    refused: list[str] = []

    def on_connect(c: Any, ud: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        else:
            c.subscribe(f"borderlink/{site.site_id}/+/birth", qos=1)

    def on_message(c: Any, ud: Any, m: Any) -> None:
        try:
            births[m.topic.split("/")[2]] = json.loads(m.payload)["state"]
        except (ValueError, KeyError, TypeError, IndexError):
            pass

    client.on_connect, client.on_message = on_connect, on_message
    client.connect(*site.broker)
    client.loop_start()
    try:
        time.sleep(1.0)  # the retained births arrive
        if refused:
            return f"anonymous client refused: {refused[0]}"
        online = [n for n in site.nodes if births.get(n.node_id) == "online"]
        if not online:
            return "no node online on the bus"
        for node in online:
            seq = max(1, _journal_tip(node.journal_path))
            ack = {"node": node.node_id, "seq": seq, "console": "bcp-cc-1", "action": marker,
                   "operator": "an invented operator"}
            for topic in (f"borderlink/{site.site_id}/console/bcp-cc-1/ack",
                          f"borderlink/{site.site_id}/console/ack"):
                client.publish(topic, json.dumps(ack), qos=1).wait_for_publish(5)
        time.sleep(2.0)  # a node that took it would have journalled it by now
        recorded = [n.node_id for n in online if _acks_with_action(n.journal_path, marker)]
        return f"recorded by {', '.join(recorded)}" if recorded else "no record"
    finally:
        client.disconnect()
        client.loop_stop()


def _journal_tip(path: Any) -> int:
    from .invariants import journal_tip

    try:
        return journal_tip(path)
    except Exception:  # a journal being written under a disk-full fault: any seq will do
        return 1


def _acks_with_action(path: Any, action: str) -> bool:
    """Whether the node's journal (read-only, the agent keeps writing) holds an alert.ack
    with *action*."""
    import sqlite3

    from borderlink.proto.record import decode_record

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        rows = conn.execute("SELECT raw FROM records WHERE type='alert.ack'").fetchall()
    finally:
        conn.close()
    return any(decode_record(bytes(raw)).body.get("action") == action for (raw,) in rows)


#: How the hub refuses a stream that never says Hello (its hello timeout).
IDLE_REFUSALS = frozenset({"DEADLINE_EXCEEDED"})
#: name, attack, the answers that mean "refused".
ATTACKS: list[tuple[str, Callable[[Attacker], str], frozenset[str]]] = [
    ("forged signature", forged_signature, frozenset({"REJECT_REASON_BAD_SIGNATURE"})),
    ("replayed record", legit_then_replayed, frozenset({"idempotent"})),
    # Resource limits (#18 §5); the flood needs seq 1 stored by the replay attack.
    ("equivocation flood on one seq", equivocation_flood, frozenset({"evidence bounded"})),
    ("stream flood from one identity", stream_flood, frozenset({"RESOURCE_EXHAUSTED"})),
    # What a node may assert (#18 §1); before the chain gap, which moves the local chain on.
    ("radiation portal signing a watchlist hit", portal_signs_watchlist_hit,
     frozenset({"REJECT_REASON_TYPE_NOT_ALLOWED"})),
    ("record claiming another site", record_claims_another_site,
     frozenset({"REJECT_REASON_WRONG_SITE"})),
    ("record claiming another agency", record_claims_another_agency,
     frozenset({"REJECT_REASON_WRONG_AGENCY"})),
    ("SCC node's health record owned by SBS", health_record_as_sbs,
     frozenset({"REJECT_REASON_WRONG_AGENCY"})),
    ("record dated 2200", record_dated_2200, frozenset({"REJECT_REASON_TIME_IN_FUTURE"})),
    ("record dated 1970 after a newer one", record_dated_1970_after_newer,
     frozenset({"REJECT_REASON_TIME_BEFORE_PREVIOUS"})),
    ("stolen key backdating a record after its revocation", stolen_key_backdates_after_revocation,
     frozenset({"REJECT_REASON_REVOKED"})),
    ("chain gap", chain_gap, frozenset({"REJECT_REASON_CHAIN_GAP"})),
    ("garbage record", garbage_record, frozenset({"REJECT_REASON_MALFORMED"})),
    ("deeply nested CBOR", deeply_nested_cbor, frozenset({"REJECT_REASON_MALFORMED"})),
    ("huge declared length", huge_declared_length, frozenset({"REJECT_REASON_MALFORMED"})),
    ("oversized message", oversized_message,
     frozenset({"RESOURCE_EXHAUSTED", "REJECT_REASON_OVERSIZED"})),
    ("node writing as another node", impersonate_node, frozenset({"PERMISSION_DENIED"})),
    ("unknown node", unknown_node,
     frozenset({"NOT_FOUND", "PERMISSION_DENIED", "REJECT_REASON_UNKNOWN_NODE"})),
    ("foreign-CA certificate", foreign_ca, frozenset({"UNAVAILABLE"})),
    ("expired certificate", expired_certificate, frozenset({"UNAVAILABLE"})),
    ("batch before hello", batch_before_hello, frozenset({"FAILED_PRECONDITION"})),
    ("malformed protobuf", malformed_protobuf,
     frozenset({"INTERNAL", "INVALID_ARGUMENT", "UNKNOWN"})),
    ("stream that idles", idle_stream, IDLE_REFUSALS),
    ("TLS handshake that never finishes", slow_handshake, frozenset({"dropped in time"})),
    ("node certificate on Admin", node_on_admin, frozenset({"PERMISSION_DENIED"})),
    ("node certificate on Federation", node_on_federation, frozenset({"PERMISSION_DENIED"})),
    ("agency certificate on Admin", agency_on_admin, frozenset({"PERMISSION_DENIED"})),
    ("agency reading beyond its policy", agency_beyond_policy,
     frozenset({"nothing beyond its policy", "PERMISSION_DENIED"})),
    # The site bus (#18 §3): only rounds with a site broker run it (see run_attacks).
    ("anonymous LAN ack", anonymous_lan_ack, frozenset({"no record"})),
]


def _attempt(attack: Callable[[Attacker], str], attacker: Attacker) -> str:
    try:
        return attack(attacker)
    except Exception as exc:  # an attack the suite could not carry out counts as not refused
        return f"attack failed: {type(exc).__name__}: {exc}"


#: A killed hub (the campaign's kill-hub fault) answers UNAVAILABLE until it is back: that is
#: no answer to the attack, so it is tried again, this often, this far apart.
HUB_DOWN_TRIES, HUB_DOWN_WAIT_S = 8, 2.0


def _past_hub_kills(attack: Callable[[Attacker], str], attacker: Attacker,
                    refusals: frozenset[str], first: str | None = None) -> str:
    """The hub's answer to *attack*, tried again while the hub is down (unless UNAVAILABLE
    is itself the refusal, as for a certificate TLS refuses)."""
    answer = first if first is not None else _attempt(attack, attacker)
    for _ in range(HUB_DOWN_TRIES):
        if answer != "UNAVAILABLE" or answer in refusals:
            break
        time.sleep(HUB_DOWN_WAIT_S)
        answer = _attempt(attack, attacker)
    return answer


def run_attacks(attacker: Attacker) -> Iterator[AttackResult]:
    """Every attack once, in order (the idle stream's and the slow handshake's waits run
    beside the others)."""
    idle: list[str] = []
    waiter = threading.Thread(target=lambda: idle.append(idle_stream(attacker)), daemon=True)
    waiter.start()
    slow: list[str] = []
    slowloris = threading.Thread(target=lambda: slow.append(_attempt(slow_handshake, attacker)),
                                 daemon=True)  # fmt: skip
    slowloris.start()
    for name, attack, refusals in ATTACKS:
        if attack is idle_stream or attack is slow_handshake:
            continue
        if attack is anonymous_lan_ack:
            if attacker.site.broker is None:  # --broker none: no bus to attack
                continue
            answer = _attempt(attack, attacker)  # the hub plays no part: no retry for it
            yield AttackResult(name, answer, answer in refusals)
            continue
        answer = _past_hub_kills(attack, attacker, refusals)
        yield AttackResult(name, answer, answer in refusals)
    slowloris.join(HANDSHAKE_BOUND_S + 10)
    answer = slow[0] if slow else "no answer"
    yield AttackResult("TLS handshake that never finishes", answer, answer == "dropped in time")
    waiter.join(40)
    answer = idle[0] if idle else "no answer"
    if answer == "UNAVAILABLE":  # a kill of the hub ended the wait: try the attack again
        answer = _past_hub_kills(idle_stream, attacker, IDLE_REFUSALS, answer)
    yield AttackResult("stream that idles", answer, answer in IDLE_REFUSALS)
