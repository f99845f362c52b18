"""Every shipped profile declares the record types its node really emits (issue #18 §1): the
hub accepts from a node only the types its profile declares (plus node.*), so a type missing
from ``records.produces`` would stop the node's chain at the hub. The scenarios' devices are
run through their real processors; what they decide must be declared."""

from __future__ import annotations

import hashlib

import pytest

from borderlink.edge.processor_registry import default_processor_registry
from borderlink.hardware_profiles.loader import load_profile
from borderlink.hardware_profiles.simulator import generate, load_scenario

#: What the agent itself records for any node that raises alerts (a console's ack).
AGENT_TYPES = {"alert.ack"}


@pytest.mark.parametrize("name", ["bilasuvar-day"])
def test_processors_emit_only_declared_types(name: str) -> None:
    scenario = load_scenario(name)
    registry = default_processor_registry()
    procs, produces, emitted = {}, {}, {}
    for spec in scenario.devices:
        profile = load_profile(spec.profile)
        options = dict(spec.options)
        options.setdefault("node_seed", hashlib.sha256(spec.id.encode()).digest())
        if "unit" in options and "sector" in options:
            options["unit_sectors"] = {options["unit"]: options["sector"]}
        procs[spec.id] = registry.build(profile, options)
        produces[spec.id] = (profile.name, set(profile.produces))
        emitted[spec.id] = set()
    next_tick = scenario.start
    # Four scenario hours: every device has decided something by then.
    end = scenario.start + min(scenario.duration_s, 4 * 3600)
    for emission in generate(scenario, seed=0):
        if emission.t > end:
            break
        while emission.t >= next_tick:
            for device, proc in procs.items():
                emitted[device] |= {d.record_type for d in proc.tick(next_tick)}
            next_tick += 1.0
        proc = procs.get(emission.device_id)
        if proc is not None:
            for reading in emission.readings:
                emitted[emission.device_id] |= {d.record_type for d in proc.feed(reading)}
    for device, (profile, declared) in produces.items():
        assert emitted[device], f"{device} ({profile}) decided nothing: the check proves nothing"
        assert emitted[device] <= declared, (device, profile, emitted[device] - declared)
        assert AGENT_TYPES <= declared, (profile, "alert.ack")
    covered = {p for p, _ in produces.values()}
    assert len(covered) >= 9, covered


def test_every_shipped_profile_declares_the_agent_types() -> None:
    from borderlink.hardware_profiles.loader import load_profile_file, shipped_profiles

    paths = shipped_profiles()
    assert len(paths) >= 10
    for profile in map(load_profile_file, paths):
        assert AGENT_TYPES <= set(profile.produces), profile.name
        assert "node.boot" in profile.produces and "node.device_fault" in profile.produces
