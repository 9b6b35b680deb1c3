"""Serial measurements of chosen patients, only the columns a trajectory reads."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from crlm.store.connection import Store

TRAJECTORY_COLUMNS = ("patient_id", "day", "kind", "value")


def load_patient_measurements(store: Store, cohort: str,
                              patient_ids: Sequence[str]) -> pd.DataFrame:
    """``patient_id, day, kind, value`` of the given patients of ``cohort``, ordered by
    patient, kind and day (the rows and order of ``load_measurements`` for them)."""
    cur = store.cursor()
    cur.register("_wanted_trajectory_ids", pd.DataFrame(
        {"patient_id": pd.Series([str(i) for i in patient_ids], dtype=object)}))
    try:
        return cur.execute(
            "SELECT m.patient_id, m.day, m.kind, m.value FROM measurements m "
            "WHERE m.cohort = ? AND m.patient_id IN "
            "(SELECT patient_id FROM _wanted_trajectory_ids) "
            "ORDER BY m.patient_id, m.kind, m.day", [cohort]).df()
    finally:
        cur.unregister("_wanted_trajectory_ids")
