"""The hub's configuration: a TOML file read into frozen dataclasses.

Relative paths (and a relative ``sqlite:`` storage URL) are resolved against the file's
directory. Every problem raises :class:`~borderlink.hub.errors.ConfigError` naming the file
and the key. Example (``borderlink hub init`` writes one)::

    [server]
    listen = "127.0.0.1:7443"      # host:port; port 0 picks a free port
    grace_s = 5.0                  # shutdown: seconds for streams to drain
    max_workers = 256              # gRPC handler threads: each open Sync stream holds one
    reuse_port = false             # several hub processes on one port (SO_REUSEPORT)
    verify_workers = 0             # processes verifying records (0: in the stream threads;
                                   # one per core is fastest, and what `hub init` writes)
    handshake_timeout_s = 10.0     # a client must finish the TLS handshake within this

    [tls]
    cert = "hub.pem"               # hub server certificate (PEM)
    key = "hub.key"                # its private key (PEM)
    ca = "ca.pem"                  # CA whose client certificates are accepted
    crl = "crl.pem"                # required; re-read when it changes, refused once expired

    [storage]
    url = "sqlite:hub.db"          # or postgresql://user@host:5432/db?schema=name

    [log]
    origin = "borderlink.example/AZ/log"
    signing_key = "log.skey"       # C2SP signer key (PRIVATE+KEY+<origin>+...)
    checkpoint_interval_s = 0.25   # checkpoints at least this often while records arrive

    [metrics]
    port = 9464                    # Prometheus /metrics; omit the table to turn it off
    address = "127.0.0.1"

    [health]
    port = 7445                    # grpc.health.v1 without TLS, for probes that cannot
    address = "127.0.0.1"          # present a client certificate; loopback only

    [limits]
    max_batch_records = 256
    max_batch_bytes = 1048576
    max_in_flight_batches = 8
    hello_timeout_s = 10.0
    downlink_poll_s = 2.0
    max_streams_per_node = 4       # Sync streams open at once per node certificate
    max_streams_per_agency = 8     # Subscribe streams open at once per agency certificate
    max_equivocations_kept = 4     # conflicting records kept per (node, seq); more are counted
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from borderlink.hub.errors import ConfigError
from borderlink.hub.sync_service import SyncLimits
from borderlink.proto.v1 import MAX_BATCH_BYTES, MAX_BATCH_RECORDS, MAX_IN_FLIGHT_BATCHES


@dataclass(frozen=True)
class TlsConfig:
    cert: Path
    key: Path
    ca: Path
    crl: Path | None = None


@dataclass(frozen=True)
class LogConfig:
    origin: str
    signing_key: Path
    checkpoint_interval_s: float = 0.25


@dataclass(frozen=True)
class MetricsConfig:
    port: int
    address: str = "127.0.0.1"


@dataclass(frozen=True)
class HealthConfig:
    """A plaintext port serving only ``grpc.health.v1``: load balancers, kubelets and
    ``grpc_health_probe`` cannot present a client certificate. Loopback only, since it is
    unauthenticated (it says SERVING or not, nothing else)."""

    port: int
    address: str = "127.0.0.1"


@dataclass(frozen=True)
class HubConfig:
    listen: str
    tls: TlsConfig
    storage_url: str
    log: LogConfig
    limits: SyncLimits = field(default_factory=SyncLimits)
    metrics: MetricsConfig | None = None
    health: HealthConfig | None = None
    grace_s: float = 5.0
    max_workers: int = 256
    #: Let several hub processes bind one port (SO_REUSEPORT); off by default.
    reuse_port: bool = False
    #: Worker processes verifying records (0: in the stream's own thread).
    verify_workers: int = 0
    #: Seconds a client has to finish the TLS handshake (a stalled one is dropped).
    handshake_timeout_s: float = 10.0
    #: Federation streams open at once per agency identity.
    max_streams_per_agency: int = 8
    #: Distinct conflicting records kept as evidence per (node, seq); the rest are counted.
    max_equivocations_kept: int = 4
    source: str = "<config>"


class _Reader:
    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {problem}")

    def table(
        self, doc: Mapping[str, Any], key: str, *, required: bool = True
    ) -> Mapping[str, Any] | None:
        value = doc.get(key)
        if value is None:
            if required:
                raise self.fail(f"[{key}]", "missing table")
            return None
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be a table")
        return value

    def known(self, table: Mapping[str, Any], prefix: str, allowed: set[str]) -> None:
        extra = sorted(set(table) - allowed)
        if extra:
            raise self.fail(
                f"{prefix}.{extra[0]}", f"unknown key (known: {', '.join(sorted(allowed))})"
            )

    def get(
        self, table: Mapping[str, Any], prefix: str, key: str, kind: type, default: Any = ...
    ) -> Any:
        if key not in table:
            if default is ...:
                raise self.fail(f"{prefix}.{key}", "missing")
            return default
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise self.fail(f"{prefix}.{key}", f"must be {kind.__name__}, got {value!r}")
        return value

    def path(
        self, table: Mapping[str, Any], prefix: str, key: str, *, required: bool = True
    ) -> Path | None:
        value = self.get(table, prefix, key, str, ... if required else None)
        if value is None:
            return None
        p = Path(value)
        return p if p.is_absolute() else (self.base / p)

    def positive(
        self, table: Mapping[str, Any], prefix: str, key: str, kind: type, default: Any
    ) -> Any:
        value = self.get(table, prefix, key, kind, default)
        if value <= 0:
            raise self.fail(f"{prefix}.{key}", f"must be > 0, got {value!r}")
        return value


def _storage_url(url: str, base: Path, reader: _Reader) -> str:
    if url.startswith("sqlite:") and not url.startswith("sqlite:///"):
        rel = url[len("sqlite:") :]
        if rel.startswith("//") or not rel:
            raise reader.fail(
                "storage.url", f"use sqlite:///abs/path or sqlite:rel/path, got {url!r}"
            )
        return f"sqlite://{(base / rel).resolve()}"
    if not url.startswith(("sqlite:", "postgresql:", "postgres:")):
        raise reader.fail("storage.url", f"unknown scheme in {url!r} (sqlite: or postgresql:)")
    return url


def parse_config(text: str, *, source: str = "<config>", base: Path | None = None) -> HubConfig:
    """A :class:`HubConfig` from TOML *text*; relative paths against *base* (default: cwd)."""
    base = base or Path.cwd()
    r = _Reader(source, base)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    r.known(doc, "", {"server", "tls", "storage", "log", "metrics", "health", "limits"})
    server = r.table(doc, "server") or {}
    r.known(server, "server", {"listen", "grace_s", "max_workers", "reuse_port", "verify_workers",
                          "handshake_timeout_s"})
    listen = r.get(server, "server", "listen", str)
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise r.fail("server.listen", f"expected host:port, got {listen!r}")
    tls_t = r.table(doc, "tls") or {}
    r.known(tls_t, "tls", {"cert", "key", "ca", "crl"})
    tls = TlsConfig(
        cert=r.path(tls_t, "tls", "cert"),  # type: ignore[arg-type]
        key=r.path(tls_t, "tls", "key"),  # type: ignore[arg-type]
        ca=r.path(tls_t, "tls", "ca"),  # type: ignore[arg-type]
        crl=r.path(tls_t, "tls", "crl", required=False),
    )
    if tls.crl is None:
        # Fail closed: without a CRL a revoked certificate would be as good as any other.
        raise r.fail("tls.crl", "a CRL is required (make one with borderlink provision crl "
                     "--dir CA_DIR --out crl.pem)")
    for key in ("cert", "key", "ca", "crl"):
        p = getattr(tls, key)
        if not p.is_file():
            raise r.fail(f"tls.{key}", f"no such file {p}")
    storage_t = r.table(doc, "storage") or {}
    r.known(storage_t, "storage", {"url"})
    storage_url = _storage_url(r.get(storage_t, "storage", "url", str), base, r)
    log_t = r.table(doc, "log") or {}
    r.known(log_t, "log", {"origin", "signing_key", "checkpoint_interval_s"})
    log_cfg = LogConfig(
        origin=r.get(log_t, "log", "origin", str),
        signing_key=r.path(log_t, "log", "signing_key"),  # type: ignore[arg-type]
        checkpoint_interval_s=r.positive(log_t, "log", "checkpoint_interval_s", float, 0.25),
    )
    if log_cfg.checkpoint_interval_s > 1.0:
        raise r.fail("log.checkpoint_interval_s", "must be <= 1.0 (a checkpoint every second)")
    if not log_cfg.signing_key.is_file():
        raise r.fail("log.signing_key", f"no such file {log_cfg.signing_key}")
    metrics = None
    metrics_t = r.table(doc, "metrics", required=False)
    if metrics_t is not None:
        r.known(metrics_t, "metrics", {"port", "address"})
        port_m = r.get(metrics_t, "metrics", "port", int)
        if not 0 <= port_m <= 65535:
            raise r.fail("metrics.port", f"must be 0..65535, got {port_m}")
        metrics = MetricsConfig(port_m, r.get(metrics_t, "metrics", "address", str, "127.0.0.1"))
    health = None
    health_t = r.table(doc, "health", required=False)
    if health_t is not None:
        r.known(health_t, "health", {"port", "address"})
        port_h = r.get(health_t, "health", "port", int)
        if not 0 <= port_h <= 65535:
            raise r.fail("health.port", f"must be 0..65535, got {port_h}")
        address_h = r.get(health_t, "health", "address", str, "127.0.0.1")
        if not _is_loopback(address_h):
            raise r.fail("health.address", f"{address_h!r} is not a loopback address: the health "
                         "port has no TLS, so it may listen on 127.0.0.1, ::1 or localhost only")
        health = HealthConfig(port_h, address_h)
    limits_t = r.table(doc, "limits", required=False) or {}
    r.known(
        limits_t,
        "limits",
        {
            "max_batch_records",
            "max_batch_bytes",
            "max_in_flight_batches",
            "hello_timeout_s",
            "downlink_poll_s",
            "max_streams_per_node",
            "max_streams_per_agency",
            "max_equivocations_kept",
        },
    )
    limits = SyncLimits(
        max_batch_records=r.positive(
            limits_t, "limits", "max_batch_records", int, MAX_BATCH_RECORDS
        ),
        max_batch_bytes=r.positive(limits_t, "limits", "max_batch_bytes", int, MAX_BATCH_BYTES),
        max_in_flight_batches=r.positive(
            limits_t, "limits", "max_in_flight_batches", int, MAX_IN_FLIGHT_BATCHES
        ),
        hello_timeout_s=r.positive(limits_t, "limits", "hello_timeout_s", float, 10.0),
        downlink_poll_s=r.positive(limits_t, "limits", "downlink_poll_s", float, 2.0),
        max_streams_per_node=r.positive(limits_t, "limits", "max_streams_per_node", int, 4),
    )
    if limits.max_batch_records > MAX_BATCH_RECORDS or limits.max_batch_bytes > MAX_BATCH_BYTES:
        raise r.fail(
            "limits",
            f"batches may not exceed the contract's {MAX_BATCH_RECORDS} records / {MAX_BATCH_BYTES} bytes",
        )
    return HubConfig(
        listen=listen,
        tls=tls,
        storage_url=storage_url,
        log=log_cfg,
        limits=limits,
        metrics=metrics,
        health=health,
        grace_s=r.positive(server, "server", "grace_s", float, 5.0),
        max_workers=r.positive(server, "server", "max_workers", int, 256),
        reuse_port=r.get(server, "server", "reuse_port", bool, False),
        verify_workers=r.get(server, "server", "verify_workers", int, 0),
        handshake_timeout_s=r.positive(server, "server", "handshake_timeout_s", float, 10.0),
        max_streams_per_agency=r.positive(limits_t, "limits", "max_streams_per_agency", int, 8),
        max_equivocations_kept=r.positive(limits_t, "limits", "max_equivocations_kept", int, 4),
        source=source,
    )


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def load_config(path: str | Path) -> HubConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    return parse_config(text, source=str(path), base=path.resolve().parent)


__all__ = ["HealthConfig", "HubConfig", "LogConfig", "MetricsConfig", "TlsConfig", "load_config", "parse_config"]
