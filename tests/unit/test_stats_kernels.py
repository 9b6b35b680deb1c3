"""The sorting and counting kernels under KM, log-rank, Cox, concordance and ROC:
each against a brute-force or plain-numpy version, compiled and pure Python alike."""
from __future__ import annotations

import numpy as np
import pytest

from crlm import stats
from crlm.stats import _cox_partial, _kernels
from crlm.stats.concordance import pair_counts
from crlm.stats.diagnostic import _placements


def _tied(n, seed):
    rng = np.random.default_rng(seed)
    t = np.round(rng.exponential(5, n))  # many tied times, events and censorings among them
    e = rng.random(n) < 0.6
    r = np.round(rng.normal(size=n), 1)  # tied risks
    return t, e, r


def _brute_pairs(t, e, r):
    n = len(t)
    lower, equal, higher = (np.zeros(n, dtype=np.int64) for _ in range(3))
    for i in np.flatnonzero(e):
        comparable = (t > t[i]) | ((t == t[i]) & ~e)
        lower[i] = np.sum(comparable & (r < r[i]))
        equal[i] = np.sum(comparable & (r == r[i]))
        higher[i] = np.sum(comparable & (r > r[i]))
    return lower, equal, higher


@pytest.mark.parametrize("n,seed", [(1, 0), (2, 1), (7, 2), (60, 3), (300, 4)])
def test_pair_counts_equal_brute_force(n, seed):
    t, e, r = _tied(n, seed)
    for got, want in zip(pair_counts(t, e, r), _brute_pairs(t, e, r)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("continuous", [False, True])
def test_pair_counts_equal_brute_force_on_arrays_the_fast_sort_orders(continuous):
    # above crlm.stats._sort's small-array size, so the rows are ordered by packed keys
    t, e, r = _tied(6000, 11)
    if continuous:
        r = r + np.random.default_rng(12).normal(scale=1e-3, size=len(r))
    for got, want in zip(pair_counts(t, e, r), _brute_pairs(t, e, r)):
        np.testing.assert_array_equal(got, want)
    fit = stats.cox(t, e, r)
    lower, equal, higher = _brute_pairs(t, e, fit._fit.linear_predictor(fit.coefficients)[
        np.argsort(fit._fit.order)])
    want_c = (lower.sum() + 0.5 * equal.sum()) / (lower.sum() + equal.sum() + higher.sum())
    assert fit.concordance == pytest.approx(want_c, abs=1e-12)


def test_pair_counts_without_numba_are_the_same(monkeypatch):
    t, e, r = _tied(200, 9)
    compiled = pair_counts(t, e, r)
    monkeypatch.setattr(_kernels, "_pair_counts_by_risk", _kernels._pair_counts_by_risk.py_func)
    for got, want in zip(pair_counts(t, e, r), compiled):
        np.testing.assert_array_equal(got, want)


def test_stable_order_is_a_stable_argsort():
    codes = np.random.default_rng(3).integers(0, 7, 500)
    np.testing.assert_array_equal(_kernels._stable_order(codes, 7),
                                  np.argsort(codes, kind="stable"))
    np.testing.assert_array_equal(_kernels._stable_order.py_func(codes, 7),
                                  np.argsort(codes, kind="stable"))


def test_dense_codes_rank_the_distinct_values():
    v = np.array([3.5, 1.0, 3.5, 2.0, 1.0, 9.0])
    codes, m = _kernels.dense_codes_unstable(v)
    np.testing.assert_array_equal(codes, [2, 0, 2, 1, 0, 3])
    assert m == 4
    codes, m = _kernels.dense_codes_unstable(np.zeros(0))
    assert m == 0 and len(codes) == 0


def test_split_by_code_keeps_row_order():
    codes = np.array([1, 0, 1, 2, 0, 1])
    vals = np.arange(6) * 10
    parts = _kernels.split_by_code(codes, 4, vals)
    assert [list(p[0]) for p in parts] == [[10, 40], [0, 20, 50], [30], []]


@pytest.mark.parametrize("strata", [None, "two"])
def test_cox_rows_sorted_by_stratum_then_decreasing_time(strata):
    t, e, r = _tied(300, 5)
    s = (np.arange(300) % 2).astype(np.int64) if strata else np.zeros(300, np.int64)
    data = _cox_partial._CoxData(t, e, r[:, None], s, True)
    np.testing.assert_array_equal(np.sort(data.order), np.arange(300))
    want = np.lexsort((-t, s))  # the same rows up to the order among ties
    np.testing.assert_array_equal(data.time, t[want])
    np.testing.assert_array_equal(data.strata, s[want])
    np.testing.assert_array_equal(data.xrows[:, 0], r[data.order])
    assert data.n_groups == len(set(zip(s, t)))


def test_merge_counts_equal_unique_counts():
    rng = np.random.default_rng(8)
    a, b = np.sort(np.round(rng.normal(size=90), 1)), np.sort(np.round(rng.normal(size=70), 1))
    values, ca, cb = _kernels._merge_counts(a, b)
    want = np.unique(np.concatenate((a, b)))
    np.testing.assert_array_equal(values, want)
    np.testing.assert_array_equal(ca, [np.sum(a == v) for v in want])
    np.testing.assert_array_equal(cb, [np.sum(b == v) for v in want])
    py = _kernels._merge_counts.py_func(a, b)
    for got, exp in zip(py, (values, ca, cb)):
        np.testing.assert_array_equal(got, exp)


def test_placements_equal_brute_force():
    rng = np.random.default_rng(2)
    cases, controls = np.round(rng.normal(0.5, 1, 40), 1), np.round(rng.normal(0, 1, 55), 1)
    v10, v01 = _placements(cases, controls)
    want10 = [np.mean((controls < c) + 0.5 * (controls == c)) for c in cases]
    want01 = [np.mean((cases > c) + 0.5 * (cases == c)) for c in controls]
    np.testing.assert_allclose(v10, want10, rtol=1e-15)
    np.testing.assert_allclose(v01, want01, rtol=1e-15)


def test_roc_curve_counts_equal_thresholding():
    rng = np.random.default_rng(4)
    y = rng.random(120) < 0.4
    s = np.round(rng.normal(size=120) + y, 1)
    res = stats.roc(y, s)
    for k, thr in enumerate(res.thresholds):
        called = s > thr
        assert res.tpr[k] == pytest.approx(np.mean(called[y]), abs=1e-15)
        assert res.fpr[k] == pytest.approx(np.mean(called[~y]), abs=1e-15)


def test_cox_concordance_is_counted_when_read():
    t, e, r = _tied(300, 6)
    x = r + np.random.default_rng(6).normal(size=300)
    fit = stats.cox(t, e, x)
    assert "concordance" not in fit.__dict__  # nothing asked for it yet
    c = fit.concordance
    assert "concordance" in fit.__dict__
    assert c == stats.concordance_index(t, e, fit.coefficients[0] * x).concordance
    d = fit.to_dict()
    assert list(d)[:4] == ["terms", "coefficients", "covariance", "concordance"]
    assert d["concordance"] == c and "_with_concordance" not in d
    assert np.isnan(stats.cox(t, e, x, with_concordance=False).to_dict()["concordance"])


def test_stratified_cox_concordance_counts_within_strata():
    t, e, r = _tied(300, 7)
    s = np.arange(300) % 3
    x = r + np.random.default_rng(7).normal(size=300)
    fit = stats.cox(t, e, x, strata=s)
    lp = fit.coefficients[0] * x
    counts = np.zeros(3)
    for level in range(3):
        m = s == level
        lo, eq, hi = _brute_pairs(t[m], e[m], lp[m])
        counts += [lo.sum(), eq.sum(), hi.sum()]
    assert fit.concordance == pytest.approx((counts[0] + 0.5 * counts[1]) / counts.sum(), rel=1e-15)


def test_roc_auc_and_delong_se_equal_the_placements():
    rng = np.random.default_rng(11)
    y = rng.random(150) < 0.3
    s = np.round(rng.normal(size=150) + y, 1)
    res = stats.roc(y, s)
    v10, v01 = _placements(s[y], s[~y])
    assert res.auc == pytest.approx(np.mean(v10), rel=1e-14)
    want_se = np.sqrt(np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01))
    assert res.auc_se == pytest.approx(want_se, rel=1e-12)
    compiled = _kernels._roc_from_sorted(np.sort(s[y]), np.sort(s[~y]))
    plain = _kernels._roc_from_sorted.py_func(np.sort(s[y]), np.sort(s[~y]))
    for got, want in zip(plain, compiled):
        np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize("compiled", [True, False])
def test_one_covariate_group_sums_are_the_general_sums_bit_for_bit(compiled):
    t, e, r = _tied(3000, 21)
    x = r + np.random.default_rng(22).normal(size=len(r))
    data = _cox_partial._CoxData(t, e, (x - x.mean()).reshape(-1, 1), np.zeros(len(t), np.int64), True)
    w = np.exp(data.linear_predictor(np.array([0.4])))
    one = _cox_partial._group_sums_1 if compiled else _cox_partial._group_sums_1.py_func
    general = _cox_partial._group_sums(data.xrows, w, data.gstart, data.event, data.pair_k, data.pair_m)
    for got, want in zip(one(data.xrows, w, data.gstart, data.event), general):
        assert np.array_equal(got, want)


def test_sorted_times_by_code_are_each_groups_sorted_times_and_event_times():
    rng = np.random.default_rng(31)
    t, e, _ = _tied(5000, 31)
    codes = rng.integers(0, 4, len(t))
    codes[codes == 2] = 3  # a code with no rows
    parts = _kernels.sorted_times_by_code(codes, 5, t, e)
    assert len(parts) == 5
    for k, (all_k, ev_k) in enumerate(parts):
        np.testing.assert_array_equal(all_k, np.sort(t[codes == k]))
        np.testing.assert_array_equal(ev_k, np.sort(t[(codes == k) & e]))


def test_integer_groups_are_numbered_as_factorize_numbers_them():
    import pandas as pd

    from crlm.stats._validate import as_levels

    rng = np.random.default_rng(32)
    for values in (rng.integers(0, 2, 3000), rng.integers(-5, 5, 300).astype(np.int32),
                   np.array([3, 7, 7, 100, 3], dtype=np.uint8), rng.choice([10, 2000, -4], 500),
                   rng.integers(0, 2 ** 40, 100)):  # the last: too wide to count, hashed
        codes, levels = as_levels(values, "group")
        want_codes, want_levels = pd.factorize(values, sort=True)
        np.testing.assert_array_equal(codes, want_codes)
        assert levels == [v.item() for v in want_levels]
        assert all(type(a) is type(b.item()) for a, b in zip(levels, want_levels))


def _findq_by_sorting(x, y, p, tol=np.sqrt(np.finfo(float).eps)):
    """R's findq, written the long way (unique values, then a stable sort each time)."""
    xmax = x[-1]
    _, first = np.unique(y, return_index=True)
    keep = np.sort(first)
    x, y = x[keep], y[keep]
    n = len(y)

    def index(shift):
        yy = y + shift
        ok = ~np.isnan(yy)
        xs, idx = yy[ok], np.arange(n)[ok]
        order = np.argsort(xs, kind="stable")
        xs, idx = xs[order], idx[order]
        if len(xs) == 0 or p < xs[0] or p > xs[-1]:
            return float("nan")
        return float(idx[np.searchsorted(xs, p, side="left")])

    i1, i2 = index(tol), index(-tol)
    if np.isnan(i1) or np.isnan(i2):
        return float("nan")
    quant = (x[int(i1)] + x[int(i2)]) / 2
    if abs(p - y[n - 1]) < tol:
        quant = (x[int(i1)] + xmax) / 2
    return float(quant)


@pytest.mark.parametrize("seed", range(6))
def test_the_median_of_a_rising_curve_is_read_as_by_sorting(seed):
    from crlm.stats.survival import _findq

    rng = np.random.default_rng(seed)
    n = 400
    x = np.concatenate(([0.0], np.sort(rng.exponential(10, n))))
    steps = rng.choice([0.0, 0.0, 1.0], n) * rng.random(n)
    y = np.concatenate(([0.0], np.cumsum(steps)))
    y = y / y[-1] * rng.choice([0.5, 0.9, 1.0])  # sometimes flat at exactly 0.5 at the end
    if seed == 5:
        y[200:230] = 0.5  # flat exactly at 0.5 in the middle
        y[230:] = np.maximum(y[230:], 0.5)
    assert _findq(x, y, 0.5) == pytest.approx(_findq_by_sorting(x, y, 0.5), nan_ok=True)
