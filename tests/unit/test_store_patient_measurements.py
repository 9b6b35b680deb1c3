"""Measurements of chosen patients: the rows and order of ``load_measurements`` for them,
with ``kind`` as a categorical of the cohort's kinds or as text, and none for no patient."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import store as st
from crlm.ingest.demo_images import write_demo_cohort
from crlm.store.patient_measurements import load_measurement_kinds, load_patient_measurements


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = st.Store(tmp_path_factory.mktemp("patient_measurements") / "m.duckdb")
    write_demo_cohort(s, 60, 5, images=False)
    yield s
    s.close()


def test_chosen_patients_rows_equal_load_measurements(store):
    every = st.load_measurements(store, "demo")
    ids = np.sort(every["patient_id"].unique())[::3]
    expected = st.load_measurements(store, "demo", patient_ids=ids)
    expected = expected[["patient_id", "day", "kind", "value"]].reset_index(drop=True)
    kinds = load_measurement_kinds(store, "demo")
    assert kinds == tuple(sorted(every["kind"].unique()))
    coded = load_patient_measurements(store, "demo", ids, kinds)
    assert isinstance(coded["kind"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(coded.assign(kind=coded["kind"].astype(object)), expected)
    pd.testing.assert_frame_equal(load_patient_measurements(store, "demo", ids), expected)


def test_no_patient_no_rows(store):
    none = load_patient_measurements(store, "demo", [], load_measurement_kinds(store, "demo"))
    assert list(none.columns) == ["patient_id", "day", "kind", "value"] and len(none) == 0
    assert load_measurement_kinds(store, "no such cohort") == ()
