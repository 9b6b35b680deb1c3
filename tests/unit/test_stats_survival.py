"""Kaplan–Meier, number at risk, follow-up, log-rank, RMST, landmarks: hand-checked cases and edges."""
from __future__ import annotations

import json

import numpy as np
import pytest

from crlm import stats


def test_kaplan_meier_hand_example():
    # times 1,2,2,3+,4 ; events at 1, 2, 2, 4
    km = stats.kaplan_meier([1, 2, 2, 3, 4], [1, 1, 1, 0, 1])
    np.testing.assert_allclose(km.timeline, [1, 2, 3, 4])
    np.testing.assert_allclose(km.survival, [0.8, 0.8 * 2 / 4, 0.4, 0.0])
    assert list(km.at_risk) == [5, 4, 2, 1]
    assert list(km.events) == [1, 2, 0, 1]
    assert list(km.censored) == [0, 0, 1, 0]
    # survival 0.4 < 0.5 first at t=2
    assert km.median == 2
    assert km.n == 5 and km.n_events == 4


def test_all_censored_curve_stays_at_one():
    km = stats.kaplan_meier([3, 5, 7], [0, 0, 0])
    assert np.all(km.survival == 1)
    assert np.all(km.ci_lower == 1) and np.all(km.ci_upper == 1)
    assert np.isnan(km.median) and all(np.isnan(km.median_ci))


def test_single_patient_and_ties_everywhere():
    one = stats.kaplan_meier([4.0], [1])
    assert one.survival.tolist() == [0.0] and one.median == 4
    tied = stats.kaplan_meier([2] * 10, [1] * 5 + [0] * 5)
    np.testing.assert_allclose(tied.survival, [0.5])
    assert tied.at_risk.tolist() == [10]


def test_empty_input_gives_empty_curve():
    km = stats.kaplan_meier([], [])
    assert len(km.timeline) == 0 and np.isnan(km.median)


@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
def test_band_contains_curve(conf_type):
    rng = np.random.default_rng(3)
    t = rng.exponential(10, 200)
    e = rng.random(200) < 0.7
    km = stats.kaplan_meier(t, e, conf_type=conf_type)
    assert np.all(km.ci_lower <= km.survival + 1e-12)
    assert np.all(km.ci_upper >= km.survival - 1e-12)
    assert km.median_ci[0] <= km.median <= km.median_ci[1]


def test_conf_type_checked():
    with pytest.raises(ValueError, match="conf_type"):
        stats.kaplan_meier([1, 2], [1, 1], conf_type="arcsin")


def test_survival_at_before_first_and_after_last_time():
    km = stats.kaplan_meier([2, 4, 6], [1, 0, 1])
    at = km.survival_at([0, 2, 5, 100])
    np.testing.assert_allclose(at.survival, [1, 2 / 3, 2 / 3, 0])
    assert at.at_risk.tolist() == [3, 3, 1, 0]


def test_number_at_risk():
    counts = stats.number_at_risk([1, 2, 2, 5, 9], [0, 2, 3, 9, 10])
    assert counts.tolist() == [5, 4, 2, 1, 0]
    assert counts.dtype.kind == "i"


def test_kaplan_meier_by_levels_in_order():
    curves = stats.kaplan_meier_by([1, 2, 3, 4], [1, 1, 0, 1], ["wild-type", "mutant", "mutant", "wild-type"])
    assert list(curves) == ["mutant", "wild-type"]
    assert curves["mutant"].n == 2


def test_median_follow_up_reverse_km():
    # censored at 5 and 8; deaths are "censored" in reverse KM
    fu = stats.median_follow_up([1, 5, 8, 9], [1, 0, 0, 1])
    assert fu.median == 8


@pytest.mark.parametrize("bad,match", [
    (dict(time=[1, np.nan], event=[1, 0]), "time has 1 missing"),
    (dict(time=[1, -2], event=[1, 0]), "non-negative"),
    (dict(time=[1, 2, 3], event=[1, 0]), "length"),
    (dict(time=[1, 2], event=[1, 2]), "0/1"),
    (dict(time=[1, 2], event=[1, None]), "event has 1 missing"),
])
def test_input_checks_name_the_argument(bad, match):
    with pytest.raises(ValueError, match=match):
        stats.kaplan_meier(bad["time"], bad["event"])


def test_dropna_drops_rows_missing_anywhere():
    km = stats.kaplan_meier([1, np.nan, 3, 4], [1, 1, np.nan, 0], dropna=True)
    assert km.n == 2


def test_logrank_identical_groups_and_single_group():
    t = np.array([1, 2, 3, 4, 1, 2, 3, 4], float)
    e = np.array([1, 1, 0, 1, 1, 1, 0, 1])
    res = stats.logrank(t, e, [0] * 4 + [1] * 4)
    assert res.statistic == pytest.approx(0, abs=1e-12) and res.df == 1 and res.p_value == pytest.approx(1)
    single = stats.logrank(t, e, ["a"] * 8)
    assert single.statistic == 0 and single.df == 0 and single.p_value == 1
    none = stats.logrank(t, np.zeros(8), [0] * 4 + [1] * 4)
    assert none.statistic == 0 and none.df == 0


def test_logrank_detects_a_difference_and_strata_sum():
    rng = np.random.default_rng(11)
    g = np.repeat([0, 1], 300)
    t = rng.exponential(np.where(g == 1, 5.0, 10.0))
    e = np.ones(600)
    res = stats.logrank(t, e, g)
    assert res.p_value < 1e-6 and res.observed.sum() == 600
    strat = stats.logrank(t, e, g, strata=np.tile([0, 1], 300))
    assert strat.df == 1 and strat.p_value < 1e-6


def test_rmst_no_events_is_horizon_and_difference():
    r = stats.rmst([10, 20, 30], [0, 0, 0], horizon=5)
    assert r.groups[0].rmst == 5 and r.groups[0].se == 0
    two = stats.rmst([2, 4, 6, 8, 1, 2, 3, 4], [1, 1, 1, 1, 1, 1, 1, 1], horizon=4,
                     group=[1, 1, 1, 1, 0, 0, 0, 0])
    # group 0 (first level): all die by 4 -> area 1+0.75+0.5+0.25 = 2.5; group 1: 2+1.5 = 3.5
    assert two.groups[0].rmst == pytest.approx(2.5)
    assert two.groups[1].rmst == pytest.approx(3.5)
    assert two.difference == pytest.approx(1.0)
    with pytest.raises(ValueError, match="horizon"):
        stats.rmst([1, 2], [1, 1], horizon=0)


def test_landmark_survival_table():
    res = stats.landmark_survival([6, 14, 30, 40, 70, 5], [1, 1, 0, 1, 0, 1], ["a", "a", "a", "b", "b", "b"],
                                  times=(12, 36))
    assert res.survival.shape == (2, 2)
    np.testing.assert_allclose(res.survival[0], [2 / 3, 1 / 3])
    assert len(res.table()) == 4


def test_to_dict_is_json_serialisable():
    km = stats.kaplan_meier([1, 2, 3], [1, 0, 1])
    text = json.dumps(km.to_dict())
    assert "survival" in text
    json.dumps(stats.logrank([1, 2, 3, 4], [1, 1, 1, 1], [0, 0, 1, 1]).to_dict())
    json.dumps(stats.rmst([1, 2, 3, 4], [1, 1, 1, 1], 3, group=[0, 0, 1, 1]).to_dict())
