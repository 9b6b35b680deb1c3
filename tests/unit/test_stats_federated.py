"""Statistics from shared counts equal the pooled statistics on the same (gridded) rows."""
import numpy as np
import pytest

from crlm import stats
from crlm.stats import federated as fs


def _sites(seed=3):
    rng = np.random.default_rng(seed)
    out = []
    for n in (120, 90, 150):
        t = rng.exponential(30, n)
        e = rng.random(n) < 0.7
        g = rng.random(n) < 0.5
        out.append((t, e, g))
    return out


def test_km_from_summed_grid_counts_equals_pooled_km_on_the_grid():
    grid = np.arange(6, 61, 6.0)
    sites = _sites()
    ev = sum(fs.grid_counts(t, e, grid)[0] for t, e, _ in sites)
    ce = sum(fs.grid_counts(t, e, grid)[1] for t, e, _ in sites)
    by = sum(fs.grid_counts(t, e, grid)[2] for t, e, _ in sites)
    fed = fs.km_from_counts(grid, ev, ce, by).survival_at(grid)
    t = np.concatenate([s[0] for s in sites])
    e = np.concatenate([s[1] for s in sites])
    pooled = stats.kaplan_meier(fs.to_grid(t, grid), e).survival_at(grid)
    np.testing.assert_allclose(fed.survival, pooled.survival, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fed.ci_lower, pooled.ci_lower, atol=1e-12)


def test_logrank_from_counts_equals_pooled_logrank_on_the_grid():
    grid = np.arange(6, 61, 6.0)
    sites = _sites(5)
    ev = np.zeros((2, len(grid)), int)
    ce = np.zeros((2, len(grid)), int)
    by = np.zeros(2, int)
    for t, e, g in sites:
        for j, mask in enumerate((~g, g)):
            a, b, c = fs.grid_counts(t[mask], e[mask], grid)
            ev[j] += a
            ce[j] += b
            by[j] += c
    fed = fs.logrank_from_counts(grid, ev, ce, by)
    t = np.concatenate([s[0] for s in sites])
    e = np.concatenate([s[1] for s in sites])
    g = np.concatenate([s[2] for s in sites])
    # patients followed beyond the grid are censored at its end by construction
    pooled = stats.logrank(fs.to_grid(t, grid), e & (t <= grid[-1]), g.astype(int))
    assert fed.statistic == pytest.approx(pooled.statistic, abs=1e-10)
    assert fed.p_value == pytest.approx(pooled.p_value, abs=1e-12)


def test_auc_from_histograms_equals_roc_on_bin_indices():
    rng = np.random.default_rng(1)
    y = rng.random(400) < 0.4
    s = np.clip(0.5 + 0.2 * (y - 0.4) + rng.normal(0, 0.2, 400), 0, 1)
    edges = np.linspace(0, 1, 33)
    b = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, 31)
    pos, neg = np.bincount(b[y], minlength=32), np.bincount(b[~y], minlength=32)
    fed = fs.roc_from_histograms(pos, neg)
    pooled = stats.roc(y, b)
    assert fed.auc == pytest.approx(pooled.auc, abs=1e-12)
    assert fed.auc_ci == pytest.approx(pooled.auc_ci, abs=1e-12)
    assert abs(fed.auc - stats.roc(y, s).auc) < 0.02  # 32 bins cost little


def test_small_cell_cuts_of_two_sites_nest_and_keep_every_cell_safe():
    rng = np.random.default_rng(2)
    a = rng.poisson(3, (64, 2))
    b = rng.poisson(6, (64, 2))
    keep = fs.small_cell_cuts(a) & fs.small_cell_cuts(b)
    for table in (a, b):
        merged = fs.merge_cells(table, keep)
        assert fs.is_safe(merged)
        assert merged.sum() == table.sum()
    # a table of one patient cannot be made safe by merging: its total is unsafe
    one = np.zeros((8, 1), int)
    one[3] = 1
    assert not fs.is_safe(fs.merge_cells(one, fs.small_cell_cuts(one)))
    with pytest.raises(ValueError):
        fs.small_cell_cuts([[1.5]])
