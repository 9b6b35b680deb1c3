"""crlm.stats.logistic on tables whose answers are known by hand (R's glm numbers are in
tests/reference/test_logistic_against_r.py)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from crlm import stats


def _two_by_two(a, b, c, d):
    """x = 1: a responders, b non-responders; x = 0: c responders, d non-responders."""
    x = [1] * (a + b) + [0] * (c + d)
    y = [1] * a + [0] * b + [1] * c + [0] * d
    return np.array(y), np.array(x, float)


def test_single_binary_covariate_gives_the_cross_product_odds_ratio():
    # 8/2 responders with the marker, 3/7 without: OR = (8 * 7) / (2 * 3) = 9.333...,
    # se(log OR) = sqrt(1/8 + 1/2 + 1/3 + 1/7) (Woolf), intercept = log(3/7)
    y, x = _two_by_two(8, 2, 3, 7)
    fit = stats.logistic(y, pd.DataFrame({"marker": x}))
    t = fit.term("marker")
    assert t.odds_ratio == pytest.approx(56 / 6, rel=1e-9)
    se = math.sqrt(1 / 8 + 1 / 2 + 1 / 3 + 1 / 7)
    assert t.se == pytest.approx(se, rel=1e-9)
    assert t.ci_lower == pytest.approx(math.exp(math.log(56 / 6) - 1.959963984540054 * se), rel=1e-9)
    assert fit.intercept.coef == pytest.approx(math.log(3 / 7), rel=1e-9)
    assert fit.n == 20 and fit.events == 11 and fit.converged and not fit.separation
    # null model: 11 of 20 respond
    assert fit.log_likelihood_null == pytest.approx(11 * math.log(0.55) + 9 * math.log(0.45))


def test_perfect_separation_is_flagged_not_hidden():
    y, x = _two_by_two(6, 0, 0, 6)
    fit = stats.logistic(y, x)
    assert fit.separation
    assert fit.terms[0].name == "x1"


def test_missing_values_are_rejected_unless_dropped():
    y, x = _two_by_two(8, 2, 3, 7)
    x[0] = np.nan
    with pytest.raises(ValueError, match="missing"):
        stats.logistic(y, x)
    assert stats.logistic(y, x, dropna=True).n == 19


def test_constant_covariate_and_single_class_are_clear_errors():
    y, x = _two_by_two(8, 2, 3, 7)
    with pytest.raises(ValueError, match="constant"):
        stats.logistic(y, np.column_stack([x, np.ones_like(x)]))
    with pytest.raises(ValueError, match="both classes"):
        stats.logistic(np.zeros(5), np.arange(5.0))


def test_likelihood_ratio_test_takes_nested_logistic_models():
    y, x = _two_by_two(8, 2, 3, 7)
    other = np.tile([0.0, 1.0], 10)
    full = stats.logistic(y, np.column_stack([x, other]))
    reduced = stats.logistic(y, x)
    lr = stats.likelihood_ratio_test(full, reduced)
    assert lr.df == 1
    assert lr.statistic == pytest.approx(2 * (full.log_likelihood - reduced.log_likelihood))


def test_unpaired_auc_test_is_symmetric_and_nan_without_variance():
    rng = np.random.default_rng(3)
    y1, s1 = rng.integers(0, 2, 80), rng.normal(size=80)
    y2, s2 = rng.integers(0, 2, 60), rng.normal(size=60)
    s1 = s1 + y1
    a, b = stats.roc(y1, s1), stats.roc(y2, s2)
    ab, ba = stats.unpaired_auc_test(a, b), stats.unpaired_auc_test(b, a)
    assert ab.difference == pytest.approx(-ba.difference)
    assert ab.p_value == pytest.approx(ba.p_value)
    assert ab.ci_lower < ab.difference < ab.ci_upper
    perfect = stats.roc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])  # DeLong variance 0
    assert math.isnan(stats.unpaired_auc_test(perfect, perfect).p_value)
