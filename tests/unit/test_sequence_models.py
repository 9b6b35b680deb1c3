"""Sequence models at the first restaging: the measurement cut-off, sequences by hand, the
landmark tasks, and registered GRU / baseline / rule families with OOF + external scores."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import config, models
from crlm import store as st
from crlm.ingest.demo_images import write_demo_cohort
from crlm.models.decision import known_at_of, measurement_cutoff_day
from crlm.models.sequence import build_sequences, load_sequences
from crlm.models.tasks import TASKS

M = config.DAYS_PER_MONTH


def test_the_cut_off_follows_the_decision_time():
    assert measurement_cutoff_day(config.PLAN) == 0
    assert measurement_cutoff_day(config.RESTAGING) == config.RESTAGING_LANDMARK_DAYS
    assert measurement_cutoff_day(config.OUTCOME) is None
    assert known_at_of("serial_measurements") == config.RESTAGING
    assert config.measurement_known_at(0) == config.STAGING
    assert config.measurement_known_at(config.RESTAGING_LANDMARK_DAYS + 1) == config.OUTCOME


def test_sequences_by_hand():
    m = pd.DataFrame({
        "patient_id": ["A"] * 5,
        "day": [-3, 28, 56, -10, 56],
        "kind": ["cea", "cea", "cea", "target_lesion_sum", "target_lesion_sum"],
        "value": [10.0, 5.0, 2.5, 4.0, 2.0],
    })
    X, lengths = build_sequences(m, ["A", "B"], 70)
    assert lengths.tolist() == [3, 1]                # visits on days 0, 28, 56; B has none
    a = X[0]
    assert np.allclose(a[:, 0], [0, 28 / M, 56 / M])          # months
    assert np.allclose(a[:, 1], [0, 28 / M, 28 / M])          # months since the last visit
    assert np.allclose(a[:, 2], [0, np.log(0.5), np.log(0.25)])
    assert a[:, 3].tolist() == [1, 1, 1]
    assert np.allclose(a[:, 4], [0, 0, -0.5]) and a[:, 5].tolist() == [1, 0, 1]
    assert np.allclose(a[:, 8], np.log1p(10.0)) and np.allclose(a[:, 9], np.log1p(4.0))
    assert not X[1].any()
    with pytest.raises(ValueError, match="later than the decision's cut-off"):
        build_sequences(m, ["A"], 50)


def test_landmark_tasks_keep_patients_event_free_at_the_landmark_and_time_from_it():
    task = TASKS["pfs_after_restaging"]
    assert task.decision_time == config.RESTAGING and not task.default
    frame = pd.DataFrame({"pfs_months": [1.0, 2.5, 12.0], "pfs_event": [True, False, True]})
    known = task.has_outcome(frame).to_numpy()
    assert known.tolist() == [False, True, True]
    time, _ = task.outcome(frame[known])
    assert np.allclose(time, [2.5 - task.landmark_months, 12.0 - task.landmark_months])


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("sequence_store") / "seq.duckdb"
    store = st.Store(path)
    write_demo_cohort(store, 400, 21, images=False)
    yield store
    store.close()


def test_later_measurements_never_reach_the_sequences(small_store):
    ids = st.load_cohort(small_store, st.CohortFilter(cohort="demo"))["patient_id"].tolist()
    before = load_sequences(small_store, "demo", ids, config.RESTAGING)
    with small_store.transaction() as cur:  # every later value changed
        cur.execute("UPDATE measurements SET value = value * 7 + 1 WHERE day > ?",
                    [config.RESTAGING_LANDMARK_DAYS])
    after = load_sequences(small_store, "demo", ids, config.RESTAGING)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    baseline = load_sequences(small_store, "demo", ids, config.RESTAGING, baseline_only=True)
    assert (baseline[1] == 1).all() and not baseline[0][:, :, 0].any()


def test_sequence_families_register_out_of_fold_and_external_predictions(small_store, tmp_path):
    report = models.train(small_store, tasks=["pfs_after_restaging"],
                          families=["gru_sequence", "gru_baseline", "change_rule"], folds=3,
                          fast=True, progress=False, artefact_dir=tmp_path)
    assert not report.skipped_lines(), report.skipped_lines()
    table = report.table.set_index("family")
    assert set(table.index) == {"gru_sequence", "gru_baseline", "change_rule"}
    for family in table.index:
        assert 0.5 < float(table.loc[family, "C-index"]) < 0.9
    preds = st.load_predictions(small_store, st.CohortFilter(cohort="demo"),
                                task="pfs_after_restaging", model_id="pfs_after_restaging.gru_sequence")
    assert set(preds["split"]) == {"out-of-fold", "external"}
    # only patients event-free at the landmark are in the task
    patients = st.load_cohort(small_store, st.CohortFilter(cohort="demo")).set_index("patient_id")
    landmark = TASKS["pfs_after_restaging"].landmark_months
    assert (patients.loc[preds["patient_id"], "pfs_months"] > landmark).all()
    card = models.available_models(small_store, "demo")
    assert "pfs_after_restaging.gru_sequence" in set(card["model_id"])


def test_paired_comparison_on_the_same_patients():
    from crlm.analysis.sequence_report import compare_on_same_patients

    rng = np.random.default_rng(0)
    time = rng.exponential(10, 200)
    event = rng.random(200) < 0.7
    good = -time + rng.normal(0, 3, 200)          # informative risk
    noise = rng.normal(size=200)
    table = compare_on_same_patients(time, event, {"gru_sequence": good, "same": good.copy(),
                                                   "noise": noise})
    rows = table.set_index("model")
    assert rows.loc["same", "difference"] == 0 and rows.loc["same", "ci_upper"] == 0
    assert rows.loc["noise", "ci_lower"] > 0 and np.isnan(rows.loc["gru_sequence", "difference"])
    # the paired test and the intervals are crlm.stats' (checked against R's concordance)
    from crlm.stats.survival_discrimination import compare_concordance, harrell_c

    paired = compare_concordance(time, event, good, noise)
    assert rows.loc["noise", "p_value"] == pytest.approx(paired.p_value)
    assert paired.p_value < 0.001
    assert rows.loc["same", "p_value"] == 1.0
    c = harrell_c(time, event, noise)
    assert (rows.loc["noise", "c_ci_lower"], rows.loc["noise", "c_ci_upper"]) == \
        pytest.approx((c.ci_lower, c.ci_upper))
