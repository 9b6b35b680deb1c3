"""The CT lesion CNN and the 3 : 7 fusion through the same registry and folds."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import models
from crlm import store as st
from crlm.ingest.demo import generate_cohort_frames
from crlm.ingest.demo_images import write_demo_cohort
from crlm.models import multiomics
from crlm.models.training import load_modelling_data, task_frame

SEED = 20240601
FAMILIES = ["genomic_rf", "cnn", "fusion", "fusion_stacked"]


@pytest.fixture(scope="module")
def omics(tmp_path_factory):
    root = tmp_path_factory.mktemp("models_omics")
    store = st.Store(root / "omics.duckdb")
    chunk = generate_cohort_frames(500, SEED)
    write_demo_cohort(store, 500, SEED)  # the same cohort, with its stored baseline CT crops
    table = models.train(store, tasks=["anti_egfr_benefit"], families=FAMILIES, folds=3,
                         seed=SEED, artefact_dir=root / "art", progress=False, fast=True).table
    yield {"store": store, "table": table, "chunk": chunk}
    store.close()


def _scores(store, model_id):
    preds = st.load_predictions(store, st.CohortFilter(cohort="demo"), model_id=model_id)
    return preds.set_index(["patient_id", "split"])


def test_multiomics_models_are_registered_with_metrics(omics):
    reg = st.load_models(omics["store"], cohort="demo").set_index("model_id")
    for family in FAMILIES:
        m = reg.loc[f"anti_egfr_benefit.{family}", "metrics"]
        assert m["out_of_fold"]["auc"] is not None and m["external"]["n"] > 0
    assert reg.loc["anti_egfr_benefit.cnn", "kind"] == "imaging"
    assert reg.loc["anti_egfr_benefit.fusion", "kind"] == "fusion"
    assert "anti_egfr_benefit.cnn" not in set(
        st.load_models(omics["store"], task="response")["model_id"])


def test_fusion_is_exactly_three_to_seven(omics):
    store = omics["store"]
    cnn = _scores(store, "anti_egfr_benefit.cnn")["score"]
    genomic = _scores(store, "anti_egfr_benefit.genomic_rf")["score"]
    fusion = _scores(store, "anti_egfr_benefit.fusion")["score"]
    assert len(fusion) == len(genomic) == len(cnn) > 40
    expected = 0.3 * cnn.reindex(fusion.index) + 0.7 * genomic.reindex(fusion.index)
    np.testing.assert_allclose(fusion.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-15)


def test_cnn_uses_the_task_folds(omics):
    store = omics["store"]
    cnn = _scores(store, "anti_egfr_benefit.cnn").xs("out-of-fold", level="split")
    genomic = _scores(store, "anti_egfr_benefit.genomic_rf").xs("out-of-fold", level="split")
    assert cnn["fold"].to_dict() == genomic["fold"].to_dict()
    stacked = _scores(store, "anti_egfr_benefit.fusion_stacked")
    assert stacked["score"].between(0, 1).all()


def test_score_cases_with_crops_reproduces_external_cnn_and_fusion(omics):
    store, chunk = omics["store"], omics["chunk"]
    data = load_modelling_data(store, "demo")
    frame = task_frame(data, models.TASKS["anti_egfr_benefit"])
    dev = frame[frame["cohort_split"] == "development"]
    ext = frame[frame["cohort_split"] == "external"]
    crops, index = multiomics.stored_crops(store, "demo", pd.concat([dev, ext]).index)
    pid = str(ext.index[0])
    case_crops = {pid: crops[(index["patient_id"] == pid).to_numpy()]}
    case = chunk.patients[chunk.patients["patient_id"] == pid]
    features = st.load_features(store, "demo", patient_ids=[pid])
    scored = models.score_cases(case, store=store, cohort="demo", features=features,
                                crops=case_crops).table.set_index("model_id")
    for family in ("cnn", "fusion", "fusion_stacked", "genomic_rf"):
        stored = _scores(store, f"anti_egfr_benefit.{family}").loc[(pid, "external"), "score"]
        assert scored.loc[f"anti_egfr_benefit.{family}", "score"] == pytest.approx(stored, abs=1e-6)
    one = case_crops[pid][0]  # a single lesion crop [slices, H, W] is accepted too
    single = models.score_cases(case, store=store, cohort="demo", features=features,
                                crops={pid: one}).table.set_index("model_id")
    assert 0 <= single.loc["anti_egfr_benefit.cnn", "score"] <= 1
    without = models.score_cases(case, store=store, cohort="demo", features=features).table
    cnn_row = without.set_index("model_id").loc["anti_egfr_benefit.cnn"]
    assert np.isnan(cnn_row["score"]) and "CT lesion crops" in cnn_row["reason"]


def test_fusion_alone_explains_what_it_needs(omics):
    with pytest.raises(ValueError, match="needs cnn and genomic_rf"):
        models.train(omics["store"], tasks=["anti_egfr_benefit"], families=["fusion"],
                     folds=3, seed=SEED, progress=False, fast=True,
                     artefact_dir=omics["store"].path.parent / "art2")
