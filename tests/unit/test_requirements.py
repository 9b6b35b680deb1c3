"""Enough data, or no answer (crlm.models.requirements), worked by hand."""
from __future__ import annotations

from crlm.models.requirements import check_sufficiency, needs_of

INPUTS = ["max_diameter_cm", "n_liver_lesions", "cea_ng_ml", "kras", "glcm_contrast"]


def test_tumour_size_and_count_are_required_by_a_model_that_reads_them():
    needs = needs_of("response.logistic", "response", INPUTS)
    assert needs.required == ("max_diameter_cm", "n_liver_lesions")
    verdict = check_sufficiency(needs, {"max_diameter_cm": 4.0, "n_liver_lesions": None,
                                        "cea_ng_ml": 12.0, "kras": "mutant"}, INPUTS,
                                imputed=["n_liver_lesions", "glcm_contrast"])
    # 1 of the 4 clinical inputs imputed (25 %); the feature is not counted
    assert not verdict.sufficient and verdict.needed == ("Number of liver lesions",)
    assert verdict.imputed_share == 0.25
    assert verdict.message == "not enough information — needed: Number of liver lesions"


def test_anti_egfr_benefit_also_requires_ras_status_and_the_planned_biologic():
    needs = needs_of("anti_egfr_benefit.svm", "anti_egfr_benefit", INPUTS)
    assert needs.required == ("max_diameter_cm", "n_liver_lesions", "kras", "nras", "biologic")


def test_more_than_half_of_the_clinical_inputs_imputed_gives_no_answer():
    needs = needs_of("os_risk.cox", "os_risk", INPUTS)
    values = {"max_diameter_cm": 4.0, "n_liver_lesions": 2}
    # cea_ng_ml and kras unknown: 2 of 4 clinical inputs (50 %) is still allowed
    ok = check_sufficiency(needs, values, INPUTS, imputed=["cea_ng_ml", "kras"])
    assert ok.sufficient and ok.imputed_share == 0.5
    # a model reading only a feature panel is judged on that panel: 2 of 3 imputed
    panel = ["glcm_contrast", "hu_mean", "hu_sd"]
    verdict = check_sufficiency(needs_of("response.genomic_rf", "response", panel), {}, panel,
                                imputed=["hu_mean", "hu_sd"])
    assert not verdict.sufficient
    assert verdict.needed == ("at least 50% of the model's 3 inputs (a feature panel) "
                              "(67% imputed)",)
