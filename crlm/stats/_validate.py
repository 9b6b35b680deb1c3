"""Input checks shared by every statistic.

Each public function turns its array-like arguments into numpy arrays here, so
bad input fails in one place with a message that names the argument:

* missing values (NaN, None) are rejected unless ``dropna=True``, in which case
  every row with a missing value in any argument is dropped;
* lengths must agree;
* times must be finite and non-negative;
* event indicators must be 0/1 or boolean.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _as_1d(values: Any, name: str) -> np.ndarray:
    if isinstance(values, (pd.Series, pd.Index)):
        arr = values.to_numpy()
    elif isinstance(values, pd.Categorical):
        arr = np.asarray(values, dtype=object)
    else:
        arr = np.asarray(values)
    if arr.ndim == 0:
        raise ValueError(f"{name} must be a 1-D array-like, got a scalar")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _missing(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind in "fc":
        return np.isnan(arr)
    if arr.dtype.kind in "biu":
        return np.zeros(arr.shape, dtype=bool)
    return np.asarray(pd.isna(arr), dtype=bool)


def prepare(dropna: bool = False, **arrays: Any) -> dict[str, np.ndarray]:
    """Convert named 1-D array-likes, check lengths and missing values.

    ``None`` values in ``arrays`` are passed through unchanged (optional
    arguments). With ``dropna=True`` rows missing in any argument are removed
    from all of them; otherwise a missing value raises ``ValueError`` naming
    the argument and the first offending position.
    """
    out: dict[str, np.ndarray] = {}
    length: int | None = None
    first_name = ""
    for name, values in arrays.items():
        if values is None:
            continue
        arr = _as_1d(values, name)
        if length is None:
            length, first_name = len(arr), name
        elif len(arr) != length:
            raise ValueError(
                f"{name} has length {len(arr)} but {first_name} has length {length}"
            )
        out[name] = arr
    if length is None:
        return out
    missing = {name: _missing(arr) for name, arr in out.items()}
    if dropna:
        keep = ~np.logical_or.reduce([m for m in missing.values()]) if missing else None
        if keep is not None and not keep.all():
            out = {name: arr[keep] for name, arr in out.items()}
    else:
        for name, m in missing.items():
            if m.any():
                pos = int(np.flatnonzero(m)[0])
                raise ValueError(
                    f"{name} has {int(m.sum())} missing value(s) (first at position {pos}); "
                    "remove them or pass dropna=True"
                )
    return out


def as_time(arr: np.ndarray, name: str = "time") -> np.ndarray:
    """Finite, non-negative float times."""
    try:
        t = np.asarray(arr, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if not np.all(np.isfinite(t)):
        bad = t[~np.isfinite(t)][0]
        raise ValueError(f"{name} must be finite, got {bad}")
    if t.size and t.min() < 0:
        pos = int(np.argmin(t))
        raise ValueError(f"{name} must be non-negative, got {t[pos]} at position {pos}")
    return t


def as_event(arr: np.ndarray, name: str = "event") -> np.ndarray:
    """Boolean event indicator from 0/1 or bool input."""
    a = np.asarray(arr)
    if a.dtype == bool:
        return a
    if a.dtype.kind in "iuf":
        ok = (a == 0) | (a == 1)
        if not ok.all():
            bad = a[~ok][0]
            raise ValueError(f"{name} must be 0/1 or boolean, got {bad!r}")
        return a.astype(bool)
    if a.dtype.kind == "O":
        vals = set(pd.unique(a))
        if vals <= {0, 1, True, False}:
            return a.astype(bool)
        bad = next(v for v in vals if v not in (0, 1, True, False))
        raise ValueError(f"{name} must be 0/1 or boolean, got {bad!r}")
    raise ValueError(f"{name} must be 0/1 or boolean, got values of type {a.dtype}")


def as_float(arr: np.ndarray, name: str) -> np.ndarray:
    """Finite float values."""
    try:
        x = np.asarray(arr, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if not np.all(np.isfinite(x)):
        bad = x[~np.isfinite(x)][0]
        raise ValueError(f"{name} must be finite, got {bad}")
    return x


def as_probability(arr: np.ndarray, name: str = "prob") -> np.ndarray:
    """Floats in [0, 1]."""
    p = as_float(arr, name)
    if p.size and (p.min() < 0 or p.max() > 1):
        bad = p[(p < 0) | (p > 1)][0]
        raise ValueError(f"{name} must lie in [0, 1], got {bad}")
    return p


_COUNTED_RANGE = 1 << 16  # integer groups spanning fewer values are counted, not hashed


def _integer_levels(a: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(codes, sorted levels) of integers spanning a small range, by counting (what
    ``pd.factorize(a, sort=True)`` gives, without hashing); None for a wide range."""
    lo, hi = int(a.min()), int(a.max())
    if hi - lo >= _COUNTED_RANGE:
        return None
    shifted = np.subtract(a, lo, dtype=np.int64)
    present = np.flatnonzero(np.bincount(shifted, minlength=hi - lo + 1))
    if len(present) < hi - lo + 1:  # gaps between the levels: number them densely
        code_of = np.zeros(hi - lo + 1, dtype=np.int64)
        code_of[present] = np.arange(len(present))
        shifted = code_of[shifted]
    return shifted, (present + lo).astype(a.dtype)


def as_levels(arr: np.ndarray, name: str) -> tuple[np.ndarray, list]:
    """Integer codes and the sorted level labels of a grouping variable (counted for
    integers in a small range, hash-based otherwise)."""
    a = np.asarray(arr)
    if a.dtype == bool:
        a = a.astype(np.int8)
    if a.dtype.kind in "iu" and len(a):
        counted = _integer_levels(a)
        if counted is not None:
            return counted[0], [_plain(v) for v in counted[1]]
    try:
        codes, uniques = pd.factorize(a, sort=True)
    except TypeError:
        codes, uniques = pd.factorize(np.asarray([str(v) for v in a], dtype=object), sort=True)
    return np.asarray(codes, dtype=np.int64), [_plain(v) for v in np.asarray(uniques)]


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def check_conf_level(conf_level: float) -> float:
    c = float(conf_level)
    if not 0 < c < 1:
        raise ValueError(f"conf_level must be strictly between 0 and 1, got {conf_level}")
    return c


def require_nonempty(n: int, what: str = "time") -> None:
    if n == 0:
        raise ValueError(f"{what} is empty: at least one patient is needed")
