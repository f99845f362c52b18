"""The hub on PostgreSQL keeps every record when its server connections are terminated under
load (``pg-terminate``): a real round, real hub, agents, emulators and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from borderlink.faults.campaign import CampaignConfig, run_round
from borderlink.faults.postgres import DEFAULT_URL, RoundStore

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("BORDERLINK_TEST_PG", DEFAULT_URL)


def _server() -> str:
    try:
        psycopg.connect(PG_URL, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required at {PG_URL} ({exc}); start it (trust auth, "
                    "database 'test') or set BORDERLINK_TEST_PG", pytrace=False)
    return PG_URL


def test_terminated_postgresql_connections_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    config = CampaignConfig(scenario="stress", duration_s=20.0, faults={"pg-terminate": 3}, broker=None,
                            attacks=False, postgres=_server(), drain_timeout_s=60.0)
    lines: list[str] = []
    result = run_round(config, 7, tmp_path, lines.append)
    inv = result.invariants
    assert result.storage == "postgresql"
    assert inv.held, inv.problems
    assert result.injected["pg-terminate"] == 3, lines
    assert any("terminated" in line and "PostgreSQL connections" in line for line in lines)
    # every node's records reached the hub once, and the hub stored again after each kill
    assert inv.records_lost == inv.duplicates == inv.mismatched == 0
    assert inv.records_at_hub > 100 and inv.records_made == inv.records_at_hub + inv.pending_at_stop
    assert inv.chains_ok == inv.chain_nodes and inv.consistency_ok
    assert result.pg_recovery_s and max(result.pg_recovery_s) < 30.0
    # the round's schema is gone afterwards
    hub_toml = (tmp_path / "hub" / "hub.toml").read_text()
    schema = hub_toml.split("schema=", 1)[1].split("&", 1)[0].split('"', 1)[0]
    assert schema.startswith("faults_")
    with psycopg.connect(PG_URL) as conn:
        left = conn.execute("SELECT count(*) FROM information_schema.schemata "
                            "WHERE schema_name = %s", (schema,)).fetchone()
    assert left == (0,)


def test_the_round_store_names_the_hub_connections_and_not_the_suite_ones() -> None:
    store = RoundStore.new("postgresql://postgres@127.0.0.1:5432/test?sslmode=disable")
    assert f"schema={store.schema}" in store.hub_url
    assert f"application_name={store.application_name}" in store.hub_url
    assert "application_name" not in store.reader_url and "sslmode=disable" in store.reader_url
