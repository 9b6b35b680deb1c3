"""One model's predictions over a whole cohort, read once per data version.

Every patient of the cohort that the current version of a model scored on one of some
splits, in the table's row order, with the patient's ``rowid`` (so that a filter can be
applied later as the row ids it selects: ``crlm.store.selection``), the
score and some patient columns. Text columns arrive as pandas categoricals (one code per
row and a few level names). The patient identifier is read only when asked for."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crlm.store.connection import Store
from crlm.store.queries import _columns


def load_cohort_predictions(store: Store, cohort: str, *, task: str | None, model_id: str,
                            splits: Sequence[str], columns: Sequence[str],
                            with_ids: bool = False) -> pd.DataFrame:
    """``rowid``, ``score`` and the patient ``columns`` (plus ``patient_id`` when
    ``with_ids``) of each patient of ``cohort`` with a prediction of ``model_id``'s current
    version on one of ``splits`` (of any task when ``task`` is None), in the table's row
    order. A patient scored on more than one of ``splits`` has the prediction of the
    split named first."""
    splits = list(splits)
    of_task = "" if task is None else " AND q.task = ?"
    ids = "p.patient_id, " if with_ids else ""
    cols = _columns(columns, prefix="p.") if columns else ""
    rank = " ".join(f"WHEN ? THEN {k}" for k in range(len(splits)))
    # the patients' rows joined to the model's predictions, by row and then split: a
    # patient's first row is the prediction wanted (taken below, by row id: no grouping
    # of the text identifiers)
    sql = (
        f"WITH s AS (SELECT q.patient_id, q.score, CASE q.split {rank} END AS split_rank"
        " FROM predictions q JOIN models m"
        " ON m.model_id = q.model_id AND m.version = q.model_version"
        f" WHERE m.is_current AND q.cohort = ?{of_task} AND q.model_id = ?"
        f" AND q.split IN ({', '.join('?' for _ in splits)}))"
        f" SELECT p.rowid AS rowid, {ids}s.score{', ' + cols if cols else ''}"
        " FROM patients p JOIN s ON s.patient_id = p.patient_id"
        " WHERE p.cohort = ? ORDER BY p.rowid, s.split_rank"
    )
    params = [*splits, cohort, *([] if task is None else [task]), model_id, *splits, cohort]
    table = store.cursor().sql(sql, params=params).to_arrow_table()
    rowid = table.column("rowid").to_numpy()
    first = np.ones(len(rowid), dtype=bool)
    first[1:] = rowid[1:] != rowid[:-1]
    if not first.all():
        table = table.filter(pa.array(first))
    return categorical_frame(table)


def categorical_frame(table: pa.Table) -> pd.DataFrame:
    """``table.to_pandas(strings_to_categorical=True)``, faster: each text column is made
    one array and dictionary-encoded by Arrow first (the conversion's own encoding, chunk
    by chunk, takes several times longer on a large table)."""
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = pc.dictionary_encode(column.combine_chunks())
        columns.append(column)
    return pa.table(columns, names=table.column_names).to_pandas()
