"""The long tables (features, predictions, measurements) have no key index; their writers
refuse a repeated key and write nothing, and a store from before keeps every row."""
from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from crlm.config import PATIENT_COLUMN_NAMES
from crlm.store import (
    CohortFilter, Store, append_measurements, load_features, load_measurements,
    load_predictions, save_cohort, save_model,
)
from crlm.store.schema import MIGRATIONS


def _patients(n: int = 4) -> pd.DataFrame:
    frame = pd.DataFrame({c: [None] * n for c in PATIENT_COLUMN_NAMES})
    frame["patient_id"] = [f"P{i}" for i in range(n)]
    return frame


def _features(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["patient_id", "feature_set", "feature", "value"])


def _record(model_id: str = "response.logistic") -> dict:
    return {"model_id": model_id, "name": "Logistic", "family": "logistic", "task": "response",
            "cohort": "demo", "kind": "trained", "feature_set": [], "metrics": {}}


def test_a_repeated_feature_key_is_refused_and_nothing_is_written(tmp_path):
    with Store(tmp_path / "s.duckdb") as s:
        save_cohort(s, "demo", _patients(), _features([("P0", "genomic", "kras", 1.0)]),
                    kind="imported")
        twice = _features([("P1", "genomic", "kras", 1.0), ("P1", "genomic", "kras", 0.0)])
        with pytest.raises(ValueError, match="repeat a .*key; nothing was written"):
            save_cohort(s, "demo", _patients(), twice, kind="imported")
        kept = load_features(s, "demo")
        assert len(kept) == 1 and kept.iloc[0, 0] is not None


def test_repeated_predictions_and_measurements_are_refused(tmp_path):
    with Store(tmp_path / "s.duckdb") as s:
        save_cohort(s, "demo", _patients(), kind="imported")
        preds = pd.DataFrame({"patient_id": ["P0", "P0"], "split": ["out-of-fold"] * 2,
                              "fold": [0, 0], "score": [0.2, 0.3]})
        with pytest.raises(ValueError, match="predictions: 1 row"):
            save_model(s, _record(), preds)
        assert load_predictions(s, CohortFilter(cohort="demo")).empty
        rows = pd.DataFrame({"patient_id": ["P0", "P0"], "day": [0, 0], "kind": ["cea"] * 2,
                             "value": [5.0, 6.0], "unit": ["ng/mL"] * 2, "source": ["x"] * 2})
        with pytest.raises(ValueError, match="measurements: 1 row"):
            with s.transaction() as cur:
                append_measurements(cur, "demo", rows)
        assert load_measurements(s, "demo").empty


def test_a_store_from_before_keeps_its_rows_without_the_key_indexes(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR, "
                "applied_at TIMESTAMP)")
    for number, (description, statements) in enumerate(MIGRATIONS[:-1], start=1):
        for sql in statements:
            con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?, ?, now())", [number, description])
    con.execute("INSERT INTO features VALUES ('demo', 'P0', 'genomic', 'kras', 1.0)")
    con.execute("INSERT INTO measurements VALUES ('demo', 'P0', 0, 'cea', 5.0, 'ng/mL', 'x')")
    con.close()
    with Store(path) as s:
        assert s.schema_version == len(MIGRATIONS)
        cur = s.cursor()
        assert cur.execute("SELECT * FROM features").fetchall() == [
            ("demo", "P0", "genomic", "kras", 1.0)]
        assert cur.execute("SELECT count(*) FROM measurements").fetchone() == (1,)
        keys = cur.execute("SELECT table_name FROM duckdb_constraints() WHERE constraint_type "
                           "= 'PRIMARY KEY'").fetchall()
        assert not {"features", "predictions", "measurements"} & {k[0] for k in keys}
        with pytest.raises(duckdb.ConstraintException):   # NOT NULL kept
            cur.execute("INSERT INTO features VALUES ('demo', NULL, 'genomic', 'x', 1.0)")
