"""The Cohort page's trajectories and waterfall as analysis functions: the same results as
computed straight from the store's rows, a sample for a large cohort, and a cache that a
write to the cohort renews."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import store as st
from crlm.analysis import cohort_trajectories as ct, trajectories as tr
from crlm.analysis.snapshot import filter_key
from crlm.store import CohortFilter
from tests.support.demo_snapshot import demo_snapshot


@pytest.fixture()
def snap(tmp_path):
    with demo_snapshot(tmp_path, 120, 7) as snap:
        yield snap


def test_trajectories_by_a_column_match_the_rows(snap):
    filt = CohortFilter(cohort="demo", ranges={"age_years": (40, 75)})
    key = filter_key(filt)
    cohort = st.load_cohort(snap.store(), filt)
    m = st.load_measurements(snap.store(), filt)
    groups = pd.Series(cohort["primary_side"].astype(object).to_numpy(),
                       index=cohort["patient_id"].to_numpy())
    expected = tr.compute_trajectories(m, groups, "cea")
    got = ct.cohort_trajectories(snap, key, "cea", "primary_side")
    pd.testing.assert_frame_equal(got.table, expected.table)
    assert got.n_patients == expected.n_patients
    assert ct.cohort_trajectories(snap, key, "cea", "primary_side") is got   # memoised


def test_responder_groups_and_the_waterfall(snap):
    key = filter_key(CohortFilter(cohort="demo"))
    groups = ct.patient_groups(snap, key, "responder")
    cohort = st.load_cohort(snap.store(), CohortFilter(cohort="demo"))
    known = cohort.set_index("patient_id")["responder"].dropna().astype(bool)
    assert (groups.loc[known.index] == np.where(known, "responder", "non-responder")).all()
    wf = ct.cohort_waterfall(snap, key, "none")
    expected = tr.compute_waterfall(st.load_measurements(snap.store(), "demo"), None)
    pd.testing.assert_frame_equal(wf.table, expected.table)


def test_a_large_cohort_is_sampled_the_same_way_every_time(snap):
    key = filter_key(CohortFilter(cohort="demo"))
    small = ct.sampled_measurements(snap, key, 50)
    assert small.n_sampled == 50 and small.n_total > 50
    assert small.measurements["patient_id"].nunique() <= 50
    ct.sampled_measurements.cache_clear()
    again = ct.sampled_measurements(snap, key, 50)
    pd.testing.assert_frame_equal(small.measurements, again.measurements)
    whole = ct.sampled_measurements(snap, key)
    assert whole.n_sampled == whole.n_total
    assert "cea" in whole.kinds
