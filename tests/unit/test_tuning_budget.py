"""The whole-run time budget of tuned training (``crlm.models.tuning_budget``), on a
fake clock: the split across searches, unused time flowing on, a spent budget."""
from __future__ import annotations

import numpy as np
import pytest

from crlm.models import tuning_budget as tb
from crlm.models.tuning import TunedEstimator


class FakeClock:
    """Seconds that move only when the test moves them."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def data():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(150, 3))
    y = (x[:, 0] + rng.normal(size=150) > 0).astype(int)
    return x, y


@pytest.fixture(autouse=True)
def no_run_budget_left_behind():
    yield
    tb.use_run_budget(None)


def test_the_budget_is_split_up_front_and_unused_time_flows_to_later_searches():
    clock = FakeClock()
    run = tb.RunBudget(120, clock=clock)
    run.plan({"response.a_tuned": 3, "os_risk.b_tuned": 3})
    run.begin_unit("response.a_tuned")
    first = run.start_search()
    assert first == pytest.approx(120 * (1 - tb.PRIOR_RESERVE) / 6)
    clock.now += 2.0  # the search used 2 s of its 15
    assert run.end_search(trials=4).used_s == pytest.approx(2.0)
    second = run.start_search()
    assert second > first  # what the first left flows on
    clock.now += second
    run.end_search(trials=12)
    # the unit ends after two of its three searches (its third is dropped from the plan)
    run.begin_unit("os_risk.b_tuned")
    assert run.searches_left() == 3
    shares = []
    for _ in range(3):
        shares.append(run.start_search())
        clock.now += shares[-1]
        run.end_search(trials=1)
    assert clock.now <= 120  # the searches together stayed within the run's budget
    assert [r.trials for r in run.records["os_risk.b_tuned"]] == [1, 1, 1]


def test_time_outside_the_searches_is_reserved_from_what_is_measured():
    clock = FakeClock()
    run = tb.RunBudget(100, clock=clock)
    run.plan({"t.a_tuned": 2, "t.b_tuned": 2})
    run.begin_unit("t.a_tuned")
    run.start_search()
    clock.now += 5.0
    run.end_search(trials=2)
    clock.now += 5.0  # a refit and its predictions, outside the search
    # 5 s outside per search so far, 3 searches to come: 15 s reserved of the 90 left
    assert run.reserve() == pytest.approx(15.0)
    assert run.start_search() == pytest.approx((90 - 15) / 3)


def test_a_spent_budget_gives_no_time_and_the_search_keeps_the_untuned_defaults(data):
    clock = FakeClock()
    run = tb.RunBudget(10, clock=clock)
    run.plan({"response.logistic_tuned": 1})
    run.begin_unit("response.logistic_tuned")
    clock.now = 11.0
    assert run.start_search() == 0.0
    run.end_search(trials=0)
    run.begin_unit("response.logistic_tuned")
    tb.use_run_budget(run)
    tuned = TunedEstimator(family="logistic", n_trials=6, random_state=1).fit(*data)
    assert tuned.n_trials_ == 0 and tuned.chose_default_
    assert tuned.best_params_ == {"C": tuned._base().C}
    assert tuned.predict_proba(data[0]).shape == (150, 2)  # never returns nothing
    details = tuned.card_details(["a", "b", "c"])
    assert "final fit: 0.0 of 0.0 s, 0 trials" in \
        details["searches (time used of the share given, trials)"]


def test_a_search_scores_the_defaults_first_and_stops_within_its_share(data, monkeypatch):
    from crlm.models import tuning

    clock = FakeClock()
    scored = []

    def inner_fit_of_two_seconds(estimator, X, y, train, test, survival):
        clock.now += 2.0
        scored.append(estimator.get_params()["C"])
        return 0.6 + 0.001 * len(scored)

    monkeypatch.setattr(tuning, "_inner_score", inner_fit_of_two_seconds)
    run = tb.RunBudget(400, clock=clock)
    run.plan({"response.logistic_tuned": 2})
    run.begin_unit("response.logistic_tuned")
    tb.use_run_budget(run)
    tuned = TunedEstimator(family="logistic", n_trials=500, random_state=1,
                           timeout_s=None).fit(*data)
    record = run.unit_records()[-1]
    assert scored[:3] == [tuned._base().C] * 3  # trial 1: the defaults, 3 inner folds
    assert len(scored) == 3 * tuned.n_trials_
    assert 1 <= tuned.n_trials_ < 500  # the share, not the trial cap, stopped it
    assert record.trials == tuned.n_trials_
    assert record.used_s <= record.allotted_s  # no trial started that would end past it
    assert record.used_s > record.allotted_s - 6.0  # ... and none that would have fitted
    assert tuned.allotted_s_ == pytest.approx(record.allotted_s)


def test_with_one_trial_the_search_is_the_untuned_defaults(data):
    tuned = TunedEstimator(family="logistic", n_trials=1, random_state=1).fit(*data)
    assert tuned.n_trials_ == 1 and tuned.chose_default_
    assert tuned.best_params_ == {"C": tuned._base().C}
    assert 0.5 < tuned.best_score_ <= 1.0  # the defaults were scored by inner CV
    assert "the untuned defaults" in tuned.card_details(["a", "b", "c"])[
        "inner score of the chosen values"]


def test_a_bad_budget_is_refused_with_a_clear_message(capsys):
    from crlm import cli

    with pytest.raises(ValueError, match="positive"):
        tb.RunBudget(0)
    with pytest.raises(SystemExit):
        cli.main(["train", "--tune", "--tune-budget", "0"])
    assert "--tune-budget must be above 0 min" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--tune", "--tune-budget", "half an hour"])
    assert "--tune-budget must be a number of minutes" in capsys.readouterr().err
    assert cli.main(["train", "--tune-budget", "5", "--family", "cart"]) == 1
    assert "--tune-budget applies to tuned training" in capsys.readouterr().err


def test_the_run_budget_of_the_cli_defaults_to_the_stated_minutes():
    import argparse

    from crlm.cli.training import run_budget

    run = run_budget(argparse.Namespace(tune=True, tune_budget=None))
    assert run.seconds == tb.DEFAULT_BUDGET_MIN * 60
    assert run_budget(argparse.Namespace(tune=True, tune_budget=float("inf"))) is None
    assert run_budget(argparse.Namespace(tune=False, tune_budget=None)) is None
