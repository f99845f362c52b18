"""Shared fixtures of the edge tests: a node key, a registry, a recorder on a fresh journal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from borderlink.edge.journal import Journal, ThinningPolicy
from borderlink.edge.recorder import Recorder
from borderlink.proto.keys import SigningKey
from borderlink.proto.record_types import RecordTypeRegistry, default_registry

NODE_ID = "bil-test-01"
SITE = "AZ-BIL"


@pytest.fixture
def node_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def registry() -> RecordTypeRegistry:
    return default_registry()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(tmp_path / "journal.db", max_bytes=64 * 1024 * 1024,
                     policy=ThinningPolicy())
    yield j
    j.close()


@pytest.fixture
def recorder(node_key: SigningKey, journal: Journal, registry: RecordTypeRegistry) -> Recorder:
    return Recorder.for_journal(node_key, journal, node_id=NODE_ID, site=SITE, registry=registry)
