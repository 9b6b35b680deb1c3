"""Shared timing helpers for the benchmarks.

Each ``bench/bench_*.py`` module defines ``run(quick: bool) -> list[Result]``.
A Result pairs this project's timing of one task with a baseline timing of the
same task run in the same process (a straightforward implementation with the
field's standard libraries), so the printed ratio is meaningful on any machine.
"""
from __future__ import annotations

import gc
import time
import tracemalloc
from dataclasses import dataclass
from typing import Callable


@dataclass
class Result:
    benchmark: str
    n: int
    ours_s: float
    baseline_s: float | None = None
    baseline: str = ""
    peak_mb: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_s is None or self.ours_s <= 0:
            return None
        return self.baseline_s / self.ours_s


def timed(fn: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    """Best wall time of ``repeat`` calls and the last return value."""
    best = float("inf")
    out = None
    for _ in range(max(1, repeat)):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_memory_mb(fn: Callable[[], object]) -> float:
    """Peak Python-heap allocation (tracemalloc, includes numpy buffers) of one call."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1e6
