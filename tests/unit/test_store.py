"""The store on real DuckDB files: schema, migrations, filters, transactions."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys

import duckdb
import pandas as pd
import pytest

from crlm import config
from crlm.store import (
    SCHEMA_VERSION, CohortFilter, FilterError, Store, StoreBusy, StoreError, count_patients,
    load_cohort, load_models, load_predictions, save_case, save_cohort, save_model,
    table_checksums,
)
from crlm.store.schema import MIGRATIONS


def _patients(n: int = 6) -> pd.DataFrame:
    rows = []
    for i in range(n):
        row = {c: None for c in config.PATIENT_COLUMN_NAMES}
        row.update(
            patient_id=f"P{i:03d}", center="Centre A" if i % 2 else "Centre B",
            cohort_split="development" if i < n - 2 else "external",
            diagnosis_date=dt.date(2015, 1, 1) + dt.timedelta(days=100 * i),
            age_years=40.0 + 5 * i, sex="male" if i % 3 else "female",
            ras_status=["mutant", "wild-type", "unknown"][i % 3],
            kras=["mutant", "wild-type", None][i % 3], hepatectomy=bool(i % 2),
            os_months=10.0 + i, os_event=bool(i % 2), responder=bool(i % 2),
        )
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "t.duckdb")
    save_cohort(s, "demo", _patients(), kind="synthetic")
    yield s
    s.close()


def test_new_store_has_current_schema(tmp_path):
    with Store(tmp_path / "a.duckdb") as s:
        assert s.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert set(table_checksums(s)) >= {"patients", "models", "predictions", "cases", "audit_log"}


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "newer.duckdb"
    Store(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (?, 'future', now())", [SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(StoreError, match="newer than this release"):
        Store(path)


def test_older_store_is_migrated(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR, "
                "applied_at TIMESTAMP)")
    con.close()  # version 0: no migration applied yet
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION


def test_not_a_duckdb_file_is_refused(tmp_path):
    path = tmp_path / "text.duckdb"
    path.write_text("this is not a database\n" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a DuckDB store file|cannot open store"):
        Store(path)
    assert path.read_bytes() == before


_HOLD_LOCK = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
con.close()
"""


def test_store_locked_by_another_process_is_busy(tmp_path):
    path = tmp_path / "locked.duckdb"
    Store(path).close()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreBusy, match="store busy"):
            Store(path, retry_s=0.5)
    finally:
        holder.communicate("release\n", timeout=30)
    Store(path, retry_s=5).close()  # released: opens again


def test_filter_is_one_parameterised_query(store):
    f = CohortFilter(categories={"ras_status": ("mutant", "unknown"), "sex": ("male",)},
                     ranges={"age_years": (45, None)})
    where, params = f.where()
    assert "mutant" not in where and "male" not in where  # values are bound, not formatted
    got = load_cohort(store, f)
    expected = _patients()
    expected = expected[expected.ras_status.isin(["mutant", "unknown"]) & (expected.sex == "male")
                        & (expected.age_years >= 45)]
    assert list(got.patient_id) == list(expected.patient_id)
    assert count_patients(store, f) == len(expected)


def test_unknown_level_selects_missing_values(store):
    got = load_cohort(store, CohortFilter(categories={"kras": ("unknown",)}))
    assert got["kras"].isna().all() and len(got) == 2


def test_filter_rejects_bad_values():
    with pytest.raises(FilterError, match="sex"):
        CohortFilter(categories={"sex": ("robot",)})
    with pytest.raises(FilterError, match="not a filterable column"):
        CohortFilter(categories={"patient_id; DROP TABLE patients": ("x",)})
    with pytest.raises(FilterError, match="outside the allowed range"):
        CohortFilter(ranges={"age_years": (5, 300)})
    with pytest.raises(FilterError, match="lower bound"):
        CohortFilter(ranges={"age_years": (80, 40)})
    with pytest.raises(FilterError, match="not a number"):
        CohortFilter.from_query_params({"age_years": "old..older"})
    with pytest.raises(FilterError, match="not a date"):
        CohortFilter.from_query_params({"from": "yesterday"})


def test_filter_round_trips_through_query_params():
    f = CohortFilter(cohort="demo", categories={"center": ("Centre B", "Centre A"),
                                                "hepatectomy": ("yes",)},
                     ranges={"age_years": (30, 70)}, date_from=dt.date(2012, 1, 1))
    assert CohortFilter.from_query_params(f.to_query_params()) == f
    assert "Centre A, Centre B" in f.describe()


def test_hostile_values_are_data_not_sql(store):
    hostile = "'; DROP TABLE patients; --"
    f = CohortFilter(categories={"center": (hostile,)})
    assert load_cohort(store, f).empty
    assert table_checksums(store)["patients"][0] == 6


def test_transaction_rolls_back_on_error(store):
    before = table_checksums(store)
    with pytest.raises(RuntimeError):
        with store.transaction() as cur:
            cur.execute("DELETE FROM patients")
            raise RuntimeError("boom")
    assert table_checksums(store) == before


def test_model_versions_and_predictions(store):
    record = dict(model_id="response.logistic", name="Logistic", family="logistic",
                  task="response", cohort="demo", feature_set=["age_years"], threshold=0.5,
                  metrics={"auc": 0.7})
    preds = pd.DataFrame({"patient_id": ["P000", "P001"], "split": ["out-of-fold", "external"],
                          "fold": [0, None], "score": [0.2, 0.8]})
    assert save_model(store, record, preds) == 1
    assert save_model(store, record, preds.assign(score=[0.3, 0.9])) == 2
    current = load_models(store, cohort="demo")
    assert list(current.version) == [2] and current.metrics[0]["auc"] == 0.7
    got = load_predictions(store, CohortFilter(), task="response", columns=["os_months"])
    assert sorted(got.score) == [0.3, 0.9] and "os_months" in got
    assert len(load_models(store, current_only=False)) == 2


def test_save_case_writes_case_and_audit_together(store):
    case_id = save_case(store, actor="dr-a", inputs={"age_years": 60}, scores={"m": 0.4})
    sums = table_checksums(store)
    assert sums["cases"][0] == 1 and sums["audit_log"][0] == 1
    assert case_id == 1
