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
