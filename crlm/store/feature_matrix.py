"""A cohort's features as one float matrix aligned to a list of patients, read in
patient ranges so that the pivot never holds every patient's aggregates at once.

``features.load_features`` pivots the whole cohort in one query: on a registry-sized
cohort (10^6 patients, 50 features) that query's aggregate alone takes gigabytes. Here
each range of ``chunk`` patients (in patient_id order) is pivoted by its own query and
written into a matrix allocated once; the values are those of ``load_features``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from crlm.store.connection import Store
from crlm.store.features import _ident

CHUNK_PATIENTS = 50_000


def load_feature_matrix(store: Store, cohort: str, patient_ids: Sequence[str],
                        chunk: int = CHUNK_PATIENTS) -> pd.DataFrame:
    """One float column per stored feature of ``cohort`` (names sorted, as
    ``load_features``), one row per patient of ``patient_ids`` (given in patient_id
    order, the store's), indexed by them; NaN where a patient has no value."""
    if int(chunk) < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    ids = pd.Index(np.asarray(patient_ids, dtype=object), dtype=object)
    cur = store.cursor()
    names = [r[0] for r in cur.execute(
        "SELECT DISTINCT feature FROM features WHERE cohort = ? ORDER BY 1", [cohort]
    ).fetchall()]
    # rows of the transposed block: each feature's values lie contiguous, as pandas keeps them
    values = np.full((len(names), len(ids)), np.nan)
    if names and len(ids):
        columns = ", ".join(f"max(value) FILTER (WHERE feature = ?) AS {_ident(n)}"
                            for n in names)
        sql = (f"SELECT patient_id, {columns} FROM features WHERE cohort = ? "
               "AND patient_id >= ? AND patient_id <= ? GROUP BY patient_id ORDER BY patient_id")
        for start in range(0, len(ids), int(chunk)):
            part = ids[start:start + int(chunk)]
            got = cur.execute(sql, [*names, cohort, part[0], part[-1]]).df()
            got_ids = pd.Index(got.pop("patient_id").to_numpy(), dtype=object)
            block = got.to_numpy(dtype=float).T
            if got_ids.equals(part):
                values[:, start:start + len(part)] = block
            else:   # a patient without features, or ids between those asked for
                at = got_ids.get_indexer(part)
                found = at >= 0
                values[:, start:start + len(part)][:, found] = block[:, at[found]]
    return pd.DataFrame(values.T, index=ids, columns=names, copy=False)
