"""Series read on a grid: each series through np.interp on its own visits, nothing before
the first visit or after the last, a visit's own value on a grid time it falls on."""
from __future__ import annotations

import numpy as np
import pytest

from crlm.stats.grid_series import series_on_grid


def test_each_series_equals_np_interp_inside_its_visits_and_nan_outside():
    rng = np.random.default_rng(3)
    grid = np.arange(0.0, 12.01, 0.5)
    times, values, start, stop = [], [], [], []
    for i in range(200):
        k = int(rng.integers(0, 7))
        t = np.sort(rng.choice(np.arange(0, 400), k, replace=False)) / 30.4375
        if i % 5 == 0 and k:
            t[0] = 0.0                               # a visit on a grid time
        start.append(len(times))
        times.extend(t)
        values.extend(rng.normal(size=k))
        stop.append(len(times))
    times, values = np.array(times), np.array(values)
    got = series_on_grid(np.array(start), np.array(stop), times, values, grid)
    for i, (a, b) in enumerate(zip(start, stop)):
        t, v = times[a:b], values[a:b]
        want = np.full(len(grid), np.nan)
        if len(t):
            inside = (grid >= t[0]) & (grid <= t[-1])
            want[inside] = np.interp(grid[inside], t, v)
        np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=1e-12)


def test_a_repeated_time_reads_its_first_value_and_one_visit_is_one_point():
    grid = np.array([0.0, 1.0, 2.0])
    got = series_on_grid(np.array([0, 3]), np.array([3, 4]),
                         np.array([0.0, 1.0, 1.0, 2.0]), np.array([5.0, 7.0, 9.0, 4.0]), grid)
    assert got[0][:2].tolist() == [5.0, 7.0] and np.isnan(got[0][2])   # none after 1.0
    assert np.isnan(got[1][[0, 1]]).all() and got[1][2] == 4.0


def test_a_grid_that_falls_is_refused():
    with pytest.raises(ValueError, match="ascending"):
        series_on_grid(np.array([0]), np.array([1]), np.array([0.0]), np.array([1.0]),
                       np.array([1.0, 0.0]))
