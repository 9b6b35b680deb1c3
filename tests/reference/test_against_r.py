"""crlm.stats against R's survival (3.5) and pROC (1.18) on public datasets.

The datasets and R's numbers are in tests/reference/data/, written by
tests/reference/r/make_reference.R (R is not needed to run these tests).

Tolerance: 1e-6 relative wherever the algorithm is the same as R's (all of the
cases below). Cox fits were run in R with eps = 1e-12 and our Newton–Raphson
stops at a relative log-likelihood change of 1e-13, so both are converged far
below that tolerance.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crlm import stats

DATA = Path(__file__).parent / "data"
RTOL = 1e-6
R = json.loads((DATA / "r_results.json").read_text())


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv")


def _arr(values) -> np.ndarray:
    """R's JSON (null = NA) to a float array with NaN."""
    return np.array([np.nan if v is None else v for v in np.atleast_1d(values)], dtype=float)


def close(ours, theirs, rtol=RTOL, atol=1e-12):
    np.testing.assert_allclose(np.asarray(ours, dtype=float), _arr(theirs), rtol=rtol, atol=atol,
                               equal_nan=True)


KM_DATA = {
    "lung": ("lung", "time", "event"),
    "veteran": ("veteran", "time", "status"),
    "aml": ("aml", "time", "status"),
    "ovarian": ("ovarian", "futime", "fustat"),
    "tiny": ("tiny", "time", "event"),
}


@pytest.mark.parametrize("key", sorted(R["km"]))
def test_kaplan_meier_matches_survfit(key):
    name, conf_type = key.split("|")
    file, tcol, ecol = KM_DATA[name]
    df = _csv(file)
    ref = R["km"][key]
    km = stats.kaplan_meier(df[tcol], df[ecol], conf_type=conf_type)
    close(km.timeline, ref["time"])
    close(km.survival, ref["surv"])
    # R writes its Inf standard error (once the curve reaches 0) as null in JSON
    close(np.where(np.isinf(km.std_err), np.nan, km.std_err), ref["std_err"])
    close(km.at_risk, ref["n_risk"])
    close(km.events, ref["n_event"])
    close(km.censored, ref["n_censor"])
    # bands: equal wherever R gives a number (R's NA at S = 1 / S = 0 is documented as closed)
    lower, upper = _arr(ref["lower"]), _arr(ref["upper"])
    ok = ~np.isnan(lower)
    close(km.ci_lower[ok], lower[ok])
    close(km.ci_upper[ok], upper[ok])
    assert np.all(km.ci_lower[~ok] == km.survival[~ok]) and np.all(km.ci_upper[~ok] == km.survival[~ok])
    close(km.median, ref["median"])
    close(km.median_ci[0], ref["median_lower"])
    close(km.median_ci[1], ref["median_upper"])
    at = km.survival_at(ref["at_times"])
    close(at.survival, ref["at_surv"])
    ok = ~np.isnan(_arr(ref["at_lower"]))
    close(at.ci_lower[ok], _arr(ref["at_lower"])[ok])
    close(at.ci_upper[ok], _arr(ref["at_upper"])[ok])
    close(at.at_risk, ref["at_n_risk"])
    # summary()'s std.err is the SE of S; ours of -log S (fit$std.err) is std_err
    close(at.survival_std_err, ref["at_std_err"])
    close(at.std_err[at.survival > 0] * at.survival[at.survival > 0],
          _arr(ref["at_std_err"])[at.survival > 0])
    close(stats.number_at_risk(df[tcol], ref["at_times"]), ref["at_n_risk"])


def test_tiny_median_uses_midpoint_of_flat_half():
    # S = 0.5 exactly on [2, 4): R's median is the midpoint 3
    ref = R["km"]["tiny|log-log"]
    assert ref["median"] == 3
    df = _csv("tiny")
    assert stats.kaplan_meier(df.time, df.event).median == 3


def test_kaplan_meier_by_matches_survfit_per_group():
    df = _csv("aml")
    curves = stats.kaplan_meier_by(df.time, df.status, df.x)
    assert list(curves) == ["Maintained", "Nonmaintained"]
    for level, km in curves.items():
        ref = R["km_by"][level]
        close(km.survival, ref["surv"])
        close(km.median, ref["median"])
        close(km.median_ci[0], ref["median_lower"])
        close(km.median_ci[1], ref["median_upper"])


def test_median_follow_up_reverse_km():
    df = _csv("lung")
    fu = stats.median_follow_up(df.time, df.event)
    ref = R["follow_up_lung"]
    close(fu.median, ref["median"])
    close(fu.median_ci, [ref["lower"], ref["upper"]])


LOGRANK = {
    "lung_sex": ("lung", "time", "event", "sex", None),
    "veteran_celltype": ("veteran", "time", "status", "celltype", None),
    "veteran_trt_strata_celltype": ("veteran", "time", "status", "trt", "celltype"),
    "ovarian_rx": ("ovarian", "futime", "fustat", "rx", None),
    "aml_x": ("aml", "time", "status", "x", None),
}


@pytest.mark.parametrize("key", sorted(LOGRANK))
def test_logrank_matches_survdiff(key):
    file, tcol, ecol, gcol, scol = LOGRANK[key]
    df = _csv(file)
    ref = R["logrank"][key]
    res = stats.logrank(df[tcol], df[ecol], df[gcol], strata=None if scol is None else df[scol])
    close(res.statistic, ref["chisq"])
    assert res.df == ref["df"]
    close(res.p_value, ref["p"])
    # R orders groups by factor level, we by sorted label
    order = [ref["groups"].index(str(g)) for g in res.groups]
    close(res.observed, np.asarray(ref["observed"])[order])
    close(res.expected, np.asarray(ref["expected"])[order])


COX = {
    "lung_efron": ("lung", "time", "event", ["age", "sex", "ph.ecog"], "efron", None),
    "lung_breslow": ("lung", "time", "event", ["age", "sex", "ph.ecog"], "breslow", None),
    "lung_strata_sex": ("lung", "time", "event", ["age", "ph.ecog"], "efron", "sex"),
    "veteran_efron": ("veteran", "time", "status", ["trt", "karno", "age", "diagtime"], "efron", None),
    "ovarian_breslow": ("ovarian", "futime", "fustat", ["age", "ecog.ps"], "breslow", None),
}


def _fit_cox(key):
    file, tcol, ecol, cols, ties, scol = COX[key]
    df = _csv(file).dropna(subset=[tcol, ecol] + cols + ([scol] if scol else []))
    return stats.cox(df[tcol], df[ecol], df[cols], ties=ties,
                     strata=None if scol is None else df[scol])


@pytest.mark.parametrize("key", sorted(COX))
def test_cox_matches_coxph(key):
    fit = _fit_cox(key)
    ref = R["cox"][key]
    assert fit.term_names == ref["terms"]
    assert fit.converged
    close([t.coef for t in fit.terms], ref["coef"])
    close([t.se for t in fit.terms], ref["se"])
    close([t.hr for t in fit.terms], ref["hr"])
    close([t.ci_lower for t in fit.terms], ref["lower"])
    close([t.ci_upper for t in fit.terms], ref["upper"])
    close([t.z for t in fit.terms], ref["z"])
    close([t.p_value for t in fit.terms], ref["p"])
    close(fit.log_likelihood, ref["loglik"])
    close(fit.log_likelihood_null, ref["loglik_null"])
    assert fit.n == ref["n"] and fit.events == ref["nevent"]
    close(fit.concordance, ref["concordance"])


@pytest.mark.parametrize("key", sorted(COX))
def test_proportional_hazards_test_matches_cox_zph(key):
    fit = _fit_cox(key)
    ref = R["cox"][key]
    zph = fit.proportional_hazards_test()
    close(np.append(zph.chisq, zph.global_chisq), ref["zph_chisq"])
    close(np.append(zph.p_value, zph.global_p_value), ref["zph_p"])
    assert list(np.append(zph.df, zph.global_df)) == ref["zph_df"]


def test_likelihood_ratio_test_matches_anova():
    df = _csv("lung").dropna(subset=["age", "sex", "ph.ecog"])
    full = stats.cox(df.time, df.event, df[["age", "sex", "ph.ecog"]])
    reduced = stats.cox(df.time, df.event, df[["age"]])
    lrt = stats.likelihood_ratio_test(full, reduced)
    ref = R["lrt_lung"]
    close(lrt.statistic, ref["statistic"])
    assert lrt.df == ref["df"]
    close(lrt.p_value, ref["p"])


CONC = {
    "lung_age": ("lung", "time", "event", "age"),
    "veteran_karno": ("veteran", "time", "status", "karno"),
    "lung_ph_ecog": ("lung", "time", "event", "ph.ecog"),
}


@pytest.mark.parametrize("key", sorted(CONC))
def test_harrell_concordance_matches_r(key):
    file, tcol, ecol, rcol = CONC[key]
    df = _csv(file).dropna(subset=[rcol])
    res = stats.concordance_index(df[tcol], df[ecol], df[rcol])
    ref = R["concordance"][key]
    close(res.concordance, ref["concordance"])
    assert res.concordant == ref["concordant"]
    assert res.discordant == ref["discordant"]
    assert res.tied_risk == ref["tied_x"]


@pytest.mark.parametrize("score", ["s100b", "ndka", "wfns"])
def test_roc_matches_proc(score):
    df = _csv("asah")
    res = stats.roc(df.outcome_poor, df[score])
    ref = R["roc"][score]
    close(res.auc, ref["auc"])
    close(res.auc_ci, [ref["ci_lower"], ref["ci_upper"]])
    close(res.youden_threshold, ref["best_threshold"])
    close(res.sensitivity, ref["best_sensitivity"])
    close(res.specificity, ref["best_specificity"])
    # the whole curve: pROC lists thresholds ascending, we list them descending
    # (R's -Inf/Inf thresholds are written as null in JSON)
    close(np.where(np.isinf(res.thresholds), np.nan, res.thresholds)[::-1], ref["thresholds"])
    close(res.tpr[::-1], ref["sensitivities"])
    close(1 - res.fpr[::-1], ref["specificities"])


@pytest.mark.parametrize("key,a,b", [("s100b_ndka", "s100b", "ndka"), ("wfns_s100b", "wfns", "s100b")])
def test_delong_paired_test_matches_roc_test(key, a, b):
    df = _csv("asah")
    res = stats.delong_test(df.outcome_poor, df[a], df[b])
    ref = R["delong"][key]
    close(res.auc_a, ref["auc_a"])
    close(res.auc_b, ref["auc_b"])
    close(res.z, ref["z"])
    close(res.p_value, ref["p"])


def test_perfectly_separating_scores_match_proc():
    res = stats.roc([0, 0, 0, 1, 1, 1], [1, 2, 3, 4, 5, 6])
    ref = R["roc_separating"]
    assert res.auc == ref["auc"] == 1
    close(res.auc_ci, [ref["ci_lower"], ref["ci_upper"]])


RMST = {
    "lung_sex_730": ("lung", "time", "event", lambda d: (d.sex == 2).astype(int)),
    "veteran_trt_200": ("veteran", "time", "status", lambda d: (d.trt == 2).astype(int)),
}


@pytest.mark.parametrize("key", sorted(RMST))
def test_rmst_matches_survrm2_formula(key):
    file, tcol, ecol, arm = RMST[key]
    df = _csv(file)
    ref = R["rmst"][key]
    res = stats.rmst(df[tcol], df[ecol], ref["tau"], group=arm(df))
    g0, g1 = res.groups
    close([g0.rmst, g0.se, g1.rmst, g1.se], [ref["rmst0"], ref["se0"], ref["rmst1"], ref["se1"]])
    close(res.difference, ref["diff"])
    close(res.difference_ci, [ref["diff_lower"], ref["diff_upper"]])
    close(res.difference_p_value, ref["p"])


TD_AUC = {
    # survival::colon death records, 5 years in days, a logistic risk fitted in R (column risk)
    "colon_os_5y_logistic": ("colon", "time", "status", "risk"),
    # survival::lung, 1 year, age as the risk
    "lung_1y_age": ("lung", "time", "event", "age"),
}


@pytest.mark.parametrize("key", sorted(TD_AUC))
def test_time_dependent_auc_matches_riskregression_score(key):
    # riskRegression::Score(metrics = "auc", cens.model = "km") weights a case by
    # 1/G(T_i-), the censoring survival just before its event time
    file, tcol, ecol, rcol = TD_AUC[key]
    df = _csv(file)
    ref = R["td_auc"][key]
    res = stats.time_dependent_auc(df[tcol], df[ecol], df[rcol], [ref["times"]])
    close(res.auc, ref["auc"])
    # scikit-survival's 1/G(T_i) gives a different number on these data (tied censorings)
    other = stats.time_dependent_auc(df[tcol], df[ecol], df[rcol], [ref["times"]],
                                     convention="scikit-survival")
    assert abs(other.auc[0] - ref["auc"]) > 1e-7
