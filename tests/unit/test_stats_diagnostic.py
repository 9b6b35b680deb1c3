"""ROC/DeLong, diagnostic metrics, calibration, net benefit, subgroup effects."""
from __future__ import annotations

import json

import numpy as np
import pytest

from crlm import stats


def _scores(n=300, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    a = np.round(y * 1.0 + rng.normal(size=n), 1)  # rounding gives ties
    b = np.round(y * 0.5 + rng.normal(size=n), 1)
    return y, a, b


def _brute_delong(y, s):
    x, c = s[y], s[~y]
    psi = (x[:, None] > c[None, :]) + 0.5 * (x[:, None] == c[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), np.var(v10, ddof=1) / len(x) + np.var(v01, ddof=1) / len(c)


def test_roc_auc_and_delong_variance_match_brute_force():
    from sklearn.metrics import roc_auc_score

    y, a, _ = _scores()
    res = stats.roc(y, a)
    auc, var = _brute_delong(y, a)
    assert res.auc == pytest.approx(auc, rel=1e-12)
    assert res.auc == pytest.approx(roc_auc_score(y, a), rel=1e-12)
    assert res.auc_se == pytest.approx(np.sqrt(var), rel=1e-10)
    assert res.fpr[0] == 0 and res.tpr[-1] == 1 and np.isinf(res.thresholds[0])
    assert res.n == 300 and res.n_positive == int(y.sum())


def test_score_direction_is_not_flipped():
    y, a, _ = _scores()
    assert stats.roc(y, -a).auc == pytest.approx(1 - stats.roc(y, a).auc)


def test_perfect_separation_gives_degenerate_ci():
    res = stats.roc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert res.auc == 1 and res.auc_ci == (1.0, 1.0)
    assert res.sensitivity == 1 and res.specificity == 1
    assert 0.2 < res.youden_threshold < 0.8


def test_roc_needs_both_classes():
    with pytest.raises(ValueError, match="no positive"):
        stats.roc([0, 0, 0], [1, 2, 3])


def test_delong_test_against_brute_force_and_identical_scores():
    y, a, b = _scores()
    res = stats.delong_test(y, a, b)
    x_a, c_a = a[y], a[~y]
    x_b, c_b = b[y], b[~y]
    pa = (x_a[:, None] > c_a) + 0.5 * (x_a[:, None] == c_a)
    pb = (x_b[:, None] > c_b) + 0.5 * (x_b[:, None] == c_b)
    s10 = np.cov(np.vstack((pa.mean(1), pb.mean(1))))
    s01 = np.cov(np.vstack((pa.mean(0), pb.mean(0))))
    cov = s10 / len(x_a) + s01 / len(c_a)
    z = (pa.mean() - pb.mean()) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert res.z == pytest.approx(z, rel=1e-10)
    same = stats.delong_test(y, a, a)
    assert same.z == 0 and same.p_value == 1


def test_diagnostic_metrics_counts_and_wilson():
    y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    s = [0.9, 0.8, 0.7, 0.2, 0.6, 0.1, 0.1, 0.2, 0.3, 0.05]
    m = stats.diagnostic_metrics(y, s, threshold=0.5)
    assert (m.tp, m.fn, m.fp, m.tn) == (3, 1, 1, 5)
    assert m.sensitivity == 0.75 and m.specificity == pytest.approx(5 / 6)
    assert m.ppv == 0.75 and m.npv == pytest.approx(5 / 6)
    from scipy.stats import binomtest

    ci = binomtest(3, 4).proportion_ci(method="wilson")
    assert m.sensitivity_ci == pytest.approx((ci.low, ci.high), rel=1e-9)
    nobody = stats.diagnostic_metrics(y, s, threshold=2.0)
    assert np.isnan(nobody.ppv) and nobody.tp == 0


def test_calibration_slope_and_intercept():
    rng = np.random.default_rng(8)
    lp = rng.normal(size=20000)
    p = 1 / (1 + np.exp(-lp))
    y = rng.random(20000) < p
    cal = stats.calibration(y, p, bins=10)
    assert cal.slope == pytest.approx(1, abs=0.06)
    assert cal.intercept == pytest.approx(0, abs=0.05)
    assert cal.count.sum() == 20000 and len(cal.count) == 10
    # overconfident predictions have slope < 1
    p_over = 1 / (1 + np.exp(-2 * lp))
    assert stats.calibration(y, p_over).slope == pytest.approx(0.5, abs=0.05)
    assert np.all(cal.observed_ci_lower <= cal.observed) and np.all(cal.observed <= cal.observed_ci_upper)


def test_calibration_slope_matches_unpenalised_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, 500)
    y = rng.random(500) < p ** 1.5
    logit = np.log(p / (1 - p))
    lr = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(logit[:, None], y)
    cal = stats.calibration(y, p)
    assert cal.slope == pytest.approx(lr.coef_[0, 0], rel=1e-5)


def test_brier_and_net_benefit_by_hand():
    y = [1, 0, 1, 0]
    p = [0.8, 0.3, 0.4, 0.1]
    assert stats.brier(y, p) == pytest.approx((0.04 + 0.09 + 0.36 + 0.01) / 4)
    nb = stats.net_benefit(y, p, [0.2, 0.5])
    # pt 0.2: treated 0.8, 0.3, 0.4 -> TP 2, FP 1 -> 2/4 - 1/4 * 0.25
    assert nb.model[0] == pytest.approx(0.5 - 0.25 * 0.25)
    assert nb.model[1] == pytest.approx(0.25)
    assert nb.treat_all[0] == pytest.approx(0.5 - 0.5 * 0.25)
    assert np.all(nb.treat_none == 0)
    with pytest.raises(ValueError, match="thresholds"):
        stats.net_benefit(y, p, [1.0])
    with pytest.raises(ValueError, match=r"prob must lie in \[0, 1\]"):
        stats.brier(y, [1.2, 0, 0, 0])


def test_subgroup_effects_reports_non_estimable_levels():
    rng = np.random.default_rng(6)
    n = 600
    arm = rng.integers(0, 2, n)
    side = rng.choice(["left", "right"], n)
    t = rng.exponential(np.where((arm == 1) & (side == "left"), 20.0, 10.0))
    e = np.ones(n, dtype=bool)
    # a tiny level with one arm only, and a small level with few events
    side = np.concatenate((side, ["rectum"] * 3, ["unknown"] * 4))
    arm = np.concatenate((arm, [1, 1, 1], [0, 1, 0, 1]))
    t = np.concatenate((t, [5, 6, 7], [1, 2, 3, 4]))
    e = np.concatenate((e, [1, 1, 1], [1, 0, 0, 1]))
    res = stats.subgroup_effects(t, e, arm, side, min_events=5)
    by = {s.level: s for s in res.subgroups}
    assert list(by) == ["left", "rectum", "right", "unknown"]  # sorted levels, none dropped
    assert by["left"].estimable and by["left"].hr < 0.8
    assert by["right"].estimable
    assert not by["rectum"].estimable and "group=0" in by["rectum"].reason
    assert not by["unknown"].estimable and "fewer than 5 events" in by["unknown"].reason
    assert res.interaction_df == 2 and res.interaction_p_value < 0.05
    direct = stats.cox(t[side == "left"], e[side == "left"], arm[side == "left"].astype(float))
    assert by["left"].hr == pytest.approx(direct.terms[0].hr)
    json.dumps(res.to_dict())
