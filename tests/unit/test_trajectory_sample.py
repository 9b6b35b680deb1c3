"""The "Over time" section's sample and its per-snapshot preparation: the sample is the
filter's patients of smallest hash, the same every time; a filter answered from the
preparation gets exactly what reading its sample from the store and computing gives."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import recist
from crlm.analysis import cohort_summary as cs
from crlm.analysis import cohort_trajectories as ct, trajectories as tr
from crlm.analysis import trajectory_sample as ts
from crlm.analysis.snapshot import filter_key
from crlm.store import CohortFilter
from tests.support.demo_snapshot import demo_snapshot
from crlm.store.patient_measurements import load_patient_measurements


@pytest.fixture()
def snap(tmp_path):
    with demo_snapshot(tmp_path, 300, 5) as snap:
        yield snap


def test_a_priority_depends_on_the_patient_alone():
    ids = np.array(["P1", "P2", "P3"], dtype=object)
    alone = ts.priorities(np.array(["P2"], dtype=object))
    assert ts.priorities(ids)[1] == alone[0] and len(set(ts.priorities(ids))) == 3


def test_the_sample_is_the_filters_patients_of_smallest_hash(snap):
    key = filter_key(CohortFilter(cohort="demo", ranges={"age_years": (40, 80)}))
    frame = cs.page_frame(snap, key)
    ids = frame["patient_id"].to_numpy(dtype=object)
    # by hand: each patient's hash, the 25 smallest, in patient order
    hashes = ts.priorities(ids)
    want = np.sort(np.argsort(hashes, kind="stable")[:25])
    got = ts.sample_of(snap, key, 25)
    assert got.n_total == len(ids) > 25
    assert got.positions.tolist() == want.tolist() and got.ids.tolist() == ids[want].tolist()
    assert ts.sample_of(snap, key, 25).ids.tolist() == got.ids.tolist()   # the same each time
    everyone = ts.sample_of(snap, key, 10_000)
    assert everyone.ids.tolist() == ids.tolist()


def _same_results(snap, key, kinds):
    sampled = ct.sampled_measurements(snap, key)
    chosen = ts.sample_of(snap, key, ct.MAX_PATIENTS)
    rows = load_patient_measurements(snap.store(), "demo", chosen.ids, ts.cohort_kinds(snap))
    pd.testing.assert_frame_equal(sampled.measurements, rows)
    for by in ("responder", "none", "ras_status", "primary_side"):
        groups = ct._sample_groups(snap, key, by, None, None)
        for kind in kinds:
            want = tr.compute_trajectories(rows, groups, kind)
            got = ct.cohort_trajectories(snap, key, kind, by)
            assert got.groups == want.groups and got.n_patients == want.n_patients
            for g in want.groups:
                for name in ("median", "lower", "upper", "n_at_grid"):
                    np.testing.assert_array_equal(getattr(got, name)[g], getattr(want, name)[g])
            pd.testing.assert_frame_equal(got.lines, want.lines)
            pd.testing.assert_frame_equal(got.table, want.table)
        want_wf = tr.compute_waterfall(rows, None if by == "none" else groups)
        got_wf = ct.cohort_waterfall(snap, key, by)
        pd.testing.assert_frame_equal(got_wf.table, want_wf.table)
        pd.testing.assert_frame_equal(got_wf.shown, want_wf.shown)
    return sampled


def test_the_preparation_gives_what_the_store_gives(snap, monkeypatch):
    monkeypatch.setattr(ts, "PREPARED_PATIENTS", 150)
    monkeypatch.setattr(ct, "MAX_PATIENTS", 40)
    ready = ts.prepared(snap)
    assert len(ready.patients) == 150
    kinds = ts.cohort_kinds(snap)
    wide = filter_key(CohortFilter(cohort="demo"))
    narrow = filter_key(CohortFilter(cohort="demo", ranges={"age_years": (50, 52)}))
    assert _same_results(snap, wide, kinds).prepared is not None      # among the prepared
    # a filter keeping few patients: some of its sample is not prepared, read from the store
    assert _same_results(snap, narrow, kinds).prepared is None
    # the same filter before the preparation existed: the same numbers
    ct.sampled_measurements.cache_clear()
    ct.cohort_trajectories.cache_clear()
    ct.cohort_waterfall.cache_clear()
    ts.prepared.cache_clear()
    assert _same_results(snap, wide, kinds).prepared is None


def test_taking_derived_responses_equals_deriving_them_from_the_rows():
    rng = np.random.default_rng(8)
    rows = []
    for i in range(60):
        days = np.sort(rng.choice(np.arange(-20, 300), rng.integers(1, 6), replace=False))
        rows.append(pd.DataFrame({"patient_id": f"P{i:02d}", "day": days,
                                  "value": np.round(rng.uniform(0.5, 9, len(days)), 1)}))
    m = pd.concat(rows, ignore_index=True)
    every = recist.derive_frame(m)
    for chosen in (every["patient_id"].iloc[::3], every["patient_id"].iloc[:0],
                   every.loc[every["progression_day"].isna(), "patient_id"]):
        want = recist.derive_frame(m[m["patient_id"].isin(chosen)])
        got = recist.take_derived(every, np.flatnonzero(every["patient_id"].isin(chosen)))
        pd.testing.assert_frame_equal(got, want)
