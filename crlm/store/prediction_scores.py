"""Predictions laid out for fast re-filtering: a task's scores of every current model for
a whole cohort, read once per data version, one row per scored patient keyed by the
patient's ``rowid``, so that a new filter selects rows in memory
(``crlm.store.selection``) instead of joining again.

Scores and patients are read apart and matched in memory on ``hash(patient_id)`` (64
bits) when those hashes are distinct within the cohort; otherwise on one join on the
patient ids (exact, slower). The hashes never leave this module: only row ids do.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from crlm.config import PATIENT_COLUMN_NAMES
from crlm.store.connection import Store, StoreError

_HASH = "hash(patient_id)"


def patient_keys_exact(store: Store, cohort: str) -> bool:
    """True when the cohort's patient-id hashes collide, so scores must be matched to
    patients on their ids (``load_task_scores(..., exact=True)``)."""
    n, distinct = store.cursor().execute(
        f"SELECT count(*), count(DISTINCT {_HASH}) FROM patients WHERE cohort = ?",
        [cohort]).fetchone()
    return int(n) != int(distinct)


def load_task_scores(store: Store, cohort: str, task: str, split: str,
                     columns: Sequence[str], *, exact: bool = False) -> dict:
    """Every current model's scores of ``task`` on ``split`` for the whole cohort, one row
    per scored patient of the cohort.

    Returns ``model_ids`` (sorted), ``rowid`` (the patients' row ids, increasing, int64),
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
    if exact:  # one join on the patient ids
        join = "JOIN patients p ON p.cohort = q.cohort AND p.patient_id = q.patient_id"
        rows = _arrays(cur.execute(
            f"SELECT CAST(p.rowid AS BIGINT) AS rowid, {model}, q.score, {outcome} "
            + current.format(join=join), [model_ids, cohort, task, split]).fetchnumpy())
        rowid, row = np.unique(rows["rowid"].astype(np.int64), return_inverse=True)
        values = {c: np.full(len(rowid), np.nan) for c in columns}
        for c in columns:
            values[c][row] = rows[c]
    else:  # hashes: scores and patients read apart (no join on the ids), matched here
        rows = _arrays(cur.execute(
            f"SELECT CAST(hash(q.patient_id) AS UBIGINT) AS key, {model}, q.score "
            + current.format(join=""), [model_ids, cohort, task, split]).fetchnumpy())
        patients = _arrays(cur.execute(
            f"SELECT CAST({_HASH} AS UBIGINT) AS key, CAST(rowid AS BIGINT) AS rowid, {outcome}"
            " FROM patients p WHERE cohort = ?", [cohort]).fetchnumpy())
        keys, key_row = np.unique(rows["key"], return_inverse=True)
        order = np.argsort(patients["key"])
        sorted_keys = patients["key"][order]
        at = np.minimum(np.searchsorted(sorted_keys, keys), max(len(sorted_keys) - 1, 0))
        known = sorted_keys[at] == keys if len(sorted_keys) else np.zeros(len(keys), bool)
        at = order[at[known]] if len(sorted_keys) else np.zeros(0, np.int64)
        by_row = np.argsort(patients["rowid"][at], kind="stable")
        rowid = patients["rowid"][at][by_row].astype(np.int64)
        # each prediction's row: its patient's place in row order (-1: not a patient)
        place = np.full(len(keys), -1, dtype=np.int64)
        place[np.flatnonzero(known)[by_row]] = np.arange(len(rowid))
        row = place[key_row]
        rows = {name: values[row >= 0] for name, values in rows.items()}
        row = row[row >= 0]
        values = {c: patients[c][at][by_row] for c in columns}
    scores = np.full((len(rowid), len(model_ids)), np.nan)
    scores[row, rows["model"]] = rows["score"]
    return {"model_ids": tuple(model_ids), "rowid": rowid, "scores": scores, **values}


def _arrays(result: dict) -> dict:
    """DuckDB's numpy result as plain arrays (a masked, i.e. NULL-holding, one as float
    with NaN)."""
    out = {}
    for name, values in result.items():
        if np.ma.isMaskedArray(values):
            values = values.astype(float).filled(np.nan)
        out[name] = np.asarray(values)
    return out
