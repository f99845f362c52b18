"""hub.toml parsing (errors name file and key) and the ``borderlink hub`` commands."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import hubkit
import pytest
from hubkit import ORIGIN, Hub, Pki, TestNode

from borderlink.cli import main
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hub.config import load_config, parse_config
from borderlink.hub.errors import ConfigError
from borderlink.hub.policy import EXAMPLE_POLICY
from borderlink.proto.checkpoint import NoteSigner, NoteVerifier

pki = hubkit.pki
hub = hubkit.hub


def _write(d: Path, body: str) -> Path:
    (d / "log.skey").write_text(NoteSigner.generate(ORIGIN).skey)
    path = d / "hub.toml"
    path.write_text(body)
    return path


GOOD = f"""
[server]
listen = "127.0.0.1:7443"
[tls]
cert = "pki/hub.pem"
key = "pki/hub.key"
ca = "pki/ca.pem"
crl = "pki/crl.pem"
[storage]
url = "sqlite:data/hub.db"
[log]
origin = "{ORIGIN}"
signing_key = "log.skey"
[metrics]
port = 9464
[limits]
hello_timeout_s = 3
"""


def test_config_resolves_paths_against_the_file(pki: Pki, tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, GOOD))
    assert cfg.tls.cert == tmp_path / "pki" / "hub.pem"
    assert cfg.storage_url == f"sqlite://{tmp_path.resolve()}/data/hub.db"
    assert cfg.limits.hello_timeout_s == 3.0 and cfg.limits.max_batch_records == 256
    assert cfg.metrics is not None and cfg.metrics.port == 9464
    assert cfg.log.checkpoint_interval_s <= 1.0
    assert cfg.health is None  # off unless asked for
    for address in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        cfg = load_config(_write(tmp_path, GOOD + f'[health]\nport = 7445\naddress = "{address}"\n'))
        assert cfg.health is not None and (cfg.health.port, cfg.health.address) == (7445, address)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda s: s.replace('listen = "127.0.0.1:7443"', 'listen = "nowhere"'), "server.listen"),
        (lambda s: s.replace('cert = "pki/hub.pem"', 'cert = "pki/missing.pem"'), "tls.cert"),
        (lambda s: s.replace('origin = "', 'origin_typo = "'), "log.origin_typo"),
        (
            lambda s: s.replace("hello_timeout_s = 3", 'hello_timeout_s = "3"'),
            "limits.hello_timeout_s",
        ),
        (lambda s: s.replace("hello_timeout_s = 3", "max_batch_records = 100000"), "limits"),
        (
            lambda s: s.replace("[log]", "[log]\ncheckpoint_interval_s = 5"),
            "log.checkpoint_interval_s",
        ),
        (lambda s: s.replace('url = "sqlite:data/hub.db"', 'url = "mysql://x"'), "storage.url"),
        (lambda s: s.replace("[storage]\n", "[storage_]\n"), "storage_"),
        # the health port has no TLS: a routable address would expose it beyond the host
        (lambda s: s + '[health]\nport = 7445\naddress = "0.0.0.0"\n', "health.address"),
        (lambda s: s + "[health]\nport = 70000\n", "health.port"),
        (lambda s: s + "max_streams_per_node = 0\n", "limits.max_streams_per_node"),
        (lambda s: s + "max_equivocations_kept = -1\n", "limits.max_equivocations_kept"),
        (lambda s: s.replace("[tls]", "handshake_timeout_s = 0\n[tls]"),
         "server.handshake_timeout_s"),
    ],
)
def test_config_errors_name_the_file_and_key(pki: Pki, tmp_path: Path, edit, key: str) -> None:
    path = _write(tmp_path, edit(GOOD))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and key in str(err.value)


def test_config_not_toml() -> None:
    with pytest.raises(ConfigError, match="x.toml: not valid TOML"):
        parse_config("[server", source="x.toml")


def test_keygen_writes_a_private_key_and_prints_the_vkey(tmp_path: Path, capsys) -> None:
    out = tmp_path / "log.skey"
    assert main(["hub", "keygen", "--origin", ORIGIN, "--out", str(out)]) == 0
    vkey, clock_vkey = capsys.readouterr().out.split()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    signer = NoteSigner.from_skey(out.read_text().strip())
    assert NoteVerifier.from_vkey(vkey) == signer.verifier and signer.name == ORIGIN
    assert clock_vkey.startswith(f"{ORIGIN}/clock+")
    assert main(["hub", "keygen", "--origin", ORIGIN, "--out", str(out)]) == 2  # no overwrite


def test_admin_commands_against_a_running_hub(hub: Hub, pki: Pki, capsys) -> None:
    d = pki.dir
    conn = [
        "--hub",
        f"127.0.0.1:{hub.port}",
        "--cert",
        str(d / "admin.pem"),
        "--key",
        str(d / "admin.key"),
        "--ca",
        str(d / "ca.pem"),
    ]
    node = TestNode.make(pki, "bil-dr-40")
    args = [
        "hub",
        "enroll",
        node.node_id,
        "--public-key",
        node.key.public.hex(),
        "--site",
        "AZ-BIL",
        "--agency",
        "SBS",
        *conn,
    ]
    # Without record types (nor a profile to read them from) the command refuses.
    assert main(args) != 0
    assert "--record-types is required" in capsys.readouterr().err
    args += ["--profile", "docreader-first-line"]
    assert main(args) == 0
    enrolled = json.loads(capsys.readouterr().out)
    assert enrolled["node_id"] == node.node_id and enrolled["kid"] == node.key.kid.hex()
    # The types come from the profile, read by the top-level tool (the hub never reads one).
    assert enrolled["record_types"] == list(load_profile("docreader-first-line").produces)
    assert main(args) == 1  # already enrolled: the hub's refusal is printed
    assert "ALREADY_EXISTS" in capsys.readouterr().err
    assert main(["hub", "nodes", "--json", *conn]) == 0
    assert [n["node_id"] for n in json.loads(capsys.readouterr().out)] == [node.node_id]
    assert main(["hub", "revoke", node.node_id, "--reason", "lost", *conn]) == 0
    assert json.loads(capsys.readouterr().out)["revoked_at_ms"] > 0
    policy = EXAMPLE_POLICY
    assert main(["hub", "policy", str(policy), "--dry-run", *conn]) == 0
    assert set(json.loads(capsys.readouterr().out)["agencies"]) == {"SBS", "SCC", "SMS"}
    # A node certificate is not an admin: refused with the reason.
    node.cert.save(d / "node.pem", d / "node.key")
    bad = [
        *conn[:2],
        "--cert",
        str(d / "node.pem"),
        "--key",
        str(d / "node.key"),
        "--ca",
        str(d / "ca.pem"),
    ]
    assert main(["hub", "nodes", *bad]) == 1
    assert "PERMISSION_DENIED" in capsys.readouterr().err
    # Nobody listening: exit 3.
    dead = ["--hub", "127.0.0.1:1", *conn[2:], "--timeout", "1"]
    assert main(["hub", "nodes", *dead]) == 3


def test_verify_workers_reach_the_server(pki: Pki, tmp_path: Path) -> None:
    from borderlink.hub.server import HubServer

    (tmp_path / "data").mkdir()
    body = GOOD.replace('listen = "127.0.0.1:7443"', 'listen = "127.0.0.1:0"\nverify_workers = 2')
    cfg = load_config(_write(tmp_path, body))
    assert cfg.verify_workers == 2
    server = HubServer.from_config(cfg)
    try:
        assert server.verify_workers == 2
    finally:
        server.storage.close()


def test_resource_limits_reach_the_server(pki: Pki, tmp_path: Path) -> None:
    from borderlink.hub.server import HubServer

    (tmp_path / "data").mkdir()
    body = GOOD.replace('listen = "127.0.0.1:7443"',
                        'listen = "127.0.0.1:0"\nhandshake_timeout_s = 2.5') + (
        "max_streams_per_node = 3\nmax_streams_per_agency = 5\nmax_equivocations_kept = 2\n")
    server = HubServer.from_config(load_config(_write(tmp_path, body)))
    try:
        assert server.sync.slots.limit == 3 and server.agency_slots.limit == 5
        assert server.ingest.max_equivocations_kept == 2
        assert server.handshake_timeout_s == 2.5
    finally:
        server.storage.close()
    defaults = HubServer.from_config(load_config(_write(tmp_path, GOOD.replace(
        'listen = "127.0.0.1:7443"', 'listen = "127.0.0.1:0"'))))
    try:
        assert (defaults.sync.slots.limit, defaults.agency_slots.limit) == (4, 8)
        assert (defaults.ingest.max_equivocations_kept, defaults.handshake_timeout_s) == (4, 10.0)
    finally:
        defaults.storage.close()
