"""Cox model, concordance and time-dependent AUC: brute force, lifelines and scikit-survival cross-checks, edges."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crlm import stats


def _simulated(n=400, seed=5, rounding=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    t = rng.exponential(20 / np.exp(0.5 * x[:, 0] - 0.3 * x[:, 1]))
    c = rng.uniform(0, 40, n)
    e = t <= c
    t = np.round(np.minimum(t, c), rounding)  # rounding makes ties
    return t, e, x


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_matches_lifelines(ties):
    lifelines = pytest.importorskip("lifelines")
    t, e, x = _simulated()
    df = pd.DataFrame({"age_scaled": x[:, 0], "cea_scaled": x[:, 1], "T": t, "E": e})
    ours = stats.cox(t, e, df[["age_scaled", "cea_scaled"]], ties=ties)
    assert ours.term_names == ["age_scaled", "cea_scaled"]
    if ties == "efron":  # lifelines implements Efron only
        cph = lifelines.CoxPHFitter().fit(df, "T", "E")
        np.testing.assert_allclose(ours.coefficients, cph.params_.to_numpy(), rtol=1e-5)
        np.testing.assert_allclose([t.se for t in ours.terms], cph.standard_errors_.to_numpy(), rtol=1e-4)
        assert ours.log_likelihood == pytest.approx(cph.log_likelihood_, rel=1e-8)
        assert ours.concordance == pytest.approx(cph.concordance_index_, rel=1e-9)
    assert ours.converged and ours.coefficients[0] > 0


def test_cox_efron_equals_breslow_without_ties():
    t, e, x = _simulated(rounding=8)
    assert len(np.unique(t[e])) == e.sum()
    a = stats.cox(t, e, x, ties="efron")
    b = stats.cox(t, e, x, ties="breslow")
    np.testing.assert_allclose(a.coefficients, b.coefficients, rtol=1e-10)


def test_cox_likelihood_ratio_and_nested_test():
    t, e, x = _simulated()
    full = stats.cox(t, e, x)
    reduced = stats.cox(t, e, x[:, 0])
    lrt = stats.likelihood_ratio_test(full, reduced)
    assert lrt.df == 1 and lrt.statistic > 0
    stat, df, p = full.likelihood_ratio()
    assert df == 2 and p < 1e-6
    with pytest.raises(ValueError, match="more terms"):
        stats.likelihood_ratio_test(reduced, full)


def test_cox_edge_cases():
    with pytest.raises(ValueError, match="no events"):
        stats.cox([1, 2, 3], [0, 0, 0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="constant"):
        stats.cox([1, 2, 3], [1, 0, 1], [[1.0, 5], [2.0, 5], [3.0, 5]])
    with pytest.raises(ValueError, match="missing"):
        stats.cox([1, 2, 3], [1, 0, 1], [1.0, np.nan, 3.0])
    fit = stats.cox([1, 2, 3, 4], [1, 0, 1, 1], [1.0, np.nan, 3.0, 2.0], dropna=True)
    assert fit.n == 3
    with pytest.raises(ValueError, match="ties"):
        stats.cox([1, 2], [1, 1], [0.0, 1.0], ties="exact")


def test_cox_monotone_likelihood_does_not_crash():
    # every event in the exposed group: the MLE is infinite
    t = np.arange(1, 11, dtype=float)
    e = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    x = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], dtype=float)
    fit = stats.cox(t, e, x, max_iter=25)
    assert fit.coefficients[0] > 5
    assert np.isfinite(fit.log_likelihood)


def test_proportional_hazards_test_flags_time_varying_effect():
    rng = np.random.default_rng(2)
    n = 1500
    x = rng.integers(0, 2, n).astype(float)
    # strong early effect, none later: piecewise hazard
    t_early = rng.exponential(np.where(x == 1, 2.0, 10.0))
    t = np.where(t_early < 3, t_early, 3 + rng.exponential(10.0, n))
    e = np.ones(n, dtype=bool)
    zph = stats.cox(t, e, x).proportional_hazards_test()
    assert zph.p_value[0] < 1e-4 and zph.global_df == 1
    json.dumps(zph.to_dict())


def _brute_harrell(t, e, r):
    conc = disc = tied = 0
    for i in range(len(t)):
        if not e[i]:
            continue
        for j in range(len(t)):
            if t[j] > t[i] or (t[j] == t[i] and not e[j]):
                if r[i] > r[j]:
                    conc += 1
                elif r[i] < r[j]:
                    disc += 1
                else:
                    tied += 1
    return conc, disc, tied


def test_harrell_matches_brute_force_with_ties():
    rng = np.random.default_rng(9)
    t = rng.integers(0, 15, 250).astype(float)
    e = rng.random(250) < 0.6
    r = rng.integers(0, 6, 250).astype(float)
    res = stats.concordance_index(t, e, r)
    conc, disc, tied = _brute_harrell(t, e, r)
    assert (res.concordant, res.discordant, res.tied_risk) == (conc, disc, tied)
    assert res.concordance == pytest.approx((conc + tied / 2) / (conc + disc + tied))


def test_uno_and_time_dependent_auc_match_scikit_survival():
    sm = pytest.importorskip("sksurv.metrics")
    from sksurv.util import Surv

    rng = np.random.default_rng(4)
    n = 300
    risk = rng.normal(size=n)
    t = np.round(rng.exponential(10 / np.exp(risk)), 1) + 0.1
    c = rng.uniform(0, 25, n)
    e = t <= c
    t = np.minimum(t, np.round(c, 1) + 0.1)
    y = Surv.from_arrays(e, t)
    tau = float(np.quantile(t, 0.8))
    ours = stats.concordance_index(t, e, risk, method="uno", tau=tau)
    ref = sm.concordance_index_ipcw(y, y, risk, tau=tau)
    assert ours.concordance == pytest.approx(ref[0], rel=1e-9)
    times = np.quantile(t[e], [0.2, 0.5, 0.8])
    td = stats.time_dependent_auc(t, e, risk, times, convention="scikit-survival")
    ref_auc, ref_mean = sm.cumulative_dynamic_auc(y, y, risk, times)
    np.testing.assert_allclose(td.auc, ref_auc, rtol=1e-9)
    assert td.mean_auc == pytest.approx(ref_mean, rel=1e-9)


def test_time_dependent_auc_weights_cases_by_censoring_survival_just_before_the_event():
    # times 1(censored) 2(event) 2(censored) 3(event) 5(censored), t = 4.
    # Censoring KM (events leave first): G(1) = 4/5; at 2 one censoring of 3 left
    # after the event, G(2) = 4/5 * 2/3 = 8/15; G jumps again only at 5.
    # Cases: the events at 2 (risk 2) and 3 (risk 1); the one control (t = 5) has risk 1.5.
    # riskRegression: w = 1/G(2-) = 5/4 and 1/G(3-) = 15/8; the case at 2 beats the
    # control, the case at 3 does not: AUC = (5/4) / (5/4 + 15/8) = 0.4.
    # scikit-survival: w = 1/G(2) = 15/8 and 1/G(3) = 15/8: AUC = 0.5.
    t, e, r = [1, 2, 2, 3, 5], [0, 1, 0, 1, 0], [9, 2, 0, 1, 1.5]
    assert stats.time_dependent_auc(t, e, r, [4]).auc[0] == pytest.approx(0.4)
    sk = stats.time_dependent_auc(t, e, r, [4], convention="scikit-survival")
    assert sk.auc[0] == pytest.approx(0.5) and sk.convention == "scikit-survival"
    with pytest.raises(ValueError, match="convention"):
        stats.time_dependent_auc(t, e, r, [4], convention="timeROC")


def test_concordance_edges():
    none = stats.concordance_index([1, 2, 3], [0, 0, 0], [1, 2, 3])
    assert np.isnan(none.concordance) and none.comparable == 0
    perfect = stats.concordance_index([1, 2, 3, 4], [1, 1, 1, 1], [4, 3, 2, 1])
    assert perfect.concordance == 1
    with pytest.raises(ValueError, match="method"):
        stats.concordance_index([1, 2], [1, 1], [1, 2], method="somers")


def test_pure_python_kernels_agree_with_compiled(monkeypatch):
    """Without numba the same kernels run as plain Python and must give the same numbers."""
    import importlib

    kernels = importlib.import_module("crlm.stats._kernels")
    cox_module = importlib.import_module("crlm.stats._cox_partial")

    t, e, x = _simulated(n=120)
    compiled_fit = stats.cox(t, e, x)
    compiled_c = stats.concordance_index(t, e, x[:, 0])
    for module, names in ((kernels, ["_pair_counts_by_risk", "_merge_counts"]),
                          (cox_module, ["_group_sums", "_event_terms", "_stable_order"])):
        for name in names:
            fn = getattr(module, name)
            monkeypatch.setattr(module, name, getattr(fn, "py_func", fn))
    assert stats.concordance_index(t, e, x[:, 0]) == compiled_c
    np.testing.assert_allclose(stats.cox(t, e, x).coefficients, compiled_fit.coefficients, rtol=1e-12)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_single_covariate_concordance_is_that_of_the_linear_predictor(sign):
    t, e, x = _simulated()
    covariate = sign * x[:, 0]
    fit = stats.cox(t, e, covariate)
    assert np.sign(fit.coefficients[0]) == sign
    expected = stats.concordance_index(t, e, fit.coefficients[0] * covariate).concordance
    assert fit.concordance == pytest.approx(expected, rel=1e-12)
    assert fit.concordance > 0.5


def test_concordance_can_be_skipped():
    t, e, x = _simulated()
    fit = stats.cox(t, e, x, with_concordance=False)
    assert np.isnan(fit.concordance)
    np.testing.assert_allclose(fit.coefficients, stats.cox(t, e, x).coefficients)


def test_subgroup_level_with_monotone_likelihood_is_flagged_not_converged():
    # level "a": every event of group 1 comes before anyone of group 0 has left, and the
    # events of group 0 come after everyone of group 1 has left: the HR runs off to
    # infinity (R's coxph warns "coefficient may be infinite"); level "b" is ordinary
    t = [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 7, 8]
    e = [1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1]
    g = [1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1, 0, 1, 0]
    sub = ["a"] * 6 + ["b"] * 8
    res = stats.subgroup_effects(t, e, g, sub, min_events=2)
    a, b = res.subgroups
    assert a.estimable and not a.converged and a.hr > 1e3
    assert b.estimable and b.converged


def test_monotone_likelihood_finds_a_set_of_groups_that_leaves_before_the_others_events():
    # c's patients all leave (times 1-3) before the first event of a or b (time 5): the
    # HR of c against a runs off to infinity, though the log-likelihood converges
    t = [1, 2, 3, 5, 6, 7, 8, 5, 6, 7, 9]
    e = [1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 1]
    g = ["c"] * 3 + ["a"] * 4 + ["b"] * 4
    assert stats.monotone_likelihood(t, e, g)
    # one of c's patients still at risk at time 6: an ordinary, finite fit
    assert not stats.monotone_likelihood([1, 2, 6] + t[3:], e, g)
    assert not stats.monotone_likelihood(t, e, ["a"] * 11)


def test_monotone_likelihood_equals_a_search_over_every_set_of_groups():
    def brute(t, e, g):
        levels = sorted(set(g))
        last = np.array([t[g == lv].max() for lv in levels])
        first = np.array([t[(g == lv) & e].min() if ((g == lv) & e).any() else np.inf for lv in levels])
        for mask in range(1, 2 ** len(levels) - 1):
            inside = np.array([(mask >> j) & 1 for j in range(len(levels))], dtype=bool)
            if np.isfinite(first[inside]).any() and last[inside].max() < first[~inside].min():
                return True
        return False

    rng = np.random.default_rng(5)
    for _ in range(1500):
        n, k = int(rng.integers(2, 14)), int(rng.integers(2, 6))
        t = rng.integers(1, 9, n).astype(float)
        e = rng.random(n) < 0.6
        g = rng.choice(list("abcde")[:k], n)
        if len(set(g)) > 1:
            assert stats.monotone_likelihood(t, e, g) == brute(t, e, g), (t, e, g)
