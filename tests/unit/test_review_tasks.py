"""The review's further targets: recurrence-free survival after resection, the major
pathological response, and RAS status and the desmoplastic growth pattern from the
pre-treatment CT. Each reads only what is known by its decision time, the CT tasks
only pre-treatment imaging."""
from __future__ import annotations

import pytest

from crlm import config, models
from crlm import store as st
from crlm.ingest.demo import generate_cohort_frames
from crlm.ingest.demo_features import GENOMIC_FEATURES, RADIOMIC_FEATURES
from crlm.models.audit import audit_cohort
from crlm.models.decision import IMAGING_INPUT, plan_inputs
from crlm.models.tasks import TASKS

SEED = 20240601
NEW_TASKS = ("rfs_risk", "pathological_response", "ras_from_ct", "desmoplastic_from_ct")
SETS = {"radiomic": list(RADIOMIC_FEATURES), "genomic": list(GENOMIC_FEATURES)}


def test_the_new_tasks_are_declared_and_not_trained_by_default():
    rfs = TASKS["rfs_risk"]
    assert (rfs.kind, rfs.time_column, rfs.event_column) == ("survival", "rfs_months",
                                                               "rfs_event")
    assert rfs.decision_time == config.SURGERY and rfs.population == (("hepatectomy", True),)
    path = TASKS["pathological_response"]
    assert (path.target, path.decision_time) == ("major_pathological_response", config.PLAN)
    assert path.population == (("hepatectomy", True),)
    assert TASKS["ras_from_ct"].target == "ras_mutant"
    assert TASKS["desmoplastic_from_ct"].target == "desmoplastic_growth"
    for name in NEW_TASKS:
        assert not TASKS[name].default, name


def test_pathological_response_reads_only_what_the_plan_knows():
    plan = plan_inputs(TASKS["pathological_response"],
                       ["age_years", "biologic", "regimen", "best_response", "growth_pattern",
                        "resection_margin_mm", "pathological_response_percent",
                        "major_pathological_response", "hepatectomy", "rfs_months"])
    assert plan.used == ("age_years", "biologic", "regimen")
    assert "outcome of task" in plan.refusal_of("major_pathological_response").reason
    assert "known after surgery" in plan.refusal_of("pathological_response_percent").reason
    assert "known at restaging" in plan.refusal_of("best_response").reason


def test_rfs_reads_the_resection_but_no_outcome():
    plan = plan_inputs(TASKS["rfs_risk"],
                       ["age_years", "resection_margin_mm", "pathological_response_percent",
                        "nordlinger_score", "growth_pattern", "pfs_months", "rfs_months",
                        "rfs_event", "os_event"])
    assert plan.used == ("age_years", "resection_margin_mm", "pathological_response_percent",
                         "nordlinger_score", "growth_pattern")
    assert "outcome of task rfs_risk" in plan.refusal_of("rfs_months").reason
    assert "an outcome, never an input" in plan.refusal_of("pfs_months").reason


@pytest.mark.parametrize("name", ["ras_from_ct", "desmoplastic_from_ct"])
def test_ct_tasks_read_pre_treatment_imaging_only(name):
    candidates = ["age_years", "kras", "ras_status", "growth_pattern", "cea_ng_ml",
                  RADIOMIC_FEATURES[0], RADIOMIC_FEATURES[1], GENOMIC_FEATURES[0],
                  IMAGING_INPUT, "serial_measurements_baseline", "mystery"]
    plan = plan_inputs(TASKS[name], candidates, {f: config.STAGING for f in
                                                  RADIOMIC_FEATURES + GENOMIC_FEATURES},
                       SETS)
    assert plan.used == (RADIOMIC_FEATURES[0], RADIOMIC_FEATURES[1], IMAGING_INPUT)
    for refused in ("age_years", "kras", "ras_status", "cea_ng_ml", GENOMIC_FEATURES[0],
                    "serial_measurements_baseline"):
        assert "radiomic, ct_lesion_crops only" in plan.refusal_of(refused).reason, refused
    # a stored model's inputs checked again without the sets: contract columns still refused
    again = plan_inputs(TASKS[name], ["ras_status", RADIOMIC_FEATURES[0]],
                        {RADIOMIC_FEATURES[0]: config.STAGING})
    assert again.used == (RADIOMIC_FEATURES[0],)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("review_tasks")
    store = st.Store(root / "r.duckdb")
    chunk = generate_cohort_frames(400, SEED)
    st.save_cohort(store, "demo", chunk.patients, chunk.features, kind="synthetic", seed=SEED)
    report = models.train(store, tasks=list(NEW_TASKS), families=["logistic", "cox",
                                                                   "fong_score"],
                          folds=3, seed=SEED, artefact_dir=root / "art", progress=False,
                          fast=True)
    yield store, report
    store.close()


def test_the_new_tasks_train_with_their_inputs(trained):
    store, report = trained
    assert set(report.table["model"]) == {
        "rfs_risk.cox", "rfs_risk.fong_score", "pathological_response.logistic",
        "pathological_response.fong_score", "ras_from_ct.logistic",
        "desmoplastic_from_ct.logistic"}
    skipped = {(s.task, s.family): s.reason for s in report.skipped}
    assert "not one of the inputs of task ras_from_ct" in skipped[("ras_from_ct", "fong_score")]
    registry = st.load_models(store, cohort="demo").set_index("model_id")
    for task in ("ras_from_ct", "desmoplastic_from_ct"):
        assert set(registry.loc[f"{task}.logistic", "feature_set"]) == set(RADIOMIC_FEATURES)
    rfs_inputs = set(registry.loc["rfs_risk.cox", "feature_set"])
    assert {"resection_margin_mm", "pathological_response_percent"} <= rfs_inputs
    path_inputs = set(registry.loc["pathological_response.logistic", "feature_set"])
    assert not path_inputs & {"best_response", "hepatectomy", "growth_pattern",
                              "resection_margin_mm", "pathological_response_percent"}


def test_the_new_tasks_pass_the_leakage_audit(trained):
    store, _ = trained
    report = audit_cohort(store, "demo", tasks=list(NEW_TASKS), folds=3)
    assert report.ok, report.to_text()
    by_task = {t.task: t for t in report.tasks}
    assert not any(t.skipped for t in report.tasks)
    assert "ras_status" in by_task["ras_from_ct"].label_derived
    assert "ras_status" not in {i.name for i in by_task["ras_from_ct"].used}
