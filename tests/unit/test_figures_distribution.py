"""Distribution, score-position and contribution figures."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm.figures import (
    make_contribution_figure, make_distribution_figure, make_score_distribution_figure,
)


def test_histogram_counts_every_non_missing_value_once():
    rng = np.random.default_rng(1)
    values = pd.Series(np.r_[rng.normal(60, 10, 500), [np.nan] * 7], name="age_years")
    group = pd.Series(rng.choice(["male", "female"], len(values)))
    fig = make_distribution_figure(values, kind="histogram", group=group, title="Age")
    # a step trace is 0, the bin counts, the last count again (closing the step), 0
    counts = {t.name.split(" (")[0]: int(np.asarray(t.y)[1:-2].sum()) for t in fig.data}
    assert sum(counts.values()) == 500
    assert any("7 missing" in a.text for a in fig.layout.annotations)


def test_skewed_positive_values_get_a_log_axis():
    rng = np.random.default_rng(2)
    cea = pd.Series(np.exp(rng.normal(3, 1.5, 2000)))
    assert make_distribution_figure(cea, kind="histogram").layout.xaxis.type == "log"
    assert make_distribution_figure(cea, kind="histogram", log_x=False).layout.xaxis.type == "linear"


def test_bar_counts_levels_and_missing():
    s = pd.Series(["mutant", "wild-type", "mutant", None, "wild-type", "mutant"])
    fig = make_distribution_figure(s, kind="bar")
    (bar,) = fig.data
    assert dict(zip(bar.x, bar.y)) == {"mutant": 3, "wild-type": 2, "missing": 1}


def test_bar_orders_numbers_numerically_and_splits_by_group():
    s = pd.Series([1, 2, 10, 2, 1, 1])
    g = pd.Series(["a", "a", "b", "b", "b", "a"])
    fig = make_distribution_figure(s, kind="bar", group=g)
    assert [t.name for t in fig.data] == ["a (n = 3)", "b (n = 3)"]
    assert list(fig.layout.xaxis.categoryarray) == ["1", "2", "10"]
    with pytest.raises(ValueError, match="kind"):
        make_distribution_figure(s, kind="pie")


def test_score_distribution_marks_the_case_and_threshold():
    rng = np.random.default_rng(3)
    scores = rng.random(1000)
    fig = make_score_distribution_figure({"responders": scores[:400], "non-responders": scores[400:]},
                                         0.7, 0.45)
    xs = sorted(s.x0 for s in fig.layout.shapes)
    assert xs == [0.45, 0.7]
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "This case: 0.70" in texts and "percentile" in texts and "threshold 0.45" in texts


def test_contributions_sorted_by_size_and_cut_at_top():
    contributions = {f"f{i}": (-1) ** i * i for i in range(1, 21)}
    fig = make_contribution_figure(contributions, top=5)
    (bar,) = fig.data
    assert list(bar.y) == ["f16", "f17", "f18", "f19", "f20"]  # largest on top (last)
    assert list(bar.marker.color)[-1] != list(bar.marker.color)[-2]
    assert any("15 smaller contributions" in a.text for a in fig.layout.annotations)
