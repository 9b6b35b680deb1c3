"""Decision time: a model reads only what is known when its task's decision is made.

Each way a later column could reach a pre-treatment model is tried: a family that
names it, an import mapping that declares it (or says nothing), an uploaded case
table that carries it, and a stored model record that holds it.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from crlm import cases, config, models
from crlm import store as st
from crlm.ingest.demo import generate_cohort_frames
from crlm.ingest.importer import import_file
from crlm.ingest.mapping import MappingError, parse_mapping
from crlm.models.decision import known_at_of, plan_inputs
from crlm.models.families import FAMILIES, Family, register_family
from crlm.models.tasks import BINARY, TASKS

SEED = 20240601
PRE_TREATMENT = [name for name, t in TASKS.items()
                 if config.known_by(t.decision_time, config.PLAN) and not t.input_sets]


def test_every_contract_column_says_when_it_is_known():
    for column in config.PATIENT_COLUMNS:
        assert column.known_at in config.DECISION_TIMES, column.name
    assert config.COLUMNS_BY_NAME["hepatectomy"].known_at == config.SURGERY
    assert config.COLUMNS_BY_NAME["growth_pattern"].known_at == config.SURGERY
    assert config.COLUMNS_BY_NAME["biologic"].known_at == config.PLAN
    assert config.COLUMNS_BY_NAME["best_response"].known_at == config.RESTAGING
    for later in ("hepatectomy", "growth_pattern", "best_response", "responder", "os_months"):
        assert later not in config.INPUT_COLUMNS
    assert "biologic" in config.INPUT_COLUMNS and "kras" in config.INPUT_COLUMNS


def test_known_by_orders_the_decision_times():
    assert config.known_by(config.STAGING, config.PLAN)
    assert config.known_by(config.PLAN, config.PLAN)
    assert not config.known_by(config.SURGERY, config.PLAN)
    assert config.known_by(config.RESTAGING, config.SURGERY)
    assert not config.known_by(config.OUTCOME, config.SURGERY)  # outcomes are never inputs
    assert not config.known_by(config.UNKNOWN_TIME, config.OUTCOME)


def test_pre_treatment_tasks_refuse_surgery_pathology_response_and_outcomes():
    assert set(PRE_TREATMENT) == {"response", "anti_egfr_benefit", "os_risk", "pfs_risk",
                                  "pathological_response"}
    later = ["hepatectomy", "growth_pattern", "best_response", "responder", "os_months",
             "pfs_event"]
    for name in PRE_TREATMENT:
        plan = plan_inputs(TASKS[name], ["age_years", "biologic", *later])
        assert "age_years" in plan.used
        assert not set(later) & set(plan.used), name
        reasons = {r.name: r.reason for r in plan.refused}
        assert "known after surgery, later than the decision time" in reasons["hepatectomy"]


def test_post_resection_task_reads_pathology_but_not_its_outcome():
    plan = plan_inputs(TASKS["os_after_resection"],
                       ["age_years", "growth_pattern", "best_response", "hepatectomy",
                        "os_months", "pfs_months"])
    assert plan.used == ("age_years", "growth_pattern", "best_response")
    refused = {r.name: r.reason for r in plan.refused}
    assert "defines the task's population" in refused["hepatectomy"]
    assert "outcome of task os_after_resection" in refused["os_months"]
    assert "an outcome, never an input" in refused["pfs_months"]


def test_feature_times_and_unknown_imports():
    times = {"nodes": config.STAGING, "margin_mm": config.SURGERY}
    assert known_at_of("nodes", times) == config.STAGING
    assert known_at_of("never_declared", times) == config.UNKNOWN_TIME
    assert known_at_of("patient_id") == config.UNKNOWN_TIME  # identifiers never
    plan = plan_inputs(TASKS["response"], ["nodes", "margin_mm", "never_declared"], times)
    assert plan.used == ("nodes",)
    assert "not declared" in plan.refusal_of("never_declared").reason


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("decision")
    store = st.Store(root / "d.duckdb")
    chunk = generate_cohort_frames(300, SEED)
    st.save_cohort(store, "demo", chunk.patients, chunk.features, kind="synthetic", seed=SEED)
    yield {"store": store, "root": root, "chunk": chunk}
    store.close()


def test_a_family_that_names_a_later_input_is_refused_with_the_reason(small_store):
    sneaky = register_family(Family(
        "sneaky_logistic", BINARY, "Logistic regression reading the resection",
        build=FAMILIES["logistic"].build, explainer="linear", default=False,
        inputs=("age_years", "cea_ng_ml", "hepatectomy")))
    try:
        report = models.train(small_store["store"], tasks=["response"],
                              families=["sneaky_logistic", "logistic"], folds=3, seed=SEED,
                              artefact_dir=small_store["root"] / "art1", progress=False,
                              fast=True)
    finally:
        FAMILIES.pop(sneaky.name)
    assert list(report.table["model"]) == ["response.logistic"]
    [skipped] = report.skipped
    assert (skipped.task, skipped.family) == ("response", "sneaky_logistic")
    assert "hepatectomy is known after surgery" in skipped.reason
    stored = st.load_models(small_store["store"], task="response")
    assert "response.sneaky_logistic" not in set(stored["model_id"])


def test_stored_models_read_nothing_later_than_their_decision_time(demo_store):
    """The session's trained demo store: every model's stored inputs, checked again."""
    registry = st.load_models(demo_store, cohort=config.DEMO_COHORT)
    assert {"os_after_resection", "recurrence_after_resection"} <= set(registry["task"])
    for row in registry.itertuples():
        if row.kind not in ("trained", "imaging"):
            continue
        task = TASKS[row.task]
        for name in row.feature_set:
            known_at = known_at_of(name, {n: config.STAGING for n in row.feature_set
                                          if n not in config.COLUMNS_BY_NAME})
            assert config.known_by(known_at, task.decision_time), (row.model_id, name)
        card = row.metrics["card"]
        assert card["decision_time"] == task.decision_time
        assert [i["name"] for i in card["inputs"]] == list(row.feature_set)
    pre = registry[registry["task"].isin(PRE_TREATMENT)]
    used = {c for cols in pre["feature_set"] for c in cols}
    assert not used & {"hepatectomy", "growth_pattern", "best_response", "responder"}
    post = registry[(registry["task"] == "os_after_resection") & (registry["kind"] == "trained")]
    assert any("growth_pattern" in cols for cols in post["feature_set"])


MAPPING = """
name: centre-x
columns: {id: patient_id, age: age_years, resp: best_response, os: os_months, dead: os_event}
defaults: {center: Centre X, cohort_split: development}
extra: [ki67, margin_mm, nodes_examined]
known_at: {ki67: staging, margin_mm: after surgery}
"""


def _centre_table(n=120, seed=3) -> bytes:
    rng = np.random.default_rng(seed)
    resp = rng.choice(["CR", "PR", "SD", "PD"], n)
    frame = pd.DataFrame({
        "id": [f"X{i:04d}" for i in range(n)], "age": rng.integers(35, 85, n),
        "resp": resp, "os": rng.uniform(2, 80, n).round(1), "dead": rng.integers(0, 2, n),
        "ki67": rng.uniform(5, 90, n).round(1),
        # a margin that "predicts" response perfectly, as post-surgical data can
        "margin_mm": np.where(np.isin(resp, ["CR", "PR"]), 8.0, 1.0),
        "nodes_examined": rng.integers(0, 30, n),
    })
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


def test_an_import_mapping_cannot_slip_a_later_or_undeclared_column_in(tmp_path):
    store = st.Store(tmp_path / "imp.duckdb")
    mapping = parse_mapping(MAPPING, source="centre-x.yaml")
    result = import_file(store, _centre_table(), name="centre_x.csv", mapping=mapping,
                         cohort="centre_x")
    assert result.written
    text = result.report.to_text()
    assert "ki67 (staging)" in text and "margin_mm (after surgery)" in text
    assert "until the mapping says when they are known (known_at): nodes_examined" in text
    info = st.load_feature_info(store, "centre_x").set_index("feature")["known_at"]
    assert info.to_dict() == {"ki67": "staging", "margin_mm": "after surgery",
                              "nodes_examined": "unknown"}
    report = models.train(store, cohort="centre_x", tasks=["response"], families=["logistic"],
                          folds=3, seed=SEED, artefact_dir=tmp_path / "art", progress=False)
    [row] = st.load_models(store, cohort="centre_x").itertuples()
    assert "ki67" in row.feature_set and "age_years" in row.feature_set
    assert "margin_mm" not in row.feature_set and "nodes_examined" not in row.feature_set
    refused = {r["name"]: r["reason"] for r in row.metrics["card"]["refused_inputs"]}
    assert "margin_mm is known after surgery" in refused["margin_mm"]
    assert "not declared" in refused["nodes_examined"]
    assert len(report) == 1
    store.close()


def test_a_mapping_cannot_move_a_contract_column_earlier():
    bad = MAPPING.replace("known_at: {ki67: staging, margin_mm: after surgery}",
                          "known_at: {resp: staging}")
    with pytest.raises(MappingError, match="best_response is a contract column; when it is "
                                           "known is fixed by the contract"):
        parse_mapping(bad, source="bad.yaml")
    with pytest.raises(MappingError, match="'tomorrow' is not one of staging"):
        parse_mapping(MAPPING.replace("ki67: staging", "ki67: tomorrow"), source="bad.yaml")


def test_an_uploaded_table_with_later_columns_is_told_they_are_not_used(small_store):
    upload = pd.DataFrame({"age_years": [64, 71], "kras": ["wild-type", "mutant"],
                           "hepatectomy": ["yes", "no"],
                           "growth_pattern": ["desmoplastic", None],
                           "responder": [True, False]})
    batch = cases.check_batch(upload)
    text = " | ".join(batch.notes)
    assert ("known only after surgery, so not used by any pre-treatment model (read only by "
            "the post-resection prognosis models): hepatectomy, growth_pattern") in text
    assert "responder" in text  # an outcome column: ignored


def test_pre_treatment_scores_do_not_change_with_later_columns(small_store):
    store = small_store["store"]
    models.train(store, tasks=["response", "os_after_resection"],
                 families=["logistic", "cox"], folds=3, seed=SEED,
                 artefact_dir=small_store["root"] / "art2", progress=False, fast=True)
    case = small_store["chunk"].patients.head(2).drop(columns=["hepatectomy",
                                                                "growth_pattern"])
    with_later = case.assign(hepatectomy=[True, True], growth_pattern=["desmoplastic",
                                                                         "replacement"])
    a = models.score_cases(case, store=store, explain=False).table.set_index(["patient_id",
                                                                        "model_id"])
    b = models.score_cases(with_later, store=store, explain=False).table.set_index(["patient_id",
                                                                              "model_id"])
    response = a.xs("response.logistic", level="model_id")["score"]
    np.testing.assert_array_equal(
        response, b.xs("response.logistic", level="model_id")["score"])
    # the post-resection model scores only a resected case, and reads its pathology
    assert a.xs("os_after_resection.cox", level="model_id")["score"].isna().all()
    assert b.xs("os_after_resection.cox", level="model_id")["score"].notna().all()


def test_a_stored_model_with_a_later_input_is_never_used_for_scoring(small_store, tmp_path):
    store = small_store["store"]
    record = {"model_id": "response.tampered", "name": "tampered", "family": "logistic",
              "task": "response", "cohort": "demo", "kind": "trained",
              "feature_set": ["age_years", "growth_pattern"], "training_hash": "x",
              "threshold": 0.5, "metrics": {}, "artefact_path": str(tmp_path)}
    st.save_model(store, record)
    case = small_store["chunk"].patients.head(1)
    scored = models.score_cases(case, store=store, explain=False).table.set_index("model_id")
    row = scored.loc["response.tampered"]
    assert np.isnan(row["score"])
    assert "growth_pattern is known after surgery" in row["reason"]
