"""Snapshots and the analysis cache: a write to one cohort changes only its version, so
only its cached results are recomputed."""
from __future__ import annotations

import pandas as pd

from crlm import store as st
from crlm.analysis import snapshot as snap_mod
from crlm.analysis.snapshot import cohort_frame, filter_key, memo, snapshot
from crlm.config import PATIENT_COLUMN_NAMES
from crlm.store import CohortFilter


def _patients(n: int, prefix: str) -> pd.DataFrame:
    frame = pd.DataFrame({c: [None] * n for c in PATIENT_COLUMN_NAMES})
    frame["patient_id"] = [f"{prefix}{i:03d}" for i in range(n)]
    frame["age_years"] = [50.0 + i for i in range(n)]
    return frame


def test_a_write_changes_only_that_cohorts_version(tmp_path):
    path = tmp_path / "s.duckdb"
    with st.Store(path) as s:
        st.save_cohort(s, "a", _patients(5, "A"), kind="imported")
        st.save_cohort(s, "b", _patients(3, "B"), kind="imported")
    try:
        a1, b1 = snapshot(path, "a"), snapshot(path, "b")
        assert a1 == snapshot(path, "a") and a1.version
        assert snapshot(path, "missing").version == ()
        whole = cohort_frame(a1, filter_key(CohortFilter(cohort="a")))
        assert len(whole) == 5
        st.save_cohort(snap_mod.open_store(path), "a", _patients(7, "A"), kind="imported")
        a2, b2 = snapshot(path, "a"), snapshot(path, "b")
        assert a2 != a1 and b2 == b1
        assert len(cohort_frame(a2, filter_key(CohortFilter(cohort="a")))) == 7
        # the old snapshot's result is still the one computed for it
        assert cohort_frame(a1, filter_key(CohortFilter(cohort="a"))) is whole
    finally:
        snap_mod.close_stores()


def test_memo_computes_a_result_once_per_arguments():
    calls = []

    @memo(maxsize=2)
    def square(x):
        calls.append(x)
        return x * x

    assert [square(2), square(2), square(3), square(2)] == [4, 4, 9, 4]
    assert calls == [2, 3]
    square(4), square(5)        # the least recently used (3, then 2) leave
    square(2)
    assert calls == [2, 3, 4, 5, 2]
    square.cache_clear()
    square(5)
    assert calls[-1] == 5 and len(calls) == 6
