"""A filter key as the selection of a snapshot's cohort rows, shared by the analyses."""
from __future__ import annotations

import numpy as np
import pandas as pd

from crlm import store as st
from crlm.analysis import selection as sel
from crlm.analysis.snapshot import close_stores, filter_key, snapshot
from crlm.config import PATIENT_COLUMN_NAMES
from crlm.store import CohortFilter


def test_a_filter_key_selects_the_rows_it_matches_once_per_snapshot(tmp_path):
    path = tmp_path / "s.duckdb"
    frame = pd.DataFrame({c: [None] * 20 for c in PATIENT_COLUMN_NAMES})
    frame["patient_id"] = [f"P{i:02d}" for i in range(20)]
    frame["age_years"] = np.arange(40, 60, dtype=float)
    with st.Store(path) as s:
        st.save_cohort(s, "c", frame, kind="imported")
    try:
        snap = snapshot(path, "c")
        key = filter_key(CohortFilter(cohort="c", ranges={"age_years": (45, 49)}))
        mask = sel.selected(snap, key)
        assert mask.tolist() == [45 <= a <= 49 for a in range(40, 60)]
        assert not mask.flags.writeable and sel.selected(snap, key) is mask
        assert sel.row_index(snap).n == 20
        other = filter_key(CohortFilter(cohort="d"))
        assert not sel.selected(snap, other).any() and len(sel.selected(snap, other)) == 20
    finally:
        close_stores()
