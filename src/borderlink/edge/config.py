"""The node configuration (``node.toml``): frozen dataclasses, validated with errors that name
the file, the key and what was expected. Relative paths resolve against the file's folder.

Example (every key; ``docs/edge-agent.md`` explains them)::

    [node]
    id = "bil-radio-01"
    site = "AZ-BIL"
    signing_key = "keys/record-signing.pem"   # Ed25519 (PKCS#8 PEM): signs every record
    # agency = "SBS"                          # the agency the node is enrolled with: owns its
                                              # node.* records (default: the profile's agency)

    [tls]                                     # from `borderlink provision`: mutual TLS to the hub
    ca = "tls/ca.pem"
    cert = "tls/node.pem"
    key = "tls/node.key"
    # server_name = "hub"                     # optional override of the hub name checked

    [device]
    profile = "patrol-radio"                  # a shipped profile name or a profile file
    url = "serial:///dev/serial/by-id/usb-radio?baud=4800"   # default: the profile's URL
    unit_id = "P1"                            # decoder option (NMEA carries no identity)
    queue_frames = 1024                       # bounded queue reader -> processor
    reconnect_s = 1.0

    [processor]                               # options for the processor (optional)
    # watchlist_key_file = "keys/watchlist.key"

    [hub]
    addresses = ["hub-a.border.local:7443", "hub-b.border.local:7443"]
    max_batch_records = 256
    max_batch_bytes = 1048576
    linger_ms = 50
    retry_initial_s = 0.5
    retry_max_s = 30.0
    connect_timeout_s = 5.0
    clock_skew_threshold_ms = 2000

    [broker]
    host = "127.0.0.1"
    port = 1883
    # enabled = false
    # Console acknowledgements are taken only with ca and a login (docs/site-bus.md):
    # username = "bil-radio-01"               # the node's identity on the site broker
    # password_file = "keys/broker.password"  # its password, alone in the file (never logged)
    # ca = "tls/site-bus-ca.pem"              # TLS to the broker, checked against `host`
    # cert = "tls/site-bus.pem"               # optional client certificate and its key
    # key = "tls/site-bus.key"

    [journal]
    path = "/var/lib/borderlink/journal.db"
    max_bytes = 268435456                     # record bytes held (only hub-acked ones evicted)

    [downlink]
    dir = "/var/lib/borderlink/downlink"
    [downlink.keys.watchlist]
    SMS = "<64 hex digits: the SMS downlink public key>"

    [metrics]
    port = 9101                               # 0 = no endpoint
    address = "127.0.0.1"

    [status]
    path = "/run/borderlink/status.json"
    interval_s = 2.0
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from borderlink.proto.record_types import Agency

from .errors import ConfigError

_AGENCIES = tuple(a.value for a in Agency)

__all__ = ["EdgeConfig", "load_config"]

_MISSING = object()


@dataclass(frozen=True)
class NodeSection:
    id: str
    site: str
    signing_key: Path
    #: The agency the node is enrolled with (owner of its node.* records); None: the
    #: profile's agency.
    agency: str | None = None


@dataclass(frozen=True)
class TlsSection:
    ca: Path
    cert: Path
    key: Path
    server_name: str | None = None


@dataclass(frozen=True)
class DeviceSection:
    profile: str
    url: str | None = None
    unit_id: str = ""
    queue_frames: int = 1024
    reconnect_s: float = 1.0


@dataclass(frozen=True)
class HubSection:
    addresses: tuple[str, ...]
    max_batch_records: int = 256
    max_batch_bytes: int = 1024 * 1024
    linger_ms: int = 50
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0
    connect_timeout_s: float = 5.0
    clock_skew_threshold_ms: int = 2000
    enabled: bool = True


@dataclass(frozen=True)
class BrokerSection:
    host: str = "127.0.0.1"
    port: int = 1883
    keepalive_s: int = 15
    enabled: bool = True
    username: str | None = None
    password_file: Path | None = None  # the password is read when the agent starts
    ca: Path | None = None  # set: TLS to the broker
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True)
class JournalSection:
    path: Path
    max_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class DownlinkSection:
    dir: Path
    keys: tuple[tuple[str, tuple[tuple[str, bytes], ...]], ...] = ()  # kind -> issuer -> key

    def trusted(self) -> dict[str, dict[str, bytes]]:
        return {kind: dict(issuers) for kind, issuers in self.keys}


@dataclass(frozen=True)
class MetricsSection:
    port: int = 0
    address: str = "127.0.0.1"


@dataclass(frozen=True)
class StatusSection:
    path: Path
    interval_s: float = 2.0


@dataclass(frozen=True)
class EdgeConfig:
    source: Path
    node: NodeSection
    tls: TlsSection | None
    device: DeviceSection
    hub: HubSection
    broker: BrokerSection
    journal: JournalSection
    downlink: DownlinkSection
    metrics: MetricsSection
    status: StatusSection
    processor: tuple[tuple[str, Any], ...] = field(default=())


class _Reader:
    def __init__(self, source: Path, data: dict[str, Any]) -> None:
        self.source = source
        self.base = source.resolve().parent
        self.data = data

    def fail(self, key: str, expected: str, got: Any = _MISSING) -> ConfigError:
        tail = "" if got is _MISSING else f", got {got!r}"
        return ConfigError(f"{self.source}: {key}: expected {expected}{tail}")

    def section(self, name: str, required: bool = True) -> dict[str, Any]:
        value = self.data.get(name, _MISSING)
        if value is _MISSING:
            if required:
                raise self.fail(f"[{name}]", "a table")
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"[{name}]", "a table", value)
        return value

    def get(self, table: dict[str, Any], sect: str, key: str, kind: type | tuple[type, ...],
            expected: str, default: Any = _MISSING) -> Any:
        value = table.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise self.fail(f"{sect}.{key}", expected)
            return default
        if isinstance(value, bool) and kind is not bool and bool not in (
                kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(f"{sect}.{key}", expected, value)
        if not isinstance(value, kind):
            raise self.fail(f"{sect}.{key}", expected, value)
        return value

    def text(self, t: dict[str, Any], sect: str, key: str, default: Any = _MISSING) -> Any:
        value = self.get(t, sect, key, str, "a non-empty string", default)
        if isinstance(value, str) and not value:
            raise self.fail(f"{sect}.{key}", "a non-empty string", value)
        return value

    def path(self, t: dict[str, Any], sect: str, key: str, default: Any = _MISSING) -> Any:
        value = self.text(t, sect, key, default)
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base / p

    def number(self, t: dict[str, Any], sect: str, key: str, default: float, *,
               minimum: float = 0.0) -> float:
        value = float(self.get(t, sect, key, (int, float), "a number", default))
        if value < minimum:
            raise self.fail(f"{sect}.{key}", f"a number >= {minimum}", value)
        return value

    def integer(self, t: dict[str, Any], sect: str, key: str, default: int, *,
                minimum: int = 0, maximum: int | None = None) -> int:
        value = self.get(t, sect, key, int, "an integer", default)
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
            raise self.fail(f"{sect}.{key}", f"an integer {bound}", value)
        return int(value)

    def unknown(self, t: dict[str, Any], sect: str, allowed: set[str]) -> None:
        extra = sorted(set(t) - allowed)
        if extra:
            raise self.fail(f"{sect}.{extra[0]}", f"one of the known keys {sorted(allowed)}",
                            "an unknown key")


def _address(r: _Reader, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise r.fail(key, "host:port strings", value)
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise r.fail(key, "host:port with a port 1..65535", value)
    return value


def config_from_dict(data: dict[str, Any], source: Path) -> EdgeConfig:
    r = _Reader(source, data)
    r.unknown(data, "top level", {"node", "tls", "device", "processor", "hub", "broker",
                                  "journal", "downlink", "metrics", "status",
                                  # read by the firmware supervisor (firmware_tools/supervisor.py)
                                  "firmware"})
    n = r.section("node")
    r.unknown(n, "node", {"id", "site", "signing_key", "agency"})
    agency = r.text(n, "node", "agency", None)
    if agency is not None and agency not in _AGENCIES:
        raise r.fail("node.agency", f"one of {', '.join(_AGENCIES)}", agency)
    node = NodeSection(r.text(n, "node", "id"), r.text(n, "node", "site"),
                       r.path(n, "node", "signing_key"), agency)

    t = r.section("tls", required=False)
    r.unknown(t, "tls", {"ca", "cert", "key", "server_name"})
    tls = TlsSection(r.path(t, "tls", "ca"), r.path(t, "tls", "cert"), r.path(t, "tls", "key"),
                     r.text(t, "tls", "server_name", None)) if t else None

    d = r.section("device")
    r.unknown(d, "device", {"profile", "url", "unit_id", "queue_frames", "reconnect_s"})
    url = r.text(d, "device", "url", None)
    if url is not None and "://" not in url:
        raise r.fail("device.url", "a URL such as serial:///dev/ttyUSB0, tcp://host:port or "
                     "file:///folder", url)
    device = DeviceSection(
        r.text(d, "device", "profile"), url, r.get(d, "device", "unit_id", str, "a string", ""),
        r.integer(d, "device", "queue_frames", 1024, minimum=1),
        r.number(d, "device", "reconnect_s", 1.0, minimum=0.01))

    h = r.section("hub", required=False)
    r.unknown(h, "hub", {"addresses", "max_batch_records", "max_batch_bytes", "linger_ms",
                         "retry_initial_s", "retry_max_s", "connect_timeout_s",
                         "clock_skew_threshold_ms", "enabled"})
    enabled = r.get(h, "hub", "enabled", bool, "true or false", bool(h))
    addresses = r.get(h, "hub", "addresses", list, "a list of host:port strings", [])
    if enabled and not addresses:
        raise r.fail("hub.addresses", "at least one host:port (or hub.enabled = false)")
    if enabled and tls is None:
        raise r.fail("[tls]", "a table with ca, cert and key (the hub needs mutual TLS)")
    hub = HubSection(
        tuple(_address(r, "hub.addresses", a) for a in addresses),
        r.integer(h, "hub", "max_batch_records", 256, minimum=1, maximum=256),
        r.integer(h, "hub", "max_batch_bytes", 1024 * 1024, minimum=1024,
                  maximum=1024 * 1024),
        r.integer(h, "hub", "linger_ms", 50, minimum=0, maximum=60_000),
        r.number(h, "hub", "retry_initial_s", 0.5, minimum=0.01),
        r.number(h, "hub", "retry_max_s", 30.0, minimum=0.01),
        r.number(h, "hub", "connect_timeout_s", 5.0, minimum=0.1),
        r.integer(h, "hub", "clock_skew_threshold_ms", 2000, minimum=1),
        enabled)

    b = r.section("broker", required=False)
    r.unknown(b, "broker", {"host", "port", "keepalive_s", "enabled", "username",
                            "password_file", "ca", "cert", "key"})
    broker = BrokerSection(
        r.text(b, "broker", "host", "127.0.0.1"),
        r.integer(b, "broker", "port", 1883, minimum=1, maximum=65535),
        r.integer(b, "broker", "keepalive_s", 15, minimum=1),
        r.get(b, "broker", "enabled", bool, "true or false", True),
        r.text(b, "broker", "username", None),
        r.path(b, "broker", "password_file", None),
        r.path(b, "broker", "ca", None),
        r.path(b, "broker", "cert", None),
        r.path(b, "broker", "key", None))
    if (broker.username is None) != (broker.password_file is None):
        raise r.fail("broker.username" if broker.username is None else "broker.password_file",
                     "username and password_file together (or neither)")
    if (broker.cert is None) != (broker.key is None):
        raise r.fail("broker.cert" if broker.cert is None else "broker.key",
                     "cert and key together (or neither)")
    if (broker.cert is not None or broker.username is not None) and broker.ca is None:
        # A password sent in the clear, or to a broker nobody checked, is given away to the LAN.
        raise r.fail("broker.ca", "the CA of the broker's certificate (a login is only made "
                     "over TLS)")

    j = r.section("journal")
    r.unknown(j, "journal", {"path", "max_bytes"})
    journal = JournalSection(r.path(j, "journal", "path"),
                             r.integer(j, "journal", "max_bytes", 256 * 1024 * 1024,
                                       minimum=64 * 1024))

    dl = r.section("downlink", required=False)
    r.unknown(dl, "downlink", {"dir", "keys"})
    keys_table = r.get(dl, "downlink", "keys", dict, "a table of kinds", {})
    keys = []
    for kind, issuers in sorted(keys_table.items()):
        if kind not in ("watchlist", "config", "firmware"):
            raise r.fail(f"downlink.keys.{kind}", "a kind: watchlist, config or firmware")
        if not isinstance(issuers, dict):
            raise r.fail(f"downlink.keys.{kind}", "a table issuer = \"<hex public key>\"",
                         issuers)
        pairs = []
        for issuer, hexkey in sorted(issuers.items()):
            try:
                raw = bytes.fromhex(hexkey) if isinstance(hexkey, str) else b""
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise r.fail(f"downlink.keys.{kind}.{issuer}",
                             "64 hex digits (an Ed25519 public key)", hexkey)
            pairs.append((issuer, raw))
        keys.append((kind, tuple(pairs)))
    downlink = DownlinkSection(
        r.path(dl, "downlink", "dir", str(journal.path.parent / "downlink")), tuple(keys))

    m = r.section("metrics", required=False)
    r.unknown(m, "metrics", {"port", "address"})
    metrics = MetricsSection(r.integer(m, "metrics", "port", 0, minimum=0, maximum=65535),
                             r.text(m, "metrics", "address", "127.0.0.1"))

    s = r.section("status", required=False)
    r.unknown(s, "status", {"path", "interval_s"})
    status = StatusSection(
        r.path(s, "status", "path", str(journal.path.with_name("status.json"))),
        r.number(s, "status", "interval_s", 2.0, minimum=0.05))

    p = r.section("processor", required=False)
    return EdgeConfig(source, node, tls, device, hub, broker, journal, downlink, metrics,
                      status, tuple(sorted(p.items())))


def load_config(path: str | Path) -> EdgeConfig:
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the node configuration: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: expected UTF-8 text: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: expected valid TOML: {exc}") from exc
    return config_from_dict(data, path)
