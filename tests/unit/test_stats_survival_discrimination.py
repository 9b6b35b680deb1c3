"""Harrell's C with its infinitesimal-jackknife standard error, the paired comparison of
two scores and the time-dependent ROC curve, against brute-force pair counting and
small cases worked by hand (R's numbers are in tests/reference)."""
from __future__ import annotations

import numpy as np
import pytest

from crlm import stats
from crlm.stats.survival_discrimination import (
    compare_concordance, concordance_influence, harrell_c, pair_counts_by_patient,
    time_dependent_roc,
)


def _brute(t, e, r):
    """Per patient: concordant, discordant and risk-tied comparable pairs, by looping."""
    n = len(t)
    c, d, tie = np.zeros(n, int), np.zeros(n, int), np.zeros(n, int)
    for i in range(n):
        for j in range(n):
            if not e[i] or i == j:
                continue
            if t[j] > t[i] or (t[j] == t[i] and not e[j]):
                kind = c if r[i] > r[j] else d if r[i] < r[j] else tie
                kind[i] += 1
                kind[j] += 1
    return c, d, tie


@pytest.fixture()
def tied_data():
    rng = np.random.default_rng(5)
    n = 60
    t = rng.integers(1, 15, n).astype(float)        # many tied times
    e = rng.random(n) < 0.6
    r = rng.integers(0, 6, n).astype(float)         # many tied risks
    return t, e, r


def test_per_patient_pair_counts_equal_brute_force(tied_data):
    t, e, r = tied_data
    got = pair_counts_by_patient(t, e, r)
    want = _brute(t, e, r)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_c_equals_concordance_index_and_se_is_the_jackknife_formula(tied_data):
    t, e, r = tied_data
    res = harrell_c(t, e, r)
    assert res.concordance == pytest.approx(stats.concordance_index(t, e, r).concordance,
                                            rel=1e-12)
    c, d, tie = _brute(t, e, r)
    m = (c + d + tie).sum() / 2
    somers = (c.sum() - d.sum()) / 2 / m
    dfbeta = ((c - d) - somers * (c + d + tie)) / m / 2
    assert res.se == pytest.approx(np.sqrt(np.sum(dfbeta ** 2)), rel=1e-12)
    np.testing.assert_allclose(concordance_influence(t, e, r), dfbeta, rtol=1e-12)
    assert res.comparable == m and res.events == e.sum() and res.n == len(t)
    assert res.ci_lower < res.concordance < res.ci_upper


def test_three_patients_by_hand():
    # events at 1 (risk 3) and 2 (risk 1), censored at 3 (risk 2): pairs (1,2) and (1,3)
    # concordant, (2,3) discordant; C = 2/3
    t, e, r = np.array([1.0, 2.0, 3.0]), np.array([1, 1, 0], bool), np.array([3.0, 1.0, 2.0])
    res = harrell_c(t, e, r)
    assert res.concordance == pytest.approx(2 / 3) and res.comparable == 3
    # influence: (c_i - d_i) - d (c_i + d_i), Somers' d = 1/3, over 3 pairs, halved;
    # patient 1 is in two concordant pairs, patients 2 and 3 in one of each
    want = np.array([2 - 2 / 3, (1 - 1) - 2 / 3, (1 - 1) - 2 / 3]) / 3 / 2
    np.testing.assert_allclose(concordance_influence(t, e, r), want)


def test_paired_comparison_of_a_score_with_itself_and_with_its_reverse(tied_data):
    t, e, r = tied_data
    same = compare_concordance(t, e, r, r)
    assert same.difference == 0 and same.se == 0 and same.p_value == 1.0
    flipped = compare_concordance(t, e, r, -r)
    assert flipped.concordance_a + flipped.concordance_b == pytest.approx(1.0)
    # C(-r) = 1 - C(r): the influences are opposite, the difference's SE twice one SE
    assert flipped.se == pytest.approx(2 * harrell_c(t, e, r).se, rel=1e-12)
    assert flipped.covariance == pytest.approx(-harrell_c(t, e, r).se ** 2, rel=1e-12)
    assert 0 <= flipped.p_value <= 1


def test_bad_inputs_are_refused():
    t, e, r = np.array([1.0, 2.0]), np.array([0, 0], bool), np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="one event"):
        harrell_c(t, e, r)
    with pytest.raises(ValueError, match="level"):
        harrell_c([1.0, 2.0], [1, 0], [1.0, 2.0], level=1.5)
    with pytest.raises(ValueError, match="comparable"):
        harrell_c([1.0, 1.0], [1, 1], [1.0, 2.0])
    with pytest.raises(ValueError, match="horizon"):
        time_dependent_roc([1.0, 2.0], [1, 0], [1.0, 2.0], horizon=0)


def test_time_dependent_roc_area_is_the_time_dependent_auc(tied_data):
    t, e, r = tied_data
    for h in (3.0, 7.0, 10.0):
        roc = time_dependent_roc(t, e, r, h)
        assert roc.auc == pytest.approx(stats.time_dependent_auc(t, e, r, [h]).auc[0], rel=1e-12)
        assert np.trapezoid(roc.tpr, roc.fpr) == pytest.approx(roc.auc, rel=1e-12)
        assert roc.fpr[0] == roc.tpr[0] == 0
        assert (roc.fpr[-1], roc.tpr[-1]) == pytest.approx((1.0, 1.0))
        assert np.all(np.diff(roc.fpr) >= 0) and np.all(np.diff(roc.tpr) >= 0)


def test_time_dependent_roc_by_hand_and_without_controls():
    # cases by 5: times 1, 2 (no censoring before them: weight 1); controls: times 6, 8
    t = np.array([1.0, 2.0, 6.0, 8.0])
    e = np.array([1, 1, 1, 0], bool)
    r = np.array([4.0, 1.0, 2.0, 0.5])
    roc = time_dependent_roc(t, e, r, 5.0)
    # thresholds 4, 2, 1, 0.5: tpr 1/2, 1/2, 1, 1; fpr 0, 1/2, 1/2, 1
    np.testing.assert_allclose(roc.tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(roc.fpr, [0, 0, 0.5, 0.5, 1])
    assert roc.auc == pytest.approx(0.75) and (roc.n_cases, roc.n_controls) == (2, 2)
    empty = time_dependent_roc(t, e, r, 10.0)
    assert len(empty.fpr) == 0 and np.isnan(empty.auc)
