"""Cox models fitted on cell counts agree with the Cox model on the patient rows."""
from __future__ import annotations

import numpy as np
import pytest

from crlm import stats
from crlm.stats.cox_cells import cell_counts, event_index, fit_cells


def _data(seed: int, n: int = 400, digits: int = 0):
    rng = np.random.default_rng(seed)
    t = np.round(rng.exponential(10, n), digits)        # rounded: many tied times
    e = rng.random(n) < 0.6
    g = (rng.random(n) < 0.4).astype(int)
    level = rng.integers(0, 3, n)
    return t, e, g, level


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("seed", [1, 2])
def test_one_indicator_fits_as_the_patient_rows_do(ties, seed):
    t, e, g, _ = _data(seed)
    fit = fit_cells(cell_counts(event_index(t, e), g, 2), np.array([0.0, 1.0]), ties)
    want = stats.cox(t, e, g.astype(float), ties=ties, with_concordance=False)
    assert fit.coefficients[0] == pytest.approx(want.coefficients[0], rel=1e-9)
    assert fit.se[0] == pytest.approx(want.terms[0].se, rel=1e-9)
    assert fit.log_likelihood == pytest.approx(want.log_likelihood, rel=1e-12)
    assert fit.log_likelihood_null == pytest.approx(want.log_likelihood_null, rel=1e-12)
    assert fit.converged and fit.iterations == want.iterations


def test_a_design_over_cells_and_a_subset_of_patients_fit_as_the_rows_do():
    t, e, g, level = _data(3, n=600, digits=1)
    cell = level * 2 + g
    cg, cl = np.tile([0.0, 1.0], 3), np.repeat(np.arange(3), 2)
    design = np.column_stack([cg, cl == 1, cl == 2, cg * (cl == 1), cg * (cl == 2)]).astype(float)
    index = event_index(t, e)
    fit = fit_cells(cell_counts(index, cell, 6), design)
    want = stats.cox(t, e, design[cell], with_concordance=False)
    np.testing.assert_allclose(fit.coefficients, want.coefficients, rtol=1e-8)
    np.testing.assert_allclose(fit.covariance, want.covariance, rtol=1e-8)
    assert fit.log_likelihood == pytest.approx(want.log_likelihood, rel=1e-12)
    rows = np.flatnonzero(level == 1)
    part = fit_cells(cell_counts(index, g, 2, rows), np.array([0.0, 1.0]))
    alone = stats.cox(t[rows], e[rows], g[rows].astype(float), with_concordance=False)
    assert part.coefficients[0] == pytest.approx(alone.coefficients[0], rel=1e-9)
    # the counts of two cells only are those of their patients alone
    pair = fit_cells(cell_counts(index, cell, 6).cells([2, 3]), np.array([0.0, 1.0]))
    assert pair.coefficients[0] == pytest.approx(alone.coefficients[0], rel=1e-9)


def test_collinear_cells_take_least_squares_steps_as_the_rows_do():
    """A design whose information is singular (one column twice the other): each step is
    the least-squares one, as in the fit on patient rows, and the likelihood is the same."""
    t, e, g, _ = _data(6, n=500, digits=1)
    design = np.column_stack([[0.0, 1.0], [0.0, 2.0]])
    fit = fit_cells(cell_counts(event_index(t, e), g, 2), design)
    want = stats.cox(t, e, design[g], with_concordance=False)
    assert np.isfinite(fit.log_likelihood)
    assert fit.log_likelihood == pytest.approx(want.log_likelihood, rel=1e-12)
    np.testing.assert_allclose(fit.coefficients, want.coefficients, rtol=1e-8)
    # the fitted hazard ratio of the group is the one-column fit's
    one = fit_cells(cell_counts(event_index(t, e), g, 2), np.array([0.0, 1.0]))
    assert fit.coefficients @ [1.0, 2.0] == pytest.approx(one.coefficients[0], rel=1e-8)


def test_no_event_or_a_constant_covariate_is_refused():
    t, e, g, _ = _data(4, n=50)
    with pytest.raises(ValueError, match="no events"):
        fit_cells(cell_counts(event_index(t, np.zeros(50, bool)), g, 2), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="constant"):
        fit_cells(cell_counts(event_index(t, e), np.zeros(50, int), 2), np.array([0.0, 1.0]))


def test_subgroup_effects_agree_with_per_level_cox_fits_and_the_lr_test():
    t, e, g, level = _data(6, n=900, digits=1)
    sub = np.array(["x", "y", "z"])[level]
    res = stats.subgroup_effects(t, e, g, sub)
    for k, eff in enumerate(res.subgroups):
        m = level == k
        fit = stats.cox(t[m], e[m], g[m].astype(float), with_concordance=False)
        assert eff.hr == pytest.approx(fit.terms[0].hr, rel=1e-9)
        assert (eff.ci_lower, eff.ci_upper) == (pytest.approx(fit.terms[0].ci_lower, rel=1e-9),
                                                pytest.approx(fit.terms[0].ci_upper, rel=1e-9))
        assert eff.p_value == pytest.approx(fit.terms[0].p_value, rel=1e-7)
    dummies = np.column_stack([level == 1, level == 2]).astype(float)
    reduced = stats.cox(t, e, np.column_stack([g, dummies]), with_concordance=False)
    full = stats.cox(t, e, np.column_stack([g, dummies, g * dummies[:, 0], g * dummies[:, 1]]),
                     with_concordance=False)
    lr = stats.likelihood_ratio_test(full, reduced)
    assert res.interaction_df == 2
    assert res.interaction_statistic == pytest.approx(lr.statistic, rel=1e-7)
    assert res.interaction_p_value == pytest.approx(lr.p_value, rel=1e-7)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_hundreds_of_deaths_at_one_time_fit_as_the_patient_rows_do(ties):
    # 5,000 patients on 8 distinct times: hundreds of deaths per time, so the product of
    # a time's Efron denominators leaves double range unless it is logged in parts
    rng = np.random.default_rng(7)
    n = 5000
    t = rng.integers(1, 9, n).astype(float)
    e = rng.random(n) < 0.7
    g = (rng.random(n) < 0.5).astype(int)
    fit = fit_cells(cell_counts(event_index(t, e), g, 2), np.array([0.0, 1.0]), ties)
    want = stats.cox(t, e, g.astype(float), ties=ties, with_concordance=False)
    assert np.isfinite(fit.log_likelihood)
    assert fit.coefficients[0] == pytest.approx(want.coefficients[0], rel=1e-9)
    assert fit.se[0] == pytest.approx(want.terms[0].se, rel=1e-9)
    assert fit.log_likelihood == pytest.approx(want.log_likelihood, rel=1e-12)


def test_pure_python_cell_kernels_agree_with_compiled(monkeypatch):
    """Without numba the same loops run as plain Python and give the same numbers."""
    from crlm.stats import _cells_newton, cox_cells, subgroups

    t, e, g, level = _data(5, n=300, digits=1)
    compiled = stats.subgroup_effects(t, e, g, level)
    for module, name in ((cox_cells, "_tallies"), (cox_cells, "newton"),
                         (_cells_newton, "_cell_derivatives"), (_cells_newton, "_derivatives"),
                         (_cells_newton, "_solve"), (subgroups, "_level_extremes")):
        fn = getattr(module, name)
        monkeypatch.setattr(module, name, getattr(fn, "py_func", fn))
    plain = stats.subgroup_effects(t, e, g, level)
    np.testing.assert_allclose([s.hr for s in plain.subgroups], [s.hr for s in compiled.subgroups],
                               rtol=1e-12)
    assert plain.interaction_p_value == pytest.approx(compiled.interaction_p_value, rel=1e-10)
    assert [s.converged for s in plain.subgroups] == [s.converged for s in compiled.subgroups]


@pytest.mark.parametrize("seed", range(5))
def test_event_index_counted_from_a_whole_sets_ranks_equals_the_search(seed):
    from crlm.stats.cox_cells import event_index, event_index_within, event_time_ranks

    rng = np.random.default_rng(seed)
    n = 3000
    t = np.round(rng.exponential(20, n), 1)          # ties
    e = rng.random(n) < 0.6
    t[rng.random(n) < 0.05] = np.nan                  # unknown: never among the rows
    e &= ~np.isnan(t)
    ranks = event_time_ranks(t, e)
    known = np.flatnonzero(~np.isnan(t))
    for rows in (known, np.sort(rng.choice(known, 500, replace=False)),
                 known[t[known] > 30], known[~e[known]][:40], known[:0]):
        want = event_index(t[rows], e[rows])
        got = event_index_within(ranks, rows, e[rows])
        assert got.n_times == want.n_times
        assert np.array_equal(got.first_at_risk, want.first_at_risk)
        assert np.array_equal(got.death_time, want.death_time)
        assert np.array_equal(got.event, want.event)


@pytest.mark.parametrize("n,compiled", [(3000, True), (20000, True), (3000, False)])
def test_event_time_ranks_are_the_searches_of_every_time(n, compiled, monkeypatch):
    from crlm.stats import cox_cells

    if not compiled:
        monkeypatch.setattr(cox_cells, "_ranks_in_order", cox_cells._ranks_in_order.py_func)
    rng = np.random.default_rng(n)
    t = np.round(rng.exponential(20, n), 1)
    t[rng.random(n) < 0.05] = np.nan
    t[:3] = [0.0, t.max() + 1, np.nan]  # before every event time, after them, missing
    e = (rng.random(n) < 0.6) & ~np.isnan(t)
    ranks = cox_cells.event_time_ranks(t, e)
    times = np.unique(t[e])
    np.testing.assert_array_equal(ranks.times, times)
    np.testing.assert_array_equal(ranks.at_most, np.searchsorted(times, t, side="right"))
    np.testing.assert_array_equal(ranks.before, np.searchsorted(times, t, side="left"))
