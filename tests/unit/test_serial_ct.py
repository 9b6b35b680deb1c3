"""Serial CT of the demo: the first restaging CT's crops follow the measured change, carry
their time point, and read nothing later than the visit (no outcome, no later value)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from crlm import config
from crlm import store as st
from crlm.ingest.demo_images import write_demo_cohort
from crlm.ingest.serial_ct import RESTAGING_CT, render_restaging_images


@pytest.fixture(scope="module")
def serial_store(tmp_path_factory):
    store = st.Store(tmp_path_factory.mktemp("serial_ct") / "serial.duckdb")
    write_demo_cohort(store, 150, 5)
    yield store
    store.close()


def test_restaging_rows_carry_their_time_and_follow_the_measured_change(serial_store):
    rows = st.load_images(serial_store, "demo", time_point=RESTAGING_CT)
    assert len(rows) > 100 and (rows["known_at"] == config.RESTAGING).all()
    meta = rows["metadata"].map(json.loads)
    assert all(0 < m["day"] <= config.RESTAGING_LANDMARK_DAYS for m in meta)
    base = st.load_lesion_crops(serial_store, "demo")[1]
    follow = st.load_lesion_crops(serial_store, "demo", time_point=RESTAGING_CT)[1]
    largest_before = base[base["lesion_index"] == 0].set_index("patient_id")["diameter_cm"]
    largest_after = follow[follow["lesion_index"] == 0].set_index("patient_id")["diameter_cm"]
    ratio = meta.map(lambda m: m["target_sum_ratio"])
    ratio.index = rows["patient_id"]
    both = largest_after.index
    # the renderer keeps a diameter within 0.3-25 cm
    expected = np.clip(largest_before.loc[both] * ratio.loc[both], 0.3, 25.0)
    assert np.allclose(largest_after, expected, atol=0.02)
    # the CT models' baseline crops are untouched by the follow-up rows
    assert set(base["image_id"].str.endswith("-baseline")) == {True}


def test_restaging_crops_read_no_outcome_and_no_later_value(serial_store):
    before = st.load_lesion_crops(serial_store, "demo", time_point=RESTAGING_CT)
    with serial_store.transaction() as cur:
        cur.execute("UPDATE patients SET os_months = 1, pfs_months = 1, best_response = 'PD' "
                    "WHERE cohort = 'demo'")
        cur.execute("UPDATE measurements SET value = value * 3 WHERE day > ?",
                    [config.RESTAGING_LANDMARK_DAYS])
    render_restaging_images(serial_store, "demo")
    after = st.load_lesion_crops(serial_store, "demo", time_point=RESTAGING_CT)
    assert np.array_equal(before[0], after[0])
    assert before[1].equals(after[1])
