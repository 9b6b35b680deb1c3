"""Vectorised random draws of the demo cohort's simulation, and the pandas arrays its
columns are built from."""
from __future__ import annotations

import numpy as np
import pandas as pd


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def bernoulli(rng: np.random.Generator, p: np.ndarray | float, n: int) -> np.ndarray:
    return rng.random(n) < p


def categorical(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One category index per row of an (n, k) probability matrix."""
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative[:, -1] = 1.0
    u = rng.random(len(probabilities))[:, None]
    return (u > cumulative).sum(axis=1)


def text_array(levels: tuple[str, ...], codes: np.ndarray, missing: np.ndarray | None = None) -> pd.array:
    values = np.asarray(levels, dtype=object)[codes]
    if missing is not None:
        values[missing] = None
    return pd.array(values, dtype="string")


def flag_array(values: np.ndarray, missing: np.ndarray | None = None) -> pd.array:
    arr = pd.array(values.astype(bool), dtype="boolean")
    if missing is not None:
        arr[missing] = pd.NA
    return arr


def mutation_array(truth: np.ndarray, missing: np.ndarray) -> pd.array:
    return text_array(("mutant", "wild-type"), np.where(truth, 0, 1), missing)


def weibull_time(rng: np.random.Generator, scale: float, shape: float,
                  log_hazard_ratio: np.ndarray) -> np.ndarray:
    """Times with S(t) = exp(-(t/scale)**shape * exp(log_hazard_ratio))."""
    e = rng.standard_exponential(len(log_hazard_ratio))
    return scale * (e * np.exp(-log_hazard_ratio)) ** (1.0 / shape)
