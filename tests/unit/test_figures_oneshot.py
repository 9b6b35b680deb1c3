"""Figures built as plain data and made into a figure once draw what plotly's own
incremental calls draw: the reference lines of ``add_hline`` and the house style of
``apply_house_style``."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from crlm.figures.distribution import bin_distribution, make_binned_distribution_figure
from crlm.figures.style import REFERENCE_COLOR, apply_house_style
from crlm.figures.trajectory import _hline, _spaghetti


def _layout(fig: go.Figure) -> dict:
    return json.loads(fig.to_json())["layout"]


def test_reference_lines_equal_add_hline():
    drawn = go.Figure()
    drawn.add_hline(y=-30, line=dict(color=REFERENCE_COLOR, dash="dot"),
                    annotation_text="PR: -30 %", annotation_position="bottom right")
    drawn.add_hline(y=20, line=dict(color=REFERENCE_COLOR, dash="dot"))
    (a, label), (b, none) = _hline(-30, "PR: -30 %"), _hline(20)
    built = go.Figure(layout=dict(shapes=[a, b], annotations=[label]))
    assert none is None
    assert _layout(built)["shapes"] == _layout(drawn)["shapes"]
    assert _layout(built)["annotations"] == _layout(drawn)["annotations"]


def test_spaghetti_puts_each_patient_apart_in_order_of_appearance():
    lines = pd.DataFrame({"patient_id": ["b", "a", "b", "a", "c"],
                          "months": [0.0, 0.0, 1.0, 2.0, 0.5], "value": [1.0, 2, 3, 4, 5]})
    xs, ys = _spaghetti(lines)
    assert xs == [0.0, 1.0, None, 0.0, 2.0, None, 0.5, None]
    assert ys == [1.0, 3.0, None, 2.0, 4.0, None, 5.0, None]
    assert _spaghetti(lines.iloc[:0]) == ([], [])


def test_distribution_figure_has_the_house_style():
    rng = np.random.default_rng(1)
    binned = bin_distribution(pd.Series(rng.normal(60, 9, 300), name="Age"))
    fig = make_binned_distribution_figure(binned, title="Age")
    styled = apply_house_style(go.Figure(), title="Age", height=380)
    layout, expected = _layout(fig), _layout(styled)
    assert layout["template"] == expected["template"]
    assert layout["title"] == expected["title"] and layout["height"] == 380
    assert fig.data[0].line.shape == "hv" and layout["xaxis"]["title"]["text"] == "Age"


def _builders():
    """One call of each builder that makes its figure with ``figure_of`` (the data drawn
    first: each call gives the same figure)."""
    from crlm import stats
    from crlm.analysis import trajectories as tr
    from crlm.figures import (auc_rows, forest_rows, make_auc_forest_figure, make_forest_figure,
                              make_km_figure, make_km_grid_figure)
    from crlm.figures.trajectory import make_trajectory_figure, make_waterfall_figure

    rng = np.random.default_rng(5)
    n = 400
    group = rng.integers(0, 2, n)
    t = np.round(rng.exponential(np.where(group == 1, 30, 20)), 1)
    c = rng.uniform(0, 80, n)
    time, event = np.minimum(t, c), t <= c
    curves = stats.kaplan_meier_by(time, event, np.where(group == 1, "responder", "non-responder"))
    side = rng.choice(["left", "right", "unknown"], n)
    results = {"Primary side": stats.subgroup_effects(time, event, group, side)}
    ids = [f"P{i:02d}" for i in range(40)]
    rows = pd.concat([pd.DataFrame({"patient_id": p, "kind": k, "day": [0, 30, 61, 95],
                                    "value": rng.uniform(2, 80, 4)})
                      for p in ids for k in ("cea", "target_lesion_sum")], ignore_index=True)
    groups = pd.Series(["a", "b"] * 20, index=ids)
    cea = tr.compute_trajectories(rows, groups, "cea")
    lesions = tr.compute_trajectories(rows, groups, "target_lesion_sum")
    waterfall = tr.compute_waterfall(rows, groups)
    ages = bin_distribution(pd.Series(rng.normal(60, 9, 300), name="Age"), group=group[:300])
    sides = bin_distribution(pd.Series(rng.choice(["left", "right", None], 300), name="Side"),
                             kind="bar")
    aucs = auc_rows({"Side": {"left": stats.roc(event[:200], rng.random(200)),
                              "right": {"n": 3, "events": 1, "reason": "too few"}}})
    return [
        lambda: make_binned_distribution_figure(ages, title="Age"),
        lambda: make_binned_distribution_figure(sides, title="Side"),
        lambda: make_km_figure(curves, title="OS", logrank_p=0.03, hr_text="HR 0.70"),
        lambda: make_km_grid_figure({"left": curves, "right": curves, "small (n = 4)": None}),
        lambda: make_forest_figure(forest_rows(results), title="HR"),
        lambda: make_auc_forest_figure(aucs),
        lambda: make_trajectory_figure(cea, y_label="CEA", case={"months": [0, 2],
                                                                  "value": [100, 50]}),
        lambda: make_trajectory_figure(lesions, y_label="Change, %"),
        lambda: make_waterfall_figure(waterfall),
    ]


def test_figures_built_without_plotlys_checks_are_the_checked_figures(monkeypatch):
    from crlm.figures import style

    for build in _builders():
        unchecked = json.loads(build().to_json())
        monkeypatch.setattr(style, "VALIDATE", True)
        checked = json.loads(build().to_json())
        monkeypatch.setattr(style, "VALIDATE", False)
        assert unchecked == checked
        assert checked["data"] and checked["layout"]["template"]
