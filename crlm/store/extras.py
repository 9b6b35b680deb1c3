"""What a cohort records: the contract columns with a value, and the span of its own
(extra) numeric variables, for the sidebar to offer only the filters a cohort can use."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from crlm.config import COLUMNS_BY_NAME
from crlm.store.connection import Store
from crlm.store.filters import UNKNOWN


def load_recorded_columns(store: Store, cohort: str, columns: Sequence[str]) -> list[str]:
    """Those of ``columns`` (contract columns) that hold at least one known value in the
    cohort; the text ``unknown`` counts as missing."""
    names = [c for c in dict.fromkeys(columns) if c in COLUMNS_BY_NAME]
    if not names:
        return []
    # only a text column can hold the text ``unknown``; a number, yes/no or date column
    # is known wherever it is not null (no value is cast to text)
    text = [COLUMNS_BY_NAME[c].sql_type == "VARCHAR" for c in names]
    counts = ", ".join(f'count(CASE WHEN "{c}" <> ? THEN 1 END)' if is_text else f'count("{c}")'
                       for c, is_text in zip(names, text))
    row = store.cursor().execute(f"SELECT {counts} FROM patients WHERE cohort = ?",
                                 [UNKNOWN] * sum(text) + [cohort]).fetchone()
    return [c for c, n in zip(names, row) if n]


def load_feature_set_names(store: Store, cohort: str, feature_set: str) -> list[str]:
    """The names of the features of one feature set of ``cohort``, sorted (only that set's
    rows are read: a cohort's imaging and genomic features may be millions)."""
    rows = store.cursor().execute(
        "SELECT DISTINCT feature FROM features WHERE cohort = ? AND feature_set = ? "
        "ORDER BY 1", [cohort, feature_set]).fetchall()
    return [r[0] for r in rows]


def load_extra_spans(store: Store, cohort: str) -> pd.DataFrame:
    """Per extra variable of the cohort: feature, lowest and highest stored value, the
    number of known values and whether every value is a whole number."""
    return store.cursor().execute(
        "SELECT feature, min(value) AS lo, max(value) AS hi, count(value) AS n, "
        "bool_and(value = round(value)) AS whole FROM features "
        "WHERE cohort = ? AND feature_set = 'extra' AND value IS NOT NULL "
        "GROUP BY feature ORDER BY feature", [cohort]).df()
