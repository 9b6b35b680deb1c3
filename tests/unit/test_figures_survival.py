"""Kaplan–Meier figures: curves, bands, censoring ticks, medians, and the number-at-risk table."""
from __future__ import annotations

import numpy as np
import pytest

from crlm import stats
from crlm.figures import make_km_figure, make_km_grid_figure, yearly_ticks


@pytest.fixture(scope="module")
def survival_data():
    rng = np.random.default_rng(11)
    n = 3000
    group = rng.integers(0, 2, n)
    t = rng.exponential(np.where(group == 1, 40, 25))
    c = rng.uniform(0, 110, n)
    return np.minimum(t, c).round(2), t <= c, np.where(group == 1, "responder", "non-responder")


def _traces(fig, name):
    return [t for t in fig.data if t.name == name]


def test_curves_bands_censoring_and_medians_are_drawn(survival_data):
    time, event, group = survival_data
    curves = stats.kaplan_meier_by(time, event, group)
    fig = make_km_figure(curves, title="Overall survival")
    for name, km in curves.items():
        (curve,) = _traces(fig, name)
        assert curve.line.shape == "hv"
        assert curve.x[0] == 0 and curve.y[0] == 1
        assert len(_traces(fig, f"{name} lower 95% CI")) == 1
        assert _traces(fig, f"{name} lower 95% CI")[0].fill == "tonexty"
        (marks,) = _traces(fig, f"{name} censored")
        assert marks.marker.symbol == "line-ns-open"
        censored_times = set(km.timeline[km.censored > 0].tolist())
        assert set(np.asarray(marks.x).tolist()) <= censored_times
        (median,) = _traces(fig, f"{name} median")
        assert median.x[1] == pytest.approx(km.median)
        assert median.line.dash == "dot"
    assert fig.layout.title.text == "Overall survival"


def test_ci_toggle_removes_the_bands(survival_data):
    time, event, group = survival_data
    curves = stats.kaplan_meier_by(time, event, group)
    fig = make_km_figure(curves, show_ci=False)
    assert not [t for t in fig.data if t.name and "95% CI" in t.name]


def test_risk_table_equals_number_at_risk_at_the_ticks(survival_data):
    time, event, group = survival_data
    curves = stats.kaplan_meier_by(time, event, group)
    fig = make_km_figure(curves)
    ticks = np.asarray(fig.layout.xaxis.tickvals, float)
    np.testing.assert_array_equal(ticks, yearly_ticks(time.max()))
    assert ticks[0] == 0 and np.all(np.diff(ticks) == 12)
    for name in curves:
        (row,) = _traces(fig, f"at risk: {name}")
        np.testing.assert_array_equal(np.asarray(row.x, float), ticks)
        expected = stats.number_at_risk(time[group == name], ticks)
        assert [int(s.replace(",", "")) for s in row.text] == expected.tolist()


def test_custom_risk_times_set_both_ticks_and_table(survival_data):
    time, event, group = survival_data
    curves = stats.kaplan_meier_by(time, event, group)
    times = [0, 6, 18, 30, 60]
    fig = make_km_figure(curves, risk_times=times)
    assert list(fig.layout.xaxis.tickvals) == times
    for name in curves:
        (row,) = _traces(fig, f"at risk: {name}")
        expected = stats.number_at_risk(time[group == name], times)
        assert list(row.customdata) == expected.tolist()


def test_large_curves_are_thinned_and_exact_at_the_ticks():
    rng = np.random.default_rng(5)
    time = rng.exponential(30, 60_000).round(4)
    event = rng.random(60_000) < 0.7
    km = stats.kaplan_meier(time, event)
    fig = make_km_figure({"all": km}, max_points=1500)
    (curve,) = _traces(fig, "all")
    assert len(curve.x) <= 1500 < len(km.timeline)
    for tick in fig.layout.xaxis.tickvals:
        shown = np.asarray(curve.y)[np.searchsorted(np.asarray(curve.x), tick, side="right") - 1]
        assert shown == pytest.approx(float(km.survival_at(tick).survival[0]), abs=0)


def test_logrank_and_hazard_ratio_annotation(survival_data):
    time, event, group = survival_data
    curves = stats.kaplan_meier_by(time, event, group)
    p = stats.logrank(time, event, group).p_value
    fig = make_km_figure(curves, logrank_p=p, hr_text="HR 0.62 (0.55–0.70)")
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "Log-rank p" in texts and "HR 0.62 (0.55–0.70)" in texts


def test_grid_has_one_panel_per_key_and_consistent_colours(survival_data):
    time, event, group = survival_data
    side = np.array(["left", "right", "rectum"])[np.arange(len(time)) % 3]
    panels = {lv: stats.kaplan_meier_by(time[side == lv], event[side == lv], group[side == lv])
              for lv in ("left", "right", "rectum")}
    panels["unknown"] = None
    fig = make_km_grid_figure(panels, title="By side")
    titles = [a.text for a in fig.layout.annotations]
    assert any(t.startswith("left (n = 1,000)") for t in titles)
    assert "too few patients" in titles
    colours = {t.line.color for t in fig.data if t.name == "responder"}
    assert len(colours) == 1
    assert sum(1 for t in fig.data if t.name == "responder" and t.showlegend is not False) == 1


def test_a_million_row_curve_is_bounded_exact_where_kept_and_keeps_its_shape():
    from crlm.figures.survival import MAX_CENSOR_MARKS, MAX_POINTS

    rng = np.random.default_rng(8)
    n = 1_000_000
    t, c = rng.exponential(30, n), rng.uniform(0, 120, n)
    km = stats.kaplan_meier(np.minimum(t, c).round(4), t <= c)
    assert len(km.timeline) > 100_000
    fig = make_km_figure({"all": km})
    (curve,) = _traces(fig, "all")
    (upper,) = _traces(fig, "all upper 95% CI")
    (lower,) = _traces(fig, "all lower 95% CI")
    (marks,) = _traces(fig, "all censored")
    x = np.asarray(curve.x)
    assert len(x) <= MAX_POINTS and len(marks.x) <= MAX_CENSOR_MARKS + 1
    assert sum(len(tr.x) for tr in fig.data) <= 3 * MAX_POINTS + MAX_CENSOR_MARKS + 50
    # every kept step, band and censoring mark is the curve's exact value there
    at = km.survival_at(x)
    np.testing.assert_array_equal(np.asarray(curve.y), at.survival)
    np.testing.assert_array_equal(np.asarray(upper.x), x)
    np.testing.assert_array_equal(np.asarray(upper.y), at.ci_upper)
    np.testing.assert_array_equal(np.asarray(lower.y), at.ci_lower)
    np.testing.assert_array_equal(np.asarray(marks.y),
                                  km.survival_at(np.asarray(marks.x)).survival)
    # drawn as steps, the thinned curve is never above the full one by more than the full
    # curve falls within one thinning bin, nor ever below it
    end = float(km.timeline[-1])
    width = end / ((MAX_POINTS - len(fig.layout.xaxis.tickvals) - 2) // 2)
    grid = np.linspace(0, end, 5_000)
    shown = np.asarray(curve.y)[np.searchsorted(x, grid, side="right") - 1]
    full = km.survival_at(grid).survival
    assert np.all(shown >= full)
    assert np.all(shown - full <= km.survival_at(np.maximum(grid - width, 0)).survival - full)
    assert np.max(shown - full) < 0.01
