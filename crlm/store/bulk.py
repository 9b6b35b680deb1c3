"""Bulk writes of the long tables from frames with categorical text columns (the demo
build's features and measurements, millions of rows a part).

* :func:`refuse_duplicate_keys` decides whether a key repeats from the columns' integer
  codes (one int64 per row; already increasing for the demo's rows, else sorted), and
  leaves a repeated key to ``crlm.store.connection.refuse_duplicate_keys`` for its message.
* :func:`arrow_rows` hands DuckDB a categorical text column as an Arrow dictionary
  column, which it reads faster than pandas' categorical; a frame with any other kind of
  column is left to the pandas scan (``None``), so the rows written are the same either way.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from crlm.store.connection import refuse_duplicate_keys as _refuse_by_pandas

_MAX_KEY_SPACE = 2 ** 62


def _key_codes(frame: pd.DataFrame, key: list[str]) -> np.ndarray | None:
    """One int64 per row, equal for two rows exactly when their keys are equal; ``None``
    when a key column is neither categorical nor plain integer, or the codes could overflow."""
    combined, space = np.zeros(len(frame), dtype=np.int64), 1
    for name in key:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy().astype(np.int64) + 1  # a missing value: 0
            size = len(column.cat.categories) + 1
        elif column.dtype.kind in "iu" and isinstance(column.dtype, np.dtype):
            values = column.to_numpy().astype(np.int64)
            low = int(values.min()) if len(values) else 0
            codes = values - low
            size = (int(values.max()) - low + 1) if len(values) else 1
        else:
            return None
        space *= size
        if space >= _MAX_KEY_SPACE:
            return None
        combined = combined * size + codes
    return combined


def refuse_duplicate_keys(frame: pd.DataFrame, key: list[str], what: str) -> None:
    """As ``crlm.store.connection.refuse_duplicate_keys`` (same check, same message)."""
    codes = _key_codes(frame, key)
    if codes is None:
        _refuse_by_pandas(frame, key, what)
        return
    if len(codes) < 2 or bool((codes[1:] > codes[:-1]).all()):
        return
    ordered = np.sort(codes)
    if bool((ordered[1:] != ordered[:-1]).all()):
        return
    _refuse_by_pandas(frame, key, what)


def _text_categories(column: pd.Series) -> bool:
    categories = column.cat.categories
    return pd.api.types.infer_dtype(categories, skipna=False) == "string"


def arrow_rows(frame: pd.DataFrame) -> pa.Table | None:
    """``frame`` as an Arrow table when every column is categorical text or plain numeric
    (NaN as null, as DuckDB's pandas scan reads it); otherwise ``None``."""
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            if not _text_categories(column):
                return None
            codes = column.cat.codes.to_numpy()
            missing = codes < 0
            indices = pa.array(codes, mask=missing) if missing.any() else pa.array(codes)
            dictionary = pa.array(column.cat.categories.to_numpy(dtype=object), type=pa.string())
            columns[name] = pa.DictionaryArray.from_arrays(indices, dictionary)
        elif isinstance(column.dtype, np.dtype) and column.dtype.kind in "iuf":
            columns[name] = pa.array(column.to_numpy(), from_pandas=True)
        else:
            return None
    return pa.table(columns)
