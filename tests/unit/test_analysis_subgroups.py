"""The Subgroups page's analysis layer on a tiny synthetic store: every number equals the
statistics computed directly on the same rows, levels are named as the page names them,
and results are cached on (snapshot, filter, choices) until the cohort changes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import stats
from crlm import store as st
from crlm.analysis import snapshot as snap_mod
from crlm.analysis import subgroup_effects as sg
from crlm.analysis import subgroup_panels
from crlm.analysis.pages import PREDICTED, subgroup_levels
from crlm.analysis.snapshot import filter_key, snapshot
from crlm.config import PATIENT_COLUMN_NAMES
from crlm.store import CohortFilter

N = 160
COLUMNS = ("ras_status", "primary_side", "center")


def _patients(n: int = N, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: [None] * n for c in PATIENT_COLUMN_NAMES})
    frame["patient_id"] = [f"P{i:03d}" for i in range(n)]
    frame["age_years"] = rng.uniform(40, 85, n).round(1)
    ras = rng.choice(["mutant", "wild-type"], n).astype(object)
    ras[:6] = None                                     # -> "unknown"
    frame["ras_status"] = ras
    frame["primary_side"] = rng.choice(["left", "right", "rectum"], n)
    frame["center"] = rng.choice(["B", "A"], n)
    frame["responder"] = (rng.random(n) < 0.4).astype(object)
    frame["os_months"] = rng.exponential(30, n).round(1)
    frame["os_event"] = (rng.random(n) < 0.7).astype(object)
    frame["pfs_months"] = rng.exponential(12, n).round(1)
    frame["pfs_event"] = (rng.random(n) < 0.8).astype(object)
    frame.loc[n - 4:, ["os_months", "os_event"]] = None   # endpoint unknown: left out
    return frame


def _save(path, patients: pd.DataFrame, scores: np.ndarray) -> None:
    with st.Store(path) as s:
        st.save_cohort(s, "c", patients, kind="imported")
        st.save_model(s, {"model_id": "resp", "name": "Model resp", "family": "logistic",
                          "task": "response", "cohort": "c", "threshold": 0.5},
                      pd.DataFrame({"patient_id": patients["patient_id"], "split": "out-of-fold",
                                    "fold": 1, "score": scores}))


@pytest.fixture()
def store_path(tmp_path):
    path = tmp_path / "s.duckdb"
    _save(path, _patients(), np.random.default_rng(2).random(N))
    yield path
    snap_mod.close_stores()


def _frame(path) -> pd.DataFrame:
    with st.Store(path) as s:
        frame = st.load_cohort(s, CohortFilter(cohort="c"))
        preds = st.load_predictions(s, CohortFilter(cohort="c"), task="response",
                                    model_id="resp")
    return frame.merge(preds[["patient_id", "score"]], on="patient_id")


def test_forest_equals_subgroup_effects_on_the_rows(store_path):
    snap, key = snapshot(store_path, "c"), filter_key(CohortFilter(cohort="c"))
    result = sg.forest(snap, key, "response", "resp", 0.5, "OS", COLUMNS)
    frame = _frame(store_path).dropna(subset=["os_months", "os_event"])
    assert not result.empty
    group = (frame["score"].to_numpy() >= 0.5).astype(int)
    for column, label in zip(COLUMNS, ("RAS status", "Primary tumour side", "Centre")):
        want = stats.subgroup_effects(frame["os_months"].to_numpy(float),
                                      frame["os_event"].astype(bool).to_numpy(), group,
                                      subgroup_levels(frame[column], column))
        rows = result.rows[result.rows["variable"] == label].set_index("level")
        assert len(rows) == len(want.subgroups)
        for eff in want.subgroups:
            row = rows.loc[eff.level]
            assert (row["n"], row["events"]) == (eff.n, eff.events)
            if eff.estimable:
                assert row["estimate"] == pytest.approx(eff.hr, rel=1e-9)
                assert row["ci_upper"] == pytest.approx(eff.ci_upper, rel=1e-9)
        assert rows["interaction_p_value"].iloc[0] == pytest.approx(want.interaction_p_value,
                                                                    rel=1e-7)
    # variables as chosen, levels in the contract's order, unknown after the known ones
    assert list(dict.fromkeys(result.rows["variable"])) == ["RAS status", "Primary tumour side",
                                                            "Centre"]
    assert result.rows["level"].tolist()[:3] == ["mutant", "wild-type", "unknown"]
    assert result.rows["level"].tolist()[3:6] == ["right", "left", "rectum"]
    assert result.rows["n"].iloc[:3].sum() == N - 4
    assert result.to_dict()["rows"][0]["variable"] == "RAS status"


def test_auc_per_level_equals_roc_on_the_level(store_path):
    snap, key = snapshot(store_path, "c"), filter_key(CohortFilter(cohort="c"))
    rows = sg.auc_by_level(snap, key, "response", "resp", ("primary_side",)).rows
    frame = _frame(store_path)
    assert rows["level"].tolist() == ["right", "left", "rectum"]
    for level, row in rows.set_index("level").iterrows():
        part = frame[frame["primary_side"] == level]
        roc = stats.roc(part["responder"].astype(bool).to_numpy(), part["score"].to_numpy(float))
        assert row["estimate"] == pytest.approx(roc.auc)
        assert (row["ci_lower"], row["ci_upper"]) == pytest.approx(roc.auc_ci)
        assert (row["n"], row["events"]) == (len(part), int(part["responder"].astype(bool).sum()))


def test_km_panels_are_kaplan_meier_and_log_rank_per_level(store_path):
    snap, key = snapshot(store_path, "c"), filter_key(CohortFilter(cohort="c"))
    grid = subgroup_panels.km_panels(snap, key, "response", "resp", 0.5, "PFS", "center")
    frame = _frame(store_path).dropna(subset=["pfs_months", "pfs_event"])
    assert list(grid.panels) == ["A", "B"]        # no known levels: sorted
    part = frame[frame["center"] == "A"]
    t, e = part["pfs_months"].to_numpy(float), part["pfs_event"].astype(bool).to_numpy()
    g = np.asarray(PREDICTED)[(part["score"].to_numpy() >= 0.5).astype(int)]
    km = stats.kaplan_meier(t[g == PREDICTED[1]], e[g == PREDICTED[1]])
    assert grid.panels["A"][PREDICTED[1]].median == pytest.approx(km.median)
    assert grid.logrank_p["A"] == pytest.approx(stats.logrank(t, e, g).p_value)
    table = grid.table()
    assert table["n"].sum() == len(frame) and set(table["panel"]) == {"A", "B"}
    # a level with fewer patients than a panel needs is named with its n and left empty
    small = subgroup_panels.km_panels(snap, filter_key(CohortFilter(cohort="c", ranges={"age_years": (40, 41.5)})),
                         "response", "resp", 0.5, "PFS", "center")
    assert all(v is None for v in small.panels.values())
    assert all(" (n = " in name for name in small.panels)


def test_results_are_cached_until_the_cohort_changes(store_path):
    snap, key = snapshot(store_path, "c"), filter_key(CohortFilter(cohort="c"))
    first = sg.forest(snap, key, "response", "resp", 0.5, "OS", COLUMNS)
    assert sg.forest(snap, key, "response", "resp", 0.5, "OS", COLUMNS) is first
    # another threshold re-splits the same rows
    assert not sg.forest(snap, key, "response", "resp", 0.3, "OS", COLUMNS).rows.equals(
        first.rows)
    fewer = _patients().iloc[:100]
    opened = snap_mod.open_store(store_path)
    st.save_cohort(opened, "c", fewer, kind="imported")
    st.save_model(opened, {"model_id": "resp", "name": "Model resp", "family": "logistic",
                           "task": "response", "cohort": "c", "threshold": 0.5},
                  pd.DataFrame({"patient_id": fewer["patient_id"], "split": "out-of-fold",
                                "fold": 1, "score": np.random.default_rng(2).random(100)}))
    again = snapshot(store_path, "c")
    assert again != snap
    after = sg.forest(again, key, "response", "resp", 0.5, "OS", COLUMNS)
    assert after is not first and after.rows["n"].iloc[:3].sum() < first.rows["n"].iloc[:3].sum()


def test_no_matching_patient_gives_an_empty_forest(store_path):
    snap = snapshot(store_path, "c")
    key = filter_key(CohortFilter(cohort="c", ranges={"age_years": (18, 20)}))
    assert sg.forest(snap, key, "response", "resp", 0.5, "OS", COLUMNS).empty


def test_an_unknown_endpoint_or_variable_is_named_in_the_error(store_path):
    snap = snapshot(store_path, "c")
    key = filter_key(CohortFilter(cohort="c"))
    with pytest.raises(ValueError, match="unknown endpoint 'XYZ'"):
        sg.forest(snap, key, "response", "resp", 0.5, "XYZ", COLUMNS)
    with pytest.raises(ValueError, match="unknown endpoint 'XYZ'"):
        subgroup_panels.km_panels(snap, key, "response", "resp", 0.5, "XYZ", COLUMNS[0])
    with pytest.raises(ValueError, match="'nope' is not a subgroup variable"):
        sg.forest(snap, key, "response", "resp", 0.5, "OS", ("nope",))


def test_levels_are_named_as_subgroup_levels_names_them():
    cases = {
        "ras_status": pd.Series(["mutant", None, "wild-type", "mutant", "unknown"], dtype=object),
        "center": pd.Series([3, 1, None, 3], dtype="Int64"),
        "primary_side": pd.Series(["rectum", "left"], dtype=object),
        "kras": pd.Series([], dtype=object),
    }
    for column, series in cases.items():
        lv = sg.levels(None, pd.DataFrame({column: series}), column)
        assert lv.groups().tolist() == subgroup_levels(series, column).tolist()
        assert list(lv.names) == sorted(set(lv.names))
    lv = sg.levels(None, pd.DataFrame({"ras_status": cases["ras_status"]}), "ras_status")
    assert lv.order == ("mutant", "wild-type", "unknown")


def test_the_r_export_reads_the_predictions_with_the_split(store_path):
    from crlm.reports.r_export.inputs import subgroups_export_from_predictions

    snap, key = snapshot(store_path, "c"), filter_key(CohortFilter(cohort="c"))
    data = sg.prediction_data(snap, key, "response", "resp", 0.5, "OS")
    assert len(data) == N and data["patient_id"].is_unique
    assert data["predicted"].tolist() == (data["score"] >= 0.5).astype(int).tolist()
    assert data["ras_status"].dtype == object and data["ras_status"].isna().sum() == 6
    export = subgroups_export_from_predictions(data, task="response", endpoint="OS",
                                               columns=("ras_status", "primary_side"))
    assert len(export.data) == N and export.quantities
    assert (export.data == "unknown").to_numpy().sum() == 6


def test_a_filter_selects_its_patients_from_the_cohort_read_once(store_path):
    snap = snapshot(store_path, "c")
    whole = sg.forest(snap, filter_key(CohortFilter(cohort="c")), "response", "resp", 0.5, "OS",
                      COLUMNS)
    filt = CohortFilter(cohort="c", ranges={"age_years": (50, 70)})
    result = sg.forest(snap, filter_key(filt), "response", "resp", 0.5, "OS", ("primary_side",))
    frame = _frame(store_path).dropna(subset=["os_months", "os_event"])
    frame = frame[frame["age_years"].between(50, 70)]
    want = stats.subgroup_effects(frame["os_months"].to_numpy(float),
                                  frame["os_event"].astype(bool).to_numpy(),
                                  (frame["score"].to_numpy() >= 0.5).astype(int),
                                  subgroup_levels(frame["primary_side"], "primary_side"))
    rows = result.rows.set_index("level")
    assert 0 < rows["n"].sum() == len(frame) < whole.rows["n"].iloc[:3].sum()
    for eff in want.subgroups:
        assert (rows.loc[eff.level, "n"], rows.loc[eff.level, "events"]) == (eff.n, eff.events)
        if eff.estimable:
            assert rows.loc[eff.level, "estimate"] == pytest.approx(eff.hr, rel=1e-9)
    auc = sg.auc_by_level(snap, filter_key(filt), "response", "resp", ("center",)).rows
    scored = _frame(store_path)
    assert auc["n"].sum() == scored["age_years"].between(50, 70).sum()


def test_an_own_variable_is_a_subgroup_read_with_the_cohort(tmp_path):
    path = tmp_path / "own.duckdb"
    patients = _patients()
    dose = np.random.default_rng(9).uniform(0, 10, N).round(2)
    dose[:5] = np.nan                                          # -> "unknown"
    features = pd.DataFrame({"patient_id": patients["patient_id"], "feature_set": "extra",
                             "feature": "dose", "value": dose}).dropna()
    info = pd.DataFrame({"feature_set": ["extra"], "feature": ["dose"],
                         "known_at": ["treatment plan"], "label": ["Dose"],
                         "kind": ["numeric"], "levels": [()]})
    with st.Store(path) as s:
        st.save_cohort(s, "c", patients, features, kind="imported")
        with s.transaction() as cur:
            st.save_feature_info(cur, "c", info)
        st.save_model(s, {"model_id": "resp", "name": "Model resp", "family": "logistic",
                          "task": "response", "cohort": "c", "threshold": 0.5},
                      pd.DataFrame({"patient_id": patients["patient_id"], "split": "out-of-fold",
                                    "fold": 1, "score": np.random.default_rng(2).random(N)}))
    try:
        snap = snapshot(path, "c")
        key = filter_key(CohortFilter(cohort="c", ranges={"age_years": (45, 80)}))
        column = sg.extra_variables(snap)[0].key
        result = sg.forest(snap, key, "response", "resp", 0.5, "OS", (column, "center"))
        frame = _frame(path)
        frame["dose"] = dose
        frame = frame[frame["age_years"].between(45, 80)].dropna(subset=["os_months"])
        rows = result.rows[result.rows["variable"] == "Dose"]
        cut = np.nanmedian(frame["dose"])                      # cut at these patients' median
        assert rows["n"].sum() == len(frame)
        assert rows.set_index("level")["n"].get("unknown", 0) == frame["dose"].isna().sum()
        low = rows[rows["level"].str.contains("≤|<=")]["n"].sum()
        assert low == (frame["dose"] <= cut).sum()
    finally:
        snap_mod.close_stores()
