"""The cohort patients most like a case, on standardised model inputs.

Numbers (and yes/no entries as 0/1) are centred and scaled by the cohort's mean
and standard deviation; categories are one-hot coded and weighted 1/sqrt(2) so
that two different levels are as far apart as one standard deviation. A value
unknown for the case is left out of its distances (so unknowns neither pull nor
push); a value unknown for a cohort patient is taken at the cohort median (or
as its own "unknown" level). Distances are Euclidean, divided by the square
root of the number of inputs compared. Returned ids are the store's
pseudonymous patient ids: nothing else that could identify a patient.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from crlm import config

SIMILARITY_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in config.PATIENT_COLUMNS
    if c.name in config.INPUT_COLUMNS and not c.derived
)
SHOWN_COLUMNS = ("regimen", "biologic", "hepatectomy", "best_response", "responder",
                 "os_months", "os_event", "pfs_months", "pfs_event")
_MISSING = "__unknown__"


def _numeric(values: pd.Series, kind: str) -> np.ndarray:
    if kind == "bool":
        mapped = values.map(lambda v: np.nan if v is None or v is pd.NA
                            or (isinstance(v, float) and np.isnan(v)) else float(bool(v)))
        return mapped.to_numpy(dtype=float)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _text(values: pd.Series) -> np.ndarray:
    return np.array([_MISSING if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                     else str(v) for v in values.tolist()], dtype=object)


@dataclass(frozen=True)
class SimilarityIndex:
    """Standardised cohort inputs, ready to answer nearest-patient queries."""

    patient_ids: np.ndarray
    columns: tuple[str, ...]
    blocks: tuple[tuple[str, str, np.ndarray, object, object], ...]

    @classmethod
    def build(cls, cohort: pd.DataFrame, columns: Sequence[str] = SIMILARITY_COLUMNS
              ) -> "SimilarityIndex":
        if "patient_id" not in cohort.columns:
            raise ValueError("the cohort frame needs a patient_id column")
        cols = tuple(c for c in columns if c in cohort.columns)
        blocks = []
        for name in cols:
            kind = config.COLUMNS_BY_NAME[name].kind
            if kind in ("int", "float", "bool"):
                x = _numeric(cohort[name], kind)
                ok = ~np.isnan(x)
                if not ok.any():
                    continue
                mean, sd = float(x[ok].mean()), float(x[ok].std())
                sd = sd if sd > 0 else 1.0
                median = float(np.median(x[ok]))
                z = (np.where(ok, x, median) - mean) / sd
                blocks.append((name, "numeric", z[:, None], mean, sd))
            else:
                values = _text(cohort[name])
                levels = np.array(sorted(set(values.tolist())), dtype=object)
                onehot = (values[:, None] == levels[None, :]).astype(float) / np.sqrt(2.0)
                blocks.append((name, "category", onehot, tuple(levels), None))
        return cls(np.asarray(cohort["patient_id"].astype(str)), cols, tuple(blocks))

    def distances(self, case: pd.Series) -> tuple[np.ndarray, int]:
        """Distance of every cohort patient to ``case`` and the number of inputs compared."""
        total = np.zeros(len(self.patient_ids))
        used = 0
        for name, kind, matrix, a, b in self.blocks:
            value = case.get(name)
            if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
                continue
            if kind == "numeric":
                col = config.COLUMNS_BY_NAME[name]
                x = float(bool(value)) if col.kind == "bool" else float(value)
                total += (matrix[:, 0] - (x - a) / b) ** 2
            else:
                levels = a
                target = (np.array(levels, dtype=object) == str(value)).astype(float) / np.sqrt(2.0)
                total += ((matrix - target[None, :]) ** 2).sum(axis=1)
            used += 1
        return np.sqrt(total / max(used, 1)), used


def similar_patients(cohort: pd.DataFrame, case: pd.Series | pd.DataFrame, k: int = 5, *,
                     index: SimilarityIndex | None = None,
                     columns: Sequence[str] = SIMILARITY_COLUMNS) -> pd.DataFrame:
    """The ``k`` cohort patients nearest to ``case`` (one row or a Series).

    Returns ``patient_id`` (pseudonymous), ``distance`` and, where the cohort has
    them, treatment, response and outcome columns, nearest first (ties broken by
    patient id so the answer is reproducible).
    """
    if isinstance(case, pd.DataFrame):
        if len(case) != 1:
            raise ValueError(f"give one case, got {len(case)} rows")
        case = case.iloc[0]
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if cohort.empty:
        return pd.DataFrame(columns=["patient_id", "distance", *SHOWN_COLUMNS])
    index = index or SimilarityIndex.build(cohort, columns)
    dist, used = index.distances(case)
    order = np.lexsort((index.patient_ids, dist))[:k]
    ids = index.patient_ids[order]
    shown = [c for c in SHOWN_COLUMNS if c in cohort.columns]
    details = cohort.assign(patient_id=cohort["patient_id"].astype(str)) \
        .drop_duplicates("patient_id").set_index("patient_id").loc[ids, shown].reset_index()
    details.insert(1, "distance", dist[order])
    details.attrs["inputs_compared"] = used
    return details
