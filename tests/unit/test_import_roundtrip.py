"""Export a demo cohort to CSV, Parquet and Excel and import it back: the same patients table."""
from __future__ import annotations

import pandas as pd
import pytest

from crlm.ingest.demo import generate_cohort_frames
from crlm.ingest.export import ExportError, export_cohort, neutralise_formulas
from crlm.ingest.importer import import_file, pseudonym_key, pseudonymise_ids, read_table
from crlm.store import CohortFilter, Store, load_cohort, save_cohort

N_PATIENTS = 300
SEED = 20240601


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("roundtrip")
    store = Store(root / "store.duckdb")
    patients = generate_cohort_frames(N_PATIENTS, SEED).patients.copy()
    # text cells a spreadsheet would run as formulas, on a free-text category
    patients["center"] = patients["center"].astype(object)
    patients.loc[0, "center"] = "=HYPERLINK(\"http://x\")"
    patients.loc[1, "center"] = "-minus centre"
    patients.loc[2, "center"] = "@at centre"
    save_cohort(store, "source", patients, kind="synthetic")
    yield store, root
    store.close()


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("patient_id").reset_index(drop=True)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_round_trip_gives_identical_patients(source, fmt):
    store, root = source
    path = root / f"cohort.{fmt}"
    exported = export_cohort(store, "source", path)
    assert exported.n_patients == N_PATIENTS
    assert exported.n_neutralised_cells == (3 if fmt != "parquet" else 0)
    cohort = f"back-{fmt}"
    result = import_file(store, path, cohort=cohort)
    assert result.written, result.report.to_text()
    assert result.report.rows_accepted == N_PATIENTS and not result.report.problems.size
    assert result.report.score_disagreements.empty
    original = load_cohort(store, CohortFilter(cohort="source"))
    expected = original.copy()
    expected["patient_id"] = pseudonymise_ids(original["patient_id"], cohort,
                                              pseudonym_key(store)).to_numpy()
    back = load_cohort(store, CohortFilter(cohort=cohort))
    pd.testing.assert_frame_equal(_sorted(back), _sorted(expected))


def test_csv_cells_are_neutralised_in_the_file(source):
    store, root = source
    path = root / "check.csv"
    export_cohort(store, "source", path)
    text = path.read_text()
    assert "'=HYPERLINK" in text and "'-minus centre" in text and "'@at centre" in text
    assert ",=" not in text
    raw = read_table(path)
    assert raw["center"].str.startswith("=HYPERLINK").sum() == 1


def test_numbers_are_never_neutralised():
    frame = pd.DataFrame({"a": [-1.5, 2.0], "b": ["-1.5", "+x"], "c": pd.array([-1, 2],
                                                                                dtype="Int64")})
    safe, count = neutralise_formulas(frame)
    assert count == 2
    assert safe["a"].tolist() == [-1.5, 2.0] and safe["c"].tolist() == [-1, 2]
    assert safe["b"].tolist() == ["'-1.5", "'+x"]


def test_export_refuses_unknown_cohort_and_format(source):
    store, root = source
    with pytest.raises(ExportError, match="no cohort named 'absent'"):
        export_cohort(store, "absent", root / "a.csv")
    with pytest.raises(ExportError, match="unknown export format"):
        export_cohort(store, "source", root / "a.json")
