"""Predictions laid out for fast re-filtering: a task's scores of every current model for
a whole cohort (read once per data version), and the filtered patients as integer keys
(read per filter), so a new filter selects rows in memory instead of joining again.

A patient's key is ``hash(patient_id)`` (64 bits) when those hashes are distinct within
the cohort; otherwise the patient's rank in ``patient_id`` order (exact, slower). Keys
stay in memory: they are never written, logged or exported.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from crlm.store.connection import Store
from crlm.store.filters import CohortFilter
from crlm.store.queries import _columns

_HASH = "hash(patient_id)"
_RANK = "row_number() OVER (ORDER BY patient_id)"


def patient_keys_exact(store: Store, cohort: str) -> bool:
    """True when the cohort's patient-id hashes collide, so keys must be ranks."""
    n, distinct = store.cursor().execute(
        f"SELECT count(*), count(DISTINCT {_HASH}) FROM patients WHERE cohort = ?",
        [cohort]).fetchone()
    return int(n) != int(distinct)


def _keyed_patients(exact: bool) -> str:
    """The cohort's patients with their key ``pkey`` (one ``?``: the cohort)."""
    return (f"(SELECT *, CAST({_RANK if exact else _HASH} AS UBIGINT) AS pkey"
            f" FROM patients WHERE cohort = ?)")


def load_filtered_keys(store: Store, filt: CohortFilter, *, exact: bool = False) -> np.ndarray:
    """The keys of the patients that match ``filt``, sorted (uint64)."""
    where, params = filt.where()
    sql = f"SELECT pkey FROM {_keyed_patients(exact)} p WHERE {where}"
    keys = store.cursor().execute(sql, [filt.cohort] + params).fetchnumpy()["pkey"]
    return np.sort(np.asarray(keys, dtype=np.uint64))


def load_task_scores(store: Store, cohort: str, task: str, split: str,
                     columns: Sequence[str], *, exact: bool = False) -> dict:
    """Every current model's scores of ``task`` on ``split`` for the whole cohort.

    Returns ``model_ids`` (sorted), and per prediction row ``key`` (uint64), ``model``
    (index into ``model_ids``), ``score`` and one float array per patient column in
    ``columns`` (the outcome; NaN when unknown), rows ordered by model then key.
    """
    cur = store.cursor()
    model_ids = [r[0] for r in cur.execute(
        "SELECT DISTINCT q.model_id FROM predictions q JOIN models m ON m.model_id = q.model_id"
        " AND m.version = q.model_version WHERE m.is_current AND q.cohort = ? AND q.task = ?"
        " AND q.split = ? ORDER BY 1", [cohort, task, split]).fetchall()]
    _columns(columns)  # known patient columns only
    pcols = ", ".join(f'CAST(p."{c}" AS DOUBLE) AS "{c}"' for c in columns)
    sql = (f"SELECT p.pkey AS key, CAST(list_position(?, q.model_id) - 1 AS INTEGER) AS model,"
           f" q.score, {pcols} FROM predictions q JOIN models m ON m.model_id = q.model_id"
           f" AND m.version = q.model_version JOIN {_keyed_patients(exact)} p"
           " ON p.patient_id = q.patient_id WHERE m.is_current AND q.cohort = ? AND q.task = ?"
           " AND q.split = ? ORDER BY model, key")
    rows = cur.execute(sql, [model_ids, cohort, cohort, task, split]).fetchnumpy()
    out = {"model_ids": tuple(model_ids)}
    for name, values in rows.items():
        if np.ma.isMaskedArray(values):
            values = values.astype(float).filled(np.nan)
        out[name] = np.asarray(values)
    return out
