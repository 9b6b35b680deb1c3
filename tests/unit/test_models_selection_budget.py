"""MRMR selection (Qi), the cost ratio as a setting, and the bounded tuning budget."""
from __future__ import annotations

import argparse
import math

import numpy as np
import pytest

from crlm.models.selection import (
    MRMRSelected, gaussian_redundancy, mrmr_logistic, mrmr_order, relevance,
)


def _duplicate_data(n=1500, seed=3):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.normal(size=n)
    y = (1.5 * a + 1.0 * b + rng.normal(size=n) > 0).astype(int)
    dup = a + rng.normal(scale=0.4, size=n)  # a noisy copy of the strongest input
    noise = rng.normal(size=(n, 2))
    # columns: 0 = noise, 1 = noisy duplicate of a, 2 = a, 3 = b, 4 = noise
    return np.column_stack([noise[:, 0], dup, a, b, noise[:, 1]]), y


def test_mrmr_prefers_the_informative_input_over_its_noisy_duplicate():
    x, y = _duplicate_data()
    rel = relevance(x, y, random_state=0)
    assert rel[2] > rel[1] > rel[0]  # the duplicate is relevant, less than the original
    model = MRMRSelected(estimator=mrmr_logistic(0, True).estimator, k=2).fit(x, y)
    assert model.order_ == [2, 3]  # a first, then b rather than a's duplicate
    # relevance alone would have taken the duplicate second
    assert list(np.argsort(-rel)[:2]) == [2, 1]


def test_mrmr_order_is_relevance_minus_mean_redundancy():
    rel = np.array([0.30, 0.29, 0.10, 0.05])
    red = np.zeros((4, 4))
    red[0, 1] = red[1, 0] = 1.0  # 0 and 1 carry the same information
    red[2, 0] = red[0, 2] = 0.02
    assert mrmr_order(rel, red, 3) == [0, 2, 3]
    assert mrmr_order(rel, red, 10) == [0, 2, 3, 1]  # k above the width: every column
    x = np.column_stack([np.arange(10.0), np.arange(10.0) * 2, np.ones(10)])
    g = gaussian_redundancy(x)
    assert g[0, 1] > 10 and g[0, 2] == 0 and g[2, 2] == 0  # r = 1 capped; constant: none
    r = 0.5
    z = np.random.default_rng(1).multivariate_normal([0, 0], [[1, r], [r, 1]], size=20000)
    assert math.isclose(gaussian_redundancy(z)[0, 1], -0.5 * math.log(1 - r * r), rel_tol=0.05)


def test_mrmr_is_fitted_on_the_rows_given_only():
    """Column 4 predicts the outcome only in the held-out rows: a selection fitted on the
    training rows (as inside every fold) cannot see it; one on all rows would."""
    rng = np.random.default_rng(5)
    n = 800
    x = rng.normal(size=(n, 5))
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)
    train, held = np.arange(n) < 600, np.arange(n) >= 600
    x[held, 4] = 3.0 * (2 * y[held] - 1) + 0.1 * rng.normal(size=held.sum())
    fold = mrmr_logistic(0, True).set_params(k=2).fit(x[train], y[train])
    assert 4 not in fold.order_ and fold.order_[0] == 0
    everything = mrmr_logistic(0, True).set_params(k=2).fit(x, y)
    assert 4 in everything.order_
    # a linear model over all columns: zero where not chosen, exact decision function
    coef = fold.coef_
    assert coef.shape == (1, 5) and (coef[0, [i for i in range(5) if i not in fold.order_]]
                                     == 0).all()
    logit = x[held] @ coef.ravel() + fold.intercept_[0]
    p = fold.predict_proba(x[held])[:, 1]
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-logit)), rtol=1e-9)
    details = fold.card_details([f"c{i}" for i in range(5)])
    (key, value), = details.items()
    assert key.startswith("MRMR 2 inputs") and value.startswith("c0 (")


def test_mrmr_refuses_survival_targets_and_k_zero():
    from crlm.models.survival import survival_target

    x = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises(ValueError, match="binary outcome"):
        mrmr_logistic(0, True).fit(x, survival_target(np.arange(1.0, 31), np.ones(30, bool)))
    with pytest.raises(ValueError, match="k of at least 1"):
        mrmr_logistic(0, True).set_params(k=0).fit(x, np.arange(30) % 2)


# -- the cost ratio ----------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [("1:2", (1.0, 2.0)), ("1 : 3", (1.0, 3.0)),
                                            ("0.5", (1.0, 2.0)), ("3", (3.0, 1.0)),
                                            ("2:4", (1.0, 2.0)), ("1:1", (1.0, 1.0))])
def test_cost_ratio_is_read_as_missed_responder_to_unnecessary_treatment(text, expected):
    from crlm.models.costs import parse_cost_ratio

    assert parse_cost_ratio(text) == expected


@pytest.mark.parametrize("text, message", [("0:1", "positive"), ("-1:2", "positive"),
                                           ("1:inf", "positive"), ("nan", "positive"),
                                           ("a:b", "numbers"), ("1:2:3", "written A:B"),
                                           (":2", "written A:B"), ("1:1000", "beyond")])
def test_bad_cost_ratios_are_refused_with_a_reason(text, message):
    from crlm.models.costs import parse_cost_ratio

    with pytest.raises(ValueError, match=message):
        parse_cost_ratio(text)


def test_class_weights_and_label_follow_the_cost_ratio():
    from crlm.models.costs import use_cost_ratio
    from crlm.models.families import FAMILIES

    default = FAMILIES["cost_sensitive_rf"].build(0, True)
    assert default.class_weight == {0: 2.0, 1: 1.0}
    try:
        use_cost_ratio(1.0, 3.0)
        forest = FAMILIES["cost_sensitive_rf"].build(0, True)
        assert forest.class_weight == {0: 3.0, 1: 1.0}
        assert "1 : 3" in FAMILIES["cost_sensitive_rf"].label
        assert "1 : 3" in FAMILIES["cost_sensitive_rf_tuned"].label
        assert (forest.card_details(["a"])["cost ratio (missed responder : unnecessary "
                                           "treatment)"] == "1 : 3")
        tuned = FAMILIES["cost_sensitive_rf_tuned"].build(0, True)
        assert tuned._base().class_weight == {0: 3.0, 1: 1.0}
        use_cost_ratio(2.0, 1.0)
        assert FAMILIES["cost_sensitive_rf"].build(0, True).class_weight == {0: 1.0, 1: 2.0}
    finally:
        use_cost_ratio()
    assert FAMILIES["cost_sensitive_rf"].build(0, True).class_weight == {0: 2.0, 1: 1.0}
    assert "1 : 2" in FAMILIES["cost_sensitive_rf"].label


def test_train_cli_cost_ratio_and_budget(monkeypatch, capsys):
    from crlm import cli
    from crlm.cli import training as cli_training
    from crlm.models.costs import use_cost_ratio
    from crlm.models.families import FAMILIES
    from crlm.models.tuning import use_budget

    seen = {}

    def fake_train(store, cohort, tasks, families, folds, seed, **kw):
        seen["weights"] = FAMILIES["cost_sensitive_rf"].build(0, True).class_weight
        seen["tuned"] = FAMILIES["cart_tuned"].build(0, False)
        return 0

    class FakeStore:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(cli_training, "train_and_report", fake_train)
    monkeypatch.setattr(cli_training, "open_store", lambda args, **kw: FakeStore())
    try:
        assert cli.main(["train", "--tune", "--family", "cart", "--cost-ratio", "1:4",
                         "--tune-trials", "3", "--tune-timeout", "5"]) == 0
        assert seen["weights"] == {0: 4.0, 1: 1.0}
        assert (seen["tuned"].n_trials, seen["tuned"].timeout_s) == (3, 5.0)
        assert "≤ 3 trials, ≤ 5 s per search" in FAMILIES["cart_tuned"].label
    finally:
        use_cost_ratio()
        use_budget()
    for bad in (["--cost-ratio", "0:2"], ["--cost-ratio", "x"], ["--tune-timeout", "0"],
                ["--tune-trials", "0"]):
        seen.clear()
        with pytest.raises(SystemExit) as exc:
            cli.main(["train", *bad])
        assert exc.value.code == 2 and not seen  # refused before anything is trained
    err = capsys.readouterr().err
    assert "both costs of the ratio must be positive" in err
    assert "--tune-timeout must be above 0 s" in err
    assert FAMILIES["cost_sensitive_rf"].build(0, True).class_weight == {0: 2.0, 1: 1.0}


# -- the tuning budget -------------------------------------------------------------------
def test_search_stops_at_the_time_cap_and_the_card_says_so():
    from crlm.models.tuning import TunedEstimator

    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + rng.normal(size=200) > 0).astype(int)
    # a cap far below one trial: the first trial finishes, no second one starts
    capped = TunedEstimator(family="logistic", n_trials=50, random_state=0,
                            timeout_s=1e-9).fit(x, y)
    assert capped.n_trials_ == 1 and capped.stopped_by_cap_
    card = capped.card_details(["a", "b", "c"])
    assert card["search budget"] == "at most 50 trials × 3 inner fits, a 1e-09 s cap per search"
    assert card["search budget used (final fit)"].startswith(
        "1 of 50 trials (stopped by the 1e-09 s cap), ")
    free = TunedEstimator(family="logistic", n_trials=3, random_state=0, timeout_s=None).fit(x, y)
    assert free.n_trials_ == 3 and not free.stopped_by_cap_
    assert "no time cap" in free.card_details(["a", "b", "c"])["search budget"]


def test_budget_defaults_and_overrides():
    from crlm.models import tuning

    assert tuning.budget(False) == (tuning.N_TRIALS, tuning.SEARCH_TIMEOUT_S)
    assert tuning.budget(True) == (tuning.N_TRIALS_FAST, tuning.SEARCH_TIMEOUT_FAST_S)
    try:
        tuning.use_budget(timeout_s=float("inf"))
        assert tuning.budget(False) == (tuning.N_TRIALS, None)
        with pytest.raises(ValueError, match="at least one trial"):
            tuning.use_budget(trials=0)
        with pytest.raises(ValueError, match="must be positive"):
            tuning.use_budget(timeout_s=-1)
    finally:
        tuning.use_budget()
    assert tuning.budget(False) == (tuning.N_TRIALS, tuning.SEARCH_TIMEOUT_S)


def test_rsf_trials_grow_a_smaller_forest():
    from crlm.models.survival import survival_target
    from crlm.models.tuning import SEARCH_TREES, TunedEstimator

    rng = np.random.default_rng(4)
    x = rng.normal(size=(120, 3))
    time = np.exp(1 - x[:, 0] + 0.3 * rng.normal(size=120))
    y = survival_target(time, rng.random(120) < 0.8)
    tuned = TunedEstimator(family="rsf", n_trials=1, random_state=0, fast=True).fit(x, y)
    assert tuned.estimator_.n_estimators == 25  # the fast forest in the final fit
    assert f"{SEARCH_TREES['rsf']}-tree forest" in tuned.card_details(
        ["a", "b", "c"])["hyper-parameter search"]


def test_cost_ratio_argparse_type_wraps_the_reason():
    from crlm.cli.training import cost_ratio

    assert cost_ratio("1:2") == (1.0, 2.0)
    with pytest.raises(argparse.ArgumentTypeError, match="numbers"):
        cost_ratio("one:two")


def test_a_search_whose_first_trial_fails_goes_on_until_one_succeeds(monkeypatch):
    from crlm.models import tuning

    real = tuning._inner_score
    calls = {"n": 0}

    def first_fails(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ZeroDivisionError("a too weak penalty")
        return real(*args, **kwargs)

    monkeypatch.setattr(tuning, "_inner_score", first_fails)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(150, 3))
    y = (x[:, 0] + rng.normal(size=150) > 0).astype(int)
    tuned = tuning.TunedEstimator(family="logistic", n_trials=5, random_state=0,
                                  timeout_s=1e-9).fit(x, y)
    # the failed trial, then one that succeeds past the cap, then nothing more
    assert tuned.n_trials_ == 2 and tuned.stopped_by_cap_ and np.isfinite(tuned.best_score_)
