"""End to end on an imported imaging cohort: a TCIA-layout clinical table and its CT + SEG
tree imported, then ``train --cohort`` with no family list trains the CT models (attention
MIL, CT Cox) and the CT + clinical fusion next to the tabular families, with the task's
folds, out-of-fold predictions and registry rows like any other model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import models
from crlm import store as st
from crlm.ingest.image_import import import_images
from crlm.ingest.importer import import_file
from crlm.ingest.synthetic_tree import TreePatient, write_tree
from crlm.models.lesion_sets import LesionSetConfig, train_lesion_sets
from tests.support.tcia import tcia_frame

N = 24


@pytest.fixture(scope="module")
def imaging_cohort(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("CRLM_DEID_KEY", "ct-models-test-key")
    root = tmp_path_factory.mktemp("tcia_ct")
    ids = [f"CRLM-CT-{1001 + i}" for i in range(N)]
    frame = tcia_frame(N, seed=9)
    frame["Patient-ID"] = ids
    frame.to_csv(root / "clinical.csv", index=False)
    rng = np.random.default_rng(3)
    write_tree(root / "tree", [TreePatient(pid, n_tumours=int(rng.integers(1, 4)),
                                           phenotype=float(rng.normal()), n_slices=12,
                                           size_px=64) for pid in ids], seed=1)
    store = st.Store(root / "tcia.duckdb")
    assert import_file(store, root / "clinical.csv", cohort="tcia").written
    assert import_images(store, root / "tree", cohort="tcia").report.n_imported == N
    yield {"store": store, "root": root}
    store.close()
    mp.undo()


@pytest.mark.slow
def test_train_cohort_gives_ct_and_fusion_models_like_any_other(imaging_cohort):
    from crlm.models.training import default_families

    store = imaging_cohort["store"]
    # with crops the CT families are among the defaults; the test trains them and the Cox
    # model (the other default families are tested elsewhere)
    defaults = [f.name for f in default_families(store, "tcia")]
    assert {"attention_mil", "cnn_cox", "ct_fusion", "cox"} <= set(defaults)
    assert "attention_mil_ssl" not in defaults
    report = models.train(store, cohort="tcia", tasks=["os_risk"], folds=2, seed=5,
                          families=["cox", "attention_mil", "cnn_cox", "ct_fusion"],
                          artefact_dir=imaging_cohort["root"] / "art", progress=False,
                          fast=True)
    ids = set(report.table["model"])
    assert {"os_risk.attention_mil", "os_risk.cnn_cox", "os_risk.ct_fusion",
            "os_risk.cox"} <= ids, report.skipped_lines()
    registry = st.load_models(store, cohort="tcia").set_index("model_id")
    assert registry.loc["os_risk.attention_mil", "kind"] == "imaging"
    assert registry.loc["os_risk.ct_fusion", "kind"] == "fusion"
    assert list(registry.loc["os_risk.ct_fusion", "feature_set"]) == ["attention_mil", "cox"]
    cox = st.load_predictions(store, st.CohortFilter(cohort="tcia"), model_id="os_risk.cox")
    for model_id in ("os_risk.attention_mil", "os_risk.cnn_cox", "os_risk.ct_fusion"):
        metrics = registry.loc[model_id, "metrics"]
        assert metrics["out_of_fold"]["c_index"] is not None
        preds = st.load_predictions(store, st.CohortFilter(cohort="tcia"), model_id=model_id)
        oof = preds[preds["split"] == "out-of-fold"].set_index("patient_id")
        assert len(oof) == N and oof["score"].notna().all()
        # the task's folds: the same fold per patient as the tabular Cox model
        same = cox[cox["split"] == "out-of-fold"].set_index("patient_id")["fold"]
        assert (oof["fold"] == same.reindex(oof.index)).all()


def test_attention_weights_sum_to_one_per_patient_and_mean_pooling_is_even():
    rng = np.random.default_rng(0)
    owners = np.array(["a", "a", "a", "b", "c", "c", "d", "d", "e", "f"] * 2)
    owners = np.array([f"{o}{k // 10}" for k, o in enumerate(owners)])
    crops = rng.normal(50, 20, (len(owners), 3, 64, 64)).astype(np.int16)
    patients = list(dict.fromkeys(owners))
    y = np.arange(len(patients)) % 2
    for pooling in ("attention", "mean"):
        cfg = LesionSetConfig(pooling=pooling, epochs=1, patience=1, validation_fraction=0)
        oof, model = train_lesion_sets(crops, owners, patients, (y,), np.arange(len(patients)) % 2,
                                       config=cfg, seed=1)
        assert np.isfinite(oof).all() and ((oof > 0) & (oof < 1)).all()
        scores, weights = model.predict(crops, owners)
        sums = {p: weights[owners == p].sum() for p in patients}
        np.testing.assert_allclose(list(sums.values()), 1.0, atol=1e-5)
        assert list(scores.index) == patients
        if pooling == "mean":
            np.testing.assert_allclose(weights[owners == "a0"], 1 / 3, atol=1e-6)
        # the score of a patient does not depend on the other patients in the batch
        alone = model.patient_scores(crops[owners == "a0"], owners[owners == "a0"])
        np.testing.assert_allclose(alone.iloc[0], scores["a0"], atol=1e-5)


@pytest.mark.slow
def test_an_uploaded_case_is_scored_by_the_ct_models_and_their_fusion(imaging_cohort):
    store = imaging_cohort["store"]
    if "os_risk.ct_fusion" not in set(st.load_models(store, cohort="tcia")["model_id"]):
        models.train(store, cohort="tcia", tasks=["os_risk"], folds=2, seed=5,
                     families=["cox", "attention_mil", "cnn_cox", "ct_fusion"],
                     artefact_dir=imaging_cohort["root"] / "art", progress=False, fast=True)
    crops, index = st.load_lesion_crops(store, "tcia")
    pid = index["patient_id"].iloc[0]
    case = {"patient_id": "case-1", "age_years": 60.0, "sex": "female", "node_positive": True,
            "cea_ng_ml": 12.0, "max_diameter_cm": 3.0, "synchronous": False}
    scores = models.score_cases(pd.DataFrame([case]), store=store, cohort="tcia",
                                crops={"case-1": crops[(index["patient_id"] == pid).to_numpy()]},
                                explain=False).table.set_index("model_id")
    for model_id in ("os_risk.attention_mil", "os_risk.cnn_cox", "os_risk.ct_fusion"):
        assert np.isfinite(scores.loc[model_id, "score"]), scores.loc[model_id, "reason"]


def test_ssl_pretraining_learns_and_its_encoder_starts_the_fine_tuning():
    from crlm.models.pretraining import pretrain_encoder

    rng = np.random.default_rng(1)
    crops = rng.normal(50, 20, (24, 3, 64, 64)).astype(np.int16)
    state, info = pretrain_encoder(crops, seed=3, epochs=2, batch_size=12)
    again, _ = pretrain_encoder(crops, seed=3, epochs=2, batch_size=12)
    assert info["n_crops"] == 24 and len(info["loss"]) == 2
    assert all(np.isfinite(info["loss"]))
    for k in state:  # deterministic for the crops and the seed
        np.testing.assert_array_equal(state[k].numpy(), again[k].numpy())
    owners = np.repeat([f"p{k}" for k in range(12)], 2)
    cfg = LesionSetConfig(pooling="attention", epochs=0, patience=1, validation_fraction=0)
    _, model = train_lesion_sets(crops, owners, list(dict.fromkeys(owners)),
                                 (np.arange(12) % 2,), np.arange(12) % 2, config=cfg, seed=1,
                                 encoder_state=state)
    loaded = model.network().encoder.state_dict()
    np.testing.assert_array_equal(loaded["stem.0.weight"].numpy(), state["stem.0.weight"].numpy())
    assert model.fit_info["pretrained_encoder"]


@pytest.mark.slow
def test_the_ssl_family_fine_tunes_a_pretrained_encoder(imaging_cohort):
    from crlm.models.artefacts import artefact_path
    import joblib

    store = imaging_cohort["store"]
    report = models.train(store, cohort="tcia", tasks=["os_risk"], families=["attention_mil_ssl"],
                          folds=2, seed=5, artefact_dir=imaging_cohort["root"] / "art-ssl",
                          progress=False, fast=True)
    row = report.table.set_index("model").loc["os_risk.attention_mil_ssl"]
    folder = artefact_path("os_risk.attention_mil_ssl", int(row["version"]),
                           imaging_cohort["root"] / "art-ssl")
    model = joblib.load(folder / "model.joblib")
    assert model.fit_info["pretrained_encoder"]
    assert model.fit_info["pretraining"]["n_crops"] == len(st.load_lesion_crops(store, "tcia")[0])


def test_lesions_of_a_region_are_its_connected_parts_largest_first():
    from crlm.ingest.crops import split_lesions

    mask = np.zeros((5, 20, 20), dtype=bool)
    mask[1:4, 2:8, 2:8] = True      # 108 voxels
    mask[2, 12:15, 12:15] = True    # 9 voxels
    mask[4, 18, 18] = True          # 1 voxel: below the 8-voxel floor
    parts = split_lesions(mask)
    assert [int(p.sum()) for p in parts] == [108, 9]
    assert not (parts[0] & parts[1]).any()


def test_occlusion_and_weights_explain_one_patient_and_draw():
    from crlm.figures import make_lesion_explanation_figure
    from crlm.models.ct_explain import explain_lesions

    rng = np.random.default_rng(4)
    crops = rng.normal(50, 20, (12, 3, 64, 64)).astype(np.int16)
    owners = np.repeat([f"p{k}" for k in range(6)], 2)
    cfg = LesionSetConfig(pooling="attention", epochs=1, patience=1, validation_fraction=0)
    _, model = train_lesion_sets(crops, owners, list(dict.fromkeys(owners)), (np.arange(6) % 2,),
                                 np.arange(6) % 2, config=cfg, seed=2)
    case = crops[:3]
    result = explain_lesions(model, case, patch_px=16)
    assert result.occlusion.shape == (3, 4, 4)
    assert sum(result.weights) == pytest.approx(1.0, abs=1e-5)
    assert result.score == pytest.approx(model.patient_scores(case, ["x"] * 3).iloc[0])
    assert result.alone[0] == pytest.approx(model.patient_scores(case[:1], ["y"]).iloc[0])
    # hiding a patch of lesion 2 and scoring by hand gives the stored change
    hidden = case.copy()
    hidden[1, :, 16:32, 32:48] = np.median(case[1])
    by_hand = result.score - model.patient_scores(hidden, ["z"] * 3).iloc[0]
    assert result.occlusion[1, 1, 2] == pytest.approx(by_hand, abs=1e-6)
    fig = make_lesion_explanation_figure(case, result.weights, result.occlusion,
                                         patch_px=16, score_kind=result.score_kind)
    assert len(fig.data) == 6 and "weight" in fig.layout.annotations[0].text


def _lesion_section_script():
    import os
    from pathlib import Path

    import numpy as np
    import pydicom

    from crlm.ingest.dicom import read_series
    from crlm.ingest.dicom.seg import read_segments
    from crlm.ui.lesions import lesion_attention_section

    folder = Path(os.environ["CRLM_TEST_PATIENT"])
    volume, meta = read_series(folder)
    _, segments = read_segments(pydicom.dcmread(next(folder.rglob("1-1.dcm"))), meta)
    mask = np.any([s.mask for s in segments if s.label.startswith("Tumor")], axis=0)
    lesion_attention_section("tcia", volume, meta, mask)


@pytest.mark.slow
def test_the_score_page_section_shows_each_lesion_weight(imaging_cohort, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from crlm.ui import loaders

    store = imaging_cohort["store"]
    if "os_risk.attention_mil" not in set(st.load_models(store, cohort="tcia")["model_id"]):
        models.train(store, cohort="tcia", tasks=["os_risk"], families=["attention_mil"],
                     folds=2, seed=5, artefact_dir=imaging_cohort["root"] / "art",
                     progress=False, fast=True)
    monkeypatch.setenv("CRLM_DB", str(store.path))
    monkeypatch.setenv("CRLM_TEST_PATIENT",
                       str(imaging_cohort["root"] / "tree" / "CRLM-CT-1001"))
    at = AppTest.from_function(_lesion_section_script, default_timeout=180).run()
    try:
        assert not at.exception, at.exception
        assert [s.value for s in at.subheader] == ["Lesions: attention and occlusion"]
        table = next(d.value for d in at.dataframe if "weight" in d.value.columns)
        assert table["weight"].sum() == pytest.approx(1.0, abs=1e-4)
        assert any("carries the largest weight" in c.value for c in at.caption)
    finally:
        loaders.release_stores()


@pytest.mark.slow
def test_the_models_and_subgroups_pages_show_the_ct_models(imaging_cohort, monkeypatch,
                                                            tmp_path):
    import time

    from streamlit.testing.v1 import AppTest

    from crlm import auth
    from crlm.ui import loaders

    store = imaging_cohort["store"]
    if "os_risk.ct_fusion" not in set(st.load_models(store, cohort="tcia")["model_id"]):
        models.train(store, cohort="tcia", tasks=["os_risk"], folds=2, seed=5,
                     families=["cox", "attention_mil", "cnn_cox", "ct_fusion"],
                     artefact_dir=imaging_cohort["root"] / "art", progress=False, fast=True)
    users = tmp_path / "users.toml"
    auth.add_user(users, "adam", "admin", "admin-password-1")
    monkeypatch.setenv("CRLM_DB", str(store.path))
    monkeypatch.setenv("CRLM_USERS", str(users))
    monkeypatch.delenv("CRLM_DEMO_MODE", raising=False)
    app = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "app.py")
    at = AppTest.from_file(app, default_timeout=240)
    at.session_state["auth_user"] = auth.User("adam", "admin", signed_in_at=time.time())
    try:
        at.run()
        for page in ("views/models.py", "views/subgroups.py"):
            at.switch_page(page).run()
            assert not at.exception, (page, at.exception)
        at.switch_page("views/models.py").run()
        shown = " ".join(d.value.to_csv() for d in at.dataframe) + " ".join(
            str(s.options) for s in at.selectbox) + " ".join(
            str(m.options) for m in at.multiselect)
        assert "attention" in shown.lower() and "ct_fusion" in shown.replace(
            "CT + clinical", "ct_fusion")
    finally:
        loaders.release_stores()
