"""Child process for the kill -9 test: records as fast as it can, printing each durable record.

Usage: python _journal_writer.py JOURNAL SEED_HEX NODE_ID
Prints ``<seq> <sha256 hex>`` after the journal append of that record has returned.
"""

import sys

from borderlink.edge.journal import Journal
from borderlink.edge.processors.base import Decision
from borderlink.edge.recorder import Recorder
from borderlink.proto.keys import SigningKey
from borderlink.proto.record_types import default_registry


def main() -> None:
    path, seed, node = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3]
    journal = Journal.open(path)
    recorder = Recorder.for_journal(SigningKey(seed), journal, node_id=node, site="AZ-BIL",
                                    registry=default_registry())
    out = sys.stdout
    out.write(f"start {journal.tip[0]}\n")
    out.flush()
    i = 0
    while True:
        i += 1
        if i % 3:
            done = [recorder.record_event("node.tamper", {"kind": "test", "detail": str(i)})]
        else:  # a group commit of three
            done = recorder.record_many(
                Decision("radio.position", {"unit": "P1", "lat": 39.4, "lon": 48.5 + k / 1e4,
                                            "fix_ms": i}, 1.7e9 + i) for k in range(3))
        for r in done:
            out.write(f"{r.seq} {r.signed.record.hash.hex()}\n")
        out.flush()


if __name__ == "__main__":
    main()
