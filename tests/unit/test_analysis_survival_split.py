"""The Survival page's analysis layer on a tiny synthetic store: every number equals the
statistics computed directly on the same rows, results are cached on (snapshot, filter,
choices) and a write to the cohort recomputes them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import stats
from crlm import store as st
from crlm.analysis import snapshot as snap_mod
from crlm.analysis import survival_models as sm
from crlm.analysis import cea_landmark as cl
from crlm.analysis import survival_split as ss
from crlm.analysis import trajectories as tr
from crlm.analysis.snapshot import filter_key, snapshot
from crlm.config import PATIENT_COLUMN_NAMES
from crlm.store import CohortFilter

N = 90


def _patients(n: int = N, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: [None] * n for c in PATIENT_COLUMN_NAMES})
    frame["patient_id"] = [f"P{i:03d}" for i in range(n)]
    frame["age_years"] = rng.uniform(40, 85, n).round(1)
    ras = rng.choice(["mutant", "wild-type"], n).astype(object)
    ras[:4] = None                                     # -> "unknown"
    frame["ras_status"] = ras
    hep = (rng.random(n) < 0.5).astype(object)
    hep[4:6] = None
    frame["hepatectomy"] = hep
    frame["os_months"] = rng.exponential(np.where(ras == "mutant", 20, 35)).round(2)
    frame["os_event"] = (rng.random(n) < 0.7).astype(object)
    frame.loc[n - 3:, ["os_months", "os_event"]] = None   # endpoint unknown: left out
    return frame


def _save_model(store, model_id: str, task: str, scores: np.ndarray) -> None:
    ids = [f"P{i:03d}" for i in range(len(scores))]
    st.save_model(store, {"model_id": model_id, "name": f"Model {model_id}", "family": "logistic",
                          "task": task, "cohort": "c", "threshold": 0.5},
                  pd.DataFrame({"patient_id": ids, "split": "out-of-fold", "fold": 1,
                                "score": scores}))


@pytest.fixture()
def store_path(tmp_path):
    path = tmp_path / "s.duckdb"
    rng = np.random.default_rng(11)
    with st.Store(path) as s:
        st.save_cohort(s, "c", _patients(), kind="imported")
        _save_model(s, "resp", "response", rng.random(N))
        _save_model(s, "risk", "os_risk", rng.normal(size=N))
    yield path
    snap_mod.close_stores()


def _rows(path):
    with st.Store(path) as s:
        frame = st.load_cohort(s, CohortFilter(cohort="c"))
    return frame.dropna(subset=["os_months", "os_event"])


def test_clinical_split_equals_direct_statistics(store_path):
    snap, key = snapshot(store_path, "c"), filter_key(CohortFilter(cohort="c"))
    result = ss.survival_split(snap, key, "OS", "ras_status")
    frame = _rows(store_path)
    group = frame["ras_status"].fillna("unknown").to_numpy(str)
    t, e = frame["os_months"].to_numpy(float), frame["os_event"].astype(bool).to_numpy()
    assert result.n == N - 3
    assert result.order == ("mutant", "wild-type", "unknown")
    for level in result.order:
        direct = stats.kaplan_meier(t[group == level], e[group == level])
        np.testing.assert_array_equal(result.curves[level].survival, direct.survival)
        np.testing.assert_array_equal(result.curves[level].timeline, direct.timeline)
    assert result.logrank_p == pytest.approx(stats.logrank(t, e, group).p_value, rel=1e-12)
    design = pd.DataFrame({lv: (group == lv).astype(float) for lv in result.order[1:]})
    fit = stats.cox(t, e, design)
    assert [h.group for h in result.hazard_ratios] == ["wild-type", "unknown"]
    assert result.hazard_ratio("wild-type").hr == pytest.approx(fit.terms[0].hr, rel=1e-9)
    assert result.hazard_ratio("mutant") is None and result.reference == "mutant"
    assert result.to_dict()["order"] == list(result.order)


def test_booleans_are_yes_no_and_the_whole_cohort_is_one_group(store_path):
    snap, key = snapshot(store_path, "c"), filter_key(CohortFilter(cohort="c"))
    data = ss.split_data(snap, key, "OS", "hepatectomy")
    assert set(data.group) == {"yes", "no", "unknown"}
    assert (data.group == "unknown").sum() == 2
    whole = ss.survival_split(snap, key, "OS", "none")
    assert whole.order == (ss.ALL_PATIENTS,) and np.isnan(whole.logrank_p)
    assert whole.hazard_ratios == ()


def test_predicted_responder_and_risk_tertiles(store_path):
    snap, key = snapshot(store_path, "c"), filter_key(CohortFilter(cohort="c"))
    preds = ss.split_data(snap, key, "OS", "predicted responder", "response", "resp", 0.5)
    frame = _rows(store_path)
    with st.Store(store_path, create=False) as s:
        scored = st.load_predictions(s, CohortFilter(cohort="c"), model_id="resp")
    score = scored.set_index("patient_id")["score"].reindex(frame["patient_id"]).to_numpy()
    expected = np.where(score >= 0.5, ss.PREDICTED[1], ss.PREDICTED[0])
    np.testing.assert_array_equal(preds.group, expected)
    np.testing.assert_array_equal(preds.time, frame["os_months"].to_numpy(float))
    risk = ss.split_data(snap, key, "OS", ss.RISK + "risk")
    with st.Store(store_path, create=False) as s:
        rscore = st.load_predictions(s, CohortFilter(cohort="c"), model_id="risk")
    rscore = rscore.set_index("patient_id")["score"].reindex(frame["patient_id"]).to_numpy()
    np.testing.assert_array_equal(risk.group, sm.risk_groups(rscore).groups)
    result = ss.survival_split(snap, key, "OS", ss.RISK + "risk")
    assert result.order == sm.group_names(3)
    assert ss.split_label(snap, ss.RISK + "risk") == "Predicted risk: Model risk (tertiles)"


def test_filter_rmst_and_table(store_path):
    snap = snapshot(store_path, "c")
    key = filter_key(CohortFilter(cohort="c", ranges={"age_years": (50, 70)}))
    result = ss.survival_split(snap, key, "OS", "ras_status")
    frame = _rows(store_path)
    frame = frame[(frame["age_years"] >= 50) & (frame["age_years"] <= 70)]
    assert result.n == len(frame) < N - 3
    rmst = ss.split_rmst(snap, key, "OS", "ras_status", None, None, None, 24.0)
    group = frame["ras_status"].fillna("unknown").to_numpy(str)
    direct = stats.rmst(frame["os_months"].to_numpy(float), frame["os_event"].astype(bool),
                        24.0, group=group)
    for r in direct.groups:
        assert rmst.of(str(r.group)).rmst == pytest.approx(r.rmst, rel=1e-12)
    table = ss.survival_table(result, rmst)
    assert table["group"].tolist() == list(result.order)
    assert table["n"].sum() == result.n
    assert table.loc[0, "hr_vs_mutant"] == 1.0
    km = result.curves["wild-type"]
    assert table.loc[1, "survival_36m"] == km.survival_at(36).survival[0]
    assert "rmst_24m" in table.columns


def test_results_are_cached_on_the_snapshot_and_recomputed_after_a_write(store_path):
    key = filter_key(CohortFilter(cohort="c"))
    snap = snapshot(store_path, "c")
    first = ss.survival_split(snap, key, "OS", "ras_status")
    assert ss.survival_split(snap, key, "OS", "ras_status") is first
    st.save_cohort(snap_mod.open_store(store_path), "c", _patients(N, seed=4), kind="imported")
    again = snapshot(store_path, "c")
    assert again != snap
    assert ss.survival_split(again, key, "OS", "ras_status").logrank_p != first.logrank_p


def test_bad_choices_are_refused(store_path):
    snap, key = snapshot(store_path, "c"), filter_key(CohortFilter(cohort="c"))
    with pytest.raises(ValueError, match="endpoint"):
        ss.split_data(snap, key, "XYZ", "none")
    with pytest.raises(ValueError, match="split"):
        ss.split_data(snap, key, "OS", "not_a_column")
    with pytest.raises(ValueError, match="threshold"):
        ss.split_data(snap, key, "OS", "predicted responder", "response", "resp", None)
    with pytest.raises(ValueError, match="horizon"):
        ss.split_rmst(snap, key, "OS", "none", None, None, None, 0.0)


def test_cea_landmark_equals_the_frame_computation(store_path):
    s = snap_mod.open_store(store_path)
    rng = np.random.default_rng(2)
    ids = [f"P{i:03d}" for i in range(N)]
    base = rng.uniform(6, 60, N)
    later = base * rng.uniform(0.2, 1.2, N)
    base[:5] = 3.0                                       # not elevated: no early response
    rows = pd.DataFrame({"patient_id": ids * 2, "day": [0] * N + [56] * N, "kind": "cea",
                         "value": np.concatenate((base, later)), "unit": "ng/mL",
                         "source": "test"})
    st.replace_measurements(s, "c", rows)
    snap = snapshot(store_path, "c")
    filt = CohortFilter(cohort="c", ranges={"age_years": (45, 80)})
    key = filter_key(filt)
    assert cl.has_measurements(snap, key)
    data, curves, test = cl.cea_landmark(snap, key, "OS")
    # the reference: the frame computation on the filtered cohort
    early = tr.cea_response_from_values(st.load_landmark_values(
        s, filt, "cea", landmark_day=tr.LANDMARK_DAY, window=tr.LANDMARK_WINDOW_DAYS))
    groups = early.set_index("patient_id")["cea_response"].map(cl.CEA_GROUPS)
    expected = tr.landmark_frame(st.load_cohort(s, filt), groups, time_column="os_months",
                                 event_column="os_event")
    assert "patient_id" not in data.frame.columns          # the frame is what is exported
    pd.testing.assert_frame_equal(data.frame, expected.frame.drop(columns="patient_id"))
    assert data.excluded == expected.excluded and data.excluded["no early value"] > 0
    assert data.landmark_months == expected.landmark_months
    frame = expected.frame
    assert list(curves) == sorted(cl.CEA_GROUPS.values())
    for name, km in curves.items():
        part = frame[frame["group"] == name]
        direct = stats.kaplan_meier(part["time"].to_numpy(float), part["event"].to_numpy(bool))
        np.testing.assert_array_equal(km.survival, direct.survival)
    assert test.p_value == pytest.approx(
        stats.logrank(frame["time"], frame["event"], frame["group"]).p_value, rel=1e-12)
    nobody = filter_key(CohortFilter(cohort="c", ranges={"age_years": (18, 19)}))
    assert not cl.has_measurements(snap, nobody)


def test_a_cohorts_own_variable_splits_by_its_levels(tmp_path):
    path = tmp_path / "own.duckdb"
    patients = _patients()
    rng = np.random.default_rng(5)
    arm = rng.integers(0, 3, N).astype(float)
    arm[10:13] = np.nan                                    # -> "unknown"
    ids = patients["patient_id"]
    features = pd.DataFrame({"patient_id": ids, "feature_set": "extra", "feature": "arm",
                             "value": arm}).dropna()
    info = pd.DataFrame({"feature_set": ["extra"], "feature": ["arm"],
                         "known_at": ["treatment plan"], "label": ["Treatment arm"],
                         "kind": ["categorical"], "levels": [("Obs", "Lev", "Lev+5FU")]})
    with st.Store(path) as s:
        st.save_cohort(s, "c", patients, features, kind="imported")
        with s.transaction() as cur:
            st.save_feature_info(cur, "c", info)
    try:
        snap, key = snapshot(path, "c"), filter_key(CohortFilter(cohort="c"))
        data = ss.split_data(snap, key, "OS", "extra:arm")
        known = patients["os_months"].notna().to_numpy()
        names = np.array(["Obs", "Lev", "Lev+5FU", "unknown"], dtype=object)
        expected = names[np.where(np.isnan(arm), 3, np.nan_to_num(arm)).astype(int)][known]
        np.testing.assert_array_equal(data.group, expected.astype(str))
        result = ss.survival_split(snap, key, "OS", "extra:arm")
        assert result.order == ("Obs", "Lev", "Lev+5FU", "unknown")
        assert ss.split_label(snap, "extra:arm") == "Treatment arm"
        assert sum(km.n for km in result.curves.values()) == int(known.sum())
    finally:
        snap_mod.close_stores()


def test_cohort_measured_marks_patients_with_a_value_on_or_before_the_day(store_path):
    from crlm.store import survival_rows

    s = snap_mod.open_store(store_path)
    ids = [f"P{i:03d}" for i in range(N)]
    rows = pd.DataFrame({"patient_id": [ids[1], ids[2], ids[2], ids[4]],
                         "day": [0, 30, -10, 5], "kind": "cea", "value": 5.0,
                         "unit": "ng/mL", "source": "test"})
    st.replace_measurements(s, "c", rows)
    measured = survival_rows.cohort_measured(s, "c", 0)
    in_row_order = st.load_cohort(s, CohortFilter(cohort="c"))["patient_id"]
    assert len(measured) == N
    by_id = dict(zip(in_row_order, measured))   # row order here is patient order
    assert [k for k, v in by_id.items() if v] == [ids[1], ids[2]]
    assert survival_rows.cohort_measured(s, "c", 5).sum() == 3
    assert not survival_rows.cohort_measured(s, "other", 0).any()
