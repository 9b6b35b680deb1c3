"""Risk groups, survival by risk group, the concordance table, the paired comparison and
the calibration of predicted survival at a horizon, on small cases worked by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import stats
from crlm.analysis import survival_models as sm
from crlm.figures.survival_models import (
    horizon_label, make_survival_calibration_figure, make_td_roc_figure,
)


def test_tertiles_cut_like_r_and_name_the_groups():
    score = np.arange(1.0, 10.0)                 # quantiles 11/3 and 19/3
    g = sm.risk_groups(score)
    assert g.cuts == pytest.approx((11 / 3, 19 / 3))
    assert g.order == ("Low risk", "Intermediate risk", "High risk")
    assert g.groups.tolist() == ["Low risk"] * 3 + ["Intermediate risk"] * 3 + ["High risk"] * 3
    # a score equal to a cut goes to the lower group (R: cut(..., right = TRUE))
    g = sm.risk_groups([1.0, 2.0, 2.0, 2.0, 3.0], (0.5,))
    assert g.cuts == (2.0,) and g.groups.tolist() == ["Low risk"] * 4 + ["High risk"]


def test_groups_left_empty_by_ties_are_dropped_and_bad_cuts_refused():
    g = sm.risk_groups([1.0, 1.0, 1.0, 1.0, 5.0])
    assert g.order == ("Low risk", "High risk")
    assert sm.group_names(5)[0] == "Risk group 1 of 5"
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        sm.risk_groups([1.0, 2.0], (0.0,))
    with pytest.raises(ValueError, match="finite"):
        sm.risk_groups([1.0, np.nan])


def test_survival_by_risk_group_is_km_log_rank_and_cox_on_the_groups():
    rng = np.random.default_rng(3)
    score = rng.normal(size=150)
    t = rng.exponential(30 * np.exp(-score))
    e = rng.random(150) < 0.8
    res = sm.risk_group_survival(t, e, score)
    g = sm.risk_groups(score).groups
    assert res.logrank_p == pytest.approx(stats.logrank(t, e, g).p_value)
    high = stats.cox(t, e, pd.DataFrame({k: (g == k).astype(float)
                                         for k in ("Intermediate risk", "High risk")}))
    assert res.hr["High risk"][0] == pytest.approx(high.terms[1].hr)
    assert res.hr["High risk"][0] > 1 and res.logrank_p < 0.05
    table = res.table()
    assert table["group"].tolist() == list(res.order) and table["n"].sum() == 150
    assert table.loc[0, "hr"] == 1.0 and np.isnan(table.loc[0, "hr_ci_lower"])
    one = sm.risk_group_survival(t, e, np.ones(150))
    assert one.order == ("Low risk",) and "one risk group" in one.note


def _preds():
    rng = np.random.default_rng(8)
    n = 80
    t = rng.exponential(24, n) + 0.1
    e = rng.random(n) < 0.7
    a, b = -t + rng.normal(0, 5, n), rng.normal(size=n)
    rows = [pd.DataFrame({"patient_id": [f"p{i}" for i in range(n)], "model_id": m,
                          "score": s, "os_months": t, "os_event": e}) for m, s in (("a", a), ("b", b))]
    return pd.concat(rows, ignore_index=True), t, e, a, b


def test_concordance_table_and_paired_comparison_follow_the_statistics():
    preds, t, e, a, b = _preds()
    table = sm.concordance_table(preds, "os_months", "os_event", (12.0, 24.0)).set_index("model_id")
    c = sm.harrell_c(t, e, a)
    assert table.loc["a", "harrell_c"] == pytest.approx(c.concordance)
    assert table.loc["a", "c_ci_lower"] == pytest.approx(c.ci_lower)
    assert table.loc["b", "auc_24m"] == pytest.approx(stats.time_dependent_auc(t, e, b, [24.0]).auc[0])
    pair = sm.paired_concordance(preds, "a", "b", "os_months", "os_event")
    assert pair.difference == pytest.approx(c.concordance - sm.harrell_c(t, e, b).concordance)
    assert pair.p_value < 0.05 and pair.n == 80
    # only the patients both models scored
    fewer = preds[~((preds["model_id"] == "b") & (preds["patient_id"] == "p0"))]
    assert sm.paired_concordance(fewer, "a", "b", "os_months", "os_event").n == 79
    with pytest.raises(ValueError, match="two different models"):
        sm.paired_concordance(preds, "a", "a", "os_months", "os_event")
    with pytest.raises(ValueError, match="no prediction"):
        sm.paired_concordance(preds, "a", "c", "os_months", "os_event")


def test_calibration_at_a_horizon_by_hand():
    # six patients, two groups of three; nobody censored before 12 months
    t = np.array([5.0, 20.0, 30.0, 6.0, 8.0, 40.0])
    e = np.array([1, 1, 0, 1, 1, 0], bool)
    score = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    predicted = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.2])
    cal = sm.survival_calibration(t, e, score, predicted, 12.0, (0.5,))
    assert cal.groups == ("Low risk", "High risk")
    np.testing.assert_allclose(cal.mean_predicted, [0.8, 0.3])
    np.testing.assert_allclose(cal.observed, [2 / 3, 1 / 3])     # KM at 12 months
    assert (cal.observed_ci_lower < cal.observed).all() and (cal.observed < cal.observed_ci_upper).all()
    assert cal.n.tolist() == [3, 3] and cal.events.tolist() == [2, 2]
    beyond = sm.survival_calibration(t, e, score, predicted, 100.0, (0.5,))
    assert np.isnan(beyond.observed).all()
    with pytest.raises(ValueError, match="probabilit"):
        sm.survival_calibration(t, e, score, predicted * 2, 12.0)
    with pytest.raises(ValueError, match="horizon"):
        sm.survival_calibration(t, e, score, predicted, -1.0)


def test_figures_name_the_horizons_and_draw_the_intervals():
    preds, t, e, a, _ = _preds()
    curves = sm.td_roc_curves(t, e, a, (12.0, 18.0))
    fig = make_td_roc_figure(curves, title="ROC")
    names = [tr.name for tr in fig.data]
    assert any(n.startswith("1 year AUC") for n in names)
    assert any(n.startswith("18 months AUC") for n in names)
    assert horizon_label(36) == "3 years"
    cal = sm.survival_calibration(t, e, a, np.clip(1 - (a - a.min()) / np.ptp(a), 0, 1), 12.0)
    fig = make_survival_calibration_figure({"Out-of-fold": cal}, title="Calibration")
    trace = fig.data[1]
    np.testing.assert_allclose(trace.y, cal.observed)
    np.testing.assert_allclose(np.asarray(trace.error_y.array), cal.observed_ci_upper - cal.observed)
    assert "1 year" in fig.layout.xaxis.title.text
