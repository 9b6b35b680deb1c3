"""Artefacts, the external-centre wall, staleness and input checks on a small trained store."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crlm import models
from crlm import store as st
from crlm.ingest.demo import generate_cohort_frames
from crlm.models import artefacts, training
from crlm.models.fitted import FittedModel
from crlm.models.inputs import validate_patients

SEED = 11


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("models_registry")
    store = st.Store(tmp_path / "small.duckdb")
    chunk = generate_cohort_frames(300, SEED)
    st.save_cohort(store, "demo", chunk.patients, chunk.features, kind="synthetic")
    seen: list[set] = []
    real_fit = FittedModel.fit_matrix   # every fit ends here (``fit`` types rows, then calls it)

    def recording_fit(self, X, y):
        seen.append(set(X.index))
        return real_fit(self, X, y)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FittedModel, "fit_matrix", recording_fit)
        models.train(store, tasks=["response", "os_risk"],
                     families=["logistic", "cox", "fong_score"], folds=3, seed=SEED,
                     artefact_dir=tmp_path / "art", progress=False, fast=True)
    yield {"store": store, "chunk": chunk, "art": tmp_path / "art", "seen": seen}
    store.close()


def test_external_centre_never_reaches_a_fit(small_store):
    patients = small_store["chunk"].patients
    external = set(patients.loc[patients["cohort_split"] == "external", "patient_id"])
    assert external
    # 2 trained models x (3 folds + final refit)
    assert len(small_store["seen"]) == 8
    development = set(patients.loc[patients["cohort_split"] == "development", "patient_id"])
    for ids in small_store["seen"]:
        assert ids and ids <= development and not ids & external


def test_development_only_check_refuses_external_rows():
    frame = pd.DataFrame({"cohort_split": ["development", "external"]}, index=["A", "B"])
    with pytest.raises(training.ExternalLeakError, match="B"):
        training.check_development_only(frame)
    training.check_development_only(frame.iloc[:1])


def test_artefact_manifest_and_round_trip(small_store):
    reg = st.load_models(small_store["store"], cohort="demo").set_index("model_id")
    folder = small_store["art"] / "response.logistic" / "v1"
    assert reg.loc["response.logistic", "artefact_path"] == str(folder.resolve())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["family"] == "logistic" and manifest["task"] == "response"
    assert manifest["version"] == 1
    assert set(manifest["libraries"]) == {"sklearn", "sksurv", "lifelines", "torch", "numpy"}
    assert manifest["sha256"] == artefacts.sha256_file(folder / "model.joblib")
    assert manifest["features"] == reg.loc["response.logistic", "feature_set"]
    model = models.load_model("response.logistic", 1, artefact_dir=small_store["art"])
    assert model.columns == manifest["features"]
    assert reg.loc["response.fong_score", "artefact_path"] is None


def test_tampered_artefact_is_refused(small_store, tmp_path):
    src = small_store["art"] / "response.logistic" / "v1"
    copy_root = tmp_path / "copy"
    dest = copy_root / "response.logistic" / "v1"
    dest.mkdir(parents=True)
    blob = bytearray((src / "model.joblib").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (dest / "model.joblib").write_bytes(bytes(blob))
    (dest / "manifest.json").write_text((src / "manifest.json").read_text())
    with pytest.raises(models.ModelError, match="sha256"):
        models.load_model("response.logistic", 1, artefact_dir=copy_root)


def test_artefact_from_other_library_versions_is_refused(small_store, tmp_path):
    src = small_store["art"] / "response.logistic" / "v1"
    dest = tmp_path / "copy" / "response.logistic" / "v1"
    dest.mkdir(parents=True)
    (dest / "model.joblib").write_bytes((src / "model.joblib").read_bytes())
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["libraries"]["sklearn"] = "0.0.1"
    (dest / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(models.ModelError, match=r"sklearn 0\.0\.1"):
        models.load_model("response.logistic", 1, artefact_dir=tmp_path / "copy")


def test_scoring_reports_a_broken_artefact_per_model(small_store, tmp_path):
    store = small_store["store"]
    path = small_store["art"] / "response.logistic" / "v1" / "model.joblib"
    original = path.read_bytes()
    path.write_bytes(original + b"tampered")
    case = small_store["chunk"].patients.head(1)
    try:
        scored = models.score_cases(case, store=store, cohort="demo").table
    finally:
        path.write_bytes(original)
    row = scored[scored["model_id"] == "response.logistic"].iloc[0]
    assert np.isnan(row["score"]) and "sha256" in row["reason"]
    assert scored[scored["model_id"] == "os_risk.cox"]["score"].notna().all()


def test_changed_cohort_data_marks_models_stale(tmp_path):
    store = st.Store(tmp_path / "stale.duckdb")
    chunk = generate_cohort_frames(150, SEED)
    st.save_cohort(store, "demo", chunk.patients, chunk.features, kind="synthetic")
    models.train(store, tasks=["response"], families=["logistic", "fong_score"], folds=3,
                 seed=SEED, artefact_dir=tmp_path / "art", progress=False, fast=True)
    assert not models.available_models(store, "demo")["stale"].any()
    extra = generate_cohort_frames(10, SEED + 1).patients.head(3)
    extra["patient_id"] = ["NEW-1", "NEW-2", "NEW-3"]
    with store.transaction() as cur:
        st.append_patients(cur, "demo", extra)
        st.finish_cohort(cur, "demo")
    table = models.available_models(store, "demo")
    assert table["stale"].all()
    scored = models.score_cases(chunk.patients.head(1), store=store, cohort="demo").table
    assert scored["stale"].all()
    store.close()


def test_default_artefact_dir_is_beside_a_non_default_store(tmp_path):
    with st.Store(tmp_path / "x.duckdb") as store:
        assert training.default_artefact_dir(store) == (tmp_path / "x_models").resolve()


def test_validate_patients_types_and_errors():
    frame = pd.DataFrame({
        "age_years": ["61", None], "node_positive": ["yes", 0], "kras": ["mutant", ""],
        "n_liver_lesions": [2, 2.5], "rad_glcm_x": [1.0, "abc"], "note": ["x", "y"],
    })
    with pytest.raises(ValueError) as err:
        validate_patients(frame, feature_names=["rad_glcm_x"])
    msg = str(err.value)
    assert "row 1, column n_liver_lesions: 2.5 is not a whole number" in msg
    assert "row 1, column rad_glcm_x: 'abc' is not a number" in msg
    typed, unknown = validate_patients(frame.iloc[:1], feature_names=["rad_glcm_x"])
    assert unknown == ["note"]
    assert typed.loc[0, "age_years"] == 61.0 and typed.loc[0, "node_positive"] is True
    with pytest.raises(ValueError, match="kras: 'KRAS\\+' is not one of"):
        validate_patients(pd.DataFrame({"kras": ["KRAS+"]}))


def test_unknown_task_or_family_is_a_clear_error(small_store):
    with pytest.raises(ValueError, match="task 'survival'"):
        models.train(small_store["store"], tasks=["survival"], progress=False)
    with pytest.raises(ValueError, match="model family 'xgboost'"):
        models.train(small_store["store"], families=["xgboost"], progress=False)


def test_task_without_outcomes_is_skipped_with_its_reason_and_no_warning(tmp_path):
    import warnings

    store = st.Store(tmp_path / "noresp.duckdb")
    patients = generate_cohort_frames(120, SEED).patients
    patients["best_response"] = None
    patients["responder"] = None
    st.save_cohort(store, "demo", patients, kind="imported")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reasons come in the report, not as warnings
        report = models.train(store, tasks=["response", "os_risk"], families=["fong_score"],
                              folds=3, seed=SEED, artefact_dir=tmp_path / "art", progress=False)
    assert list(report.table["model"]) == ["os_risk.fong_score"]
    assert report.skipped_lines() == [
        "task response: no development patients with a known outcome"]
    with pytest.raises(ValueError, match="nothing was trained"):
        models.train(store, tasks=["response"], families=["fong_score"], folds=3,
                     artefact_dir=tmp_path / "art", progress=False)
    store.close()
