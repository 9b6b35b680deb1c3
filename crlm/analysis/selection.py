"""A filter key as the selection of a snapshot's cohort rows, shared by every page's
analysis (``crlm.store.selection``): the cohort's row index is read once per snapshot, and
each filter's selection once per (snapshot, filter key)."""
from __future__ import annotations

import numpy as np

from crlm.analysis.snapshot import Snapshot, filter_from_key, memo
from crlm.store.selection import RowIndex, load_row_index, select_rows


@memo(maxsize=8)
def row_index(snap: Snapshot) -> RowIndex:
    """The cohort's rows (row order) and each table rowid's position among them."""
    return load_row_index(snap.store(), snap.cohort)


@memo(maxsize=64)
def selected(snap: Snapshot, key: tuple) -> np.ndarray:
    """Which of the cohort's patients (in the table's row order) the filter selects."""
    mask = select_rows(snap.store(), row_index(snap), filter_from_key(key))
    mask.flags.writeable = False
    return mask
