"""Inputs a cohort never records: the colon trial holds none of most contract columns, so
its models refuse them ("not recorded by this cohort") instead of reading imputed
constants; the model card and the leakage audit name the same reason."""
from __future__ import annotations

import pytest

from crlm import config
from crlm.models import get_task
from crlm.models.audit import audit_cohort
from crlm.models.cards import ModelCard
from crlm.models.decision import NOT_RECORDED, candidate_columns, plan_inputs
from crlm.models.modelling_data import load_modelling_data
from crlm.store import Store, load_models
from tests.own_cohorts import build_colon_store, train_colon_cox

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def colon_path(tmp_path_factory):
    path = build_colon_store(tmp_path_factory.mktemp("colon_unrecorded"))
    train_colon_cox(path)
    return path


def _unrecorded_contract_inputs(data) -> set[str]:
    frame = data.frame
    return {c for c in config.CANDIDATE_INPUT_COLUMNS
            if frame[c].isna().all() or (frame[c].dropna().astype(str) == "unknown").all()}


def test_the_plan_refuses_what_the_cohort_never_records():
    task = get_task("os_risk")
    plan = plan_inputs(task, ["age_years", "cea_ng_ml"], not_recorded=["cea_ng_ml"])
    assert plan.used == ("age_years",)
    assert NOT_RECORDED in plan.refusal_of("cea_ng_ml").reason
    # a leakage reason comes first: an outcome stays refused as an outcome
    plan = plan_inputs(task, ["os_months"], not_recorded=["os_months"])
    assert "outcome" in plan.refusal_of("os_months").reason


def test_the_colon_cox_card_lists_unrecorded_columns_as_refused(colon_path):
    task = get_task("os_risk")
    with Store(colon_path, create=False) as store:
        data = load_modelling_data(store, "colon")
        models = load_models(store, cohort="colon")
    unrecorded = _unrecorded_contract_inputs(data)
    assert {"cea_ng_ml", "ras_status", "primary_side"} <= unrecorded
    record = models[models["model_id"] == "os_risk.cox"].iloc[0].to_dict()
    card = ModelCard.from_record(record)
    refused = dict(card.refused)
    inputs = [name for name, _ in card.inputs]
    assert inputs and not set(inputs) & unrecorded
    assert all(data.frame[c].notna().any() for c in inputs)
    assert "age_years" in inputs and any(c.startswith("rx=") for c in inputs)
    allowed_by_time = {c for c in unrecorded
                       if config.known_by(config.COLUMNS_BY_NAME[c].known_at,
                                          task.decision_time)
                       and c not in task.population_columns}
    assert allowed_by_time
    for name in unrecorded:
        assert name in refused, name
    for name in allowed_by_time:
        assert NOT_RECORDED in refused[name], (name, refused[name])
    assert "not recorded" in card.refused_frame().to_string()


def test_the_audit_gives_the_same_reason(colon_path):
    with Store(colon_path, create=False) as store:
        report = audit_cohort(store, "colon", tasks=["os_risk"], folds=3)
    audit = report.tasks[0]
    assert not audit.skipped
    reasons = {i.name: i.reason for i in audit.inputs}
    assert NOT_RECORDED in reasons["cea_ng_ml"]
    assert NOT_RECORDED in reasons["ras_status"]
    assert reasons["age_years"] == ""
    assert NOT_RECORDED in report.to_text()


def test_the_demo_records_every_input(demo_store_path):
    with Store(demo_store_path, create=False) as store:
        data = load_modelling_data(store, config.DEMO_COHORT)
    candidates = candidate_columns(("clinical",), data.feature_sets)
    assert data.not_recorded(candidates) == []
