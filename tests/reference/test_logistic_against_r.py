"""crlm.stats.logistic, the signature × treatment interaction tests of
crlm.analysis.anti_egfr and the unpaired AUC test against R (glm, survival 3.5, pROC 1.18).

Data and R's numbers: tests/reference/data/benefit.csv, asah.csv and
logistic_r_results.json, written by tests/reference/r/logistic.R (R is not
needed to run these tests). R's glm ran with epsilon 1e-14 and coxph with eps
1e-12, so both agree with ours far below the 1e-6 relative tolerance.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crlm import stats
from crlm.analysis import anti_egfr

DATA = Path(__file__).parent / "data"
R = json.loads((DATA / "logistic_r_results.json").read_text())
RTOL = 1e-6


def close(ours, theirs, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(theirs, float), rtol=rtol,
                               atol=1e-10)


def _check_glm(fit: stats.LogisticResult, ref: dict) -> None:
    terms = [fit.intercept] + fit.terms
    close([t.coef for t in terms], ref["coef"])
    close([t.se for t in terms], ref["se"])
    close([t.z for t in terms], ref["z"])
    close([t.p_value for t in terms], ref["p"])
    close([t.ci_lower for t in terms], ref["ci_lower"])
    close([t.ci_upper for t in terms], ref["ci_upper"])
    close(fit.log_likelihood, ref["loglik"])
    close(fit.deviance, ref["deviance"])
    close(fit.null_deviance, ref["null_deviance"])
    close(fit.aic, ref["aic"])
    assert fit.converged and not fit.separation


@pytest.fixture(scope="module")
def benefit() -> pd.DataFrame:
    return pd.read_csv(DATA / "benefit.csv")


def test_logistic_matches_glm_on_asah():
    df = pd.read_csv(DATA / "asah.csv")
    fit = stats.logistic(df["outcome_poor"], df[["s100b", "age", "wfns"]])
    assert fit.term_names == R["asah"]["terms"][1:]
    _check_glm(fit, R["asah"])


def test_logistic_interaction_and_likelihood_ratio_match_glm_and_anova(benefit):
    d = benefit
    full_x = pd.DataFrame({"sig_high": d["sig_high"], "arm": d["arm"],
                           "sig_high:arm": d["sig_high"] * d["arm"]})
    full = stats.logistic(d["responder"], full_x)
    reduced = stats.logistic(d["responder"], full_x[["sig_high", "arm"]])
    _check_glm(full, R["response_full"])
    _check_glm(reduced, R["response_reduced"])
    lr = stats.likelihood_ratio_test(full, reduced)
    close(lr.statistic, R["response_lrt"]["statistic"])
    assert lr.df == R["response_lrt"]["df"]
    close(lr.p_value, R["response_lrt"]["p"])


def test_logistic_within_one_arm_matches_glm(benefit):
    arm = benefit[benefit["arm"] == 1]
    fit = stats.logistic(arm["responder"], arm[["sig_high", "right_sided"]])
    _check_glm(fit, R["response_arm1"])


def _arms(d: pd.DataFrame) -> pd.DataFrame:
    """benefit.csv as the study's arms: arm 1 anti-EGFR (out-of-fold), arm 0 comparison."""
    return pd.DataFrame({
        "patient_id": [f"P{i:03d}" for i in range(len(d))], "score": d["score"],
        "split": np.where(d["arm"] == 1, "out-of-fold", "comparison"),
        "biologic": np.where(d["arm"] == 1, "anti-EGFR", "none"), "ras_status": "wild-type",
        "responder": d["responder"].astype(bool), "pfs_months": d["pfs_months"],
        "pfs_event": d["pfs_event"].astype(bool),
        "primary_side": np.where(d["right_sided"] == 1, "right", "left"),
    })


def test_study_interactions_equal_r(benefit):
    """The study's interaction tests are R's anova LR tests; its ratio is R's interaction term."""
    study = anti_egfr.anti_egfr_study(_arms(benefit), threshold=0.5, model_id="m")
    ri, pi = study.response_interaction, study.pfs_interaction
    close(ri.statistic, R["response_lrt"]["statistic"])
    close(ri.p_value, R["response_lrt"]["p"])
    close(np.log(ri.ratio.estimate), R["response_full"]["coef"][3])
    close(ri.ratio.p_value, R["response_full"]["p"][3])
    close(pi.statistic, R["pfs_lrt"]["statistic"])
    close(pi.p_value, R["pfs_lrt"]["p"])
    close(np.log(pi.ratio.estimate), R["pfs_full"]["coef"][2])
    close(pi.ratio.p_value, R["pfs_full"]["p"][2])


def test_cox_interaction_model_matches_coxph(benefit):
    d = benefit
    x = pd.DataFrame({"sig_high": d["sig_high"], "arm": d["arm"],
                      "sig_high:arm": d["sig_high"] * d["arm"]})
    fit = stats.cox(d["pfs_months"], d["pfs_event"], x)
    close(fit.coefficients, R["pfs_full"]["coef"])
    close([t.se for t in fit.terms], R["pfs_full"]["se"])
    close([t.p_value for t in fit.terms], R["pfs_full"]["p"])
    close(fit.log_likelihood, R["pfs_full"]["loglik"])


def test_unpaired_auc_test_matches_proc_roc_test(benefit):
    d = benefit
    a, b = d[d["arm"] == 1], d[d["arm"] == 0]
    r1, r0 = stats.roc(a["responder"], a["score"]), stats.roc(b["responder"], b["score"])
    t = stats.unpaired_auc_test(r1, r0)
    ref = R["auc_unpaired"]
    close([t.auc_a, t.auc_b], [ref["auc_arm1"], ref["auc_arm0"]])
    close(t.statistic, ref["statistic"])
    close(t.p_value, ref["p"])
    study = anti_egfr.anti_egfr_study(_arms(d), threshold=0.5)
    close(study.discrimination.p_value, ref["p"])
