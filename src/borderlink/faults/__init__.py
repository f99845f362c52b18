"""borderlink.faults — inject faults into a running site and count what survived.

The suite runs the real processes of a border crossing (hub, edge agents, device emulators, the
site broker) the way the demo does (:mod:`borderlink.demo.site`), injects faults while the
devices produce records — ``kill -9`` of agents and of the hub, links cut, flapping, stalled
(half-open) and slow, agency streams broken off — and afterwards checks, from outside, the
invariants every agency relies on:

* every record an agent made reaches the hub exactly once (same bytes, same sequence numbers,
  read from each node's journal file and from the hub's store);
* every node's hash chain is intact and no equivocation was recorded;
* the transparency log is consistent with every checkpoint seen during the run;
* an agency stream resumed from its cursor after each break delivers every record its policy
  allows, once, in log order;
* no alarm was lost, and every MQTT alert names a record that is durable.

``python -m borderlink.faults --short`` (or ``borderlink-faults --short``) runs in a few
minutes and is part of CI; the default run is long. Both print one table and can write its
totals as JSON (``--json FILE``).
"""
