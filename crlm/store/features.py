"""The features table: long rows (patient, feature set, feature, value) written per
cohort, read wide (one row per patient, one column per feature)."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from crlm.store.bulk import arrow_rows, refuse_duplicate_keys
from crlm.store.connection import Store


def append_features(cur, cohort: str, features: pd.DataFrame) -> None:
    """Inside a transaction: insert long features (patient_id, feature_set, feature, value)."""
    need = ["patient_id", "feature_set", "feature", "value"]
    missing = [c for c in need if c not in features.columns]
    if missing:
        raise ValueError(f"features frame lacks columns: {', '.join(missing)}")
    refuse_duplicate_keys(features, ["patient_id", "feature_set", "feature"], "features")
    rows = features.loc[:, need]
    table = arrow_rows(rows)
    cur.register("_incoming_features", rows if table is None else table)
    try:
        cur.execute(
            "INSERT INTO features SELECT ?, patient_id, feature_set, feature, value "
            "FROM _incoming_features",
            [cohort],
        )
    finally:
        cur.unregister("_incoming_features")


def load_features(store: Store, cohort: str, feature_sets: Sequence[str] | None = None,
                  patient_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Features pivoted wide: one row per patient, one column per feature, patient_id order."""
    clauses, params = ["cohort = ?"], [cohort]
    if feature_sets:
        clauses.append(f"feature_set IN ({', '.join('?' for _ in feature_sets)})")
        params.extend(feature_sets)
    cur = store.cursor()
    if patient_ids is not None:
        cur.register("_wanted_ids", pd.DataFrame({"patient_id": list(patient_ids)}))
        clauses.append("patient_id IN (SELECT patient_id FROM _wanted_ids)")
    where = " AND ".join(clauses)
    names = [r[0] for r in cur.execute(
        f"SELECT DISTINCT feature FROM features WHERE {where} ORDER BY 1", params).fetchall()]
    if not names:
        return pd.DataFrame({"patient_id": pd.Series(dtype="string")})
    # pivoted in DuckDB: a long frame of every (patient, feature) pair is never built
    columns = ", ".join(f"max(value) FILTER (WHERE feature = ?) AS {_ident(name)}"
                        for name in names)
    wide = cur.execute(
        f"SELECT patient_id, {columns} FROM features WHERE {where} "
        "GROUP BY patient_id ORDER BY patient_id", [*names, *params]).df()
    return wide.astype({name: float for name in names})


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def load_feature_names(store: Store, cohort: str) -> pd.DataFrame:
    return store.cursor().execute(
        "SELECT DISTINCT feature_set, feature FROM features WHERE cohort = ? ORDER BY 1, 2",
        [cohort],
    ).df()


# -- models and predictions ------------------------------------------------
