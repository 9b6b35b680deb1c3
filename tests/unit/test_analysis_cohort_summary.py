"""The Cohort page's analyses on a tiny store: each result equals the statistics computed
directly on the filtered patients, the split by a column with missing values gets an
"unknown" group, the predicted-responder split reads the model's predictions, an empty
filter gives empty results, and columns the cohort does not record are not shown."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crlm import stats
from crlm import store as st
from crlm.analysis import cohort_summary as cs
from crlm.analysis import snapshot as snap_mod
from crlm.analysis.pages import TABLE_ONE_VARIABLES
from crlm.analysis.snapshot import filter_key, snapshot
from crlm.config import PATIENT_COLUMN_NAMES
from crlm.stats.baseline_table import baseline_table
from crlm.store import CohortFilter

N = 120
MODEL = "response.logistic"


def _patients(n: int, rng) -> pd.DataFrame:
    frame = pd.DataFrame({c: [None] * n for c in PATIENT_COLUMN_NAMES})
    frame["patient_id"] = [f"P{i:04d}" for i in range(n)]
    frame["center"] = rng.choice(["Centre A", "Centre B", "Centre C"], n)
    frame["age_years"] = rng.integers(30, 90, n).astype(float)
    frame["sex"] = rng.choice(["female", "male"], n)
    ras = rng.choice(["mutant", "wild-type"], n).astype(object)
    ras[np.arange(n) % 9 == 0] = None                       # RAS not tested
    frame["ras_status"] = ras
    frame["primary_side"] = rng.choice(["left", "right", "rectum"], n)
    frame["n_liver_lesions"] = rng.integers(1, 8, n)
    frame["cea_ng_ml"] = np.exp(rng.normal(2, 1.2, n))
    frame["os_months"] = rng.exponential(30, n)
    frame["os_event"] = rng.random(n) < 0.6
    frame["responder"] = pd.Series(rng.random(n) < 0.4, dtype=object)
    return frame


@pytest.fixture()
def snap(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "c.duckdb"
    with st.Store(path) as s:
        patients = _patients(N, rng)
        st.save_cohort(s, "c", patients, kind="imported")
        scored = patients["patient_id"].iloc[: N - 10]          # ten patients unscored
        st.save_model(s, {"model_id": MODEL, "name": "Logistic", "family": "logistic",
                          "task": "response", "cohort": "c", "kind": "trained",
                          "threshold": 0.5, "metrics": {}},
                      pd.DataFrame({"patient_id": scored, "split": "out-of-fold",
                                    "score": rng.random(len(scored))}))
    try:
        yield snapshot(path, "c")
    finally:
        snap_mod.close_stores()


def _frame(snap, filt: CohortFilter) -> pd.DataFrame:
    return st.load_cohort(snap.store(), filt)


def _recorded_variables(by=None):
    recorded = {"age_years", "sex", "ras_status", "primary_side", "n_liver_lesions",
                "cea_ng_ml", "responder"}
    return [v for v in TABLE_ONE_VARIABLES if v[0] in recorded and v[0] != by]


def test_headline_equals_the_direct_numbers(snap):
    filt = CohortFilter(cohort="c", ranges={"age_years": (40, 80)})
    head = cs.headline(snap, filter_key(filt))
    frame = _frame(snap, filt)
    assert head.n_patients == len(frame) < N
    assert head.n_centres == frame["center"].nunique()
    assert head.deaths == int(frame["os_event"].sum())
    direct = stats.median_follow_up(frame["os_months"].to_numpy(float),
                                    frame["os_event"].to_numpy(bool))
    assert head.follow_up.median == pytest.approx(direct.median)
    assert head.follow_up.median_ci == pytest.approx(direct.median_ci)
    json.dumps(head.to_dict())
    assert cs.headline(snap, filter_key(filt)) is head          # cached on its arguments


def test_columns_without_a_value_are_not_shown(snap):
    avail = cs.availability(snap)
    assert {"age_years", "ras_status", "cea_ng_ml"} <= avail.recorded
    assert {"max_diameter_cm", "tumour_burden_score", "fong_score", "msi"} <= avail.unavailable
    assert "age_years" not in avail.unavailable
    key = filter_key(CohortFilter(cohort="c"))
    table = cs.table_one(snap, key).table
    assert "MSI / MMR" not in set(table["variable"])
    assert "MSI / MMR" in cs.table_one(snap, key).not_shown
    shown = [d.column for d in cs.distributions(snap, key)]
    assert shown == ["age_years", "n_liver_lesions", "cea_ng_ml", "ras_status", "primary_side"]


def test_table_one_overall_and_split_equal_baseline_table(snap):
    filt = CohortFilter(cohort="c", ranges={"age_years": (35, 85)})
    key = filter_key(filt)
    frame = _frame(snap, filt)
    overall = cs.table_one(snap, key)
    assert overall.table.equals(baseline_table(frame, _recorded_variables()).table)
    split = cs.table_one(snap, key, "ras_status")
    expected = baseline_table(frame, _recorded_variables("ras_status"), by="ras_status")
    assert split.table.reset_index(drop=True).equals(expected.table)
    # RAS missing for some patients: their own group, "unknown"
    assert split.groups == ("mutant", "unknown", "wild-type")
    n_row = split.table[split.table["variable"] == "n"].iloc[0]
    assert int(n_row["unknown"]) == int(frame["ras_status"].isna().sum()) > 0
    json.dumps(split.to_dict(), default=str)


def test_a_split_level_absent_from_the_filter_is_not_a_group(snap):
    filt = CohortFilter(cohort="c", categories={"ras_status": ("mutant",)})
    split = cs.table_one(snap, filter_key(filt), "ras_status")
    assert split.groups == ("mutant",)
    assert {"wild-type", "unknown"}.isdisjoint(split.table.columns)


def test_predicted_responder_split_reads_the_models_predictions(snap):
    key = filter_key(CohortFilter(cohort="c"))
    result = cs.table_one(snap, key, "predicted responder", MODEL, 0.5)
    assert result.by == cs.PREDICTED
    preds = st.load_predictions(snap.store(), CohortFilter(cohort="c"), model_id=MODEL)
    n_row = result.table[result.table["variable"] == "n"].iloc[0]
    assert int(n_row["predicted responder"]) == int((preds["score"] >= 0.5).sum())
    assert int(n_row["predicted non-responder"]) == int((preds["score"] < 0.5).sum())
    assert int(n_row["unknown"]) == 10                          # no prediction
    dist = cs.distribution(snap, key, "age_years", "histogram", "predicted responder",
                           MODEL, 0.5)
    assert dist.binned.groups == ("predicted non-responder", "predicted responder", "missing")
    assert sum(dist.binned.n) == N
    export = cs.table_one_export(snap, key, "predicted responder", MODEL, 0.5)
    assert "patient_id" not in export.data.columns and len(export.data) == N
    assert not export.data.astype(str).isin(preds["patient_id"]).any().any()


def test_distributions_count_every_filtered_patient(snap):
    filt = CohortFilter(cohort="c", ranges={"age_years": (40, 80)})
    key = filter_key(filt)
    frame = _frame(snap, filt)
    for dist in cs.distributions(snap, key, "sex"):
        assert list(dist.data.columns) == [dist.column, "sex"]
        assert len(dist.data) == len(frame)
        if dist.kind == "bar":
            assert int(dist.binned.counts.sum()) == len(frame)
        else:
            assert int(dist.binned.counts.sum()) == int(frame[dist.column].notna().sum())
        assert dist.binned.groups == ("female", "male")
        json.dumps(dist.to_dict())
    bars = {d.column: d for d in cs.distributions(snap, key)}["ras_status"].binned
    assert bars.levels == ("mutant", "wild-type", "missing")
    assert bars.counts[0, 2] == int(frame["ras_status"].isna().sum())


def test_an_empty_filter_gives_empty_results(snap):
    key = filter_key(CohortFilter(cohort="c", ranges={"age_years": (18, 25)}))
    head = cs.headline(snap, key)
    assert (head.n_patients, head.deaths, head.follow_up) == (0, 0, None)
    assert cs.empty(snap, key)
    table = cs.table_one(snap, key, "ras_status").table
    assert table.iloc[0]["Overall"] == "0"
    for dist in cs.distributions(snap, key):
        assert int(dist.binned.counts.sum()) == 0 and len(dist.data) == 0


def test_a_write_gives_a_new_snapshot_and_new_numbers(snap):
    key = filter_key(CohortFilter(cohort="c"))
    before = cs.headline(snap, key)
    rng = np.random.default_rng(9)
    st.save_cohort(snap.store(), "c", _patients(50, rng), kind="imported")
    after = snapshot(snap.path, "c")
    assert after != snap
    assert cs.headline(after, key).n_patients == 50 != before.n_patients


def test_the_coded_frame_holds_the_same_values_as_text(snap):
    from crlm.store.coded import load_cohort_coded

    filt = CohortFilter(cohort="c", ranges={"age_years": (40, 80)})
    plain = st.load_cohort(snap.store(), filt, cs.PAGE_COLUMNS)
    coded = load_cohort_coded(snap.store(), filt, cs.PAGE_COLUMNS)
    assert isinstance(coded["ras_status"].dtype, pd.CategoricalDtype)
    assert coded["patient_id"].dtype == object
    assert list(coded.columns) == list(plain.columns)
    for column in plain.columns:
        a = plain[column].astype(object).where(plain[column].notna(), None)
        b = coded[column].astype(object).where(coded[column].notna(), None)
        assert a.tolist() == b.tolist(), column


def test_the_command_line_prints_headline_and_table_one(snap, capsys):
    assert cs.main(["--db", snap.path, "--cohort", "c", "--by", "sex"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["headline"]["n_patients"] == N
    assert out["table_one"]["groups"] == ["female", "male"]
    assert cs.main(["--db", snap.path, "--cohort", "c", "--by", "nonsense"]) == 1
    assert "cannot split by" in capsys.readouterr().out
    assert cs.main(["--db", snap.path, "--cohort", "nowhere"]) == 1
