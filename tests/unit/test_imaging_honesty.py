"""The CT models learn from stored images only: no outcome reaches their inputs.

* The demo's crops are rendered once from the stored phenotype: rendering the same
  stored images with every outcome removed from the patients gives identical pixels.
* Trained on a cohort whose outcomes were permuted, the CNN is at chance: a crop path
  that read the outcome (crops re-drawn from the label) would follow the permuted
  labels and score far above chance.
"""
from __future__ import annotations

import numpy as np
import pytest

from crlm import config, models
from crlm import store as st
from crlm.ingest.demo import generate_cohort_frames
from crlm.ingest.demo_images import baseline_image_rows, render_stored_images, write_demo_cohort

SEED = 20240601
OUTCOMES = [c.name for c in config.PATIENT_COLUMNS if c.group == "outcome"]


def _store_from_frames(path, chunk, patients):
    store = st.Store(path)
    st.save_cohort(store, "demo", patients, chunk.features, kind="synthetic", seed=SEED)
    with store.transaction() as cur:
        st.save_images(cur, "demo", baseline_image_rows(chunk.latent))
    render_stored_images(store, "demo", SEED)
    return store


def test_crops_are_identical_with_the_outcomes_removed(tmp_path):
    store = st.Store(tmp_path / "full.duckdb")
    write_demo_cohort(store, 200, SEED)
    chunk = generate_cohort_frames(200, SEED)
    blind = chunk.patients.copy()
    blind[OUTCOMES] = None
    store_blind = _store_from_frames(tmp_path / "blind.duckdb", chunk, blind)
    crops, index = st.load_lesion_crops(store, "demo")
    crops_blind, index_blind = st.load_lesion_crops(store_blind, "demo")
    assert crops.shape[0] >= 200
    np.testing.assert_array_equal(crops, crops_blind)
    assert index.equals(index_blind)
    images = st.load_images(store, "demo")
    baseline = images[images["time_point"] == config.BASELINE_CT]
    assert len(baseline) == 200
    assert (baseline["known_at"] == config.STAGING).all() and baseline["has_crops"].all()
    # the other rows are the first restaging CT (crlm.ingest.serial_ct), known at restaging
    follow_up = images[images["time_point"] != config.BASELINE_CT]
    assert (follow_up["time_point"] == "restaging").all()
    assert (follow_up["known_at"] == config.RESTAGING).all()
    store.close()
    store_blind.close()


@pytest.mark.slow
def test_cnn_trained_on_permuted_outcomes_is_at_chance(tmp_path):
    chunk = generate_cohort_frames(1500, SEED)
    patients = chunk.patients.copy()
    order = np.random.default_rng(1).permutation(len(patients))
    for column in ("best_response", "responder"):
        patients[column] = patients[column].to_numpy()[order]
    store = _store_from_frames(tmp_path / "permuted.duckdb", chunk, patients)
    report = models.train(store, tasks=["anti_egfr_benefit"], families=["cnn"], folds=3,
                          seed=SEED, artefact_dir=tmp_path / "art", progress=False, fast=True)
    metrics = st.load_models(store, task="anti_egfr_benefit").set_index("model_id").loc[
        "anti_egfr_benefit.cnn", "metrics"]
    auc = metrics["out_of_fold"]["auc"]
    n = metrics["out_of_fold"]["n"]
    assert n > 200 and len(report) == 1
    # chance: |AUC - 0.5| within about 3.5 standard errors for this n
    assert abs(auc - 0.5) < 0.13, auc
    store.close()
