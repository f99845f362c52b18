"""Node configuration: frozen dataclasses; errors name the file, the key and the expectation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from borderlink.edge.config import load_config
from borderlink.edge.errors import ConfigError, ProcessorUnavailableError
from borderlink.edge.processor_registry import default_processor_registry
from borderlink.hardware_profiles.loader import load_profile

GOOD = """
[node]
id = "bil-radio-01"
site = "AZ-BIL"
signing_key = "keys/sign.pem"
[tls]
ca = "tls/ca.pem"
cert = "tls/node.pem"
key = "tls/node.key"
[device]
profile = "patrol-radio"
url = "serial:///dev/ttyUSB2?baud=4800"
unit_id = "P1"
[hub]
addresses = ["127.0.0.1:7443", "hub-b:7443"]
linger_ms = 20
[journal]
path = "state/journal.db"
max_bytes = 1048576
[downlink.keys.watchlist]
SMS = "{key}"
[metrics]
port = 9101
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "node.toml"
    p.write_text(text)
    return p


def test_a_good_config_loads_with_paths_resolved_against_the_file(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, GOOD.format(key="ab" * 32)))
    assert cfg.node.id == "bil-radio-01"
    assert cfg.node.signing_key == tmp_path / "keys/sign.pem"
    assert cfg.journal.path == tmp_path / "state/journal.db"
    assert cfg.hub.addresses == ("127.0.0.1:7443", "hub-b:7443")
    assert cfg.hub.linger_ms == 20 and cfg.hub.retry_max_s == 30.0
    assert cfg.downlink.trusted() == {"watchlist": {"SMS": bytes.fromhex("ab" * 32)}}
    assert cfg.status.path == tmp_path / "state/status.json"
    assert cfg.broker.port == 1883 and cfg.metrics.port == 9101
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.node.id = "x"  # type: ignore[misc]


@pytest.mark.parametrize("change, message", [
    (("id = \"bil-radio-01\"\n", ""), "node.id: expected a non-empty string"),
    (("max_bytes = 1048576", "max_bytes = \"big\""), "journal.max_bytes: expected an integer"),
    (("max_bytes = 1048576", "max_bytes = 10"), "journal.max_bytes: expected an integer >= "),
    (("\"hub-b:7443\"", "\"hub-b\""), "hub.addresses: expected host:port"),
    (("linger_ms = 20", "linger = 20"), "hub.linger: expected one of the known keys"),
    (("serial:///dev/ttyUSB2?baud=4800", "/dev/ttyUSB2"), "device.url: expected a URL"),
    (("SMS = \"{key}\"", "SMS = \"abc\""), "downlink.keys.watchlist.SMS: expected 64 hex"),
    (("[tls]\nca = \"tls/ca.pem\"\ncert = \"tls/node.pem\"\nkey = \"tls/node.key\"\n", ""),
     r"\[tls\]: expected a table with ca, cert and key"),
    (("port = 9101", "port = 70000"), "metrics.port: expected an integer 0..65535"),
    (("[device]", "[devices]"), "devices: expected one of the known keys"),
])
def test_errors_name_file_key_and_expectation(tmp_path: Path, change: tuple[str, str],
                                              message: str) -> None:
    text = GOOD.replace(*change).format(key="ab" * 32)
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(path)
    assert str(err.value).startswith(str(path))


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="expected valid TOML"):
        load_config(_write(tmp_path, "[node\n"))


@pytest.mark.parametrize("profile, cls", [
    ("patrol-radio", "RadioProcessor"),
    ("rpm-lane", "RadiationProcessor"),
    ("telephony-unit", "TelephonyProcessor"),
    ("docreader-first-line", "DocumentProcessor"),
    ("gcms-qp2010", "LabProcessor"),
])
def test_processor_registry_builds_the_profiles_processor(profile: str, cls: str) -> None:
    built = default_processor_registry().build(load_profile(profile), {"node_seed": b"s" * 32})
    assert type(built).__name__ == cls
    assert callable(built.feed) and callable(built.tick)


def test_processor_registry_names_what_is_missing() -> None:
    registry = default_processor_registry()
    with pytest.raises(ProcessorUnavailableError, match="no processor is registered for "
                                                       "device class 'teapot'"):
        registry.entry("teapot")
    assert "patrol_radio" in registry.classes()


BROKER = """
[broker]
host = "bus.site"
username = "bil-radio-01"
password_file = "keys/broker.password"
ca = "tls/bus-ca.pem"
cert = "tls/bus.pem"
key = "tls/bus.key"
"""


def test_broker_credentials_and_tls_resolve_against_the_file(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, GOOD.format(key="ab" * 32) + BROKER))
    b = cfg.broker
    assert (b.host, b.username) == ("bus.site", "bil-radio-01")
    assert b.password_file == tmp_path / "keys/broker.password"
    assert (b.ca, b.cert, b.key) == (tmp_path / "tls/bus-ca.pem", tmp_path / "tls/bus.pem",
                                     tmp_path / "tls/bus.key")


@pytest.mark.parametrize("drop, message", [
    ('password_file = "keys/broker.password"\n', "broker.password_file: expected username and"),
    ('username = "bil-radio-01"\n', "broker.username: expected username and password_file"),
    ('key = "tls/bus.key"\n', "broker.key: expected cert and key together"),
    ('ca = "tls/bus-ca.pem"\n', "broker.ca: expected the CA"),
])
def test_broker_settings_that_only_make_sense_together(tmp_path: Path, drop: str,
                                                       message: str) -> None:
    path = _write(tmp_path, GOOD.format(key="ab" * 32) + BROKER.replace(drop, ""))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_a_password_is_never_configured_without_tls(tmp_path: Path) -> None:
    plain = BROKER.replace('ca = "tls/bus-ca.pem"\n', "").replace('cert = "tls/bus.pem"\n', "")
    path = _write(tmp_path, GOOD.format(key="ab" * 32) + plain.replace('key = "tls/bus.key"\n',
                                                                        ""))
    with pytest.raises(ConfigError, match=r"broker.ca: expected the CA .*a login is only made "
                       r"over TLS"):
        load_config(path)
