"""Design matrices of the regression models (Cox, logistic): covariates in, floats out."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._validate import _missing


def design_matrix(covariates) -> tuple[np.ndarray, list[str]]:
    """``(x, term names)`` from a 2-D array (``x1, x2, ...``), a 1-D array, a Series or a
    DataFrame (column names become term names); non-numeric columns raise ``ValueError``."""
    if isinstance(covariates, pd.Series):
        covariates = covariates.to_frame()
    if isinstance(covariates, pd.DataFrame):
        names = [str(c) for c in covariates.columns]
        try:
            x = covariates.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            bad = [c for c in covariates.columns if not pd.api.types.is_numeric_dtype(covariates[c])
                   and not pd.api.types.is_bool_dtype(covariates[c])]
            raise ValueError(f"covariates must be numeric; non-numeric column(s): {bad}") from None
    else:
        x = np.asarray(covariates, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise ValueError(f"covariates must be 1-D or 2-D, got shape {x.shape}")
        names = [f"x{k + 1}" for k in range(x.shape[1])]
    if x.shape[1] == 0:
        raise ValueError("covariates has no columns")
    return x, names


def drop_missing(x: np.ndarray, names: list[str], arrays: dict[str, np.ndarray],
                 dropna: bool, other: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rows of ``x`` and ``arrays`` without a missing value.

    A missing value raises ``ValueError`` naming the covariates (or ``other``, the
    outcome arguments) unless ``dropna``; then those rows are dropped from all."""
    first = next(iter(arrays.values()))
    if x.shape[0] != len(first):
        raise ValueError(f"covariates has {x.shape[0]} rows but {next(iter(arrays))} has "
                         f"length {len(first)}")
    missing = np.isnan(x).any(axis=1)
    for arr in arrays.values():
        missing |= _missing(arr)
    if not missing.any():
        return x, arrays
    if not dropna:
        cols = [names[k] for k in range(x.shape[1]) if np.isnan(x[:, k]).any()]
        where = f"covariates {cols}" if cols else other
        raise ValueError(f"{where} have {int(missing.sum())} row(s) with missing values; "
                         "remove them or pass dropna=True")
    keep = ~missing
    return x[keep], {k: v[keep] for k, v in arrays.items()}


def check_not_constant(x: np.ndarray, names: list[str]) -> None:
    const = [names[k] for k in np.flatnonzero(x.std(axis=0) == 0)]
    if const:
        raise ValueError(f"covariate(s) {const} are constant; remove them from the model")
