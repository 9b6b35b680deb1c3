"""The Models page's comparison layer on a tiny store: each result equals the statistics
computed directly on the filtered predictions (``crlm.store.load_predictions``), a new
filter selects only its patients, and a hash collision falls back to exact keys."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crlm import stats
from crlm import store as st
from crlm.analysis import model_comparison as mc
from crlm.analysis import snapshot as snap_mod
from crlm.analysis.snapshot import filter_key, snapshot
from crlm.config import PATIENT_COLUMN_NAMES
from crlm.store import CohortFilter

N = 160
TRAINED, CLINICAL, PARTIAL = "response.logistic", "response.fong_score", "response.partial"


def _patients(n: int, prefix: str, rng) -> pd.DataFrame:
    frame = pd.DataFrame({c: [None] * n for c in PATIENT_COLUMN_NAMES})
    frame["patient_id"] = [f"{prefix}{i:04d}" for i in range(n)]
    frame["age_years"] = rng.integers(30, 90, n).astype(float)
    frame["responder"] = pd.Series(rng.random(n) < 0.4, dtype=object)
    frame.loc[frame.index % 23 == 0, "responder"] = None    # outcome unknown
    return frame


def _save(s, cohort: str, model_id: str, kind: str, scores: pd.DataFrame, threshold: float):
    st.save_model(s, {"model_id": model_id, "name": model_id.split(".")[1].title(),
                      "family": "x", "task": "response", "cohort": cohort, "kind": kind,
                      "threshold": threshold, "metrics": {}}, scores)


@pytest.fixture()
def snap(tmp_path):
    rng = np.random.default_rng(11)
    path = tmp_path / "m.duckdb"
    with st.Store(path) as s:
        patients = _patients(N, "P", rng)
        st.save_cohort(s, "c", patients, kind="imported")
        st.save_cohort(s, "other", _patients(40, "P", rng), kind="imported")
        y = patients["responder"].eq(True).to_numpy(bool)
        ids = patients["patient_id"]
        split = np.where(np.arange(N) % 4 == 0, "external", "out-of-fold")
        prob = 1 / (1 + np.exp(-(1.5 * y + rng.normal(size=N) - 0.8)))
        fong = np.clip(np.round(2 + 1.2 * y + rng.normal(size=N)), 0, 5)
        partial = prob + rng.normal(scale=0.4, size=N)
        # an older version, then the current one
        _save(s, "c", TRAINED, "trained", pd.DataFrame(
            {"patient_id": ids, "split": split, "score": rng.random(N)}), 0.5)
        _save(s, "c", TRAINED, "trained", pd.DataFrame(
            {"patient_id": ids, "split": split, "score": prob}), 0.45)
        _save(s, "c", CLINICAL, "clinical", pd.DataFrame(
            {"patient_id": ids, "split": split, "score": fong}), 3.0)
        keep = np.arange(N) % 5 != 1              # scores some patients only
        _save(s, "c", PARTIAL, "trained", pd.DataFrame(
            {"patient_id": ids[keep], "split": split[keep], "score": partial[keep]}), 0.4)
        _save(s, "other", "response.logistic_other", "trained", pd.DataFrame(
            {"patient_id": [f"P{i:04d}" for i in range(40)], "split": "out-of-fold",
             "score": rng.random(40)}), 0.5)
    try:
        yield snapshot(path, "c")
    finally:
        snap_mod.close_stores()


def _direct(snap, filt, split="out-of-fold") -> pd.DataFrame:
    return st.load_predictions(snap.store(), filt, task="response", split=split,
                               columns=("responder",))


def _model(preds: pd.DataFrame, model_id: str):
    part = preds[preds["model_id"] == model_id].dropna(subset=["responder", "score"])
    return part["responder"].astype(bool).to_numpy(), part["score"].to_numpy(float)


FILTERS = [CohortFilter(cohort="c"), CohortFilter(cohort="c", ranges={"age_years": (45, 80)})]


@pytest.mark.parametrize("filt", FILTERS)
def test_rocs_and_delong_equal_the_statistics_on_the_filtered_predictions(snap, filt):
    key = filter_key(filt)
    preds = _direct(snap, filt)
    rocs = mc.model_rocs(snap, key, "response", "out-of-fold")
    assert rocs.model_ids == (CLINICAL, TRAINED, PARTIAL)   # model id order
    for model_id in rocs.model_ids:
        y, s = _model(preds, model_id)
        direct = stats.roc(y, s)
        assert rocs.get(model_id).n == len(y) == direct.n
        assert rocs.get(model_id).auc == pytest.approx(direct.auc, abs=1e-12)
        assert rocs.get(model_id).auc_ci == pytest.approx(direct.auc_ci, abs=1e-12)
    delong = mc.delong_vs_reference(snap, key, "response", "out-of-fold", CLINICAL)
    wide = preds.pivot_table(index="patient_id", columns="model_id", values="score")
    outcome = preds.drop_duplicates("patient_id").set_index("patient_id")["responder"]
    for model_id in (TRAINED, PARTIAL):
        both = wide[[model_id, CLINICAL]].dropna().join(outcome).dropna()
        y = both["responder"].astype(bool).to_numpy()
        p = stats.delong_test(y, both[model_id], both[CLINICAL]).p_value
        assert delong.p(model_id) == pytest.approx(p, rel=1e-9)
    assert np.isnan(delong.p(CLINICAL))
    assert mc.delong_vs_reference(snap, key, "response", "out-of-fold", "missing").p_values == ()


def test_a_filter_selects_only_its_patients_and_results_are_cached(snap):
    whole = mc.filtered_scores(snap, filter_key(FILTERS[0]), "response", "out-of-fold")
    older = mc.filtered_scores(snap, filter_key(FILTERS[1]), "response", "out-of-fold")
    assert older.n < whole.n
    assert older.n == _direct(snap, FILTERS[1])["patient_id"].nunique()
    assert mc.cohort_scores(snap, "response", "out-of-fold").n == whole.n
    # the other cohort's model never shows, and no patient id is kept
    assert "response.logistic_other" not in whole.model_ids
    assert whole.rowid.dtype == np.int64 and (np.diff(whole.rowid) > 0).all()
    summary = whole.to_dict()
    assert summary["n"] == whole.n and "rowid" not in summary
    assert summary["scored"][PARTIAL] < summary["scored"][TRAINED] == whole.n
    assert not whole.scores.flags.writeable
    key = filter_key(FILTERS[1])
    assert mc.model_rocs(snap, key, "response", "out-of-fold") is \
        mc.model_rocs(snap, key, "response", "out-of-fold")
    nobody = filter_key(CohortFilter(cohort="c", ranges={"age_years": (95, 100)}))
    assert mc.model_rocs(snap, nobody, "response", "out-of-fold").model_ids == ()
    table = mc.model_table(snap, nobody, "response", "out-of-fold", CLINICAL, ((TRAINED, 0.5),))
    assert table.rows == () and list(table.frame().columns)[-1] == f"delong_p_vs_{CLINICAL}"


def test_colliding_hashes_fall_back_to_exact_keys(snap, monkeypatch):
    key = filter_key(FILTERS[1])
    hashed = mc.model_rocs(snap, key, "response", "external")
    hashed_p = mc.delong_vs_reference(snap, key, "response", "external", CLINICAL)
    hashed_scores = mc.cohort_scores(snap, "response", "external")
    snap_mod.clear_memos()
    monkeypatch.setattr(mc, "patient_keys_exact", lambda store, cohort: True)
    exact = mc.model_rocs(snap, key, "response", "external")
    exact_scores = mc.cohort_scores(snap, "response", "external")
    assert exact_scores.rowid.tolist() == hashed_scores.rowid.tolist()
    np.testing.assert_array_equal(exact_scores.scores, hashed_scores.scores)
    np.testing.assert_array_equal(exact_scores.outcome, hashed_scores.outcome)
    assert exact.model_ids == hashed.model_ids
    assert [r.auc for r in exact.rocs] == pytest.approx([r.auc for r in hashed.rocs])
    exact_p = mc.delong_vs_reference(snap, key, "response", "external", CLINICAL).p_values
    assert dict(exact_p) == pytest.approx(dict(hashed_p.p_values)) and len(exact_p) == 2


def test_model_table_uses_each_threshold_and_shares_calibration(snap):
    key = filter_key(FILTERS[1])
    preds = _direct(snap, FILTERS[1])
    thresholds = ((TRAINED, 0.3), (CLINICAL, 3.0))
    table = mc.model_table(snap, key, "response", "out-of-fold", CLINICAL, thresholds)
    assert [r.model_id for r in table.rows] == [CLINICAL, TRAINED]   # shown models only
    y, s = _model(preds, TRAINED)
    row = table.row(TRAINED)
    m = stats.diagnostic_metrics(y, s, 0.3)
    cal = stats.calibration(y, s)
    assert (row.sensitivity, row.specificity, row.ppv, row.npv) == \
        pytest.approx((m.sensitivity, m.specificity, m.ppv, m.npv))
    assert row.brier == pytest.approx(cal.brier) and row.calibration_slope == pytest.approx(cal.slope)
    assert row.threshold == 0.3 and row.model == "Logistic" and row.kind == "trained"
    clinical = table.row(CLINICAL)
    assert np.isnan(clinical.brier) and np.isnan(clinical.delong_p)
    frame = table.frame()
    assert frame.loc[frame["model_id"] == TRAINED, f"delong_p_vs_{CLINICAL}"].notna().all()
    assert json.dumps(table.to_dict(), allow_nan=True)
    higher = mc.model_table(snap, key, "response", "out-of-fold", CLINICAL, ((TRAINED, 0.9),))
    assert higher.row(TRAINED).sensitivity < row.sensitivity and higher.row(CLINICAL) is None


def test_calibration_panel_and_threshold_range(snap):
    key = filter_key(FILTERS[0])
    splits = ("out-of-fold", "external")
    panel = mc.calibration_panel(snap, key, "response", splits, TRAINED)
    assert panel.probability and panel.splits == splits
    preds = _direct(snap, FILTERS[0], split="external")
    y, s = _model(preds, TRAINED)
    assert panel.calibration[1].observed == pytest.approx(stats.calibration(y, s, bins=10).observed)
    assert panel.net_benefit[1].model == pytest.approx(
        stats.net_benefit(y, s, mc.NET_BENEFIT_THRESHOLDS).model)
    labels = {"out-of-fold": "Out-of-fold", "external": "External centre"}
    assert set(panel.calibration_frame(labels)["split"]) == set(labels.values())
    assert len(panel.net_benefit_frame(labels)) == 2 * len(mc.NET_BENEFIT_THRESHOLDS)
    assert not mc.calibration_panel(snap, key, "response", splits, CLINICAL).probability
    assert mc.calibration_panel(snap, key, "response", splits, "response.none").splits == ()

    assert mc.threshold_range(snap, key, "response", "out-of-fold", TRAINED, 0.45) == \
        mc.ThresholdRange(0.0, 1.0, 0.01)
    fong = mc.threshold_range(snap, key, "response", "out-of-fold", CLINICAL, 3.0)
    _, scores = _model(_direct(snap, FILTERS[0]), CLINICAL)
    assert (fong.low, fong.high) == (scores.min(), scores.max())
    assert fong.step == pytest.approx(max((scores.max() - scores.min()) / 200, 1e-3))
    wide = mc.threshold_range(snap, key, "response", "out-of-fold", CLINICAL, 9.0)
    assert wide.high == 9.0


def test_a_survival_task_or_a_write_is_handled(snap):
    with pytest.raises(ValueError, match="not a binary task"):
        mc.cohort_scores(snap, "os_risk", "out-of-fold")
    key = filter_key(FILTERS[0])
    before = mc.model_rocs(snap, key, "response", "out-of-fold")
    _save(snap.store(), "c", PARTIAL, "trained", pd.DataFrame(
        {"patient_id": [f"P{i:04d}" for i in range(N)], "split": "out-of-fold",
         "score": np.linspace(0, 1, N)}), 0.4)
    after = snapshot(snap.path, "c")
    assert after != snap
    now = mc.model_rocs(after, key, "response", "out-of-fold")
    assert now.get(PARTIAL).n > before.get(PARTIAL).n
    assert mc.model_rocs(snap, key, "response", "out-of-fold") is before


def test_models_by_auc_orders_by_stored_out_of_fold_auc():
    records = pd.DataFrame({"metrics": [{"out_of_fold": {"auc": 0.6}}, {}, {"out_of_fold": {"auc": 0.8}}]},
                           index=["a", "b", "c"])
    assert mc.models_by_auc(records) == ["c", "a", "b"]


def test_a_split_without_predictions_gives_no_curve(snap):
    key = filter_key(FILTERS[0])
    assert mc.cohort_scores(snap, "response", "scored-case").n == 0
    assert mc.model_rocs(snap, key, "response", "scored-case").model_ids == ()
    panel = mc.calibration_panel(snap, key, "response", ("scored-case",), TRAINED)
    assert panel.probability and panel.splits == ()
    assert mc.threshold_range(snap, key, "response", "scored-case", TRAINED, 0.45).high == 1.0


def test_an_unknown_outcome_column_is_refused(snap):
    from crlm.store.prediction_scores import load_task_scores

    with pytest.raises(st.StoreError, match="unknown patient column"):
        load_task_scores(snap.store(), "c", "response", "out-of-fold", ("no_such; DROP",))
