"""The public TCIA Colorectal-Liver-Metastases clinical table, in its published layout."""
from __future__ import annotations

import pandas as pd
import pytest

from crlm.ingest.importer import import_file
from crlm.store import (
    CohortFilter, Store, load_audit_log, load_cohort, load_cohort_info, load_features,
    load_imports, table_checksums,
)
from tests.support.tcia import tcia_frame



@pytest.fixture()
def tcia_csv(tmp_path):
    path = tmp_path / "Colorectal-Liver-Metastases clinical.csv"
    tcia_frame().to_csv(path, index=False)
    return path


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "store.duckdb")
    yield s
    s.close()


def _patients(store, cohort="tcia"):
    return load_cohort(store, CohortFilter(cohort=cohort))


def test_tcia_layout_is_detected_and_imported(store, tcia_csv):
    result = import_file(store, tcia_csv, cohort="tcia")
    report = result.report
    assert result.mapping_name == "tcia-crlm"
    assert result.written and report.ok
    assert report.rows_read == 30 and report.rows_accepted == 30 and not report.rejected_rows
    assert set(report.dropped_columns) == {"de_identify_scout_name", "relevant_notes"}
    assert "body_mass_index" in report.extra_columns
    assert report.unknown_columns == ()
    patients = _patients(store)
    assert len(patients) == 30
    assert patients["hepatectomy"].all()
    assert set(patients["center"]) == {"MSKCC"} and set(patients["cohort_split"]) == {"development"}
    assert set(patients["sex"].dropna()) <= {"male", "female"}


def test_hand_checked_fong_scores_and_survival(store, tcia_csv):
    result = import_file(store, tcia_csv, cohort="tcia")
    # stored rows carry pseudonyms, so find each hand-checked row by its unique values
    patients = _patients(store).set_index(["cea_ng_ml", "max_diameter_cm"], drop=False)
    row1 = patients.loc[(250.0, 6.0)]
    assert row1["fong_score"] == 5 and row1["fong_group"] == "high"
    assert row1["os_months"] == 30.5 and bool(row1["os_event"]) is True
    # the file's disease-free survival is the contract's recurrence-free survival
    assert row1["rfs_months"] == 10.25 and bool(row1["rfs_event"]) is True
    assert pd.isna(row1["pfs_months"]) and pd.isna(row1["pfs_event"])
    # total_response_percent is the pathological response: 75% non-viable is major
    assert row1["pathological_response_percent"] == 75.0
    assert bool(row1["major_pathological_response"]) is True
    assert row1["node_positive"] and row1["synchronous"]
    # proxies are used only for the score: the count and the interval stay unknown
    assert pd.isna(row1["n_liver_lesions"]) and pd.isna(row1["disease_free_interval_months"])
    row2 = patients.loc[(10.0, 2.0)]
    assert row2["fong_score"] == 0 and row2["fong_group"] == "low"
    assert row2["os_months"] == 60.0 and bool(row2["os_event"]) is False
    assert bool(row2["rfs_event"]) is False and row2["sex"] == "female"
    assert row2["pathological_response_percent"] == 50.0
    assert bool(row2["major_pathological_response"]) is False   # exactly 50% is not major
    row3 = patients.loc[(200.0, 5.0)]
    assert row3["fong_score"] == 2 and row3["fong_group"] == "low"
    all_rows = _patients(store)
    unknown_cea = all_rows[all_rows["cea_ng_ml"].isna()]
    assert len(unknown_cea) == 1 and pd.isna(unknown_cea["fong_score"].iloc[0])
    disagreements = result.report.score_disagreements
    row3_report = disagreements[disagreements["row"] == 3]
    assert list(row3_report[["column", "published", "recomputed"]].iloc[0]) == \
        ["fong_score", "3", "2"]
    assert set(disagreements["row"]) == {3, 4}
    assert "recomputed score differs" in result.report.to_text()


def test_extra_features_stored_with_999_as_missing(store, tcia_csv):
    import_file(store, tcia_csv, cohort="tcia")
    features = load_features(store, "tcia", feature_sets=["extra"])
    assert len(features) == 30
    assert "body_mass_index" in features and "total_response_percent" not in features
    assert features["body_mass_index"].isna().sum() == 1
    assert "relevant_notes" not in features and "de_identify_scout_name" not in features


def test_unavailable_columns_are_declared(store, tcia_csv):
    import_file(store, tcia_csv, cohort="tcia")
    info = load_cohort_info(store, "tcia")
    for column in ("kras", "nras", "braf_v600e", "ras_status", "primary_side", "n_liver_lesions",
                   "best_response", "responder", "regimen", "biologic", "pfs_months",
                   "pfs_event", "resection_margin_mm", "nordlinger_score", "n_category"):
        assert column in info["unavailable_columns"]
    assert "fong_score" not in info["unavailable_columns"]
    assert info["kind"] == "imported"


def test_source_ids_and_free_text_never_reach_the_store(store, tcia_csv):
    result = import_file(store, tcia_csv, cohort="tcia")
    patients = _patients(store)
    assert patients["patient_id"].str.match(r"^tcia-[0-9a-f]{12}$").all()
    stored = "\n".join([
        patients.to_csv(), load_features(store, "tcia").to_csv(),
        load_imports(store).to_csv(), load_audit_log(store).to_csv(),
        result.report.to_text(), result.report.to_frame().to_csv(),
    ])
    assert "CRLM-ORIG" not in stored
    assert "SCOUT NAME" not in stored and "private note" not in stored


def test_reimport_is_idempotent_and_dry_run_writes_nothing(store, tcia_csv):
    before = table_checksums(store)
    dry = import_file(store, tcia_csv, cohort="tcia", dry_run=True)
    assert dry.ok and not dry.written and dry.report.rows_accepted == 30
    assert table_checksums(store) == before
    import_file(store, tcia_csv, cohort="tcia")
    first = table_checksums(store)
    ids_first = sorted(_patients(store)["patient_id"])
    again = import_file(store, tcia_csv, cohort="tcia")
    assert again.written
    second = table_checksums(store)
    assert second["patients"] == first["patients"] and second["features"] == first["features"]
    assert second["imports"][0] == first["imports"][0] == 1
    assert sorted(_patients(store)["patient_id"]) == ids_first
    assert load_cohort_info(store, "tcia")["n_patients"] == 30


def test_explicit_mapping_name_and_excel_copy(store, tmp_path):
    path = tmp_path / "clinical.xlsx"
    tcia_frame().to_excel(path, index=False)
    result = import_file(store, path, mapping="tcia-crlm", cohort="tcia-xlsx")
    assert result.written and result.report.rows_accepted == 30
    assert _patients(store, "tcia-xlsx")["fong_score"].notna().sum() == 29


def test_unexpected_sex_code_rejects_the_row_with_its_value(store, tmp_path):
    frame = tcia_frame()
    frame.loc[5, "sex"] = 0
    path = tmp_path / "tcia.csv"
    frame.to_csv(path, index=False)
    result = import_file(store, path, cohort="tcia")
    assert result.report.rejected_rows == (6,)
    problems = result.report.problems
    assert list(problems[["row", "column", "value"]].iloc[0]) == [6, "sex", "0"]
    assert "not one of male, female" in result.report.to_text()


def test_a_recurrence_free_time_longer_than_overall_survival_is_rejected(store, tmp_path):
    frame = tcia_frame()
    frame.loc[5, ["overall_survival_months", "months_to_DFS_progression"]] = [20.0, 35.0]
    path = tmp_path / "tcia_bad.csv"
    frame.to_csv(path, index=False)
    result = import_file(store, path, cohort="tcia")
    assert result.report.rows_accepted == 29
    assert "recurrence-free time longer than overall survival" in result.report.to_text()
