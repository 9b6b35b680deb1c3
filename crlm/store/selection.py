"""A filter as the selection of a cohort's rows: the one way every analysis applies a
sidebar filter to rows it read once per data version.

A reader of a whole cohort keeps each row's ``rowid`` (the patients table's row id, stable
within one data version: ``crlm.store.data_version``) and no patient identifier; a new
filter then asks the store only which row ids it matches (``filter_rowids``: one narrow
scan, no sort), and the rows read are selected in memory (``RowIndex.mask``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crlm.store.connection import Store
from crlm.store.filters import CohortFilter


def _filled(values, dtype, fill) -> np.ndarray:
    return np.ma.filled(np.ma.asarray(values).astype(dtype), fill)


def cohort_rowids(store: Store, cohort: str) -> np.ndarray:
    """The ``rowid`` of every patient of ``cohort`` in row order."""
    result = store.cursor().execute(
        "SELECT rowid FROM patients WHERE cohort = ? ORDER BY rowid", [cohort])
    return _filled(result.fetchnumpy()["rowid"], np.int64, -1)


def filter_rowids(store: Store, filt: CohortFilter) -> np.ndarray:
    """The ``rowid`` of every patient matching ``filt`` (unordered)."""
    where, params = filt.where()
    result = store.cursor().execute(f"SELECT rowid FROM patients WHERE {where}", params)
    return _filled(result.fetchnumpy()["rowid"], np.int64, -1)


@dataclass(frozen=True, eq=False)
class RowIndex:
    """The rows of one cohort (``rowids``, in row order) and each table rowid's position
    among them (``positions``; -1: not a row of the cohort). Shared: read only."""

    rowids: np.ndarray
    positions: np.ndarray

    @classmethod
    def of(cls, rowids: np.ndarray) -> "RowIndex":
        rowids = np.asarray(rowids, dtype=np.int64)
        positions = np.full(int(rowids.max()) + 1 if len(rowids) else 0, -1, dtype=np.int64)
        positions[rowids] = np.arange(len(rowids))
        rowids.flags.writeable = False
        positions.flags.writeable = False
        return cls(rowids, positions)

    @property
    def n(self) -> int:
        return len(self.rowids)

    def position(self, rowids: np.ndarray) -> np.ndarray:
        """The positions of rows of the cohort given by their ``rowids`` (-1: not one)."""
        rowids = np.asarray(rowids, dtype=np.int64)
        inside = (rowids >= 0) & (rowids < len(self.positions))
        out = np.full(len(rowids), -1, dtype=np.int64)
        out[inside] = self.positions[rowids[inside]]
        return out

    def mask(self, chosen: np.ndarray) -> np.ndarray:
        """Whether each row of the cohort (row order) is among the ``chosen`` rowids."""
        at = self.position(chosen)
        mask = np.zeros(self.n, dtype=bool)
        mask[at[at >= 0]] = True
        return mask


def load_row_index(store: Store, cohort: str) -> RowIndex:
    """The cohort's :class:`RowIndex` (read once per data version)."""
    return RowIndex.of(cohort_rowids(store, cohort))


def select_rows(store: Store, index: RowIndex, filt: CohortFilter) -> np.ndarray:
    """Whether each row of ``index``'s cohort (row order) matches ``filt``; a filter of
    another cohort selects none."""
    return index.mask(filter_rowids(store, filt))
