"""Series on a common grid: each patient's series of values at its own times, read at
fixed grid times by linear interpolation between the two visits around each grid time,
the visit's own value at a grid time it falls on, and nothing (NaN) before the first visit
or after the last (never extrapolated)."""
from __future__ import annotations

import numpy as np

from ._compiled import _jit


@_jit
def _on_grid(start, stop, times, values, grid, out):  # pragma: no cover - compiled
    for i in range(len(start)):
        r = start[i]
        for j in range(len(grid)):
            t = grid[j]
            while r < stop[i] and times[r] < t:     # the grid rises: r only moves on
                r += 1
            if r == stop[i]:
                continue
            if times[r] == t:
                out[i, j] = values[r]
            elif r > start[i]:
                t0, t1 = times[r - 1], times[r]
                w = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
                out[i, j] = values[r - 1] + w * (values[r] - values[r - 1])


def series_on_grid(start: np.ndarray, stop: np.ndarray, times: np.ndarray,
                   values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(len(start), len(grid)): series ``i`` is ``times[start[i]:stop[i]]`` (ascending) and
    its ``values``; ``grid`` ascending. A time repeated within a series reads its first
    value."""
    grid = np.asarray(grid, dtype=np.float64)
    if len(grid) > 1 and (np.diff(grid) < 0).any():
        raise ValueError("series_on_grid: the grid must be ascending")
    out = np.full((len(start), len(grid)), np.nan)
    _on_grid(np.asarray(start, dtype=np.int64), np.asarray(stop, dtype=np.int64),
             np.asarray(times, dtype=np.float64), np.asarray(values, dtype=np.float64),
             grid, out)
    return out
