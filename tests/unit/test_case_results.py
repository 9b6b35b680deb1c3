"""crlm.cases.results and crlm.cases.report: what the "Score a case" page computes around a
case's scores (labels, thresholds, CT inputs, where the case falls, contributions,
survival band) and what its report shows, as pure functions of their arguments."""
from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from crlm import cases, stats
from crlm.cases import report, results

REGISTRY = pd.DataFrame({
    "model_id": ["response.logistic", "response.fong_score", "os_risk.cox", "response.rf"],
    "name": ["Logistic", "Fong score", "Cox", "Random forest"],
    "task": ["response", "response", "os_risk", "response"],
    "kind": ["trained", "clinical", "trained", "trained"],
    "version": [2, 1, 1, 3],
    "threshold": [0.5, -2.5, None, np.nan],
})


def test_labels_versions_and_response_models_of_the_registry():
    assert results.model_labels(REGISTRY)["response.fong_score"] == "Fong score"
    assert results.model_labels(REGISTRY.iloc[0:0]) == {}
    assert results.model_versions(REGISTRY) == (
        ("response.logistic", 2), ("response.fong_score", 1), ("os_risk.cox", 1),
        ("response.rf", 3))
    # the clinical score and the survival model are not response models to choose from
    assert results.response_models(REGISTRY) == ["response.logistic", "response.rf"]
    assert results.response_models(REGISTRY.iloc[0:0]) == []


def test_thresholds_are_the_stored_ones_unless_overridden():
    stored = results.model_thresholds(REGISTRY)
    assert stored == {"response.logistic": 0.5, "response.fong_score": -2.5,
                      "os_risk.cox": None, "response.rf": None}
    seen = []

    def override(model_id, default):
        seen.append((model_id, default))
        return 0.7 if model_id == "response.logistic" else default

    moved = results.model_thresholds(REGISTRY, override)
    assert moved["response.logistic"] == 0.7 and moved["response.fong_score"] == -2.5
    assert ("os_risk.cox", None) in seen and ("response.logistic", 0.5) in seen


def _table() -> pd.DataFrame:
    return pd.DataFrame({"model_id": ["response.logistic", "response.rf"],
                         "score": [0.62, 0.4], "sufficient": [True, False]})


def test_case_score_needs_a_sufficient_score():
    assert results.case_score(_table(), "response.logistic") == pytest.approx(0.62)
    assert results.case_score(_table(), "response.rf") is None  # not enough information
    assert results.case_score(_table(), "response.other") is None
    assert results.case_score(_table(), None) is None


def _merged() -> pd.DataFrame:
    cohort = pd.DataFrame({
        "patient_id": [f"p{i}" for i in range(8)],
        "responder": [True, True, True, False, False, False, None, True],
        "os_months": [30, 25, 40, 10, 12, 8, 20, np.nan],
        "os_event": [0, 1, 0, 1, 1, 1, 0, 1],
    })
    preds = pd.DataFrame({"patient_id": [f"p{i}" for i in range(7)],
                          "score": [0.9, 0.7, 0.6, 0.3, 0.65, 0.1, 0.5],
                          "model_id": "response.logistic"})
    return results.cohort_scores(cohort, preds)


def test_cohort_scores_keep_the_patients_with_a_score():
    merged = _merged()
    assert list(merged["patient_id"]) == [f"p{i}" for i in range(7)]
    assert "score" in merged and "responder" in merged


def test_cohort_response_parts_roc_and_operating_point():
    merged = _merged()
    got = results.cohort_response(merged, 0.5)
    assert sorted(got.parts["Responders"]) == [0.6, 0.7, 0.9]
    assert sorted(got.parts["Non-responders"]) == [0.1, 0.3, 0.65]  # unknown response left out
    y = np.array([True, True, True, False, False, False])
    s = np.array([0.9, 0.7, 0.6, 0.3, 0.65, 0.1])
    assert got.roc.auc == pytest.approx(stats.roc(y, s).auc)
    # at 0.5: every responder above, one non-responder of three above
    assert got.operating_point == pytest.approx((1 / 3, 1.0))
    assert results.cohort_response(merged, None).operating_point is None
    single = merged[merged["responder"] == True]  # noqa: E712
    one_class = results.cohort_response(single, 0.5)
    assert one_class.roc is None and one_class.operating_point is None


def test_case_group_curves_mark_the_case_group():
    merged = _merged()
    group = results.case_group_curves(merged, 0.8, 0.5, "os_months", "os_event")
    assert group.case_group == results.RESPONDER
    assert set(group.curves) == {"Predicted responder (this case)", "Predicted non-responder"}
    # p0, p1, p2, p4, p6 score >= 0.5 and have the endpoint
    assert group.curves["Predicted responder (this case)"].at_risk[0] == 5
    low = results.case_group_curves(merged, 0.2, 0.5, "os_months", "os_event")
    assert low.case_group == results.NON_RESPONDER
    assert "Predicted non-responder (this case)" in low.curves
    assert results.case_group_curves(merged, None, 0.5, "os_months", "os_event") is None
    assert results.case_group_curves(merged, 0.8, None, "os_months", "os_event") is None
    empty = results.case_group_curves(merged.assign(os_months=np.nan), 0.8, 0.5,
                                      "os_months", "os_event")
    assert empty.curves == {} and empty.case_group == results.RESPONDER


def test_contributions_of_a_model():
    scores = pd.DataFrame([
        {"model_id": "response.logistic", "contributions": {"cea_ng_ml": 0.3},
         "contribution_method": "linear"},
        {"model_id": "os_risk.cox", "contributions": {}, "contribution_method": "none"},
    ])
    assert results.contributions(scores, "response.logistic") == ({"cea_ng_ml": 0.3}, "linear")
    assert results.contributions(scores, "os_risk.cox") == ({}, "")
    assert results.contributions(scores, "absent") == ({}, "")


def test_survival_band_reads_the_calibration_at_the_score():
    km = stats.kaplan_meier([5.0, 10.0, 20.0], [1, 0, 1])
    calls = []

    def band(score, coverage):
        calls.append((score, coverage))
        t = np.array([0.0, 12.0])
        return t, np.array([1.0, 0.8]), np.array([1.0, 0.7]), np.array([1.0, 0.9])

    basis = types.SimpleNamespace(
        calibration=types.SimpleNamespace(band=band),
        similar_risk_group=lambda score: (2, -0.5, 0.25),
        similar_risk_km=lambda score: km)
    got = results.survival_band(basis, 0.1, 0.9)
    assert calls == [(0.1, 0.9)]
    assert list(got.surv) == [1.0, 0.8] and (got.low, got.high) == (-0.5, 0.25)
    assert got.km is km and got.n_similar == 3


def test_survival_predictions_and_changed_entries():
    with_curve = types.SimpleNamespace(model_id="os_risk.cox", survival=object())
    without = types.SimpleNamespace(model_id="response.logistic", survival=None)
    assert list(results.survival_predictions([with_curve, without])) == ["os_risk.cox"]
    assert results.entries_changed({"kras": "mutant"}, {"kras": "wild-type"})
    assert not results.entries_changed({"kras": "mutant"}, {"kras": "mutant"})
    assert not results.entries_changed({"kras": "mutant"}, None)


def test_ct_inputs_need_a_mask_and_name_the_features_used(tmp_path):
    from crlm.ingest.synthetic_ct import make_sample_cases

    sample = make_sample_cases(tmp_path, n=1)[0]
    ct = cases.read_ct_upload(open(sample.path, "rb").read(), "case.zip")
    with pytest.raises(ValueError, match="mark the lesion"):
        results.ct_inputs(ct, None, None, [])
    assert results.seg_slice(ct.seg_mask) == int(np.argmax(ct.seg_mask.sum(axis=(1, 2))))
    got = results.ct_inputs(ct, ct.seg_mask, {"source": "DICOM SEG"}, ["max_diameter_cm"])
    assert list(got.features.columns) == ["patient_id", "max_diameter_cm"]
    assert got.note == "Lesion features used by the tabular models: max_diameter_cm"
    assert set(got.crops) == {"case-1"} and got.crops["case-1"].ndim == 4
    assert got.image_metadata["lesion_region"]["source"] == "DICOM SEG"
    none = results.ct_inputs(ct, ct.seg_mask, None, [])
    assert none.note.endswith("none (no matching feature names)")


def test_report_entries_and_report_of_a_case():
    case = cases.case_from_form({"age_years": 63, "kras": "mutant", "node_positive": "yes",
                                 "max_diameter_cm": 4.0})
    entries = report.report_entries(case)
    assert entries["Largest lesion diameter (cm)"] == "4"
    assert entries["Age (years)"] == "63" and entries["Node-positive primary"] == "yes"
    assert "yes" in entries.values() and "unknown" in entries.values()
    scores = pd.DataFrame([
        {"patient_id": "case-1", "task": "response", "model_id": "response.logistic",
         "score": np.nan, "reason": "no model", "reason_group": "missing model"},
        {"patient_id": "case-1", "task": "os_risk", "model_id": "os_risk.cox",
         "score": np.nan, "reason": "no model", "reason_group": "missing model"},
    ])
    rows = report.no_answer_rows(scores)
    assert rows.to_dict("records") == [{"model_id": "2 models", "reason": "missing model"}]
    board = cases.board_table([])
    rep = report.case_report(case, scores, board, cohort_text="demo", summary="no model answered",
                             label="MDT 3", case_group="Predicted responder")
    assert rep.notes == ["Summary: no model answered",
                         "Survival group of the case: Predicted responder"]
    assert rep.label == "MDT 3" and rep.figures == {} and rep.entries == entries
    assert report.case_report(case, scores, board, cohort_text="demo", summary="s").notes == \
        ["Summary: s"]
