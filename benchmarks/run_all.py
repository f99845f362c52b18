"""Run every benchmark of the project and write one JSON file: ``benchmarks/run``.

Each benchmark prints its figures beside a ceiling measured in the same run (raw Ed25519,
raw gRPC, raw SQLite …) and the ratio; this script runs them one after another (never two at
once: they would measure each other), collects each one's JSON under its name and writes them
together. ``--quick`` shrinks every benchmark (for a smoke check; its figures are not the
issue's bars). Exit status: 0 when every benchmark ran, 1 when one failed to run.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (script, full arguments, quick arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "record": ("bench_record.py", [], ["-n", "2000"]),
    "proofs": ("bench_proofs.py", [], ["--leaves", "100000", "--proofs", "1000"]),
    "storage": ("bench_storage.py", [], ["--batches", "20"]),
    "hub": ("bench_hub.py", [], ["--records-per-node", "300", "--leaves", "100000",
                                 "--proofs", "500"]),
    "federation": ("bench_federation.py", [], ["--records", "10000", "--repeats", "1"]),
    "edge": ("bench_edge.py", [], ["--seconds", "5"]),
    "processors_docs": ("bench_processors_docs.py", [], ["--persons", "20000"]),
    "processors_field": ("bench_processors_field.py", [], ["--quick"]),
    "lab_search": ("bench_lab_search.py", [], ["--repeats", "1"]),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench-results.json", help="the JSON file to write")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke check")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS),
                        help="run only this benchmark (repeatable)")
    args = parser.parse_args(argv)
    results: dict[str, object] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": __import__("os").cpu_count()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "benchmarks": {},
    }
    failed = []
    with tempfile.TemporaryDirectory(prefix="borderlink-bench-") as tmp:
        for name, (script, full, quick) in BENCHMARKS.items():
            if args.only and name not in args.only:
                continue
            out = Path(tmp) / f"{name}.json"
            command = [sys.executable, str(HERE / script), *(quick if args.quick else full),
                       "--json", str(out)]
            print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
            began = time.monotonic()
            done = subprocess.run(command, check=False)
            entry: dict[str, object] = {"seconds": round(time.monotonic() - began, 1),
                                        "exit_status": done.returncode}
            if out.exists():
                try:
                    entry["figures"] = json.loads(out.read_text())
                except ValueError:
                    entry["figures"] = out.read_text()
            if done.returncode != 0:
                failed.append(name)
            results["benchmarks"][name] = entry  # type: ignore[index]
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out}" + (f"; failed to run: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
