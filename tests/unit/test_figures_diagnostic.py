"""ROC, calibration and decision-curve figures."""
from __future__ import annotations

import numpy as np
import pytest

from crlm import stats
from crlm.figures import (
    make_calibration_figure, make_decision_curve_figure, make_roc_figure, roc_legend_text,
)


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 1500)
    model = y * 1.1 + rng.normal(0, 1, 1500)
    fong = rng.integers(0, 6, 1500) - y * 0.4
    return y, model, fong


def test_legend_auc_text_equals_the_stats_result(scores):
    y, model, fong = scores
    r_model, r_fong = stats.roc(y, model), stats.roc(y, -fong)
    fig = make_roc_figure({"Logistic regression": r_model, "Fong score": r_fong},
                          baselines=["Fong score"], title="Response")
    lo, hi = r_model.auc_ci
    expected = f"Logistic regression AUC {r_model.auc:.2f} [{lo:.2f}–{hi:.2f}]"
    names = [t.name for t in fig.data]
    assert expected in names
    assert roc_legend_text("Fong score", r_fong) in names
    model_trace = next(t for t in fig.data if t.name == expected)
    fong_trace = next(t for t in fig.data if t.name.startswith("Fong score"))
    assert model_trace.line.dash == "solid" and fong_trace.line.dash == "dash"
    assert model_trace.meta["auc"] == r_model.auc


def test_chance_diagonal_equal_aspect_and_operating_point(scores):
    y, model, _ = scores
    r = stats.roc(y, model)
    fig = make_roc_figure({"m": r}, operating_points={"m": (1 - r.specificity, r.sensitivity)})
    chance = next(t for t in fig.data if t.name.startswith("Chance"))
    assert list(chance.x) == [0, 1] and list(chance.y) == [0, 1]
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    point = next(t for t in fig.data if t.name == "m threshold")
    assert point.y[0] == pytest.approx(r.sensitivity)


def test_baselines_given_as_a_mapping_are_added_dashed(scores):
    y, model, fong = scores
    fig = make_roc_figure({"m": stats.roc(y, model)}, baselines={"Fong score": stats.roc(y, -fong)})
    dashed = [t.name for t in fig.data if t.line.dash == "dash"]
    assert len(dashed) == 1 and dashed[0].startswith("Fong score AUC")


def test_roc_curve_is_thinned_for_large_cohorts():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, 100_000)
    r = stats.roc(y, y + rng.normal(0, 1.5, 100_000))
    fig = make_roc_figure({"m": r}, max_points=2000)
    trace = next(t for t in fig.data if t.name.startswith("m AUC"))
    assert len(trace.x) <= 2002 < len(r.fpr)
    assert (trace.x[0], trace.y[0], trace.x[-1], trace.y[-1]) == (0, 0, 1, 1)


def test_calibration_figure_points_and_slope(scores):
    y, model, _ = scores
    prob = 1 / (1 + np.exp(-model))
    cal = stats.calibration(y, prob, bins=8)
    fig = make_calibration_figure({"Logistic": cal})
    trace = next(t for t in fig.data if t.name.startswith("Logistic"))
    np.testing.assert_allclose(trace.x, cal.mean_predicted)
    np.testing.assert_allclose(trace.y, cal.observed)
    assert f"slope {cal.slope:.2f}" in trace.name
    assert any(t.name == "Perfect calibration" for t in fig.data)


def test_decision_curve_has_treat_all_and_none(scores):
    y, model, _ = scores
    prob = 1 / (1 + np.exp(-model))
    nb = stats.net_benefit(y, prob, np.linspace(0.01, 0.9, 90))
    fig = make_decision_curve_figure({"Logistic": nb})
    names = [t.name for t in fig.data]
    assert {"Treat all", "Treat none", "Logistic"} <= set(names)
    np.testing.assert_allclose(next(t for t in fig.data if t.name == "Logistic").y, nb.model)
