"""The CNN-RNN over serial CT: what it reads at the first restaging, and a registered model
with out-of-fold and external scores (one epoch on a small cohort)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from crlm import config, models
from crlm import store as st
from crlm.ingest.demo_images import write_demo_cohort
from crlm.models import cnn_rnn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ct_store(tmp_path_factory):
    store = st.Store(tmp_path_factory.mktemp("cnn_rnn") / "ct.duckdb")
    write_demo_cohort(store, 120, 8)
    yield store
    store.close()


def _ids(store):
    return st.load_cohort(store, st.CohortFilter(cohort="demo"))["patient_id"].tolist()


def test_the_restaging_ct_is_read_only_at_restaging_and_within_the_cut_off(ct_store):
    ids = _ids(ct_store)
    at_restaging = cnn_rnn.SerialCtData(ct_store, "demo", ids, config.RESTAGING)
    assert (at_restaging.lengths == 2).sum() > 80 and at_restaging.has_baseline.all()
    assert (at_restaging.months[:, 1][at_restaging.lengths == 2] > 0).all()
    # with the plan as decision time no follow-up CT is known: one step per patient
    at_plan = cnn_rnn.SerialCtData(ct_store, "demo", ids, config.PLAN)
    assert (at_plan.lengths == 1).all() and at_plan.slot.max() % 2 == 0
    # a restaging CT stamped after the cut-off is not read
    rows = st.load_images(ct_store, "demo", time_point=cnn_rnn.RESTAGING_CT)
    late = rows["image_id"].iloc[0]
    meta = json.loads(rows["metadata"].iloc[0])
    with ct_store.transaction() as cur:
        cur.execute("UPDATE images SET metadata = ? WHERE cohort = 'demo' AND image_id = ?",
                    [json.dumps({**meta, "day": config.RESTAGING_LANDMARK_DAYS + 30}), late])
    try:
        again = cnn_rnn.SerialCtData(ct_store, "demo", ids, config.RESTAGING)
        k = ids.index(rows["patient_id"].iloc[0])
        assert again.lengths[k] == 1 and (again.lengths == 2).sum() == (at_restaging.lengths == 2).sum() - 1
    finally:
        with ct_store.transaction() as cur:
            cur.execute("UPDATE images SET metadata = ? WHERE cohort = 'demo' AND image_id = ?",
                        [json.dumps(meta), late])


def test_cnn_rnn_registers_out_of_fold_and_external_scores(ct_store, tmp_path, monkeypatch):
    monkeypatch.setattr(cnn_rnn, "EPOCHS_FAST", 1)
    report = models.train(ct_store, tasks=["pfs_after_restaging"], families=["cnn_rnn"],
                          folds=2, fast=True, progress=False, artefact_dir=tmp_path)
    assert not report.skipped_lines(), report.skipped_lines()
    preds = st.load_predictions(ct_store, st.CohortFilter(cohort="demo"),
                                model_id="pfs_after_restaging.cnn_rnn")
    assert set(preds["split"]) == {"out-of-fold", "external"}
    assert np.isfinite(preds["score"]).all()
