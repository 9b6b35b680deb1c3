"""Trajectory analysis by hand: grid interpolation, medians, the waterfall, early CEA response
and the landmark frame; the vectorised RECIST derivation equals the per-patient one."""
from __future__ import annotations

import numpy as np
import pandas as pd

from crlm import config, recist
from crlm.analysis import trajectories as tr
from crlm.analysis import trajectory_series as ts
from crlm.figures.trajectory import make_trajectory_figure, make_waterfall_figure

M = config.DAYS_PER_MONTH


def _rows(pid, kind, days, values):
    return pd.DataFrame({"patient_id": pid, "kind": kind, "day": days, "value": values})


def test_series_are_interpolated_between_visits_and_never_beyond():
    # patient A: 10 cm at 0, 5 cm at 2 months -> -25 % at 1 month, nothing after 2 months
    m = pd.concat([_rows("A", "target_lesion_sum", [0, round(2 * M)], [10.0, 5.0])])
    grid = np.array([0.0, 1.0, 2.0, 3.0])
    r = tr.compute_trajectories(m, pd.Series({"A": "g"}), "target_lesion_sum",
                                grid_months=grid)
    codes = np.zeros(2, int)
    months = np.array([0.0, round(2 * M) / M])
    got = ts._interpolate(codes, months, np.array([0.0, -50.0]), 1, grid)[0]
    assert np.isclose(got[1], -25.0 * 2 / months[1], rtol=1e-3) and np.isnan(got[3])
    # one patient is fewer than MIN_AT_GRID: no median drawn
    assert np.isnan(r.median["g"]).all() and r.n_patients == {"g": 1}


def test_median_and_band_across_patients():
    ids = [f"P{i}" for i in range(20)]
    m = pd.concat([_rows(p, "cea", [-3, 56], [100.0, 10.0 * (i + 1)]) for i, p in enumerate(ids)])
    r = tr.compute_trajectories(m, pd.Series("all", index=ids), "cea",
                                grid_months=np.array([0.0, 56 / M]))
    # % of baseline at day 56: 10, 20, ..., 200 -> median 105 (geometric interpolation of the
    # two middle values on the log scale: sqrt(100 * 110))
    assert np.isclose(r.median["all"][0], 100.0)
    assert np.isclose(r.median["all"][1], np.sqrt(100 * 110))
    assert r.n_at_grid["all"].tolist() == [20, 20]
    fig = make_trajectory_figure(r, y_label="CEA", case={"months": [0, 2], "value": [100, 50]})
    assert fig.layout.yaxis.type == "log"


def test_rows_in_any_order_give_the_same_trajectories():
    rng = np.random.default_rng(4)
    ids = [f"P{i:02d}" for i in range(30)]
    m = pd.concat([_rows(p, "cea", [-7, 0, 30, 44, 61, 95], rng.uniform(2, 80, 6))
                   for p in ids], ignore_index=True)
    groups = pd.Series(["a", "b", None] * 10, index=ids)
    ordered = tr.compute_trajectories(m, groups, "cea")
    shuffled = tr.compute_trajectories(m.sample(frac=1, random_state=2), groups, "cea")
    assert ordered.groups == shuffled.groups == ("a", "b", tr.MISSING_GROUP)
    for g in ordered.groups:
        np.testing.assert_array_equal(ordered.median[g], shuffled.median[g])
        np.testing.assert_array_equal(ordered.lower[g], shuffled.lower[g])
        np.testing.assert_array_equal(ordered.n_at_grid[g], shuffled.n_at_grid[g])

    def rows(frame):    # patients come in the order they are first met
        out = frame.assign(patient_id=frame["patient_id"].astype(str))
        return out.sort_values(["patient_id", "day"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(rows(ordered.table), rows(shuffled.table))


def test_grid_values_equal_each_patients_own_interpolation():
    # by hand: each patient's % change series through np.interp on its own visits (baseline
    # the last value on or before day 0), nothing outside them; then percentiles per point
    rng = np.random.default_rng(11)
    rows, expected = [], {}
    groups = {}
    for i in range(90):
        pid = f"P{i:03d}"
        days = np.sort(rng.choice(np.arange(-30, 380), rng.integers(1, 9), replace=False))
        values = rng.uniform(1.0, 12.0, len(days))
        rows.append(_rows(pid, "target_lesion_sum", days, values))
        groups[pid] = ("a", "b", None, "c")[i % 4]
        pre = days <= 0
        if pre.any() and i % 4 != 3:       # group "c" is not asked for below
            base = values[pre][-1]
            t = np.r_[0.0, days[~pre]] / M
            v = 100 * (np.r_[base, values[~pre]] - base) / base
            expected[pid] = (groups[pid] or tr.MISSING_GROUP, t, v)
    m = pd.concat(rows, ignore_index=True).sample(frac=1, random_state=1)
    asked = pd.Series({p: g for p, g in groups.items() if g != "c"})
    r = tr.compute_trajectories(m, asked, "target_lesion_sum")
    assert r.groups == ("a", "b", tr.MISSING_GROUP)
    for g in r.groups:
        mine = [(t, v) for (h, t, v) in expected.values() if h == g]
        grid = np.full((len(mine), len(tr.GRID_MONTHS)), np.nan)
        for k, (t, v) in enumerate(mine):
            inside = (tr.GRID_MONTHS >= t[0]) & (tr.GRID_MONTHS <= t[-1])
            grid[k, inside] = np.interp(tr.GRID_MONTHS[inside], t, v)
        count = np.isfinite(grid).sum(axis=0)
        assert r.n_patients[g] == len(mine) and r.n_at_grid[g].tolist() == count.tolist()
        for j in np.flatnonzero(count >= tr.MIN_AT_GRID):
            lo, med, hi = np.percentile(grid[np.isfinite(grid[:, j]), j], [25, 50, 75])
            assert np.allclose([r.lower[g][j], r.median[g][j], r.upper[g][j]], [lo, med, hi])
        assert np.isnan(r.median[g][count < tr.MIN_AT_GRID]).all()
    # every plotted row is in the table, the drawn lines are some of them
    assert len(r.table) == sum(len(t) for (_, t, _) in expected.values())
    assert set(r.lines["patient_id"]) <= set(r.table["patient_id"].astype(str))
    assert set(r.table["group"]) == set(r.groups)


def test_waterfall_is_sorted_from_the_largest_increase_and_thinned_above_the_cap():
    m = pd.concat([_rows(f"P{i}", "target_lesion_sum", [0, 60], [10.0, 10.0 * (0.1 + i / 10)])
                   for i in range(12)])
    w = tr.compute_waterfall(m)
    assert w.table["best_change_pct"].is_monotonic_decreasing and w.n_patients == 12
    thin = tr.compute_waterfall(m, max_bars=5)
    assert thin.thinned and len(thin.shown) == 5 and thin.shown["rank"].iloc[0] == 1
    assert len(make_waterfall_figure(w).data) >= 2


def test_early_cea_response_reads_nothing_after_the_window():
    m = pd.concat([
        _rows("A", "cea", [-5, 50, 200], [20.0, 8.0, 500.0]),      # fall 60 %: response
        _rows("B", "cea", [0, 60], [20.0, 12.0]),                  # fall 40 %
        _rows("C", "cea", [0, 56], [4.0, 1.0]),                    # baseline not elevated
        _rows("D", "cea", [0, 120], [30.0, 3.0]),                  # no value in the window
    ])
    e = tr.early_cea_response(m).set_index("patient_id")
    assert e["cea_response"].to_dict() == {"A": True, "B": False}
    late = m.assign(value=np.where(m["day"] > 70, -1.0, m["value"]))
    pd.testing.assert_frame_equal(tr.early_cea_response(late), tr.early_cea_response(m))


def test_landmark_frame_drops_early_events_and_measures_from_the_landmark():
    landmark = config.RESTAGING_LANDMARK_DAYS / M
    patients = pd.DataFrame({"patient_id": ["A", "B", "C", "D"],
                             "pfs_months": [1.0, 10.0, 2.0, 5.0],
                             "pfs_event": [True, True, False, False]})
    data = tr.landmark_frame(patients, pd.Series({"A": "x", "B": "y", "C": "x"}),
                             time_column="pfs_months", event_column="pfs_event")
    assert data.frame["patient_id"].tolist() == ["B"]
    assert np.isclose(data.frame["time"].iloc[0], 10.0 - landmark)
    assert data.excluded == {"no early value": 1, "event before the landmark": 1,
                             "censored before the landmark": 1}


def test_vectorised_recist_equals_the_per_patient_rule():
    rng = np.random.default_rng(4)
    rows = []
    for i in range(300):
        days = np.sort(rng.choice(np.arange(-20, 400), rng.integers(1, 7), replace=False))
        values = np.round(rng.uniform(0, 1.6, len(days)) * 8 * (rng.random(len(days)) > 0.05), 1)
        rows.append(_rows(f"P{i:03d}", "target_lesion_sum", days, values))
    m = pd.concat(rows, ignore_index=True)
    fast = recist.derive_frame(m).set_index("patient_id")
    for pid, g in m.groupby("patient_id"):
        one = recist.derive_series(g["day"], g["value"])
        assert fast.loc[pid, "derived_response"] == one.best_response
        day = fast.loc[pid, "progression_day"]
        assert (pd.isna(day) and one.progression_day is None) or day == one.progression_day
        a, b = fast.loc[pid, "best_change_pct"], one.best_change_pct
        assert (np.isnan(a) and np.isnan(b)) or np.isclose(a, b)


def test_a_case_series_is_checked_and_summarised():
    entries = pd.DataFrame({"day": [-7, 28, 56, None], "value": [40.0, 25.0, 16.0, None]})
    s = tr.case_series(entries, "cea")
    assert not s.problems
    assert s.frame["plotted"].tolist()[0] == 100.0 and np.isclose(s.frame["plotted"].iloc[-1], 40.0)
    assert s.summary["cea_response"] is True and s.summary["last_change_pct"] == -60.0
    sums = tr.case_series(pd.DataFrame({"day": [0, 56], "value": [10.0, 6.0]}),
                          "target_lesion_sum")
    assert sums.summary["recist"] == "PR" and sums.summary["best_change_pct"] == -40.0
    bad = tr.case_series(pd.DataFrame({"day": [10, "x"], "value": [-1.0, 3.0]}), "cea")
    assert bad.problems == ("row 1: CEA must be a number from 0 to 100000 ng/mL",
                            "row 2: day must be a number from -365 to 3,650",
                            "a baseline value (day 0 or before) is needed")
