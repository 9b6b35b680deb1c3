"""Validation before writing: every problem has its message, and a refused import writes nothing."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from crlm.ingest.importer import (
    ImportRefused, import_command, import_file, prepare_table, pseudonymise_ids,
    validate_cohort_name,
)
from crlm.ingest.mapping import identity_mapping, mapping_from_dict
from crlm.store import CohortFilter, Store, load_cohort, load_imports, table_checksums

GOOD = {
    "patient_id": "A1", "cohort_split": "development", "age_years": "61", "sex": "female",
    "node_positive": "1", "n_liver_lesions": "3", "max_diameter_cm": "4.5",
    "cea_ng_ml": "12", "disease_free_interval_months": "6", "diagnosis_date": "2020-02-29",
    "kras": "mutant", "nras": "wild-type", "extrahepatic_disease": "no",
    "os_months": "40", "os_event": "1", "pfs_months": "12", "pfs_event": "1",
}


def _csv(tmp_path, rows: list[dict], name: str = "cohort.csv") -> str:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "store.duckdb")
    yield s
    s.close()


def test_a_good_row_is_imported_with_derived_scores(store, tmp_path):
    result = import_file(store, _csv(tmp_path, [GOOD]), cohort="c1")
    assert result.written and result.report.rows_accepted == 1
    row = load_cohort(store, CohortFilter(cohort="c1")).iloc[0]
    assert row["ras_status"] == "mutant"
    assert row["tumour_burden_score"] == pytest.approx((4.5 ** 2 + 3 ** 2) ** 0.5)
    assert row["fong_score"] == 3  # node-positive, DFI < 12, more than one lesion
    assert row["center"] == "c1"   # no centre column and no default: the cohort name
    assert str(row["diagnosis_date"])[:10] == "2020-02-29"


ROW_PROBLEMS = [
    ({"age_years": "abc"}, "age_years", "not a number"),
    ({"age_years": "150"}, "age_years", "above the maximum"),
    ({"os_months": "-3"}, "os_months", "negative time"),
    ({"sex": "x"}, "sex", "not one of male, female"),
    ({"node_positive": "maybe"}, "node_positive", "not yes/no"),
    ({"n_liver_lesions": "2.5"}, "n_liver_lesions", "not a whole number"),
    ({"os_months": ""}, "os_months", "os_event given without a time"),
    ({"pfs_event": ""}, "pfs_event", "pfs_months given without an event status"),
    ({"pfs_months": "50"}, "pfs_months", "longer than overall survival"),
    ({"diagnosis_date": "31/02/2020"}, "diagnosis_date", "not a date"),
    ({"patient_id": ""}, "patient_id", "missing (required)"),
    ({"cohort_split": "training"}, "cohort_split", "not one of development, external"),
    ({"kras": "G12D"}, "kras", "not one of mutant, wild-type"),
]


@pytest.mark.parametrize("change, column, message", ROW_PROBLEMS)
def test_each_row_problem_rejects_the_row_with_its_message(store, tmp_path, change, column,
                                                           message):
    good2 = dict(GOOD, patient_id="A2")
    bad = dict(GOOD, patient_id="A3", **{k: v for k, v in change.items() if k != "patient_id"})
    if "patient_id" in change:
        bad["patient_id"] = change["patient_id"]
    path = _csv(tmp_path, [good2, bad])
    result = import_file(store, path, cohort="c1", dry_run=True)
    assert result.ok and result.report.rejected_rows == (2,)
    problems = result.report.problems
    hit = problems[(problems["row"] == 2) & (problems["column"] == column)]
    assert len(hit) == 1 and message in hit["problem"].iloc[0]
    assert message in result.report.to_text()
    # the same row alone: nothing passes, nothing is written
    before = table_checksums(store)
    alone = import_file(store, _csv(tmp_path, [bad], "alone.csv"), cohort="c2")
    assert not alone.ok and not alone.written
    assert "no row passed validation" in alone.report.to_text()
    assert table_checksums(store) == before


def test_mixed_file_stores_good_rows_and_lists_the_rejected(store, tmp_path):
    rows = [dict(GOOD, patient_id=f"P{i}") for i in range(5)]
    rows[3]["cea_ng_ml"] = "lots"
    result = import_file(store, _csv(tmp_path, rows), cohort="mixed")
    assert result.written and result.n_patients == 4
    assert result.report.rejected_rows == (4,)
    assert load_imports(store, "mixed")["rows_accepted"].iloc[0] == 4


@pytest.mark.parametrize("rows, message", [
    ([{k: v for k, v in GOOD.items() if k != "patient_id"}], "no patient id column"),
    ([GOOD, dict(GOOD)], "duplicate patient ids in 2 rows (1, 2)"),
])
def test_file_level_problems_refuse_the_import(store, tmp_path, rows, message):
    before = table_checksums(store)
    result = import_file(store, _csv(tmp_path, rows), cohort="c1")
    assert not result.ok and not result.written
    assert message in result.report.to_text()
    assert table_checksums(store) == before


def test_same_column_twice_after_normalisation_refuses(store, tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text("patient_id,Age-Years,age years\nA1,50,51\n")
    before = table_checksums(store)
    result = import_file(store, path, cohort="c1")
    assert not result.ok
    assert "are the same column once case" in result.report.to_text()
    assert table_checksums(store) == before


def test_unknown_columns_are_reported_and_not_stored(store, tmp_path):
    row = dict(GOOD, favourite_colour="blue")
    result = import_file(store, _csv(tmp_path, [row]), cohort="c1")
    assert result.report.unknown_columns == ("favourite_colour",)
    assert "unknown columns, not stored: favourite_colour" in result.report.to_text()


def test_missingness_and_codes_and_units_from_a_mapping():
    mapping = mapping_from_dict({
        "name": "centre-a",
        "columns": {"ID": "patient_id", "Side": "primary_side", "Size mm": "max_diameter_cm",
                    "OS days": "os_months", "Died": "os_event"},
        "codes": {"primary_side": {"R": "right", "L": "left"}},
        "missing": [999], "units": {"max_diameter_cm": "mm", "os_months": "days"},
        "defaults": {"center": "Centre A", "cohort_split": "external"},
    })
    frame = pd.DataFrame({"id": ["a", "b", "c"], "side": ["R", "l", "999"],
                          "size-MM": ["35", "999", "120"], "os_days": ["365.25", "30.4375", ""],
                          "died": ["1", "0", ""]})
    prepared = prepare_table(frame, mapping)
    p = prepared.patients
    assert list(p["primary_side"]) == ["right", "left", None]
    assert p["max_diameter_cm"].tolist()[0] == pytest.approx(3.5)
    assert pd.isna(p["max_diameter_cm"].iloc[1])
    assert p["os_months"].tolist()[:2] == pytest.approx([12.0, 1.0])
    assert set(p["center"]) == {"Centre A"}
    summary = prepared.report.columns.set_index("column")
    assert summary.loc["max_diameter_cm", "missing_pct"] == pytest.approx(33.3)
    assert summary.loc["max_diameter_cm", "coded_missing"] == 1


def test_report_frames_and_dicts(tmp_path):
    frame = pd.DataFrame([GOOD, dict(GOOD, patient_id="B", sex="?")])
    report = prepare_table(frame, identity_mapping(), source_name="x.csv").report
    table = report.to_frame()
    assert list(table.columns) == ["row", "column", "severity", "problem", "value"]
    assert (table["row"] == 2).any()
    d = report.to_dict()
    assert d["rows_read"] == 2 and d["rows_accepted"] == 1 and d["ok"] is True
    assert {"score", "level", "n"} <= set(report.derived_preview.columns)
    assert "fong_group" in set(report.derived_preview["score"])


@pytest.mark.parametrize("name", ["demo", "Bad Name", "", "x" * 70, "-lead", "semi;colon"])
def test_cohort_names_are_validated(store, tmp_path, name):
    with pytest.raises(ImportRefused):
        validate_cohort_name(name)
    before = table_checksums(store)
    with pytest.raises(ImportRefused):
        import_file(store, _csv(tmp_path, [GOOD]), cohort=name or "Bad")
    assert table_checksums(store) == before


def test_pseudonyms_are_deterministic_keyed_and_cohort_specific():
    ids = pd.Series(["1", "2"])
    a = pseudonymise_ids(ids, "c1", b"k")
    assert a.tolist() == pseudonymise_ids(ids, "c1", b"k").tolist()
    assert a.tolist() != pseudonymise_ids(ids, "c1", b"other").tolist()
    assert a.str.startswith("c1-").all()
    assert pseudonymise_ids(ids, "c2", b"k").str.startswith("c2-").all()


def test_import_command_prints_report_and_returns_status(store, tmp_path):
    out = io.StringIO()
    assert import_command(store, _csv(tmp_path, [GOOD]), cohort="cli", out=out) == 0
    assert "imported 1 patients" in out.getvalue()
    out = io.StringIO()
    assert import_command(store, _csv(tmp_path, [GOOD, GOOD]), cohort="cli2", out=out) == 1
    assert "REFUSED" in out.getvalue() and "import refused" in out.getvalue()
    out = io.StringIO()
    assert import_command(store, str(tmp_path / "none.csv"), out=out) == 2
    assert out.getvalue().startswith("error: ")
    out = io.StringIO()
    assert import_command(store, _csv(tmp_path, [GOOD]), mapping="no-such", out=out) == 2
    assert "not a built-in mapping" in out.getvalue()
