"""Forest plots of hazard ratios and AUCs per subgroup level."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import stats
from crlm.figures import auc_rows, forest_rows, make_auc_forest_figure, make_forest_figure


@pytest.fixture(scope="module")
def subgroup_results():
    rng = np.random.default_rng(2)
    n = 1200
    group = rng.integers(0, 2, n)
    ras = rng.choice(["mutant", "wild-type"], n)
    side = np.where(np.arange(n) < 8, "unknown", rng.choice(["left", "right"], n))
    t = rng.exponential(np.where(group == 1, 35, 24))
    c = rng.uniform(0, 90, n)
    time, event = np.minimum(t, c), t <= c
    return {"RAS status": stats.subgroup_effects(time, event, group, ras),
            "Primary side": stats.subgroup_effects(time, event, group, side)}


def _texts(fig):
    out = []
    for t in fig.data:
        if t.mode == "text":
            out.extend(str(x) for x in t.text)
    return out + [a.text for a in fig.layout.annotations]


def test_forest_rows_follow_the_results(subgroup_results):
    rows = forest_rows(subgroup_results)
    assert list(rows["variable"].unique()) == ["RAS status", "Primary side"]
    mutant = rows[(rows["variable"] == "RAS status") & (rows["level"] == "mutant")].iloc[0]
    effect = next(e for e in subgroup_results["RAS status"].subgroups if e.level == "mutant")
    assert mutant["estimate"] == effect.hr and mutant["n"] == effect.n
    assert mutant["interaction_p_value"] == subgroup_results["RAS status"].interaction_p_value


def test_forest_figure_shows_estimates_interaction_and_non_estimable(subgroup_results):
    fig = make_forest_figure(subgroup_results, title="Predicted responders")
    texts = _texts(fig)
    effect = next(e for e in subgroup_results["RAS status"].subgroups if e.level == "wild-type")
    assert f"{effect.hr:.2f} [{effect.ci_lower:.2f}–{effect.ci_upper:.2f}]" in texts
    assert any(t.startswith("<i>interaction p") for t in texts)
    unknown = next(e for e in subgroup_results["Primary side"].subgroups if e.level == "unknown")
    assert not unknown.estimable
    assert any(f"not estimable ({unknown.reason})" in t for t in texts)
    assert fig.layout.xaxis.type == "log"
    (line,) = fig.layout.shapes
    assert line.x0 == line.x1 == 1.0
    labels = list(fig.layout.yaxis.ticktext)
    assert "<b>RAS status</b>" in labels and any(lbl.endswith("unknown") for lbl in labels)
    markers = [t for t in fig.data if t.mode == "markers"]
    assert sum(len(t.x) for t in markers) == sum(
        e.estimable for r in subgroup_results.values() for e in r.subgroups)


def test_forest_accepts_a_frame_with_hr_column():
    frame = pd.DataFrame({"variable": ["TBS zone"] * 2, "level": ["low", "high"], "n": [50, 40],
                          "events": [20, 30], "hr": [0.5, 1.4], "ci_lower": [0.3, 0.9],
                          "ci_upper": [0.8, 2.2]})
    fig = make_forest_figure(frame)
    assert "0.50 [0.30–0.80]" in _texts(fig)


def test_auc_forest_has_a_line_at_chance():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 400)
    s = y + rng.normal(0, 1, 400)
    r = stats.roc(y, s)
    fig = make_auc_forest_figure({"RAS status": {"mutant": r, "unknown": "fewer than 10 patients"}})
    (line,) = fig.layout.shapes
    assert line.x0 == 0.5
    texts = _texts(fig)
    assert f"{r.auc:.2f} [{r.auc_ci[0]:.2f}–{r.auc_ci[1]:.2f}]" in texts
    assert any("not estimable (fewer than 10 patients)" in t for t in texts)
    rows = auc_rows({"x": {"a": r}})
    assert rows.loc[0, "estimate"] == r.auc and rows.loc[0, "events"] == r.n_positive


def test_a_level_whose_fit_runs_off_is_a_row_without_an_estimate():
    """Monotone likelihood (every event of one group before the other's): the level's
    hazard ratio is infinite, so its row gives the reason, not the fit's last number."""
    t = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] * 2)
    e = np.ones(24, dtype=bool)
    g = np.array([1] * 4 + [0] * 8 + [1, 0] * 6)          # level a: group 1 dies first
    level = np.array(["a"] * 12 + ["b"] * 12)
    res = stats.subgroup_effects(t, e, g, level, min_events=1)
    by_level = {s.level: s for s in res.subgroups}
    assert by_level["a"].estimable and not by_level["a"].converged
    rows = forest_rows({"L": res}).set_index("level")
    assert not rows.loc["a", "estimable"] and "monotone" in rows.loc["a", "reason"]
    assert np.isnan(rows.loc["a", ["estimate", "ci_lower", "ci_upper"]].astype(float)).all()
    assert rows.loc["b", "estimable"] and rows.loc["b", "estimate"] == pytest.approx(
        by_level["b"].hr)
