"""Thinning keeps the step function exact at every kept point and every axis tick."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crlm.figures import step_value, thin_curve, thin_step, thin_step_indices


def _km_like(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.unique(np.round(rng.exponential(30, n), 3))
    drops = rng.random(len(t)) < 0.6
    s = np.cumprod(np.where(drops, 1 - 1 / (len(t) - np.arange(len(t)) + 1), 1.0))
    return t, s


def _assert_exact(t, s, tt, ss, ticks):
    # the thinned curve is a subset of the full curve's steps ...
    idx = np.searchsorted(t, tt)
    np.testing.assert_array_equal(t[idx], tt)
    np.testing.assert_array_equal(s[idx], ss)
    # ... and as step functions they agree at every kept point and every tick
    for at in (tt, np.asarray(ticks, float)):
        np.testing.assert_array_equal(step_value(t, s, at), step_value(tt, ss, at))


@pytest.mark.parametrize("n, max_points", [(50_000, 2000), (10_000, 500), (3000, 100)])
def test_thinned_step_equals_full_at_kept_points_and_ticks(n, max_points):
    t, s = _km_like(n, seed=n)
    ticks = np.arange(0, t[-1] + 12, 12.0)
    tt, ss = thin_step(t, s, max_points, ticks=ticks)
    assert len(tt) <= max_points
    assert len(tt) < len(t)
    assert tt[0] == t[0] and tt[-1] == t[-1]
    _assert_exact(t, s, tt, ss, ticks)


def test_ticks_between_steps_keep_the_step_that_holds_there():
    t = np.linspace(0.5, 100.5, 10_001)
    s = np.linspace(1, 0, 10_001)
    ticks = [0.0, 7.3, 12.0, 50.01, 99.999, 200.0]
    tt, ss = thin_step(t, s, 50, ticks=ticks)
    _assert_exact(t, s, tt, ss, ticks)
    assert np.isnan(step_value(tt, ss, [0.0])[0])  # before the first step: undefined in both


def test_several_series_share_the_kept_steps():
    t, s = _km_like(20_000, 3)
    rows = np.vstack([s, s * 0.9, np.minimum(s * 1.1, 1)])
    tt, thinned = thin_step(t, rows, 400, ticks=[0, 24, 48])
    assert thinned.shape == (3, len(tt))
    for k in range(3):
        _assert_exact(t, rows[k], tt, thinned[k], [0, 24, 48])


def test_short_curves_are_left_alone():
    t = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(thin_step_indices(t, 2000), [0, 1, 2])


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="sorted"):
        thin_step([3.0, 1.0, 2.0], [1, 1, 1], 10)
    with pytest.raises(ValueError, match="points"):
        thin_step([1.0, 2.0], [1.0], 10)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 3000), max_points=st.integers(10, 400), seed=st.integers(0, 10_000),
       n_ticks=st.integers(0, 8))
def test_exactness_property(n, max_points, seed, n_ticks):
    rng = np.random.default_rng(seed)
    t = np.unique(rng.uniform(0, 100, n))
    s = np.sort(rng.random(len(t)))[::-1]
    ticks = np.sort(rng.uniform(-5, 110, n_ticks))
    tt, ss = thin_step(t, s, max_points, ticks=ticks)
    assert len(tt) <= max(max_points, len(ticks) + 2) or len(tt) == len(t)
    _assert_exact(t, s, tt, ss, ticks)


def test_thin_curve_keeps_the_ends_and_bounds_the_size():
    rng = np.random.default_rng(0)
    x = np.concatenate(([0.0], np.sort(rng.random(50_000)), [1.0]))
    y = np.concatenate(([0.0], np.sort(rng.random(50_000)), [1.0]))
    xx, yy = thin_curve(x, y, 1000)
    assert len(xx) <= 1002
    assert (xx[0], yy[0], xx[-1], yy[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(xx) >= 0) and np.all(np.diff(yy) >= 0)
    # every kept vertex is a vertex of the full curve
    full = set(zip(x.tolist(), y.tolist()))
    assert all(p in full for p in zip(xx.tolist(), yy.tolist()))
