"""Preprocessing steps and design sums taken in blocks, for training sets of a registry's
size: each gives scikit-learn's own numbers (the same functions on parts that do not
interact) without holding scikit-learn's whole-matrix temporaries at once."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder

MEDIAN_BLOCK = 8   # columns whose medians are taken at once (``ColumnMedianImputer``)
ONE_HOT_ROWS = 20_000   # rows one-hot encoded at once (``RowBlockOneHotEncoder``)


class ColumnMedianImputer(SimpleImputer):
    """``SimpleImputer`` whose median fit takes ``MEDIAN_BLOCK`` columns at a time.

    scikit-learn's median sorts a masked copy of the whole matrix (with its index array
    and a taken copy, about four times the matrix); a column's median reads that column
    only, so the same medians, by the same function, come from blocks of columns. Every
    other strategy, and the transform, are scikit-learn's own."""

    def _dense_fit(self, X, strategy, missing_values, fill_value):
        if strategy != "median" or self.add_indicator or X.shape[1] <= MEDIAN_BLOCK:
            return super()._dense_fit(X, strategy, missing_values, fill_value)
        parts = [super(ColumnMedianImputer, self)._dense_fit(
                     X[:, start:start + MEDIAN_BLOCK], strategy, missing_values, fill_value)
                 for start in range(0, X.shape[1], MEDIAN_BLOCK)]
        return np.concatenate(parts)


class RowBlockOneHotEncoder(OneHotEncoder):
    """``OneHotEncoder`` whose dense transform of an array encodes ``ONE_HOT_ROWS`` rows at a
    time into the result, allocated once: scikit-learn's codes, mask and sparse matrix of
    every row are never held at once beside it. A row's encoding reads that row only, so
    the result is the same."""

    def transform(self, X):
        if self.sparse_output or not isinstance(X, np.ndarray) or len(X) <= ONE_HOT_ROWS:
            return super().transform(X)
        first = super().transform(X[:ONE_HOT_ROWS])
        out = np.empty((len(X), first.shape[1]), dtype=first.dtype)
        out[:ONE_HOT_ROWS] = first
        del first
        for start in range(ONE_HOT_ROWS, len(X), ONE_HOT_ROWS):
            out[start:start + ONE_HOT_ROWS] = super().transform(X[start:start + ONE_HOT_ROWS])
        return out


def design_mean(preprocessor, X: pd.DataFrame, rows: int = 20_000) -> np.ndarray:
    """``np.asarray(preprocessor.transform(X), dtype=float).mean(axis=0)``, bit for bit,
    with ``rows`` rows transformed at a time, so that the whole design is never held.

    numpy sums a C-ordered design's columns row after row; the running sums are carried
    from block to block in that order. A design of one column (numpy sums its contiguous
    values pairwise) or not C-ordered is transformed whole."""
    rows = max(int(rows), 1)
    if len(X) <= rows:
        return np.asarray(preprocessor.transform(X), dtype=float).mean(axis=0)
    total = None
    for start in range(0, len(X), rows):
        block = np.asarray(preprocessor.transform(X.iloc[start:start + rows]), dtype=float)
        if block.ndim != 2 or block.shape[1] < 2 or not block.flags.c_contiguous:
            return np.asarray(preprocessor.transform(X), dtype=float).mean(axis=0)
        total = (np.add.reduce(block, axis=0) if total is None
                 else np.add.reduce(np.concatenate([total[None, :], block]), axis=0))
    return total / len(X)
