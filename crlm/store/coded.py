"""The filtered patients with their text columns as pandas categoricals.

A text column read as Python strings costs one object per patient; read as a DuckDB
ENUM of the values present it arrives as a pandas ``Categorical`` (small integer codes
and the distinct values once), which group counts and Table 1 read far faster. The
values, missing ones and the row order are those of ``queries.load_cohort``.
"""
from __future__ import annotations

from typing import Sequence

import duckdb
import pandas as pd

from crlm.config import PATIENT_COLUMN_NAMES
from crlm.store.connection import Store, StoreError
from crlm.store.filters import CohortFilter
from crlm.store.queries import load_cohort

KEEP_AS_TEXT = ("patient_id",)   # one value per patient: a categorical gains nothing


def _text_columns(store: Store, columns: Sequence[str]) -> list[str]:
    rows = store.cursor().execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'patients' AND data_type = 'VARCHAR'").fetchall()
    text = {r[0] for r in rows}
    return [c for c in columns if c in text and c not in KEEP_AS_TEXT]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def load_cohort_coded(store: Store, filt: CohortFilter, columns: Sequence[str]) -> pd.DataFrame:
    """``columns`` of the patients matching the filter, in patient_id order; text columns
    (but ``patient_id``) as categoricals of the values present, sorted."""
    columns = list(dict.fromkeys(columns))
    bad = [c for c in columns if c not in PATIENT_COLUMN_NAMES]
    if bad:
        raise StoreError(f"unknown patient column(s): {', '.join(bad)}")
    where, params = filt.where()
    text = _text_columns(store, columns)
    if not text:
        return load_cohort(store, filt, columns)
    distinct = " UNION ALL ".join(
        f"SELECT {k} AS k, \"{c}\" AS v FROM (SELECT DISTINCT \"{c}\" FROM patients "
        f"WHERE {where} AND \"{c}\" IS NOT NULL)" for k, c in enumerate(text))
    rows = store.cursor().execute(f"SELECT k, v FROM ({distinct}) ORDER BY k, v",
                                  params * len(text)).fetchall()
    levels: dict[str, list[str]] = {c: [] for c in text}
    for k, value in rows:
        levels[text[k]].append(value)
    selected = []
    for c in columns:
        if c in levels and levels[c]:
            selected.append(f'CAST("{c}" AS ENUM({", ".join(map(_quote, levels[c]))})) AS "{c}"')
        else:
            selected.append(f'"{c}"')
    try:
        frame = store.cursor().execute(
            f"SELECT {', '.join(selected)} FROM patients WHERE {where} ORDER BY patient_id",
            params).df()
    except duckdb.ConversionError:   # a value written in between: read it as text
        return load_cohort(store, filt, columns)
    for c in text:   # pandas' own (unordered) categoricals, as a text column would group
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].cat.as_unordered()
    return frame


def load_scores_aligned(store: Store, filt: CohortFilter, *, task: str, model_id: str,
                        split: Sequence[str]) -> pd.DataFrame:
    """One row per patient matching the filter, in patient_id order (as ``load_cohort``):
    ``scored`` (whether the current version of the model predicted the patient in one of
    the ``split`` values) and ``score``."""
    where, params = filt.where()
    splits = list(split)
    sql = (
        "SELECT q.patient_id IS NOT NULL AS scored, q.score FROM "
        f"(SELECT patient_id FROM patients WHERE {where}) p LEFT JOIN ("
        "SELECT q.patient_id, q.score FROM predictions q JOIN models m "
        "ON m.model_id = q.model_id AND m.version = q.model_version "
        "WHERE m.is_current AND q.cohort = ? AND q.task = ? AND q.model_id = ? "
        f"AND q.split IN ({', '.join('?' for _ in splits)})) q ON q.patient_id = p.patient_id "
        "ORDER BY p.patient_id")
    return store.cursor().execute(sql, params + [filt.cohort, task, model_id] + splits).df()
