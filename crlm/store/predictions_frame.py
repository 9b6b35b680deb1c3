"""One model's predictions with patient columns, read for analysis: text columns arrive as
pandas categoricals (one code per row and a few level names) instead of one Python string
per row and column, which is most of the cost of a wide read at 10^5 patients."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from crlm.store.connection import Store
from crlm.store.filters import CohortFilter
from crlm.store.queries import _columns


def load_prediction_columns(store: Store, filt: CohortFilter, *, task: str, model_id: str,
                            splits: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """``patient_id``, ``split``, ``score`` and the patient ``columns`` of the current
    version of ``model_id``'s predictions of the given splits, for the patients matching
    the filter, one row per prediction, in no particular order. Text columns are
    categoricals (missing values stay missing)."""
    where, params = filt.where()
    splits = list(splits)
    sql = (
        "SELECT q.patient_id, q.split, q.score, " + _columns(columns, prefix="p.")
        + " FROM predictions q JOIN models m ON m.model_id = q.model_id"
        + " AND m.version = q.model_version"
        + " JOIN (SELECT * FROM patients WHERE " + where + ") p"
        + " ON p.cohort = q.cohort AND p.patient_id = q.patient_id"
        + " WHERE m.is_current AND q.task = ? AND q.model_id = ?"
        + f" AND q.split IN ({', '.join('?' for _ in splits)})"
    )
    table = store.cursor().sql(sql, params=params + [task, model_id, *splits]).to_arrow_table()
    return table.to_pandas(strings_to_categorical=True)
