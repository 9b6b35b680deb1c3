"""A filter as the selection of a cohort's rows, read by row id."""
from __future__ import annotations

import numpy as np
import pandas as pd

from crlm import store as st
from crlm.config import PATIENT_COLUMN_NAMES
from crlm.store import CohortFilter
from crlm.store.selection import (
    RowIndex, cohort_rowids, filter_rowids, load_row_index, select_rows,
)


def _frame(prefix: str, n: int) -> pd.DataFrame:
    frame = pd.DataFrame({c: [None] * n for c in PATIENT_COLUMN_NAMES})
    frame["patient_id"] = [f"{prefix}{i:02d}" for i in range(n)]
    frame["age_years"] = np.linspace(40, 80, n)
    frame["ras_status"] = ["mutant", "wild-type", None] * (n // 3)
    return frame


def test_a_filter_selects_the_rows_it_matches_in_row_order(tmp_path):
    with st.Store(tmp_path / "s.duckdb") as s:
        st.save_cohort(s, "a", _frame("A", 12), kind="imported")
        st.save_cohort(s, "c", _frame("C", 30), kind="imported")
        index = load_row_index(s, "c")
        assert index.n == 30 and index.rowids.tolist() == cohort_rowids(s, "c").tolist()
        assert not index.rowids.flags.writeable and not index.positions.flags.writeable
        filt = CohortFilter(cohort="c", ranges={"age_years": (50, 70)},
                            categories={"ras_status": ["mutant", "unknown"]})
        got = select_rows(s, index, filt)
        frame = st.load_cohort(s, CohortFilter(cohort="c"))   # patient_id order = row order
        age, ras = frame["age_years"], frame["ras_status"]
        want = (age >= 50) & (age <= 70) & (ras.isna() | (ras == "mutant"))
        assert got.tolist() == want.tolist() and 0 < got.sum() < 30
        # another cohort's filter selects none of this cohort's rows
        assert not select_rows(s, index, CohortFilter(cohort="a")).any()
        assert len(filter_rowids(s, CohortFilter(cohort="a"))) == 12


def test_positions_of_rows_outside_the_cohort_are_minus_one():
    index = RowIndex.of(np.array([3, 5, 9]))
    assert index.position(np.array([9, 3, 4, 42, -1])).tolist() == [2, 0, -1, -1, -1]
    assert index.mask(np.array([5, 7, 100])).tolist() == [False, True, False]
    empty = RowIndex.of(np.zeros(0, np.int64))
    assert empty.n == 0 and empty.mask(np.array([1])).tolist() == []
