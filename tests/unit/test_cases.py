"""crlm.cases (form and batch checking, template, scores table, records, label
screening) and crlm.models.similar (nearest cohort patients)."""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from crlm import cases, config
from crlm.models.similar import SimilarityIndex, similar_patients
from tests.support.dicom import with_seg

FULL_CASE = {
    "age_years": 63, "sex": "male", "primary_side": "left", "t_stage": "T3",
    "node_positive": "yes", "grade": "G2", "kras": "mutant", "nras": "wild-type",
    "braf_v600e": "wild-type", "msi": "MSS", "her2": "not amplified", "synchronous": "no",
    "disease_free_interval_months": 6.0, "n_liver_lesions": 3, "max_diameter_cm": 4.0,
    "bilobar": "yes", "extrahepatic_disease": "no", "cea_ng_ml": 250.0, "regimen": "FOLFOX",
    "biologic": "anti-VEGF", "hepatectomy": "no", "growth_pattern": "unknown",
}


def test_entries_are_the_non_derived_model_inputs_in_clinical_groups():
    pre_treatment = {c for c in config.INPUT_COLUMNS if not config.COLUMNS_BY_NAME[c].derived}
    after_surgery = {"hepatectomy", "resection_margin_mm", "growth_pattern",
                     "pathological_response_percent"}
    assert set(cases.ENTRY_NAMES) == pre_treatment | after_surgery
    # the entries known only after surgery come last, in their own groups
    assert cases.AFTER_TREATMENT_ENTRIES == ("hepatectomy", "resection_margin_mm",
                                             "growth_pattern", "pathological_response_percent")
    assert list(cases.ENTRY_NAMES[-4:]) == list(cases.AFTER_TREATMENT_ENTRIES)
    groups = list(cases.entry_groups())
    assert groups.index("primary tumour") < groups.index("molecular") < \
        groups.index("liver disease") < groups.index("labs") < groups.index("treatment plan") \
        < groups.index("surgery") < groups.index("pathology")
    assert cases.entry_label(config.COLUMNS_BY_NAME["cea_ng_ml"]) == "CEA (ng/mL)"
    assert cases.entry_options(config.COLUMNS_BY_NAME["node_positive"]) == ["unknown", "yes", "no"]


def test_form_case_types_values_and_computes_the_clinical_scores():
    case = cases.case_from_form(FULL_CASE)
    assert len(case) == 1 and case.at[0, "patient_id"] == "case-1"
    assert case.at[0, "node_positive"] is True and case.at[0, "bilobar"] is True
    assert case.at[0, "growth_pattern"] is None
    assert case.at[0, "n_liver_lesions"] == 3.0
    summary = cases.clinical_summary(case)
    # TBS = sqrt(4^2 + 3^2) = 5 -> medium; Fong: N+, DFI<12, >1 lesion, CEA>200 = 4 (4 cm not > 5)
    # GAME: KRAS 1 + CEA>20 1 + N+ 1 + TBS 3-9 1 = 4; m-CS: RAS mutant 1 + N+ 1 = 2
    assert summary["Tumour burden score (TBS)"] == "5.0"
    assert summary["TBS zone"] == "medium"
    assert summary["Fong score"] == "4" and summary["Fong group"] == "high"
    assert summary["GAME score"] == "4" and summary["m-CS score"] == "2"
    assert summary["RAS status"] == "mutant"


def test_unknown_entries_stay_unknown_and_scores_needing_them_are_blank():
    case = cases.case_from_form({"max_diameter_cm": 2.0, "n_liver_lesions": 1})
    summary = cases.clinical_summary(case)
    assert summary["TBS zone"] == "low"
    assert summary["Fong score"] == "–"          # node status etc. unknown
    assert summary["RAS status"] == "unknown"     # never silently wild-type


@pytest.mark.parametrize("column,value,fragment", [
    ("max_diameter_cm", 40.0, "outside the allowed range 0.1–30 cm"),
    ("age_years", 12, "outside the allowed range 18–100 years"),
    ("n_liver_lesions", 2.5, "not a whole number"),
    ("sex", "x", "not one of male, female"),
    ("node_positive", "perhaps", "not yes/no"),
    ("cea_ng_ml", "high", "not a number"),
])
def test_bad_form_entries_are_refused_with_label_and_range(column, value, fragment):
    with pytest.raises(cases.CaseInputError) as err:
        cases.case_from_form({**FULL_CASE, column: value})
    assert fragment in str(err.value)
    assert list(err.value.problems["column"]) == [column]


def test_form_values_round_trip():
    case = cases.case_from_form(FULL_CASE)
    values = cases.form_values(case.iloc[0].to_dict())
    again = cases.case_from_form(values)
    pd.testing.assert_frame_equal(case, again)


def test_template_reads_back_cleanly():
    batch = cases.read_batch(cases.batch_template(), "template.csv")
    assert batch.n_rows == 2 and batch.problems.empty and len(batch.cases) == 2
    assert list(batch.cases["patient_id"]) == ["row-2", "row-3"]
    header = cases.batch_template().decode().splitlines()[0].split(",")
    assert header == list(cases.ENTRY_NAMES)


def test_batch_keeps_good_rows_and_lists_the_bad_ones():
    text = ("patient_id,age_years,sex,max_diameter_cm,n_liver_lesions,os_months\n"
            "Smith John,50,male,3,2,10\n"
            "B,50,alien,99,1,\n"
            ",,,,,\n"
            "D,70,female,,1,\n")
    batch = cases.read_batch(text.encode(), "cases.csv")
    assert batch.n_rows == 4
    assert list(batch.cases["patient_id"]) == ["row-2", "row-5"]
    assert "Smith John" not in batch.cases.to_string()   # ids are never kept
    assert batch.bad_rows == [3, 4]
    bad = batch.problems[batch.problems["row"] == 3]
    assert set(bad["column"]) == {"sex", "max_diameter_cm"}
    assert any("ignored" in n and "patient_id" in n and "os_months" in n for n in batch.notes)


def test_batch_excel_is_read(tmp_path):
    frame = pd.read_csv(io.BytesIO(cases.batch_template()))
    buf = io.BytesIO()
    frame.to_excel(buf, index=False)
    batch = cases.read_batch(buf.getvalue(), "cases.xlsx")
    assert len(batch.cases) == 2 and batch.problems.empty


@pytest.mark.parametrize("data,name,fragment", [
    (b"", "cases.csv", "empty"),
    (b"%PDF-1.4 nonsense", "cases.pdf", "not .pdf"),
    (b"foo,bar\n1,2\n", "cases.csv", "none of the file's columns"),
    (b"PK\x03\x04 not really", "cases.xlsx", "cases.xlsx"),
])
def test_bad_batch_files_give_a_clear_message(data, name, fragment):
    with pytest.raises(cases.CaseInputError) as err:
        cases.read_batch(data, name)
    assert fragment in str(err.value)


def _long_scores() -> pd.DataFrame:
    base = dict(patient_id="case-1", model_version=1, percentile=40.0, imputed=[],
                out_of_range=[], contributions={}, contribution_method="linear", stale=False,
                reason="", family="x")
    return pd.DataFrame([
        dict(base, task="os_risk", model_id="os_risk.cox", kind="trained", score=1.2,
             threshold=None, predicted_class=None),
        dict(base, task="response", model_id="response.logistic", kind="trained", score=0.62,
             threshold=0.5, predicted_class=True, imputed=["cea_ng_ml", "EREG_expression_z"],
             stale=True),
        dict(base, task="response", model_id="response.fong_score", kind="clinical", score=-3.0,
             threshold=-2.5, predicted_class=False, contributions={"fong_score": 3.0}),
        dict(base, task="anti_egfr_benefit", model_id="anti_egfr_benefit.logistic",
             kind="trained", score=np.nan, threshold=0.5, predicted_class=None,
             reason="task applies only to RAS wild-type patients with anti-EGFR planned"),
    ])


def test_scores_table_uses_the_page_threshold_and_shows_clinical_values():
    scores = _long_scores()
    table = cases.scores_table(scores)
    assert list(table["task_id"]) == ["response", "response", "os_risk"]
    row = table.set_index("model_id").loc["response.logistic"]
    assert row["predicted_class"] == "responder" and row["threshold"] == 0.5
    assert "stale" not in row["flags"] or "different cohort version" in row["flags"]
    assert "trained on a different cohort version" in row["flags"]
    fong = table.set_index("model_id").loc["response.fong_score"]
    assert fong["shown_score"] == 3.0 and fong["score"] == -3.0
    moved = cases.scores_table(scores, {"response.logistic": 0.7}).set_index("model_id")
    assert moved.loc["response.logistic", "predicted_class"] == "non-responder"
    assert moved.loc["os_risk.cox", "predicted_class"] == "–"


def test_could_not_score_and_flags():
    scores = _long_scores()
    missing = cases.could_not_score(scores)
    assert list(missing["model_id"]) == ["anti_egfr_benefit.logistic"]
    assert "RAS wild-type" in missing.iloc[0]["reason"]
    registry = pd.DataFrame({"family": ["logistic"], "kind": ["trained"]})
    with_image = cases.could_not_score(scores, registry, imaging_given=True)
    assert {"cnn", "fusion"} <= set(with_image["model_id"])
    flags = cases.case_flags(scores)
    assert flags["imputed_inputs"] == ["cea_ng_ml"]
    assert flags["imputed_features"] == ["EREG_expression_z"]
    assert flags["stale_models"] == ["response.logistic v1"]


def test_case_record_is_de_identified_and_json_ready():
    import json

    case = cases.case_from_form(FULL_CASE)
    record = cases.case_record(case, _long_scores(), cohort="demo")
    assert set(record["inputs"]) == set(cases.ENTRY_NAMES)
    assert "patient_id" not in record["inputs"] and "case-1" not in json.dumps(record["inputs"])
    json.dumps(record)  # plain JSON
    assert record["scores"]["clinical"]["fong_score"] == 4
    assert {m["model_id"] for m in record["scores"]["models"]} == {
        "response.logistic", "response.fong_score", "os_risk.cox"}
    back = cases.case_from_record({"inputs": json.loads(json.dumps(record["inputs"])),
                                   "case_id": 1})
    pd.testing.assert_frame_equal(back.drop(columns="patient_id"),
                                  case.drop(columns="patient_id"))


@pytest.mark.parametrize("label", ["Mr Smith", "12/03/1961", "MRN 1234567", "jo@example.org",
                                   "NHS 943 476 5919", "x" * 80])
def test_identifying_labels_are_refused(label):
    with pytest.raises(ValueError):
        cases.screen_label(label)


@pytest.mark.parametrize("label", ["", "MDT week 12, case 3", "second opinion, right-sided"])
def test_plain_labels_pass(label):
    assert cases.screen_label(label) == label.strip()


# -- similar patients ------------------------------------------------------------------------
def _cohort() -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": ["P1", "P2", "P3", "P4"],
        "age_years": [40.0, 60.0, 80.0, 61.0],
        "sex": ["male", "female", "male", "female"],
        "node_positive": [True, False, None, False],
        "max_diameter_cm": [2.0, 5.0, 8.0, 5.5],
        "biologic": ["none", "anti-EGFR", "anti-VEGF", "anti-EGFR"],
        "responder": [True, False, False, True],
        "os_months": [30.0, 20.0, 10.0, 40.0],
        "os_event": [False, True, True, False],
    })


def test_similar_patients_by_hand():
    cohort = _cohort()
    case = pd.Series({"age_years": 60.0, "sex": "female", "node_positive": False,
                      "max_diameter_cm": 5.0, "biologic": "anti-EGFR"})
    out = similar_patients(cohort, case, k=2)
    assert list(out["patient_id"]) == ["P2", "P4"]
    assert out["distance"].iloc[0] == pytest.approx(0.0)
    assert out.attrs["inputs_compared"] == 5
    assert {"responder", "os_months", "biologic"} <= set(out.columns)
    # distance by hand for P4: age and diameter z-differences, same categories
    ages = cohort["age_years"]
    diam = cohort["max_diameter_cm"]
    d_age = (61 - 60) / ages.std(ddof=0)
    d_diam = (5.5 - 5.0) / diam.std(ddof=0)
    assert out["distance"].iloc[1] == pytest.approx(math.sqrt((d_age ** 2 + d_diam ** 2) / 5))


def test_unknown_case_values_are_left_out_and_ties_are_stable():
    cohort = _cohort()
    index = SimilarityIndex.build(cohort)
    out = similar_patients(cohort, pd.Series({"sex": "male"}), k=4, index=index)
    assert out.attrs["inputs_compared"] == 1
    assert list(out["patient_id"][:2]) == ["P1", "P3"]
    with pytest.raises(ValueError):
        similar_patients(cohort, pd.Series({"sex": "male"}), k=0)


def test_form_values_accept_widget_text_and_typed_values():
    assert cases.form_values({"bilobar": "no"})["bilobar"] == "no"
    assert cases.form_values({"bilobar": False})["bilobar"] == "no"
    assert cases.form_values({"n_liver_lesions": 3.0})["n_liver_lesions"] == 3
    assert cases.form_values({})["kras"] == "unknown"


# -- CT uploads ---------------------------------------------------------------------------
def test_ct_upload_read_in_memory_with_seg_and_lesion_inputs(tmp_path):
    from crlm.ingest.synthetic_ct import make_sample_cases

    sample = make_sample_cases(tmp_path, n=1)[0]
    data = open(sample.path, "rb").read()
    ct = cases.read_ct_upload(data, "case.zip")
    assert ct.volume.shape == sample.shape_zyx and ct.seg_mask is not None
    assert ct.meta["deidentified"] is True
    features, crop = cases.lesion_inputs(ct, ct.seg_mask)
    assert features["max_diameter_cm"] == pytest.approx(sample.diameter_cm, rel=0.25)
    assert crop.ndim == 4 and crop.shape[0] == 1
    meta = ct.image_metadata({"source": "DICOM SEG"}, features)
    assert meta["n_slices"] == sample.shape_zyx[0] and meta["lesion_region"]["source"] == "DICOM SEG"
    assert sample.patient_label not in repr(meta) and "SYNTHETIC" not in repr(meta)


def _truncate_pixels(ds) -> None:
    ds.PixelData = ds.PixelData[:16]


def _wrong_size(ds) -> None:
    ds.Rows = int(ds.Rows) // 2


def _blank(ds) -> None:
    ds.PixelData = bytes(len(ds.PixelData))


@pytest.mark.parametrize("change,words", [
    (_truncate_pixels, "cannot decode the SEG pixels"),
    (_wrong_size, "resampling not supported"),
    (_blank, "no lesion pixels"),
])
def test_a_seg_that_cannot_be_used_is_named_with_its_reason(tmp_path, change, words):
    from crlm.ingest.synthetic_ct import make_sample_cases

    sample = make_sample_cases(tmp_path, n=1)[0]
    good = open(sample.path, "rb").read()
    ct = cases.read_ct_upload(with_seg(good, change), "case.zip")
    assert ct.volume.shape == sample.shape_zyx and ct.seg_mask is None
    assert ct.seg_problem.startswith("The DICOM SEG in case.zip was not used:")
    assert words in ct.seg_problem and "bytes upload" not in ct.seg_problem
    # a readable SEG, and an upload without one, have no problem to tell
    assert cases.read_ct_upload(good, "case.zip").seg_problem == ""


def test_every_task_has_a_short_label_and_the_table_shows_it():
    from crlm.models.tasks import TASKS

    assert all(t.short_label for t in TASKS.values())
    assert cases.task_label("response") == "Response (RECIST CR/PR)"
    assert cases.task_label("anti_egfr_benefit") == \
        "Anti-EGFR benefit (RAS wild-type, anti-EGFR planned)"
    assert cases.task_label("recurrence_after_resection") == "Recurrence after hepatectomy"
    assert cases.task_label("rfs_risk") == "Recurrence-free survival after hepatectomy"
    assert cases.task_label("not_a_task") == "not_a_task"


@pytest.mark.parametrize("data,fragment", [
    (b"", "empty"), (b"hello", "not a DICOM upload"), (b"PK\x03\x04broken", "scan.zip"),
])
def test_bad_ct_uploads_are_refused(data, fragment):
    from crlm.ingest.dicom import DicomError

    with pytest.raises(DicomError) as err:
        cases.read_ct_upload(data, "scan.zip")
    assert fragment in str(err.value)
