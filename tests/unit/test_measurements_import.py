"""Measurement import: mapping and unit conversion, validation report, dry run, idempotence,
pseudonymised ids, the RECIST check against the stored best response, and the CLI."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from crlm import recist
from crlm import store as st
from crlm.ingest.demo import generate_cohort_frames
from crlm.ingest.demo_images import write_demo_cohort
from crlm.ingest.measurements_import import (
    MeasurementImportError, import_measurements, import_measurements_command,
)
from crlm.privacy import pseudonym_key, pseudonymise_ids

MAPPING = {
    "name": "centre-labs",
    "id": "MRN",
    "time": {"column": "week", "unit": "weeks"},
    "kind": {"column": "test", "values": {"CEA": "cea", "SLD": "target_lesion_sum",
                                           "lesions": "lesion_count", "TLV": "liver_volume"}},
    "value": "result",
    "unit": {"column": "units"},
}


@pytest.fixture()
def demo_store(tmp_path):
    store = st.Store(tmp_path / "import.duckdb")
    write_demo_cohort(store, 80, 7, images=False)
    yield store
    store.close()


def _centre_file(m: pd.DataFrame) -> bytes:
    """The store's measurements as a centre would send them: weeks, mm, litres, its own
    names."""
    names = {"cea": "CEA", "target_lesion_sum": "SLD", "lesion_count": "lesions",
             "liver_volume": "TLV"}
    units = {"cea": "ug/L", "target_lesion_sum": "mm", "lesion_count": "n", "liver_volume": "L"}
    factor = m["kind"].map({"cea": 1.0, "target_lesion_sum": 10.0, "lesion_count": 1.0,
                            "liver_volume": 0.001})
    out = pd.DataFrame({"MRN": m["patient_id"], "week": m["day"] / 7.0,
                        "test": m["kind"].map(names), "result": (m["value"] * factor).round(4),
                        "units": m["kind"].map(units)})
    buf = io.StringIO()
    out.to_csv(buf, index=False)
    return buf.getvalue().encode()


def test_a_centre_file_with_its_own_names_and_units_round_trips(demo_store):
    before = st.load_measurements(demo_store, "demo")
    data = _centre_file(before)
    result = import_measurements(demo_store, data, name="labs.csv", cohort="demo", mapping=MAPPING)
    assert result.written and result.report.rows_accepted == len(before)
    after = st.load_measurements(demo_store, "demo")
    pd.testing.assert_frame_equal(before.drop(columns="source"), after.drop(columns="source"),
                                  check_dtype=False, atol=1e-9)
    assert after["source"].str.startswith("import:").all()
    # RECIST derived from the imported sums is checked against the stored best response
    assert result.report.recist_agreement is not None and result.report.recist_agreement > 0.8
    assert "RECIST from the target-lesion sums agrees" in result.report.to_text()


def test_dry_run_writes_nothing_and_reimport_is_idempotent(demo_store):
    before = st.load_measurements(demo_store, "demo")
    changed = before.assign(value=before["value"] + 1.0)
    data = _centre_file(changed)
    dry = import_measurements(demo_store, data, name="labs.csv", cohort="demo", mapping=MAPPING,
                              dry_run=True)
    assert dry.report.ok and not dry.written
    assert st.load_measurements(demo_store, "demo").equals(before)
    import_measurements(demo_store, data, name="labs.csv", cohort="demo", mapping=MAPPING)
    once = st.table_checksums(demo_store)["measurements"]
    imports_once = len(st.load_imports(demo_store, "demo"))
    import_measurements(demo_store, data, name="labs.csv", cohort="demo", mapping=MAPPING)
    assert st.table_checksums(demo_store)["measurements"] == once
    assert len(st.load_imports(demo_store, "demo")) == imports_once


def test_bad_rows_are_rejected_by_row_number_without_showing_the_id(demo_store):
    pid = st.load_cohort(demo_store, st.CohortFilter(cohort="demo"))["patient_id"].iloc[0]
    rows = pd.DataFrame({
        "patient_id": [pid, "SECRET-ID-999", pid, pid, pid, pid, pid, pid],
        "day": ["0", "10", "x", "20", "30", "40", "50", "50"],
        "kind": ["cea", "cea", "cea", "albumin", "cea", "target_lesion_sum", "cea", "cea"],
        "value": ["12", "5", "3", "40", "-1", "3", "8", "9"],
        "unit": ["ng/mL", "ng/mL", "ng/mL", "g/L", "ng/mL", "inch", "ng/mL", "ng/mL"],
    })
    data = rows.to_csv(index=False).encode()
    result = import_measurements(demo_store, data, name="bad.csv", cohort="demo", dry_run=True)
    problems = result.report.problems
    # row 1 is the only good row; 2 unknown patient, 3 time, 4 kind, 5 range, 6 unit,
    # 7 and 8 conflict on the same day
    assert result.report.rows_accepted == 1
    assert problems["row"].tolist() == [2, 3, 4, 5, 6, 7, 8]
    assert "patient not in the cohort" in problems.loc[0, "problem"]
    assert "SECRET-ID-999" not in result.report.to_text()


def test_an_imported_cohort_is_matched_through_its_pseudonyms(tmp_path):
    store = st.Store(tmp_path / "pseudo.duckdb")
    try:
        patients = generate_cohort_frames(20, 2).patients.copy()
        source_ids = [f"H{i:04d}" for i in range(len(patients))]
        patients["patient_id"] = pseudonymise_ids(pd.Series(source_ids), "centre-a",
                                                  pseudonym_key(store)).to_numpy()
        st.save_cohort(store, "centre-a", patients)
        data = pd.DataFrame({"patient_id": source_ids[:3], "day": [0, 0, 0], "kind": "cea",
                             "value": [3.0, 4.0, 5.0], "unit": "ng/mL"}).to_csv(index=False)
        result = import_measurements(store, data.encode(), name="m.csv", cohort="centre-a")
        assert result.written and result.report.rows_accepted == 3
        stored = st.load_measurements(store, "centre-a")
        assert set(stored["patient_id"]) == set(patients["patient_id"].iloc[:3])
        with pytest.raises(MeasurementImportError):
            import_measurements(store, data.encode(), name="m.csv", cohort="nope")
    finally:
        store.close()


def test_dates_relative_to_the_treatment_start(demo_store):
    pid = st.load_cohort(demo_store, st.CohortFilter(cohort="demo"))["patient_id"].iloc[0]
    data = pd.DataFrame({"id": [pid, pid], "visit": ["2020-01-01", "2020-03-01"],
                         "start": ["2020-01-05", "2020-01-05"], "what": ["CEA", "CEA"],
                         "v": ["30", "12"]}).to_csv(index=False).encode()
    mapping = {"id": "id", "time": {"date": "visit", "start": "start"},
               "kind": {"column": "what", "values": {"CEA": "cea"}}, "value": "v",
               "unit": {"default": {"cea": "ng/mL"}}}
    result = import_measurements(demo_store, data, name="d.csv", cohort="demo", mapping=mapping)
    assert result.measurements["day"].tolist() == [-4, 56]


def test_recist_derivation_by_hand():
    # baseline 10 cm; 6.5 cm is -35 % (PR); 8.0 cm is +23 % over the nadir 6.5 and +1.5 cm: PD
    r = recist.derive_series([0, 56, 112], [10.0, 6.5, 8.0])
    assert r.best_response == "PR" and r.progression_day == 112 and r.best_change_pct == -35.0
    # a rise of 20 % but under 5 mm is not progression (RECIST 1.1 absolute rule)
    assert recist.derive_series([0, 56], [2.0, 2.4]).best_response == "SD"
    assert recist.derive_series([0, 56], [2.0, 2.5]).best_response == "PD"
    assert recist.derive_series([0, 56, 100], [3.0, 0.0, 0.0]).best_response == "CR"
    assert recist.derive_series([56], [3.0]).best_response is None
    assert list(recist.category_from_ratio([0.0, 0.7, 0.71, 1.19, 1.2])) == [0, 1, 2, 2, 3]
    assert np.isnan(recist.change_from_baseline_pct(0.0, 1.0))


def test_cli_import_measurements(demo_store, tmp_path, capsys):
    path = tmp_path / "labs.csv"
    path.write_bytes(_centre_file(st.load_measurements(demo_store, "demo")))
    mapping = tmp_path / "labs.yaml"
    import yaml
    mapping.write_text(yaml.safe_dump(MAPPING))
    out = io.StringIO()
    assert import_measurements_command(demo_store, str(path), cohort="demo",
                                       mapping=str(mapping), dry_run=True, out=out) == 0
    assert "dry run: nothing written" in out.getvalue()
    out = io.StringIO()
    assert import_measurements_command(demo_store, str(tmp_path / "missing.csv"), cohort="demo",
                                       out=out) == 2


def test_the_command_line_runs_the_import(demo_store, tmp_path, capsys):
    from crlm.cli import main

    path = tmp_path / "m.csv"
    m = st.load_measurements(demo_store, "demo")
    m[["patient_id", "day", "kind", "value", "unit"]].to_csv(path, index=False)
    db = str(demo_store.path)
    demo_store.close()
    assert main(["--db", db, "-q", "import-measurements", str(path), "--cohort", "demo",
                 "--dry-run"]) == 0
    assert "dry run: nothing written" in capsys.readouterr().out
    assert main(["--db", db, "-q", "import-measurements", str(path), "--cohort", "nope"]) == 2
