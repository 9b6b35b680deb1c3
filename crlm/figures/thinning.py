"""Thinning curves to a few thousand points before they go to the browser.

A step function (Kaplan–Meier curve, its confidence band) is thinned by
cutting its time range into equal bins and keeping, in each bin, the first
and the last step; the step that holds at each axis tick, and the first and
last steps, are always kept. Evaluated as a step function (the value of the
last kept step at or before ``t``), the thinned curve equals the full one at
every kept point and at every tick, and departs from it only inside a bin,
never by more than the curve moves within that bin.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _as_sorted_times(timeline) -> np.ndarray:
    t = np.asarray(timeline, dtype=float)
    if t.ndim != 1:
        raise ValueError(f"timeline must be 1-D, got shape {t.shape}")
    if len(t) > 1 and np.any(np.diff(t) < 0):
        raise ValueError("timeline must be sorted ascending")
    return t


def _first_and_last_per_bin(position: np.ndarray, n_bins: int) -> np.ndarray:
    """Indices of the first and last element in each of ``n_bins`` equal bins of ``position``."""
    lo, hi = float(position[0]), float(position[-1])
    if hi <= lo:
        return np.array([0, len(position) - 1])
    ids = np.minimum(((position - lo) / (hi - lo) * n_bins).astype(np.int64), n_bins - 1)
    change = np.flatnonzero(ids[1:] != ids[:-1])
    firsts = np.concatenate(([0], change + 1))
    lasts = np.concatenate((change, [len(position) - 1]))
    return np.concatenate((firsts, lasts))


def thin_step_indices(timeline, max_points: int, ticks: Sequence[float] = ()) -> np.ndarray:
    """Sorted indices of the steps to keep (all of them when there are few enough)."""
    t = _as_sorted_times(timeline)
    n = len(t)
    ticks = np.atleast_1d(np.asarray(ticks, dtype=float)) if len(ticks) else np.zeros(0)
    if n <= max(int(max_points), 2):
        return np.arange(n)
    n_bins = max(1, (int(max_points) - len(ticks) - 2) // 2)
    keep = _first_and_last_per_bin(t, n_bins)
    at_ticks = np.searchsorted(t, ticks, side="right") - 1
    keep = np.concatenate((keep, at_ticks[at_ticks >= 0], [0, n - 1]))
    return np.unique(keep)


def thin_step(timeline, values, max_points: int = 2000, *, ticks: Sequence[float] = ()):
    """Thin a step function given by ``values[i]`` holding from ``timeline[i]`` on.

    ``values`` may be 1-D, or 2-D with one row per series sharing the timeline
    (curve and confidence bounds together). Returns ``(timeline, values)``
    restricted to the kept steps (see the module doc for what is preserved).
    """
    t = _as_sorted_times(timeline)
    v = np.asarray(values)
    if v.shape[-1] != len(t):
        raise ValueError(f"values have {v.shape[-1]} points but timeline has {len(t)}")
    idx = thin_step_indices(t, max_points, ticks)
    return t[idx], v[..., idx]


def step_value(timeline, values, at, before=np.nan) -> np.ndarray:
    """Evaluate a step function at ``at``: the value of the last step at or before each time."""
    t = _as_sorted_times(timeline)
    v = np.asarray(values, dtype=float)
    q = np.atleast_1d(np.asarray(at, dtype=float))
    idx = np.searchsorted(t, q, side="right") - 1
    out = v[np.clip(idx, 0, max(len(v) - 1, 0))] if len(v) else np.full(len(q), before)
    return np.where(idx < 0, before, out)


def thin_curve(x, y, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Thin a monotone polyline (an ROC curve) along its path length ``x + y``.

    Keeps the first and last vertex of each bin and both ends, so the curve's
    corners that matter at screen resolution stay.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} points but y has {len(y)}")
    if len(x) <= max(int(max_points), 2):
        return x, y
    path = np.abs(np.diff(x, prepend=x[0])) + np.abs(np.diff(y, prepend=y[0]))
    position = np.cumsum(path)
    idx = np.unique(np.concatenate((_first_and_last_per_bin(position, max(1, int(max_points) // 2)),
                                    [0, len(x) - 1])))
    return x[idx], y[idx]


def thin_marks(x, max_points: int = 2000) -> np.ndarray:
    """Indices of at most about ``max_points`` marks spread over the range of sorted ``x``."""
    x = np.asarray(x, dtype=float)
    if len(x) <= max(int(max_points), 1):
        return np.arange(len(x))
    lo, hi = float(x[0]), float(x[-1])
    if hi <= lo:
        return np.array([0])
    ids = np.minimum(((x - lo) / (hi - lo) * int(max_points)).astype(np.int64), int(max_points) - 1)
    return np.concatenate(([0], np.flatnonzero(ids[1:] != ids[:-1]) + 1))
