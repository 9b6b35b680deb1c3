"""Survival rows of a whole cohort as plain arrays, keyed by the table's row ids.

What the Survival page reads: per cohort (once per data version) every patient's endpoint
(time, event, whether both are recorded) with a group column as integer codes, in the
table's row order and keyed by its ``rowid`` (a model's scores beside them:
``crlm.store.cohort_predictions``); a filter selects from them as ``crlm.store.selection``
does. No patient identifier leaves."""
from __future__ import annotations

import numpy as np

from crlm.config import COLUMNS_BY_NAME, PATIENT_COLUMN_NAMES
from crlm.store.connection import Store, StoreError

UNKNOWN_GROUP = "unknown"


def _ident(column: str) -> str:
    if column not in PATIENT_COLUMN_NAMES:
        raise StoreError(f"unknown patient column: {column}")
    return f'"{column}"'


def _group_sql(column: str | None) -> str:
    """A column as its group label: yes/no for booleans, ``unknown`` when missing."""
    if column is None:
        return "'all'"
    ident = _ident(column)
    col = COLUMNS_BY_NAME.get(column)
    if col is not None and col.kind == "bool":
        return f"CASE WHEN {ident} IS NULL THEN '{UNKNOWN_GROUP}' WHEN {ident} THEN 'yes' ELSE 'no' END"
    return f"coalesce(CAST({ident} AS VARCHAR), '{UNKNOWN_GROUP}')"


def _filled(values, dtype, fill) -> np.ndarray:
    return np.ma.filled(np.ma.asarray(values).astype(dtype), fill)


def _endpoint_sql(time_column: str, event_column: str, prefix: str = "") -> str:
    t, e = prefix + _ident(time_column), prefix + _ident(event_column)
    return (f"CAST({t} AS DOUBLE) AS time, coalesce(CAST({e} AS BOOLEAN), false) AS event, "
            f"({t} IS NOT NULL AND {e} IS NOT NULL) AS known")


def _endpoint_arrays(result: dict) -> dict[str, np.ndarray]:
    return {"rowid": _filled(result["rowid"], np.int64, -1),
            "time": _filled(result["time"], float, np.nan),
            "event": _filled(result["event"], bool, False),
            "known": _filled(result["known"], bool, False)}


def cohort_endpoint_rows(store: Store, cohort: str, time_column: str, event_column: str,
                         group_column: str | None = None) -> dict[str, np.ndarray]:
    """Every patient of ``cohort`` in row order: ``rowid``, ``time`` (NaN when not
    recorded), ``event``, ``known`` (both recorded), ``code`` (index into ``levels``, the
    sorted labels of ``group_column``; one level ``all`` without a group column)."""
    cur = store.cursor()
    group = _group_sql(group_column)
    levels = [str(r[0]) for r in cur.execute(
        f"SELECT DISTINCT {group} FROM patients WHERE cohort = ? ORDER BY 1", [cohort]).fetchall()]
    result = cur.execute(
        f"SELECT rowid, {_endpoint_sql(time_column, event_column)}, "
        f"CAST(list_position(?, {group}) - 1 AS INTEGER) AS code "
        "FROM patients WHERE cohort = ? ORDER BY rowid", [levels, cohort]).fetchnumpy()
    out = _endpoint_arrays(result)
    out["code"] = _filled(result["code"], np.int32, -1)
    out["levels"] = np.asarray(levels, dtype=object)
    return out


def cohort_landmark_values(store: Store, cohort: str, kind: str, *, landmark_day: int,
                           window: tuple[int, int]) -> dict[str, np.ndarray]:
    """Per patient of ``cohort`` with both: ``rowid``, the ``baseline`` (the last value on or
    before day 0) and the ``value`` nearest ``landmark_day`` within ``window`` (the earlier
    day on a tie) with its ``day``; as ``crlm.store.load_landmark_values``, keyed by rowid."""
    lo, hi = int(window[0]), int(window[1])
    # one grouping of the patient's rows gives both, each over its own rows (FILTER)
    result = store.cursor().execute(
        "WITH v AS (SELECT patient_id, "
        "  arg_max(value, day) FILTER (WHERE day <= 0) AS baseline, "
        "  arg_min(value, abs(day - $landmark) * 100000 + day) "
        "    FILTER (WHERE day BETWEEN $lo AND $hi) AS value, "
        "  arg_min(day, abs(day - $landmark) * 100000 + day) "
        "    FILTER (WHERE day BETWEEN $lo AND $hi) AS day "
        "  FROM measurements WHERE cohort = $cohort AND kind = $kind AND day <= $hi "
        "  GROUP BY patient_id "
        "  HAVING count(*) FILTER (WHERE day <= 0) > 0 "
        "     AND count(*) FILTER (WHERE day BETWEEN $lo AND $hi) > 0) "
        "SELECT p.rowid AS rowid, v.baseline, v.day, v.value FROM v JOIN patients p "
        "ON p.cohort = $cohort AND p.patient_id = v.patient_id ORDER BY p.rowid",
        {"cohort": cohort, "kind": kind, "hi": hi, "lo": lo,
         "landmark": int(landmark_day)}).fetchnumpy()
    return {"rowid": _filled(result["rowid"], np.int64, -1),
            "baseline": _filled(result["baseline"], float, np.nan),
            "day": _filled(result["day"], float, np.nan),
            "value": _filled(result["value"], float, np.nan)}


def cohort_measured(store: Store, cohort: str, max_day: int = 0) -> np.ndarray:
    """Per patient of ``cohort`` in row order: whether any measurement of theirs
    lies on or before ``max_day``."""
    cur = store.cursor()
    rowids = cur.execute("SELECT rowid FROM patients WHERE cohort = ? ORDER BY rowid",
                         [cohort]).fetchnumpy()["rowid"]
    # the measured patients' row ids (a semi-join: each patient looked up once, where a
    # membership test per patient against the measurements' identifiers costs ~3x more)
    hit = cur.execute(
        "SELECT p.rowid FROM patients p WHERE p.cohort = ? AND EXISTS (SELECT 1 FROM "
        "measurements m WHERE m.cohort = ? AND m.day <= ? AND m.patient_id = p.patient_id) "
        "ORDER BY 1", [cohort, cohort, int(max_day)]).fetchnumpy()["rowid"]
    return np.isin(np.asarray(rowids, dtype=np.int64), np.asarray(hit, dtype=np.int64),
                   assume_unique=True)

