"""A cohort's columns read once, and any filter's patients taken from them.

``load_coded_rows`` reads the columns of every patient of a cohort once (text as
categoricals of the cohort's values, as ``coded.load_cohort_coded`` reads them), in the
table's row order (``rowid``); a filter's selection of those rows
(``crlm.store.selection``: one boolean per row) then gives ``take_rows`` the selected
patients exactly as ``load_cohort_coded(store, filt, columns)`` would: in patient_id order,
text as categoricals of the values present (a column with none as text), and integer and
boolean columns as DuckDB gives them (a pandas nullable type only where a value is
missing).

A write to another cohort does not change the row ids of this one; a write to the cohort
itself makes a new snapshot (``crlm.store.data_version``) and so a new read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import duckdb
import numpy as np
import pandas as pd

from crlm.config import COLUMNS_BY_NAME, PATIENT_COLUMN_NAMES
from crlm.store.coded import _quote, _text_columns
from crlm.store.connection import Store, StoreError
from crlm.store.filters import UNKNOWN


@dataclass(frozen=True, eq=False)
class CodedRows:
    """Every patient of ``cohort`` (``frame``: ``columns``, in the table's row order) and
    the positions of its rows in patient_id order (``order``), and their row ids
    (``rowid``, increasing; they stay in memory). Shared: read only."""

    cohort: str
    columns: tuple[str, ...]
    frame: pd.DataFrame
    order: np.ndarray
    rowid: np.ndarray


def load_coded_rows(store: Store, cohort: str, columns: Sequence[str]) -> CodedRows | None:
    """``columns`` (``patient_id`` among them) of every patient of ``cohort``; None when
    the cohort was written while it was read (read the filter's rows directly then)."""
    columns = list(dict.fromkeys(columns))
    bad = [c for c in columns if c not in PATIENT_COLUMN_NAMES]
    if bad:
        raise StoreError(f"unknown patient column(s): {', '.join(bad)}")
    if "patient_id" not in columns:
        raise StoreError("the rows of a cohort need patient_id")
    text = _text_columns(store, columns)
    levels: dict[str, list[str]] = {c: [] for c in text}
    if text:
        distinct = " UNION ALL ".join(
            f"SELECT {k} AS k, \"{c}\" AS v FROM (SELECT DISTINCT \"{c}\" FROM patients "
            f"WHERE cohort = ? AND \"{c}\" IS NOT NULL)" for k, c in enumerate(text))
        rows = store.cursor().execute(f"SELECT k, v FROM ({distinct}) ORDER BY k, v",
                                      [cohort] * len(text)).fetchall()
        for k, value in rows:
            levels[text[k]].append(value)
    selected = [f'CAST("{c}" AS ENUM({", ".join(map(_quote, levels[c]))})) AS "{c}"'
                if levels.get(c) else f'"{c}"' for c in columns]
    try:
        frame = store.cursor().execute(
            f"SELECT rowid AS _rowid, {', '.join(selected)} FROM patients WHERE cohort = ?",
            [cohort]).df()
    except duckdb.ConversionError:   # a value written in between
        return None
    rowid = frame.pop("_rowid").to_numpy(np.int64)
    if not (np.diff(rowid) > 0).all():   # the row order of ``crlm.store.selection``
        by_row = np.argsort(rowid, kind="stable")
        frame, rowid = frame.take(by_row).reset_index(drop=True), rowid[by_row]
    for c in text:
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].cat.as_unordered()
    ids = frame["patient_id"]
    if ids.is_monotonic_increasing:
        order = np.arange(len(ids))
    else:   # code-point order, as DuckDB sorts text
        order = np.argsort(ids.to_numpy(dtype=str), kind="stable")
    return CodedRows(cohort, tuple(columns), frame, order, rowid)


def recorded_columns(rows: CodedRows, columns: Sequence[str]) -> list[str]:
    """Those of ``columns`` (contract columns among the rows' columns) that hold at least
    one known value in the cohort, the text ``unknown`` counting as missing: what
    ``extras.load_recorded_columns`` finds, from the rows already read."""
    out = []
    for c in dict.fromkeys(columns):
        if c not in rows.columns or c not in COLUMNS_BY_NAME:
            continue
        values = rows.frame[c]
        if isinstance(values.dtype, pd.CategoricalDtype):   # the cohort's values, once each
            known = any(str(v) != UNKNOWN for v in values.cat.categories)
        elif values.dtype == object:
            known = bool((values.notna() & (values.astype(str) != UNKNOWN)).any())
        else:
            known = bool(values.notna().any())
        if known:
            out.append(c)
    return out


def _as_read(column: pd.Series) -> pd.Series:
    """A column of a subset of rows as DuckDB would give it for those rows."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):   # the levels present (one counting pass)
        codes = column.cat.codes.to_numpy()
        used = np.bincount(codes.astype(np.int64) + 1, minlength=len(dtype.categories) + 1)[1:] > 0
        if used.all():
            return column
        if not used.any():   # no value present: read as text
            return pd.Series([None] * len(column), dtype=object, name=column.name,
                             index=column.index)
        recode = np.append(np.where(used, np.cumsum(used) - 1, -1), -1)   # code -1 stays
        present = pd.CategoricalDtype(dtype.categories[used], ordered=dtype.ordered)
        return pd.Series(pd.Categorical.from_codes(recode[codes], dtype=present),
                         name=column.name, index=column.index)
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and hasattr(dtype, "numpy_dtype") \
            and not column.isna().any():
        return column.astype(dtype.numpy_dtype)
    return column


def take_rows(rows: CodedRows, mask: np.ndarray) -> pd.DataFrame:
    """The patients ``mask`` selects (one boolean per row of the cohort in row order:
    ``crlm.store.selection``), as ``load_cohort_coded`` reads the same filter."""
    if len(mask) != len(rows.frame):
        raise StoreError("the cohort changed while its rows were read")
    positions = rows.order[mask[rows.order]]
    taken = rows.frame.take(positions)
    taken.index = pd.RangeIndex(len(taken))
    for c in rows.columns:
        read = _as_read(taken[c])
        if read is not taken[c]:
            taken[c] = read
    return taken
