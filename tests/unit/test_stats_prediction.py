"""Split-conformal sets and the Breslow calibration of a risk score (crlm.stats.prediction),
on tiny examples worked out by hand and on simulated data with a known answer."""
from __future__ import annotations

import math

import numpy as np
import pytest

from crlm import stats
from crlm.stats.prediction import (
    conformal_binary, risk_survival_calibration, set_coverage,
)


def test_conformal_cut_and_sets_by_hand():
    # non-conformity 1 - p(true): 0.1, 0.2, 0.3 (p=0.3, y=0 -> p), 0.8 (p=0.2, y=1)
    cal = conformal_binary([0.9, 0.8, 0.3, 0.2], [1, 1, 0, 1])
    assert list(cal.scores) == pytest.approx([0.1, 0.2, 0.3, 0.8])
    # coverage 0.6: rank ceil(5 * 0.6) = 3 -> q = 0.3
    assert cal.cut(0.6) == pytest.approx(0.3)
    assert cal.prediction_set(0.75, 0.6) == (True,)          # 0.25 <= 0.3, 0.75 > 0.3
    assert cal.prediction_set(0.25, 0.6) == (False,)         # 0.75 > 0.3, 0.25 <= 0.3
    assert cal.prediction_set(0.5, 0.6) == ()                # both 0.5 > 0.3: empty
    # coverage 0.9: rank ceil(4.5) = 5 > 4 patients -> q infinite, both classes
    assert math.isinf(cal.cut(0.9)) and cal.prediction_set(0.5, 0.9) == (True, False)


def test_conformal_rejects_bad_input():
    with pytest.raises(ValueError, match="prob must lie in"):
        conformal_binary([1.2, 0.3], [1, 0])
    cal = conformal_binary([0.9, 0.1], [1, 0])
    with pytest.raises(ValueError, match="coverage"):
        cal.cut(1.0)


@pytest.mark.parametrize("coverage", [0.80, 0.90, 0.95])
def test_conformal_coverage_on_simulated_patients(coverage):
    # calibrated probabilities: p ~ U(0, 1), y ~ Bernoulli(p); 1,000 calibration and
    # 4,000 new patients. Coverage is >= nominal in expectation; the binomial SD at 90 %
    # with 4,000 patients is 0.005, so 0.02 is four SDs.
    rng = np.random.default_rng(20240601)
    p = rng.uniform(size=5000)
    y = rng.uniform(size=5000) < p
    cal = conformal_binary(p[:1000], y[:1000])
    covered = set_coverage(cal.prediction_sets(p[1000:], coverage), y[1000:])
    assert abs(covered - coverage) < 0.02


def test_breslow_baseline_by_hand():
    # three patients, equal risk (beta 0), events at 1, 2 and 3 months:
    # H0 = 1/3, 1/3 + 1/2, 1/3 + 1/2 + 1 -> S(2) = exp(-5/6)
    cal = risk_survival_calibration([1.0, 1.0, 1.0], [1, 2, 3], [1, 1, 1], n_boot=0,
                                    scale="linear")
    assert cal.beta == 0.0
    assert list(cal.cumhaz) == pytest.approx([1 / 3, 5 / 6, 11 / 6])
    assert cal.curve(1.0, [0.5, 2, 2.5])[1] == pytest.approx(math.exp(-5 / 6))
    assert cal.curve(1.0, [0.5])[0] == 1.0
    # tied event times, one censored at 2: H0(2) = 1/4 + 2/3 (two events, three at risk)
    cal = risk_survival_calibration([0.0] * 4, [1, 2, 2, 2], [1, 1, 1, 0], n_boot=0)
    assert list(cal.cumhaz) == pytest.approx([1 / 4, 1 / 4 + 2 / 3])


def test_breslow_slope_equals_the_cox_fit_with_breslow_ties():
    rng = np.random.default_rng(3)
    risk = rng.normal(size=300)
    time = np.round(rng.exponential(np.exp(-0.7 * risk)) * 20) + 1   # many ties
    event = rng.uniform(size=300) < 0.7
    cal = risk_survival_calibration(risk, time, event, n_boot=0, scale="linear", knots=0)
    z = (risk - risk.mean()) / risk.std()
    ref = stats.cox(time, event, z, ties="breslow", with_concordance=False)
    assert cal.beta == pytest.approx(math.log(ref.terms[0].hr), abs=1e-8)


def test_absolute_survival_matches_the_truth_and_its_interval_covers_it():
    # exponential survival with hazard 0.02 * exp(0.8 x): S(36 | x=1) = exp(-0.72 e^0.8)
    rng = np.random.default_rng(11)
    x = rng.normal(size=2000)
    t_event = rng.exponential(1 / (0.02 * np.exp(0.8 * x)))
    t_cens = rng.uniform(24, 120, size=2000)
    time, event = np.minimum(t_event, t_cens), t_event <= t_cens
    cal = risk_survival_calibration(x, time, event, n_boot=200, random_state=1,
                                    scale="linear")
    truth = math.exp(-0.02 * 36 * math.exp(0.8))
    surv = cal.survival(1.0, [12, 36, 60], coverage=0.95)
    assert surv.survival[1] == pytest.approx(truth, abs=0.03)
    assert surv.lower[1] <= truth <= surv.upper[1]
    assert surv.lower[1] < surv.survival[1] < surv.upper[1]
    assert surv.median == pytest.approx(math.log(2) / (0.02 * math.exp(0.8)), rel=0.1)


def test_survival_beyond_follow_up_is_not_extrapolated():
    cal = risk_survival_calibration([0.0, 1.0, 2.0], [5, 10, 20], [1, 1, 0], n_boot=10)
    surv = cal.survival(1.0, [12, 36])
    assert np.isfinite(surv.survival[0]) and np.isnan(surv.survival[1])
    with pytest.raises(ValueError, match="no events"):
        risk_survival_calibration([0.0, 1.0], [5, 10], [0, 0])


def test_the_rank_normal_scale_is_robust_to_a_skewed_score_and_bounds_extremes():
    # a log-normal score (like CEA) whose log is the linear predictor: calibrating the raw
    # score linearly misses the hazard's shape, the normal scores of its ranks do not
    rng = np.random.default_rng(5)
    x = rng.normal(size=3000)
    score = np.exp(1.5 * x)
    t_event = rng.exponential(1 / (0.02 * np.exp(0.8 * x)))
    t_cens = rng.uniform(24, 120, size=3000)
    time, event = np.minimum(t_event, t_cens), t_event <= t_cens
    ranked = risk_survival_calibration(score, time, event, n_boot=0)
    linear = risk_survival_calibration(score, time, event, n_boot=0, scale="linear",
                                       knots=0)
    high = float(np.exp(1.5 * 1.5))                       # x = 1.5
    truth = math.exp(-0.02 * 36 * math.exp(0.8 * 1.5))
    assert ranked.curve(high, [36])[0] == pytest.approx(truth, abs=0.04)
    assert abs(linear.curve(high, [36])[0] - truth) > 0.1
    # a score far beyond the calibration range is taken at the last rank, not extrapolated
    assert ranked.curve(1e9, [36])[0] == pytest.approx(ranked.curve(score.max(), [36])[0],
                                                       abs=0.01)


def test_survival_intervals_cover_the_true_probability_of_new_cases():
    # 120 independent development cohorts of 300 patients simulated from a known Cox model
    # (hazard 0.02 · exp(0.8 x), x ~ N(0, 1), censoring uniform on 24-120 months), each
    # calibrated as the Score page does (rank-normal scale, knots by the events rule, 200
    # bootstrap resamples); then one new case per cohort (x ~ N(0, 1); 12, 36 or 60 months
    # in turn) whose true S(t | x) is known. The cohorts are independent, so the number of
    # covered cases is binomial(120, coverage): the share must lie within three binomial
    # standard deviations of the nominal level (0.11 at 80 %, 0.08 at 90 %, 0.06 at 95 %).
    rng = np.random.default_rng(20240607)
    n_cohorts, levels = 120, (0.80, 0.90, 0.95)
    covered = {c: 0 for c in levels}
    for i in range(n_cohorts):
        x = rng.normal(size=300)
        t_event = rng.exponential(1 / (0.02 * np.exp(0.8 * x)))
        t_cens = rng.uniform(24, 120, size=300)
        cal = risk_survival_calibration(x, np.minimum(t_event, t_cens), t_event <= t_cens,
                                        n_boot=200, random_state=i)
        case, horizon = rng.normal(), (12.0, 36.0, 60.0)[i % 3]
        truth = math.exp(-0.02 * horizon * math.exp(0.8 * case))
        for c in levels:
            surv = cal.survival(case, [horizon], coverage=c)
            covered[c] += bool(surv.lower[0] <= truth <= surv.upper[0])
    for c in levels:
        share = covered[c] / n_cohorts
        assert abs(share - c) <= 3 * math.sqrt(c * (1 - c) / n_cohorts), (c, share)
