"""Test kit for the hub's gRPC services: a PKI from the real CA, a hub on 127.0.0.1, test nodes.

A module (not a conftest): test files import the helpers and fixtures by name. Every hub runs
real gRPC over mutual TLS with certificates from ``borderlink.provisioning.ca``.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from psycopg import sql

from borderlink.hub.server import HubServer
from borderlink.hub.storage import Storage, open_storage
from borderlink.hub.sync_service import SyncLimits
from borderlink.proto.checkpoint import NoteSigner
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import RecordChain, SignedRecord
from borderlink.proto.record_types import RecordTypeRegistry, default_registry
from borderlink.proto.v1 import (
    GRPC_MESSAGE_OPTIONS,
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    sync_pb2,
    sync_pb2_grpc,
    transparency_pb2_grpc,
)
from borderlink.provisioning.ca import CertificateAuthority, IssuedCertificate, crl_to_pem

ORIGIN = "borderlink.example/AZ/log"
PG_URL = os.environ.get("BORDERLINK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

#: Short timeouts so the tests are fast (the defaults are the contract's).
FAST_LIMITS = SyncLimits(hello_timeout_s=0.6, downlink_poll_s=0.2)


@dataclass
class Pki:
    ca: CertificateAuthority
    hub: IssuedCertificate
    admin: IssuedCertificate
    dir: Path

    @classmethod
    def make(cls, directory: Path) -> Pki:
        ca = CertificateAuthority.create("borderlink test CA")
        pki = cls(ca, ca.issue_hub(), ca.issue_admin("tech1"), directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "ca.pem").write_bytes(ca.cert_pem)
        (directory / "crl.pem").write_bytes(crl_to_pem(ca.crl()))  # a hub.toml requires one
        pki.hub.save(directory / "hub.pem", directory / "hub.key")
        pki.admin.save(directory / "admin.pem", directory / "admin.key")
        return pki

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.hub.key_pem(), self.hub.cert_pem)],
            root_certificates=self.ca.cert_pem,
            require_client_auth=True,
        )

    def channel(self, port: int, client: IssuedCertificate) -> grpc.Channel:
        creds = grpc.ssl_channel_credentials(
            root_certificates=self.ca.cert_pem,
            private_key=client.key_pem(),
            certificate_chain=client.cert_pem,
        )
        return grpc.secure_channel(f"127.0.0.1:{port}", creds, options=GRPC_MESSAGE_OPTIONS)


def pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}schema={schema}"


def pg_admin() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required for this hub test and is unreachable at {PG_URL} ({exc}). "
            "Start it (trust auth, database 'test') or set BORDERLINK_TEST_PG.",
            pytrace=False,
        )


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema name on the test server, dropped afterwards."""
    admin = pg_admin()
    schema = f"bl_hub_{uuid.uuid4().hex[:12]}"
    try:
        yield schema
    finally:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        admin.close()


@dataclass
class Hub:
    server: HubServer
    pki: Pki
    storage_url: str
    signer: NoteSigner

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    @property
    def storage(self) -> Storage:
        return self.server.storage

    def channel(self, client: IssuedCertificate | None = None) -> grpc.Channel:
        return self.pki.channel(self.port, client or self.pki.admin)

    def admin(self) -> admin_pb2_grpc.AdminStub:
        return admin_pb2_grpc.AdminStub(self.channel())

    def transparency(
        self, client: IssuedCertificate | None = None
    ) -> transparency_pb2_grpc.TransparencyStub:
        return transparency_pb2_grpc.TransparencyStub(self.channel(client))


def start_hub(
    pki: Pki,
    storage_url: str,
    *,
    signer: NoteSigner | None = None,
    limits: SyncLimits = FAST_LIMITS,
    crl_path: Path | None = None,
    **kwargs: Any,
) -> Hub:
    from borderlink.hub.auth import PeerAuth

    signer = signer or NoteSigner.generate(ORIGIN)
    server = HubServer(
        storage=open_storage(storage_url),
        signer=signer,
        auth=PeerAuth(pki.ca.certificate, crl_path),
        server_credentials=pki.server_credentials(),
        listen="127.0.0.1:0",
        origin=ORIGIN,
        limits=limits,
        checkpoint_interval_s=kwargs.pop("checkpoint_interval_s", 0.1),
        grace_s=kwargs.pop("grace_s", 1.0),
        **kwargs,
    )
    server.start()
    return Hub(server, pki, storage_url, signer)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.make(tmp_path / "pki")


@pytest.fixture
def hub(pki: Pki, tmp_path: Path) -> Iterator[Hub]:
    h = start_hub(pki, f"sqlite://{tmp_path / 'hub.db'}")
    try:
        yield h
    finally:
        h.server.stop(0.5)


# -- a test node ------------------------------------------------------------------------------

DOC_BODY = {
    "line": 1,
    "doc_format": "TD3",
    "doc_code": "P",
    "issuing_state": "AZE",
    "nationality": "AZE",
    "verdict": "clear",
    "reasons": [],
    "surname": "ALIYEV",
    "given_names": "RASHAD",
    "document_number": "C01234567",
}


@dataclass
class TestNode:
    node_id: str
    key: SigningKey
    cert: IssuedCertificate
    site: str = "AZ-BIL"
    agency: str = "SBS"
    registry: RecordTypeRegistry = field(default_factory=default_registry)
    #: Declared at enrolment; default: every type of the registry (a test profile that
    #: produces everything). A real profile's ``records.produces`` narrows it.
    record_types: tuple[str, ...] = ()
    profile: str = "test-profile"
    chain: RecordChain = field(init=False)
    t0: int = field(default_factory=lambda: int(time.time() * 1000) - 60_000)

    __test__ = False  # not a pytest test class

    def __post_init__(self) -> None:
        self.chain = RecordChain(
            self.key, node_id=self.node_id, site=self.site, registry=self.registry
        )

    @classmethod
    def make(cls, pki: Pki, node_id: str, **kw: Any) -> TestNode:
        return cls(node_id, SigningKey.generate(), pki.ca.issue_node(node_id), **kw)

    def enroll(self, hub: Hub) -> admin_pb2.NodeInfo:
        return hub.admin().EnrollNode(
            admin_pb2.EnrollNodeRequest(
                node_id=self.node_id,
                public_key=self.key.public,
                site=self.site,
                agency=self.agency,
                hardware_profile=self.profile,
                record_types=list(self.record_types or self.registry.names()),
            ),
            timeout=5,
        )

    def record(
        self,
        record_type: str = "document.check",
        body: dict[str, Any] | None = None,
        *,
        time_ms: int | None = None,
    ) -> SignedRecord:
        """The next record of this node's chain (committed to the local chain at once)."""
        if time_ms is None:
            time_ms = self.t0 + self.chain.next_seq
        signed = self.chain.prepare(
            record_type, body if body is not None else DOC_BODY, time_ms=time_ms
        )
        self.chain.commit(signed)
        return signed

    def records(self, n: int) -> list[SignedRecord]:
        return [self.record() for _ in range(n)]


def envelope(signed: SignedRecord, disclosures: list[bytes] | None = None) -> common_pb2.Envelope:
    return common_pb2.Envelope(
        record=signed.raw,
        disclosures=signed.disclosure_bytes if disclosures is None else disclosures,
    )


class Stream:
    """One Sync stream of a test node: send EdgeMessages, receive HubMessages with a timeout."""

    _END = object()

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self._out: queue.Queue[Any] = queue.Queue()
        self._in: queue.Queue[Any] = queue.Queue()
        stub = sync_pb2_grpc.SyncStub(channel)
        self.call = stub.Stream(iter(self._out.get, self._END))
        self.error: grpc.RpcError | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for msg in self.call:
                self._in.put(msg)
        except grpc.RpcError as exc:
            self.error = exc
        self._in.put(self._END)

    def send(self, **kw: Any) -> None:
        self._out.put(sync_pb2.EdgeMessage(**kw))

    def hello(
        self,
        node: TestNode,
        *,
        journal_seq: int = 0,
        versions: dict[int, int] | None = None,
        node_id: str | None = None,
    ) -> None:
        self.send(
            hello=sync_pb2.Hello(
                node_id=node_id or node.node_id,
                last_journal_seq=journal_seq,
                node_time_unix_ms=int(time.time() * 1000) + 1500,
                agent_version="test",
                downlink_versions=[
                    sync_pb2.DownlinkVersion(kind=k, version=v) for k, v in (versions or {}).items()
                ],
            )
        )

    def batch(self, batch_id: int, envelopes: list[common_pb2.Envelope]) -> None:
        self.send(batch=sync_pb2.RecordBatch(batch_id=batch_id, envelopes=envelopes))

    def recv(self, timeout: float = 5.0) -> sync_pb2.HubMessage | None:
        """The next message; None when the stream ended (see :attr:`error`)."""
        item = self._in.get(timeout=timeout)
        if item is self._END:
            self._in.put(self._END)
            return None
        return item

    def until(
        self, kind: str, timeout: float = 5.0
    ) -> tuple[sync_pb2.HubMessage, list[sync_pb2.HubMessage]]:
        """Receive until a message of *kind*; returns it and the ones before it."""
        before: list[sync_pb2.HubMessage] = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.01, deadline - time.monotonic()))
            if msg is None:
                raise AssertionError(f"stream ended before {kind}: {self.error!r}; got {before}")
            if msg.WhichOneof("msg") == kind:
                return msg, before
            before.append(msg)

    def ended(self, timeout: float = 5.0) -> grpc.RpcError | None:
        """Wait for the end of the stream; the error it ended with (None: clean end)."""
        deadline = time.monotonic() + timeout
        while self.recv(max(0.01, deadline - time.monotonic())) is not None:
            pass
        return self.error

    def close(self) -> None:
        self._out.put(self._END)

    def cancel(self) -> None:
        self.call.cancel()


def connect(hub: Hub, node: TestNode, **hello: Any) -> tuple[Stream, sync_pb2.Resume]:
    stream = Stream(hub.channel(node.cert))
    stream.hello(node, **hello)
    msg, _ = stream.until("resume")
    return stream, msg.resume


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, step: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)


def expired_node_cert(pki: Pki, node_id: str) -> IssuedCertificate:
    now = dt.datetime.now(dt.UTC)
    return pki.ca.issue_node(
        node_id, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )
