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

from crlm.config import PATIENT_COLUMN_NAMES
from crlm.store.connection import Store, StoreError
from crlm.store.filters import CohortFilter

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
    """Every current model's scores of ``task`` on ``split`` for the whole cohort, one row
    per scored patient of the cohort.

    Returns ``model_ids`` (sorted), ``keys`` (the patients' keys, sorted, uint64),
    ``scores`` (patients x models; NaN where a model did not score the patient) and, per
    patient column in ``columns`` (the outcome), a float array (NaN when unknown).
    """
    cur = store.cursor()
    model_ids = [r[0] for r in cur.execute(
        "SELECT DISTINCT q.model_id FROM predictions q JOIN models m ON m.model_id = q.model_id"
        " AND m.version = q.model_version WHERE m.is_current AND q.cohort = ? AND q.task = ?"
        " AND q.split = ? ORDER BY 1", [cohort, task, split]).fetchall()]
    bad = [c for c in columns if c not in PATIENT_COLUMN_NAMES]
    if bad:
        raise StoreError(f"unknown patient column(s): {', '.join(bad)}")
    outcome = ", ".join(f'CAST(p."{c}" AS DOUBLE) AS "{c}"' for c in columns)
    model = "CAST(list_position(?, q.model_id) - 1 AS INTEGER) AS model"
    current = ("FROM predictions q JOIN models m ON m.model_id = q.model_id"
               " AND m.version = q.model_version {join} WHERE m.is_current AND q.cohort = ?"
               " AND q.task = ? AND q.split = ?")
    if exact:  # ranks: one join on the patient ids
        join = f"JOIN {_keyed_patients(True)} p ON p.patient_id = q.patient_id"
        rows = _arrays(cur.execute(
            f"SELECT p.pkey AS key, {model}, q.score, {outcome} " + current.format(join=join),
            [model_ids, cohort, cohort, task, split]).fetchnumpy())
        keys, row = np.unique(rows["key"], return_inverse=True)
        values = {c: np.full(len(keys), np.nan) for c in columns}
        for c in columns:
            values[c][row] = rows[c]
        known = np.ones(len(keys), bool)
    else:  # hashes: scores and patients read apart (no join on the ids), matched here
        rows = _arrays(cur.execute(
            f"SELECT CAST(hash(q.patient_id) AS UBIGINT) AS key, {model}, q.score "
            + current.format(join=""), [model_ids, cohort, task, split]).fetchnumpy())
        patients = _arrays(cur.execute(
            f"SELECT CAST({_HASH} AS UBIGINT) AS key, {outcome} FROM patients p"
            " WHERE cohort = ?", [cohort]).fetchnumpy())
        keys, row = np.unique(rows["key"], return_inverse=True)
        order = np.argsort(patients["key"])
        sorted_keys = patients["key"][order]
        at = np.minimum(np.searchsorted(sorted_keys, keys), max(len(sorted_keys) - 1, 0))
        known = sorted_keys[at] == keys if len(sorted_keys) else np.zeros(len(keys), bool)
        values = {c: patients[c][order][at] if len(sorted_keys) else np.full(len(keys), np.nan)
                  for c in columns}
    scores = np.full((len(keys), len(model_ids)), np.nan)
    scores[row, rows["model"]] = rows["score"]
    return {"model_ids": tuple(model_ids), "keys": keys[known], "scores": scores[known],
            **{c: v[known] for c, v in values.items()}}


def _arrays(result: dict) -> dict:
    """DuckDB's numpy result as plain arrays (a masked, i.e. NULL-holding, one as float
    with NaN)."""
    out = {}
    for name, values in result.items():
        if np.ma.isMaskedArray(values):
            values = values.astype(float).filled(np.nan)
        out[name] = np.asarray(values)
    return out
