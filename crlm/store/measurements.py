"""Serial measurements: one row per patient, kind and day (the ``measurements`` table).

``day`` is days from the start of first-line treatment (0 = the baseline value, taken
before the first cycle; negative days are pre-treatment values), ``kind`` a key of
``config.MEASUREMENT_KINDS`` and ``value`` is in that kind's unit (converted on import).
Rows are written with their cohort (``replace_cohort``: the demo build and a clinical
import) or replaced as a whole by a measurement import (``replace_measurements``).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from crlm.store.bulk import arrow_rows, refuse_duplicate_keys
from crlm.store.connection import Store
from crlm.store.filters import CohortFilter

MEASUREMENT_COLUMNS = ("patient_id", "day", "kind", "value", "unit", "source")


def append_measurements(cur, cohort: str, measurements: pd.DataFrame) -> None:
    """Inside a transaction: insert long measurements (``MEASUREMENT_COLUMNS``)."""
    missing = [c for c in MEASUREMENT_COLUMNS if c not in measurements.columns]
    if missing:
        raise ValueError(f"measurements frame lacks columns: {', '.join(missing)}")
    refuse_duplicate_keys(measurements, ["patient_id", "kind", "day"], "measurements")
    rows = measurements.loc[:, list(MEASUREMENT_COLUMNS)]
    table = arrow_rows(rows)
    cur.register("_incoming_measurements", rows if table is None else table)
    try:
        cur.execute(
            "INSERT INTO measurements SELECT ?, CAST(patient_id AS VARCHAR), CAST(day AS INTEGER), "
            "CAST(kind AS VARCHAR), value, CAST(unit AS VARCHAR), CAST(source AS VARCHAR) "
            "FROM _incoming_measurements",
            [cohort],
        )
    finally:
        cur.unregister("_incoming_measurements")


def replace_measurements(store: Store, cohort: str, measurements: pd.DataFrame, *,
                         import_record: Mapping | None = None) -> int:
    """Replace every measurement of ``cohort`` in one transaction (a measurement import);
    returns the number of rows written."""
    from crlm.store.queries import record_import

    with store.transaction() as cur:
        cur.execute("DELETE FROM measurements WHERE cohort = ?", [cohort])
        if len(measurements):
            append_measurements(cur, cohort, measurements)
        if import_record is not None:
            record_import(cur, cohort=cohort, **import_record)
    return int(len(measurements))


def load_measurements(store: Store, filt: CohortFilter | str, *,
                      kinds: Sequence[str] | None = None, max_day: int | None = None,
                      patient_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Measurements of the patients matching ``filt`` (a filter or a cohort name), ordered
    by patient, kind and day; only days ``<= max_day`` when given (the decision-time cut)."""
    filt = CohortFilter(cohort=filt) if isinstance(filt, str) else filt
    where, params = filt.where()
    clauses, extra = ["m.cohort = ?"], [filt.cohort]
    if kinds:
        clauses.append(f"m.kind IN ({', '.join('?' for _ in kinds)})")
        extra.extend(kinds)
    if max_day is not None:
        clauses.append("m.day <= ?")
        extra.append(int(max_day))
    cur = store.cursor()
    if patient_ids is not None:
        cur.register("_wanted_measurement_ids", pd.DataFrame(
            {"patient_id": pd.Series([str(i) for i in patient_ids], dtype=object)}))
        clauses.append("m.patient_id IN (SELECT patient_id FROM _wanted_measurement_ids)")
    return cur.execute(
        "SELECT m.patient_id, m.day, m.kind, m.value, m.unit, m.source FROM measurements m "
        f"WHERE {' AND '.join(clauses)} AND m.patient_id IN "
        f"(SELECT patient_id FROM patients WHERE {where}) "
        "ORDER BY m.patient_id, m.kind, m.day",
        extra + params,
    ).df()


def count_measurements(store: Store, cohort: str) -> pd.DataFrame:
    """Rows and patients per kind in ``cohort``."""
    return store.cursor().execute(
        "SELECT kind, count(*) AS n_rows, count(DISTINCT patient_id) AS n_patients "
        "FROM measurements WHERE cohort = ? GROUP BY kind ORDER BY kind", [cohort]).df()


def load_landmark_values(store: Store, filt: CohortFilter | str, kind: str, *,
                         landmark_day: int, window: tuple[int, int]) -> pd.DataFrame:
    """Per patient matching ``filt``: the baseline (the last value on or before day 0) and
    the value nearest ``landmark_day`` within ``window`` (the earlier day on a tie), with
    its day. Reads no row after ``window[1]``; one query."""
    filt = CohortFilter(cohort=filt) if isinstance(filt, str) else filt
    where, params = filt.where()
    lo, hi = int(window[0]), int(window[1])
    return store.cursor().execute(
        "WITH m AS (SELECT patient_id, day, value FROM measurements "
        "  WHERE cohort = ? AND kind = ? AND day <= ? AND patient_id IN "
        f"  (SELECT patient_id FROM patients WHERE {where})), "
        "base AS (SELECT patient_id, arg_max(value, day) AS baseline FROM m WHERE day <= 0 "
        "  GROUP BY patient_id), "
        "near AS (SELECT patient_id, arg_min(value, abs(day - ?) * 100000 + day) AS value, "
        "  arg_min(day, abs(day - ?) * 100000 + day) AS day FROM m "
        "  WHERE day BETWEEN ? AND ? GROUP BY patient_id) "
        "SELECT base.patient_id, base.baseline, near.day, near.value FROM base "
        "JOIN near USING (patient_id) ORDER BY base.patient_id",
        [filt.cohort, kind, hi, *params, int(landmark_day), int(landmark_day), lo, hi],
    ).df()
