"""A cohort's rows read once and a filter's patients taken from them: the same frame as
reading the filter's rows (``load_cohort_coded``), whatever the filter selects: missing
values or none, a text level or none, no patient, rows not stored in patient_id order,
and a second cohort in the same table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import store as st
from crlm.config import PATIENT_COLUMN_NAMES
from crlm.store import CohortFilter
from crlm.store.coded import load_cohort_coded
from crlm.store.coded_rows import load_coded_rows, recorded_columns, take_rows
from crlm.store.extras import load_recorded_columns
from crlm.store.selection import load_row_index, select_rows


def filter_mask(store, filt):
    return select_rows(store, load_row_index(store, filt.cohort), filt)


COLUMNS = ("patient_id", "center", "age_years", "sex", "ras_status", "n_liver_lesions",
           "fong_score", "cea_ng_ml", "os_event", "responder", "synchronous", "biologic",
           "msi", "tbs_zone")


def _patients(n: int, rng, prefix: str) -> pd.DataFrame:
    frame = pd.DataFrame({c: [None] * n for c in PATIENT_COLUMN_NAMES})
    frame["patient_id"] = [f"{prefix}{i:04d}" for i in rng.permutation(n)]   # unsorted
    frame["center"] = rng.choice(["Centre A", "Centre B"], n)
    frame["age_years"] = rng.integers(30, 90, n).astype(float)
    frame["sex"] = rng.choice(["female", "male"], n)
    ras = rng.choice(["mutant", "wild-type"], n).astype(object)
    ras[frame["age_years"].to_numpy() > 80] = None          # missing only among the old
    frame["ras_status"] = ras
    frame["n_liver_lesions"] = rng.integers(1, 8, n)
    fong = rng.integers(0, 5, n).astype(object)
    fong[frame["age_years"].to_numpy() < 40] = None         # missing only among the young
    frame["fong_score"] = fong
    frame["cea_ng_ml"] = np.exp(rng.normal(2, 1.2, n))
    frame["os_event"] = rng.random(n) < 0.6
    responder = pd.Series(rng.random(n) < 0.4, dtype=object)
    responder[frame["age_years"].to_numpy() < 40] = None
    frame["responder"] = responder
    frame["synchronous"] = pd.Series([None] * n, dtype=object)   # never recorded
    biologic = pd.Series([None] * n, dtype=object)
    biologic[frame["age_years"].to_numpy() >= 85] = "bevacizumab"  # recorded for a few
    frame["biologic"] = biologic
    frame["msi"] = "unknown"                                 # recorded as unknown only
    frame["tbs_zone"] = pd.Series([None] * n, dtype=object)
    frame.loc[0, "tbs_zone"] = "unknown"
    frame.loc[1, "tbs_zone"] = "zone 2"                       # one known value
    return frame


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("coded_rows") / "c.duckdb"
    s = st.Store(path)
    st.save_cohort(s, "other", _patients(40, rng, "O"), kind="imported")
    st.save_cohort(s, "c", _patients(150, rng, "P"), kind="imported")
    yield s
    s.close()


@pytest.mark.parametrize("filt", [
    CohortFilter(cohort="c"),
    CohortFilter(cohort="c", ranges={"age_years": (40, 80)}),     # no missing fong, ras
    CohortFilter(cohort="c", ranges={"age_years": (30, 39)}),     # every fong missing
    CohortFilter(cohort="c", ranges={"age_years": (85, 90)}),
    CohortFilter(cohort="c", ranges={"age_years": (50, 70)}, categories={"sex": ("male",)}),
    CohortFilter(cohort="c", categories={"ras_status": ("unknown",)}),
    CohortFilter(cohort="c", ranges={"age_years": (99, 100)}),    # no patient
], ids=["all", "no-missing", "all-missing", "few-recorded", "two-conditions", "unknown",
        "empty"])
def test_taken_rows_equal_the_filters_own_read(store, filt):
    rows = load_coded_rows(store, "c", COLUMNS)
    got = take_rows(rows, filter_mask(store, filt))
    pd.testing.assert_frame_equal(got, load_cohort_coded(store, filt, COLUMNS))


def test_rows_of_a_changed_cohort_are_refused(store):
    rows = load_coded_rows(store, "c", COLUMNS)
    with pytest.raises(st.StoreError):
        take_rows(rows, filter_mask(store, CohortFilter(cohort="other")))
    with pytest.raises(st.StoreError):
        load_coded_rows(store, "c", ("age_years",))


def test_recorded_columns_equal_the_stores_count(store):
    rows = load_coded_rows(store, "c", COLUMNS)
    recorded = recorded_columns(rows, COLUMNS[1:])
    assert recorded == load_recorded_columns(store, "c", COLUMNS[1:])
    assert "msi" not in recorded and "synchronous" not in recorded and "tbs_zone" in recorded
