"""What the edge signs so the hub accepts it (issue #18 §1): a chain whose TIME never goes
back, and node.* records owned by the node's own agency."""

from __future__ import annotations

from pathlib import Path

import pytest

from borderlink.edge.config import load_config
from borderlink.edge.errors import ConfigError
from borderlink.edge.journal import Journal
from borderlink.edge.processors.base import Decision
from borderlink.edge.recorder import Recorder
from borderlink.proto.chain import verify_chain
from borderlink.proto.keys import SigningKey
from borderlink.proto.record import decode_record
from borderlink.proto.record_types import default_registry, node_registry

from .conftest import NODE_ID, SITE

T = 1_700_000_000.0  # seconds


def _tamper(i: int) -> dict[str, str]:
    return {"kind": "test", "detail": str(i)}


def test_chain_time_never_goes_back_nor_ahead_of_the_node_clock(
    tmp_path: Path, node_key: SigningKey
) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path) as j:
        rec = Recorder.for_journal(node_key, j, node_id=NODE_ID, site=SITE,
                                   registry=default_registry(),
                                   wall_clock=lambda: T + 15.0)  # fmt: skip
        # A device reporting a later event first (its own times stay in the bodies).
        rec.record_many([Decision("node.tamper", _tamper(0), T + 10.0),
                         Decision("node.tamper", _tamper(1), T + 4.0),
                         Decision("node.tamper", _tamper(2), T + 12.0)])  # fmt: skip
        rec.record(Decision("node.tamper", _tamper(3), T + 1.0))
        # A device clock an hour fast: the node's own clock dates it.
        rec.record(Decision("node.tamper", _tamper(4), T + 3600.0))
    # After a restart the floor is the journal's last record.
    with Journal.open(path) as j:
        rec = Recorder.for_journal(node_key, j, node_id=NODE_ID, site=SITE,
                                   registry=default_registry(),
                                   wall_clock=lambda: T + 30.0)  # fmt: skip
        assert rec.last_time_ms == round((T + 15.0) * 1000)
        rec.record(Decision("node.tamper", _tamper(5), T + 2.0))
        rec.record(Decision("node.tamper", _tamper(6), T + 20.0))
        records = [decode_record(r.raw) for r in j.iter_all()]
    times = [r.time_ms - round(T * 1000) for r in records]
    assert times == [10_000, 10_000, 12_000, 12_000, 15_000, 15_000, 20_000]
    assert [r.body["detail"] for r in records] == ["0", "1", "2", "3", "4", "5", "6"]
    assert verify_chain(records).ok


def test_node_records_are_owned_by_the_nodes_agency() -> None:
    scc = node_registry("SCC")
    assert scc["node.boot"].agency == "SCC" and scc["node.device_fault"].agency == "SCC"
    # Every other type keeps its owner.
    assert scc["document.check"].agency == "SBS" and scc["radiation.alarm"].agency == "SCC"
    assert default_registry()["node.boot"].agency == "SBS"


def test_node_agency_defaults_to_the_profile_and_may_be_set(tmp_path: Path) -> None:
    base = (
        '[node]\nid = "bil-rpm-l1"\nsite = "AZ-BIL"\nsigning_key = "k.pem"\n{agency}'
        '[tls]\nca = "ca.pem"\ncert = "n.pem"\nkey = "n.key"\n'
        '[device]\nprofile = "rpm-lane"\n[hub]\naddresses = ["127.0.0.1:7443"]\n'
        '[journal]\npath = "j.db"\n'
    )
    path = tmp_path / "node.toml"
    path.write_text(base.format(agency=""))
    assert load_config(path).node.agency is None
    path.write_text(base.format(agency='agency = "SCC"\n'))
    assert load_config(path).node.agency == "SCC"
    path.write_text(base.format(agency='agency = "XYZ"\n'))
    with pytest.raises(ConfigError, match="node.agency"):
        load_config(path)
