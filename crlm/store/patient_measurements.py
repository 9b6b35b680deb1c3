"""Serial measurements of chosen patients, only the columns a trajectory reads."""
from __future__ import annotations

from typing import Sequence

import duckdb
import numpy as np
import pandas as pd

from crlm.store.coded import _quote
from crlm.store.connection import Store

TRAJECTORY_COLUMNS = ("patient_id", "day", "kind", "value")


def load_measurement_kinds(store: Store, cohort: str) -> tuple[str, ...]:
    """The measurement kinds ``cohort`` has, sorted."""
    rows = store.cursor().execute(
        "SELECT DISTINCT kind FROM measurements WHERE cohort = ? ORDER BY kind",
        [cohort]).fetchall()
    return tuple(r[0] for r in rows)


def load_patient_measurement_rows(store: Store, cohort: str, patient_ids: Sequence[str],
                                  kinds: Sequence[str] = ()) -> pd.DataFrame:
    """``position, day, kind, value`` of the given patients of ``cohort`` (``position``:
    the patient's place in ``patient_ids``), ordered by patient, kind and day. ``kind`` as
    in ``load_patient_measurements``."""
    ids = np.asarray(patient_ids, dtype=object)
    cur = store.cursor()
    cur.register("_wanted_trajectory_ids", pd.DataFrame(
        {"patient_id": pd.Series([str(i) for i in ids], dtype=object),
         "position": np.arange(len(ids), dtype=np.int64)}))
    kind = f"CAST(m.kind AS ENUM({', '.join(map(_quote, kinds))}))" if kinds else "m.kind"
    sql = ("SELECT w.position, m.day, {kind} AS kind, m.value FROM measurements m "
           "JOIN _wanted_trajectory_ids w ON w.patient_id = m.patient_id "
           "WHERE m.cohort = ? ORDER BY 1, 3, 2")   # position, kind (sorted levels), day
    try:
        try:
            rows = cur.execute(sql.format(kind=kind), [cohort]).df()
        except duckdb.ConversionError:   # a kind written in between: read it as text
            rows = cur.execute(sql.format(kind="m.kind"), [cohort]).df()
    finally:
        cur.unregister("_wanted_trajectory_ids")
    if isinstance(rows["kind"].dtype, pd.CategoricalDtype):
        rows["kind"] = rows["kind"].cat.as_unordered()
    return rows


def load_patient_measurements(store: Store, cohort: str, patient_ids: Sequence[str],
                              kinds: Sequence[str] = ()) -> pd.DataFrame:
    """``patient_id, day, kind, value`` of the given patients of ``cohort``, ordered by
    patient, kind and day (the rows and order of ``load_measurements`` for them).
    ``patient_ids`` must be sorted; with ``kinds`` (sorted: ``load_measurement_kinds``)
    ``kind`` comes as a categorical of them, else as text. Patients are matched through
    their position in ``patient_ids``, and the ids are taken from it (no text is read
    per row for them)."""
    ids = np.asarray(patient_ids, dtype=object)
    rows = load_patient_measurement_rows(store, cohort, ids, kinds)
    position = rows["position"].to_numpy()
    return pd.DataFrame({"patient_id": ids[position] if len(ids) else
                         np.empty(0, dtype=object), "day": rows["day"].to_numpy(),
                         "kind": rows["kind"], "value": rows["value"].to_numpy()})
