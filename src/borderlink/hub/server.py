"""The hub process: gRPC over mutual TLS with Sync, Transparency, Admin (and Federation), the
sequencer, health checking, server reflection and Prometheus metrics.

:class:`HubServer` takes its parts as data; :meth:`HubServer.from_config` opens storage and
reads keys (the named factory that does I/O). :meth:`HubServer.stop` is the graceful
shutdown: health NOT_SERVING, Sync streams end after their current batch (UNAVAILABLE, so
nodes go to another replica), the gRPC server stops accepting and drains for ``grace_s``, the
sequencer integrates what is left and publishes a last checkpoint, storage closes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from borderlink.common.diagnose import explain_os_error
from borderlink.common.errors import UnavailableError
from borderlink.common.tls import read_tls_files
from borderlink.hub import federation_service
from borderlink.hub.admin_service import AdminServicer
from borderlink.hub.auth import CrlError, PeerAuth
from borderlink.hub.config import HubConfig
from borderlink.hub.errors import ConfigError, PolicyError
from borderlink.hub.ingest import Ingest, PoolVerifier
from borderlink.hub.log import Sequencer
from borderlink.hub.metrics import HubMetrics
from borderlink.hub.rpc_metrics import RpcMetricsInterceptor
from borderlink.hub.storage import (
    MAX_EQUIVOCATIONS_KEPT,
    CheckpointRow,
    Storage,
    open_storage,
)
from borderlink.hub.stream_slots import StreamSlots
from borderlink.hub.sync_service import DEFAULT_LIMITS, DownlinkBus, SyncLimits, SyncServicer
from borderlink.hub.transparency_service import TransparencyServicer
from borderlink.proto.checkpoint import NoteSigner
from borderlink.proto.errors import KeyFileError
from borderlink.proto.record_types import RecordTypeRegistry, default_registry
from borderlink.proto.v1 import (
    GRPC_MESSAGE_OPTIONS,
    admin_pb2,
    admin_pb2_grpc,
    sync_pb2,
    sync_pb2_grpc,
    transparency_pb2,
    transparency_pb2_grpc,
)

log = logging.getLogger("borderlink.hub.server")

SYNC = sync_pb2.DESCRIPTOR.services_by_name["Sync"].full_name
TRANSPARENCY = transparency_pb2.DESCRIPTOR.services_by_name["Transparency"].full_name
ADMIN = admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name
FEDERATION = "borderlink.v1.Federation"
#: Seconds a client has to finish the TLS handshake after connecting (``[server]
#: handshake_timeout_s``): a node on a slow satellite link needs a few round trips, not minutes.
HANDSHAKE_TIMEOUT_S = 10.0


def read_signer(path: Path) -> NoteSigner:
    """The log's C2SP signer key from *path* (``PRIVATE+KEY+<origin>+<id>+<base64>``)."""
    try:
        return NoteSigner.from_skey(path.read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read log signing key {path}: {exc}") from exc


class _PolicyHolder:
    """The federation policy in force: parsed from storage, re-read when its digest changes."""

    def __init__(self, storage: Storage, registry: RecordTypeRegistry, ttl_s: float = 2.0) -> None:
        self.storage = storage
        self.registry = registry
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._checked = 0.0
        self._digest: str | None = None
        self._policy: Any = None

    def _load(self) -> Any:
        from borderlink.hub.policy import DENY_ALL, parse_policy

        row = self.storage.current_policy()
        if row is None:
            return None, DENY_ALL
        if row.digest == self._digest:
            return row.digest, self._policy
        try:
            return row.digest, parse_policy(
                row.policy_toml, source="stored policy", registry=self.registry
            )
        except PolicyError:
            log.exception("stored policy does not parse; denying all")
            return row.digest, DENY_ALL

    def refresh(self) -> None:
        with self._lock:
            self._digest, self._policy = self._load()
            self._checked = time.monotonic()

    def __call__(self) -> Any:
        if time.monotonic() - self._checked > self.ttl_s:
            self.refresh()
        return self._policy


def _bind_problem(listen: str) -> str:
    """Why gRPC could not bind *listen* (it says only "Failed to bind"): bind it ourselves."""
    import socket

    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, int(port)))
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError):
            return str(explain_os_error(exc)).removeprefix(": ")
        return f"port {port!r} is not a number"
    return "gRPC refused the address (see --log-level DEBUG)"


class HubServer:
    def __init__(
        self,
        *,
        storage: Storage,
        signer: NoteSigner,
        auth: PeerAuth,
        server_credentials: grpc.ServerCredentials,
        listen: str,
        origin: str,
        limits: SyncLimits = DEFAULT_LIMITS,
        registry: RecordTypeRegistry | None = None,
        checkpoint_interval_s: float = 0.25,
        grace_s: float = 5.0,
        max_workers: int = 256,
        metrics_port: int | None = None,
        metrics_address: str = "127.0.0.1",
        health_port: int | None = None,
        health_address: str = "127.0.0.1",
        reuse_port: bool = False,
        verify_workers: int = 0,
        max_streams_per_agency: int = federation_service.MAX_STREAMS_PER_AGENCY,
        handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
        max_equivocations_kept: int = MAX_EQUIVOCATIONS_KEPT,
        owns_storage: bool = True,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.storage = storage
        self.registry = registry or default_registry()
        self.auth = auth
        self.listen = listen
        self.grace_s = grace_s
        self.owns_storage = owns_storage
        self.handshake_timeout_s = handshake_timeout_s
        self.metrics = HubMetrics()
        self.agency_slots = StreamSlots(
            "Subscribe", max_streams_per_agency, self.metrics, who="agency"
        )
        self.metrics_port = metrics_port
        self.metrics_address = metrics_address
        self.bus = DownlinkBus()
        self.sequencer = Sequencer(
            storage,
            signer,
            origin=origin,
            interval_s=checkpoint_interval_s,
            clock_ms=clock_ms,
            on_checkpoint=self._on_checkpoint,
        )
        self.verify_workers = verify_workers
        self._pool: PoolVerifier | None = None
        self.ingest = Ingest(storage, self.registry, clock_ms=clock_ms,
                             max_equivocations_kept=max_equivocations_kept)  # fmt: skip
        self.policy = _PolicyHolder(storage, self.registry)
        self.federation: Any = None
        self._notify: Callable[[], None] = lambda: None
        self.sync = SyncServicer(
            storage,
            self.ingest,
            auth,
            metrics=self.metrics,
            limits=limits,
            bus=self.bus,
            clock_ms=clock_ms,
            on_stored=lambda: self._notify(),
        )
        self.transparency = TransparencyServicer(storage, auth)
        self.admin = AdminServicer(
            storage,
            auth,
            bus=self.bus,
            on_policy=lambda _: self.policy.refresh(),
            clock_ms=clock_ms,
        )
        self.health = health.HealthServicer()
        self.health_port = health_port
        self.health_address = health_address
        self._health_server: grpc.Server | None = None
        self._creds = server_credentials
        self._reuse_port = reuse_port
        self._max_workers = max_workers
        self._server: grpc.Server | None = None
        self.port: int | None = None
        self._stopped = threading.Event()
        self.last_checkpoint: CheckpointRow | None = None

    @classmethod
    def from_config(cls, config: HubConfig, **overrides: Any) -> HubServer:
        """Open storage, read the TLS files and the log key named by *config*."""
        try:
            tls = read_tls_files(
                config.tls.cert, config.tls.key, config.tls.ca,
                options=("[tls] cert", "[tls] key", "[tls] ca"),
            )  # fmt: skip
            creds = grpc.ssl_server_credentials(
                [(tls.key_pem, tls.cert_pem)], root_certificates=tls.ca_pem,
                require_client_auth=True,
            )  # fmt: skip
            auth = PeerAuth.from_files(config.tls.ca, config.tls.crl)
            auth.check()
        except CrlError as exc:
            raise ConfigError(f"{config.source}: [tls] crl: {exc}") from exc
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{config.source}: [tls]: {exc}") from exc
        signer = read_signer(config.log.signing_key)
        storage = open_storage(config.storage_url)
        kwargs: dict[str, Any] = {
            "storage": storage,
            "signer": signer,
            "auth": auth,
            "server_credentials": creds,
            "listen": config.listen,
            "origin": config.log.origin,
            "limits": config.limits,
            "checkpoint_interval_s": config.log.checkpoint_interval_s,
            "grace_s": config.grace_s,
            "max_workers": config.max_workers,
            "verify_workers": config.verify_workers,
            "max_streams_per_agency": config.max_streams_per_agency,
            "handshake_timeout_s": config.handshake_timeout_s,
            "max_equivocations_kept": config.max_equivocations_kept,
            "metrics_port": config.metrics.port if config.metrics else None,
            "metrics_address": config.metrics.address if config.metrics else "127.0.0.1",
            "health_port": config.health.port if config.health else None,
            "health_address": config.health.address if config.health else "127.0.0.1",
            "reuse_port": config.reuse_port,
        }
        kwargs.update(overrides)
        try:
            return cls(**kwargs)
        except BaseException:
            storage.close()
            raise

    # -- lifecycle ------------------------------------------------------------------------

    def _on_checkpoint(self, row: CheckpointRow) -> None:
        self.last_checkpoint = row
        self.metrics.checkpoint(row.tree_size, row.time_ms)
        self.metrics.sequencer.set(1 if self.sequencer.holder else 0)
        self._notify()

    def _add_federation(self, server: grpc.Server) -> list[str]:
        self.policy.refresh()
        self.federation = federation_service.FederationServicer(
            self.storage, self.policy, identify=lambda ctx: self.auth.identify(ctx),
            slots=self.agency_slots,
        )  # fmt: skip
        notifier = self.federation.notifier
        self._notify = notifier.notify
        federation_service.add_federation_servicer(self.federation, server)
        return [FEDERATION]

    def start(self) -> int:
        """Bind, start serving and sequencing; returns the bound port."""
        options = [
            *GRPC_MESSAGE_OPTIONS,
            ("grpc.so_reuseport", 1 if self._reuse_port else 0),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
            ("grpc.http2.max_ping_strikes", 0),
            # A client that opens TCP and never finishes the TLS handshake (slowloris) is
            # dropped after this; grpc core's default is 120 s per connection.
            ("grpc.server_handshake_timeout_ms", int(self.handshake_timeout_s * 1000)),
        ]
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="grpc"),
            options=options,
            interceptors=[RpcMetricsInterceptor(self.metrics)],
        )
        sync_pb2_grpc.add_SyncServicer_to_server(self.sync, server)
        transparency_pb2_grpc.add_TransparencyServicer_to_server(self.transparency, server)
        admin_pb2_grpc.add_AdminServicer_to_server(self.admin, server)
        services = [SYNC, TRANSPARENCY, ADMIN, *self._add_federation(server)]
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            [*services, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        if self.verify_workers > 0:
            self._pool = PoolVerifier(self.verify_workers)
            self.ingest.verifier = self._pool
        # Metrics first: a taken metrics port then fails before anything listens on gRPC.
        if self.metrics_port is not None:
            try:
                self.metrics_port = self.metrics.serve(self.metrics_port, self.metrics_address)
            except OSError as exc:
                raise explain_os_error(
                    exc, f"metrics on {self.metrics_address}:{self.metrics_port}:"
                ) from exc
        try:
            port = server.add_secure_port(self.listen, self._creds)
        except RuntimeError:
            port = 0
        if port == 0:
            self.metrics.close()
            raise UnavailableError(f"cannot listen on {self.listen}: {_bind_problem(self.listen)}")
        if self.health_port is not None:
            self._health_server, self.health_port = self._start_health(self.health_port)
        self.sequencer.start()
        server.start()
        for name in ["", *services]:
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        self.port = port
        log.info(
            "hub serving",
            extra={"port": port, "services": services, "metrics_port": self.metrics_port,
                   "health_port": self.health_port},
        )
        return port

    def _start_health(self, port: int) -> tuple[grpc.Server, int]:
        """The plaintext loopback port serving only health, from the same servicer (so a
        probe sees exactly what an mTLS client sees, NOT_SERVING during shutdown included)."""
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health"))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        address = f"[{self.health_address}]" if ":" in self.health_address else self.health_address
        try:
            bound = server.add_insecure_port(f"{address}:{port}")
        except RuntimeError:
            bound = 0
        if bound == 0:
            self.metrics.close()
            raise UnavailableError(
                f"cannot listen for health on {address}:{port}: "
                f"{_bind_problem(f'{address}:{port}')}"
            )
        server.start()
        return server, bound

    def stop(self, grace_s: float | None = None) -> CheckpointRow | None:
        """Graceful shutdown; returns the last checkpoint this process published (if any)."""
        if self._stopped.is_set():
            return self.last_checkpoint
        self._stopped.set()
        grace = self.grace_s if grace_s is None else grace_s
        self.health.enter_graceful_shutdown()
        self.sync.shutdown()
        if self.federation is not None:
            self.federation.stop()
        if self._server is not None:
            self._server.stop(grace).wait(grace + 1)
        if self._health_server is not None:
            self._health_server.stop(0)
        last = self.sequencer.stop(final_round=True)
        if last is not None:
            log.info("final checkpoint", extra={"tree_size": last.tree_size})
        self.metrics.close()
        if self._pool is not None:
            self._pool.close()
        if self.owns_storage:
            self.storage.close()
        return self.last_checkpoint

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)


__all__ = ["HubServer", "read_signer"]
