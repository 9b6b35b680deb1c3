"""Every tabular family and clinical baseline trained once (fast=True) on an
800-patient demo cohort in a real store file; tests read what training stored."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import models
from crlm import store as st
from crlm.ingest.demo import generate_cohort_frames
from crlm.models.families import CLINICAL_BASELINES, FAMILIES, TABULAR_FAMILIES
from crlm.config import CANDIDATE_INPUT_COLUMNS
from crlm.models.training import load_modelling_data, task_frame

SEED = 20240601


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("models_trained")
    store = st.Store(root / "demo.duckdb")
    chunk = generate_cohort_frames(800, SEED)
    st.save_cohort(store, "demo", chunk.patients, chunk.features, kind="synthetic", seed=SEED)
    table = models.train(store, cohort="demo", folds=5, seed=SEED, artefact_dir=root / "art",
                         progress=False, fast=True).table
    yield {"store": store, "table": table, "chunk": chunk, "art": root / "art"}
    store.close()


def _predictions(store, **kw) -> pd.DataFrame:
    return st.load_predictions(store, st.CohortFilter(cohort="demo"), **kw)


def test_every_family_is_registered_for_every_task_it_serves(trained):
    reg = st.load_models(trained["store"], cohort="demo")
    ids = set(reg["model_id"])
    for task in (t for t in models.TASKS.values() if t.default):  # others train when named
        for name, family in FAMILIES.items():
            if family.serves(task) and family.trainer is None and family.default:
                assert f"{task.name}.{name}" in ids
    assert set(reg.loc[reg["kind"] == "clinical", "family"]) == set(CLINICAL_BASELINES)
    assert len(trained["table"]) == len(reg)
    trained_rows = reg[reg["kind"] == "trained"]
    assert trained_rows["artefact_path"].notna().all()
    assert (trained_rows["family"].isin(TABULAR_FAMILIES)).all()


def test_out_of_fold_covers_each_development_patient_exactly_once(trained):
    store = trained["store"]
    data = load_modelling_data(store, "demo")
    for task_name in ("response", "anti_egfr_benefit", "os_risk"):
        frame = task_frame(data, models.TASKS[task_name])
        dev_ids = set(frame.index[frame["cohort_split"] == "development"])
        ext_ids = set(frame.index[frame["cohort_split"] == "external"])
        preds = _predictions(store, model_id=f"{task_name}.random_forest"
                             if task_name != "os_risk" else "os_risk.rsf")
        oof = preds[preds["split"] == "out-of-fold"]
        assert oof["patient_id"].is_unique
        assert set(oof["patient_id"]) == dev_ids
        assert set(oof["fold"].astype(int)) == {0, 1, 2, 3, 4}
        ext = preds[preds["split"] == "external"]
        assert set(ext["patient_id"]) == ext_ids
        assert ext["fold"].isna().all()


def test_anti_egfr_task_holds_only_ras_wild_type_anti_egfr_patients(trained):
    store = trained["store"]
    preds = _predictions(store, model_id="anti_egfr_benefit.logistic",
                         columns=["ras_status", "biologic"])
    evaluated = preds[preds["split"].isin(["out-of-fold", "external"])]
    assert len(evaluated) > 50
    assert (evaluated["ras_status"] == "wild-type").all()
    assert (evaluated["biologic"] == "anti-EGFR").all()
    # the comparison arm: RAS wild-type patients without anti-EGFR, scored by the final
    # model only (never in training)
    comparison = preds[preds["split"] == "comparison"]
    assert len(comparison) > 50 and comparison["fold"].isna().all()
    assert (comparison["ras_status"] == "wild-type").all()
    assert (comparison["biologic"] != "anti-EGFR").all()
    assert not set(comparison["patient_id"]) & set(evaluated["patient_id"])


def test_metrics_in_plausible_range_and_ml_beats_fong_on_os(trained):
    reg = st.load_models(trained["store"], cohort="demo").set_index("model_id")
    for family in ("logistic", "random_forest", "gradient_boosting", "svm", "mlp"):
        m = reg.loc[f"response.{family}", "metrics"]
        assert 0.6 <= m["out_of_fold"]["auc"] <= 0.9, family
        assert m["out_of_fold"]["auc_ci_lower"] < m["out_of_fold"]["auc"] < m["out_of_fold"]["auc_ci_upper"]
        # below a constant prediction at the response rate (p(1 - p), about 0.247 here)
        rate = m["out_of_fold"]["n_positive"] / m["out_of_fold"]["n"]
        assert 0.0 < m["out_of_fold"]["brier"] < rate * (1 - rate) + 0.01, family
        assert m["external"]["auc"] is not None
        assert reg.loc[f"response.{family}", "threshold"] == m["out_of_fold"]["youden_threshold"]
    fong = reg.loc["os_risk.fong_score", "metrics"]["out_of_fold"]["c_index"]
    ml = [reg.loc[f"os_risk.{f}", "metrics"]["out_of_fold"]["c_index"]
          for f in ("cox", "lasso_cox", "rsf", "gb_survival", "deepsurv")]
    assert max(ml) > fong
    cox = reg.loc["os_risk.cox", "metrics"]
    assert {"td_auc_12m", "td_auc_36m", "td_auc_60m", "c_index"} <= set(cox["out_of_fold"])
    assert cox["external"]["c_index"] > 0.5


def test_clinical_baseline_for_response_is_negated_score(trained):
    store = trained["store"]
    preds = _predictions(store, model_id="response.fong_score", columns=["fong_score"])
    assert len(preds) > 0
    np.testing.assert_array_equal(preds["score"].to_numpy(), -preds["fong_score"].astype(float))
    os_preds = _predictions(store, model_id="os_risk.fong_score", columns=["fong_score"])
    np.testing.assert_array_equal(os_preds["score"].to_numpy(), os_preds["fong_score"].astype(float))


def test_score_cases_reproduces_stored_external_predictions_exactly(trained):
    store, chunk = trained["store"], trained["chunk"]
    patients = chunk.patients
    external = patients[patients["cohort_split"] == "external"]
    # a mix that includes RAS wild-type anti-EGFR patients (anti-EGFR task applies)
    egfr = external[(external["kras"] == "wild-type") & (external["nras"] == "wild-type")
                    & (external["biologic"] == "anti-EGFR")].head(2)
    cases = pd.concat([external.head(3), egfr]).drop_duplicates("patient_id")
    features = st.load_features(store, "demo", patient_ids=list(cases["patient_id"]))
    scored = models.score_cases(cases, store=store, cohort="demo", features=features).table
    stored = _predictions(store, split="external")
    merged = scored.merge(stored, on=["patient_id", "model_id"], suffixes=("", "_stored"))
    merged = merged[merged["score"].notna()]
    assert (merged["model_version"] == merged["model_version_stored"]).all()
    assert merged["model_id"].str.startswith("anti_egfr_benefit.").any()
    assert merged["kind"].eq("trained").sum() >= 5 * 18
    np.testing.assert_allclose(merged["score"], merged["score_stored"], rtol=0, atol=1e-12)
    assert not scored["stale"].any()
    # only inputs that really are missing for the patient are reported as imputed
    by_id = cases.set_index("patient_id")
    for row in scored[scored["kind"] == "trained"].itertuples():
        for column in row.imputed:
            if column in by_id.columns:
                assert pd.isna(by_id.at[row.patient_id, column])
            else:
                assert column not in features.columns or pd.isna(
                    features.set_index("patient_id").at[row.patient_id, column])


def test_score_cases_flags_imputed_and_out_of_range_inputs(trained):
    store, patients = trained["store"], trained["chunk"].patients
    case = patients[patients["cohort_split"] == "external"].head(1).copy()
    case["cea_ng_ml"] = 90000.0           # allowed by the contract, beyond the training range
    case["max_diameter_cm"] = None         # missing
    case = case.drop(columns=["os_months", "os_event", "pfs_months", "pfs_event",
                              "best_response", "responder"])
    scored = models.score_cases(case, store=store, cohort="demo").table
    ml = scored[(scored["kind"] == "trained") & scored["score"].notna()]
    assert len(ml) >= 13
    inputs = st.load_models(store, cohort="demo").set_index("model_id")["feature_set"]
    clinical_ml = ml[ml["family"] != "genomic_rf"]
    assert len(clinical_ml) >= 12
    assert clinical_ml["imputed"].map(lambda xs: "max_diameter_cm" in xs).all()
    assert clinical_ml["out_of_range"].map(lambda xs: "cea_ng_ml" in xs).all()
    # radiomic / genomic features were not supplied: imputed and flagged
    for row in ml.itertuples():
        features = [c for c in inputs[row.model_id] if c not in CANDIDATE_INPUT_COLUMNS]
        assert features and set(features) <= set(row.imputed)
    fong = scored[scored["model_id"] == "os_risk.fong_score"].iloc[0]
    assert np.isnan(fong["score"]) and "Largest lesion diameter" in fong["reason"]
    for row in ml.itertuples():
        assert row.contribution_method != "none"
        assert set(row.contributions) == set(inputs[row.model_id])


def test_score_cases_marks_anti_egfr_not_applicable(trained):
    store, patients = trained["store"], trained["chunk"].patients
    case = patients[(patients["kras"] == "mutant")].head(1)
    scored = models.score_cases(case, store=store, cohort="demo").table
    egfr = scored[scored["task"] == "anti_egfr_benefit"]
    assert len(egfr) > 0 and egfr["score"].isna().all()
    assert egfr["reason"].str.contains("RAS wild-type").all()
    other = scored[(scored["task"] == "response") & (scored["kind"] == "trained")]
    assert other["score"].notna().all()
    assert other["percentile"].between(0, 100).all()
    # a class where the model had enough of the case's inputs; none where it had not
    answered = other["predicted_class"].isin([True, False])
    assert answered.sum() >= len(other) - 2
    assert other.loc[~answered, "reason"].str.contains("not enough information").all()


def test_score_cases_rejects_bad_values_and_reports_unknown_columns(trained):
    store, patients = trained["store"], trained["chunk"].patients
    case = patients.head(2).copy()
    case["age_years"] = [150.0, 60.0]
    case.loc[case.index[1], "primary_side"] = "middle"
    with pytest.raises(ValueError) as err:
        models.score_cases(case, store=store, cohort="demo")
    text = str(err.value)
    assert "row 0, column age_years: 150" in text
    assert "row 1, column primary_side: 'middle'" in text
    ok = patients.head(1).assign(favourite_colour="blue")
    scored = models.score_cases(ok, store=store, cohort="demo")
    assert scored.unknown_columns == ("favourite_colour",)


def test_retrain_is_reproducible_and_creates_a_new_version(trained):
    store = trained["store"]
    families = ["logistic", "random_forest", "mlp", "rsf", "deepsurv", "fong_score"]
    table = models.train(store, cohort="demo", tasks=["response", "os_risk"], families=families,
                         folds=5, seed=SEED, artefact_dir=trained["art"], progress=False,
                         fast=True).table
    assert set(table["version"]) == {2}
    for model_id in ("response.logistic", "response.random_forest", "response.mlp",
                     "os_risk.rsf", "os_risk.deepsurv"):
        v1 = _predictions(store, model_id=model_id, version=1).sort_values(["split", "patient_id"])
        v2 = _predictions(store, model_id=model_id, version=2).sort_values(["split", "patient_id"])
        assert len(v1) == len(v2) > 0
        np.testing.assert_array_equal(v1["score"].to_numpy(), v2["score"].to_numpy())
        np.testing.assert_array_equal(v1["fold"].to_numpy(), v2["fold"].to_numpy())
    current = st.load_models(store, cohort="demo").set_index("model_id")
    assert current.loc["response.logistic", "version"] == 2
    assert current.loc["response.svm", "version"] == 1


def test_available_models_lists_current_models_not_stale(trained):
    table = models.available_models(trained["store"], "demo")
    assert len(table) == len(st.load_models(trained["store"], cohort="demo"))
    assert not table["stale"].any()


def test_load_model_round_trip(trained):
    reg = st.load_models(trained["store"], cohort="demo").set_index("model_id")
    version = int(reg.loc["response.svm", "version"])
    model = models.load_model("response.svm", version, artefact_dir=trained["art"])
    assert model.model_id == "response.svm" and model.task == "response"
    with pytest.raises(models.ModelError, match="no artefact"):
        models.load_model("response.svm", version + 7, artefact_dir=trained["art"])
