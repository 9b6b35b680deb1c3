"""The leakage audit (``python -m crlm audit``) on the demo and on an imported cohort
with planted leaks: it must name each one."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from crlm import config
from crlm import store as st
from crlm.cli import main
from crlm.ingest.importer import import_file
from crlm.ingest.mapping import parse_mapping
from crlm.models.audit import SUSPICIOUS_AUC, audit_cohort


def test_audit_of_the_demo_lists_inputs_with_their_time_and_flags_nothing_used(
        demo_store_path, capsys):
    assert main(["--db", str(demo_store_path), "audit", "--cohort", "demo", "--task",
                 "response", "--task", "os_after_resection"]) == 0
    text = capsys.readouterr().out
    assert ("task response — Objective response (RECIST CR/PR); decision time: treatment "
            "plan; population: all patients") in text
    assert "task os_after_resection" in text and "decision time: after surgery" in text
    response = text.split("task os_after_resection")[0]
    used = response.split("inputs used")[1].split("not used")[0]
    assert "age_years" in used and "biologic" in used and "EREG_expression_z" in used
    assert "hepatectomy" not in used and "growth_pattern" not in used
    refused = response.split("not used")[1]
    assert "hepatectomy is known after surgery, later than the decision time" in refused
    assert "label-derived columns: best_response (not used)" in response
    assert "suspiciously predictive inputs: none" in response
    assert "verdict: no used input is suspicious, duplicated or label-derived" in text


MAPPING = """
name: leaky
columns: {id: patient_id, age: age_years, resp: best_response}
defaults: {center: Centre L, cohort_split: development}
extra: [ki67, age_again, response_code, hidden_score]
known_at: {ki67: staging, age_again: staging, response_code: staging, hidden_score: staging}
"""


def _leaky_table(n=200, seed=11) -> bytes:
    rng = np.random.default_rng(seed)
    resp = rng.choice(["CR", "PR", "SD", "PD"], n)
    responder = np.isin(resp, ["CR", "PR"])
    age = rng.integers(35, 85, n)
    frame = pd.DataFrame({
        "id": [f"L{i:04d}" for i in range(n)], "age": age, "resp": resp,
        "ki67": rng.uniform(5, 90, n).round(1),
        "age_again": age * 12,                          # a duplicate under another unit
        "response_code": np.where(responder, 1, 0),     # the label, declared "staging"
        "hidden_score": np.where(responder, 3.0, 1.0) + rng.normal(0, 0.6, n),  # near-label
    })
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


@pytest.fixture()
def leaky_store(tmp_path):
    store = st.Store(tmp_path / "leaky.duckdb")
    result = import_file(store, _leaky_table(), name="leaky.csv",
                         mapping=parse_mapping(MAPPING, source="leaky.yaml"), cohort="leaky")
    assert result.written
    yield store
    store.close()


def test_audit_names_planted_duplicate_label_derived_and_suspicious_columns(leaky_store):
    report = audit_cohort(leaky_store, "leaky", tasks=["response", "os_risk"])
    assert not report.ok
    response, os_risk = report.tasks
    assert os_risk.skipped  # the source has no survival
    by_name = {i.name: i for i in response.inputs}
    assert by_name["response_code"].used and by_name["response_code"].suspicious
    assert by_name["response_code"].single_oof == pytest.approx(1.0)
    assert by_name["hidden_score"].suspicious and by_name["hidden_score"].single_oof >= SUSPICIOUS_AUC
    assert not by_name["ki67"].suspicious and by_name["ki67"].single_oof < 0.65
    assert ("age_years", "age_again") in response.duplicates
    assert "response_code" in response.label_derived
    assert "best_response" in response.label_derived and not by_name["best_response"].used
    text = report.to_text()
    assert "SUSPICIOUS" in text and "verdict: CHECK the flagged inputs above" in text
    assert "duplicated columns: age_years = age_again" in text


def test_audit_cli_json_and_bad_cohort(leaky_store, capsys):
    path = str(leaky_store.path)
    leaky_store.close()
    assert main(["--db", path, "audit", "--cohort", "leaky", "--task", "response",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["tasks"][0]["decision_time"] == config.PLAN
    assert main(["--db", path, "audit", "--cohort", "nope"]) == 1
    assert "no cohort 'nope'" in capsys.readouterr().err
