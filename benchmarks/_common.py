"""Helpers every benchmark shares: best-of timing, ceilings, the printed table, JSON output.

The machine is shared and noisy, so every figure is printed beside a ceiling measured in the
same run and the ratio between them; the best of several repetitions is taken for each.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def best_rate(work: Callable[[int], None], n: int, repeats: int = 5) -> float:
    """Operations per second: *work(n)* does n operations; the best of *repeats* runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work(n)
        best = min(best, time.perf_counter() - start)
    return n / best


def interleaved_best_rates(
    works: dict[str, tuple[Callable[[int], None], int]], repeats: int = 7
) -> dict[str, float]:
    """Operations per second of each *work(n)*, best of *repeats* rounds, taken in turns.

    Each round runs every work once, so a figure and its ceiling see the same spells of load
    from whatever else shares the machine; measuring one fully and then the other does not.
    """
    best = {name: float("inf") for name in works}
    for _ in range(repeats):
        for name, (work, n) in works.items():
            start = time.perf_counter()
            work(n)
            best[name] = min(best[name], (time.perf_counter() - start) / n)
    return {name: 1.0 / seconds for name, seconds in best.items()}


def pin_one_core() -> None:
    """Keep the measurement on one core, as the figures are defined per core."""
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass


class Report:
    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: list[dict[str, Any]] = []

    def add(self, figure: str, value: float, unit: str, ceiling_name: str, ceiling: float,
            bar: float | None = None, higher_is_better: bool = True) -> None:
        ratio = value / ceiling if ceiling else float("nan")
        ok = None if bar is None else (ratio >= bar if higher_is_better else ratio <= bar)
        self.rows.append(dict(figure=figure, value=value, unit=unit, ceiling=ceiling_name,
                              ceiling_value=ceiling, ratio=ratio, bar=bar, meets_bar=ok))

    def print(self) -> None:
        print(f"\n{self.name}  ({platform.python_implementation()} {platform.python_version()}, "
              f"{platform.machine()}, {os.cpu_count()} cpus)")
        print(f"{'figure':<44}{'value':>14}  {'ceiling':<32}{'ceiling value':>14}{'ratio':>8}"
              f"{'bar':>7}")
        for r in self.rows:
            bar = "" if r["bar"] is None else f"{r['bar']:.2f}"
            verdict = "" if r["meets_bar"] is None else ("  ok" if r["meets_bar"] else "  BELOW")
            print(f"{r['figure']:<44}{r['value']:>11,.0f} {r['unit']:<3}{r['ceiling']:<32}"
                  f"{r['ceiling_value']:>14,.0f}{r['ratio']:>8.2f}{bar:>7}{verdict}")

    def write_json(self, path: str | None) -> None:
        if not path:
            return
        out = Path(path)
        data = json.loads(out.read_text()) if out.exists() else {}
        data[self.name] = self.rows
        out.write_text(json.dumps(data, indent=2))
