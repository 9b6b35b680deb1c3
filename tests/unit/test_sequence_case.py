"""A case's entered serial values scored by the landmark sequence models."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm.models.sequence import ChangeRule, SequenceCox, build_sequences
from crlm.models.sequence_case import (
    case_measurements, family_cutoff_day, landmark_case_scores, score_sequence,
)

LANDMARK = 70


def _case(cea=(40.0, 20.0, 8.0), sums=(6.0, 3.0)) -> pd.DataFrame:
    rows = [(0, "cea", cea[0]), (28, "cea", cea[1]), (56, "cea", cea[2]),
            (0, "target_lesion_sum", sums[0]), (63, "target_lesion_sum", sums[1]),
            (0, "lesion_count", 3.0)]
    return pd.DataFrame(rows, columns=["day", "kind", "value"])


@pytest.fixture(scope="module")
def fitted() -> SequenceCox:
    """A small GRU fitted on synthetic patients whose CEA trend drives the hazard."""
    rng = np.random.default_rng(3)
    rows, time, event = [], [], []
    for i in range(120):
        slope = rng.normal()
        base = rng.uniform(5, 100)
        for day in (0, 28, 56):
            rows.append((f"p{i}", day, "cea", base * np.exp(slope * day / 56)))
        rows.append((f"p{i}", 0, "target_lesion_sum", 5.0))
        rows.append((f"p{i}", 63, "target_lesion_sum", 5.0 * (1 + 0.3 * slope)))
        time.append(rng.exponential(12 * np.exp(-slope)))
        event.append(rng.random() < 0.8)
    m = pd.DataFrame(rows, columns=["patient_id", "day", "kind", "value"])
    ids = [f"p{i}" for i in range(120)]
    X, lengths = build_sequences(m, ids, LANDMARK)
    return SequenceCox(max_epochs=20, patience=5, random_state=0).fit(X, lengths, time, event)


def test_a_case_is_scored_as_a_training_patient_would_be(fitted):
    case = _case()
    res = score_sequence(fitted, case, LANDMARK)
    X, lengths = build_sequences(case.assign(patient_id="x"), ["x"], LANDMARK)
    assert res.risk == pytest.approx(float(fitted.predict_risk(X, lengths)[0]))
    assert res.visits == 4 and res.left_out == 0 and res.cutoff_day == LANDMARK
    rising = score_sequence(fitted, _case(cea=(40.0, 80.0, 160.0), sums=(6.0, 8.0)), LANDMARK)
    assert rising.risk > res.risk          # the fitted trend: a rising CEA, a higher hazard


def test_values_after_the_cut_off_are_left_out_and_change_nothing(fitted):
    case = _case()
    later = pd.concat([case, pd.DataFrame({"day": [84, 120], "kind": ["cea", "cea"],
                                           "value": [900.0, 5000.0]})])
    a, b = score_sequence(fitted, case, LANDMARK), score_sequence(fitted, later, LANDMARK)
    assert b.risk == a.risk and b.left_out == 2
    baseline = score_sequence(fitted, later, family_cutoff_day("gru_baseline",
                                                                 "pfs_after_restaging"))
    assert baseline.visits == 1 and baseline.left_out == 5 and baseline.cutoff_day == 0
    assert family_cutoff_day("gru_sequence", "pfs_after_restaging") == LANDMARK


def test_the_change_rule_reads_the_last_sum_up_to_the_landmark():
    res = score_sequence(ChangeRule(), _case(sums=(6.0, 3.0)), LANDMARK)
    assert res.risk == pytest.approx(-50.0) and not res.reason
    no_ct = _case()[lambda f: ~((f["kind"] == "target_lesion_sum") & (f["day"] > 0))]
    none = score_sequence(ChangeRule(), no_ct, LANDMARK)
    assert np.isnan(none.risk) and "target-lesion sum" in none.reason


@pytest.mark.parametrize("entries, message", [
    (pd.DataFrame({"day": [28], "kind": ["cea"], "value": [10.0]}), "baseline value"),
    (pd.DataFrame({"day": [0], "kind": ["ldh"], "value": [10.0]}), "kind must be one of"),
    (pd.DataFrame({"day": [0], "kind": ["cea"], "value": [-1.0]}), "CEA must be a number"),
    (pd.DataFrame({"day": ["x"], "kind": ["cea"], "value": [1.0]}), "day must be a number"),
    (pd.DataFrame({"day": [0], "value": [1.0]}), "columns day, kind and value"),
])
def test_bad_entries_are_refused_with_the_reason(entries, message):
    with pytest.raises(ValueError, match=message):
        case_measurements(entries)


@pytest.mark.slow
def test_the_demo_store_landmark_models_score_an_entered_case(demo_store):
    from crlm import store as st

    registry = st.load_models(demo_store, cohort="demo")
    table = landmark_case_scores(_case(), store=demo_store, registry=registry)
    assert set(table["family"]) == {"gru_sequence", "gru_baseline", "change_rule"}
    assert set(table["task"]) == {"pfs_after_restaging", "os_after_restaging"}
    assert np.isfinite(table["score"]).all()
    rule = table.set_index("model_id").loc["pfs_after_restaging.change_rule", "score"]
    assert rule == pytest.approx(-50.0)
    from crlm.models import absolute
    from crlm.models.sequence_case import landmark_answers

    answers = landmark_answers(table, absolute.load_bases(demo_store, "demo", registry))
    surv = answers[["survival_12m", "survival_24m", "survival_36m"]].to_numpy()
    assert ((surv > 0) & (surv < 1)).all() and (np.diff(surv, axis=1) <= 0).all()
    assert (answers["survival_12m_lower"] <= answers["survival_12m"]).all()
    assert answers["percentile"].between(0, 100).all()


def test_a_model_without_a_survival_calibration_says_why():
    from crlm.models.absolute import NoCalibration
    from crlm.models.sequence_case import landmark_answers

    scores = pd.DataFrame([{"task": "pfs_after_restaging", "family": "gru_sequence",
                            "model_id": "pfs_after_restaging.gru_sequence", "model_version": 1,
                            "score": 0.3, "reason": ""}])
    answers = landmark_answers(scores, {("pfs_after_restaging.gru_sequence", 1):
                                        NoCalibration("too few")})
    assert answers.loc[0, "note"] == "too few" and np.isnan(answers.loc[0, "survival_12m"])
