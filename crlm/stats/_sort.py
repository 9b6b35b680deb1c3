"""The order that sorts a float array, faster than ``np.argsort`` on large arrays.

NumPy sorts plain 64-bit integers several times faster than it argsorts
floats (vectorised sorting networks). So each value is mapped to an unsigned
integer with the same order (sign bit flipped for positives, all bits flipped
for negatives; -0.0 taken as 0.0, every NaN as one NaN after +inf, as NumPy
orders them), its lowest bits are replaced by the row index, and the integers
are sorted. The row index is read back from the low bits. Rows whose values
share the kept high bits but differ in the dropped low bits are put in order
by one pass over such runs (in practice runs of equal values, already in row
order). The result is the stable order: ``np.argsort(values, kind="stable")``,
element for element.

For arrays with few distinct values NumPy's own argsort is faster; callers
that do not need ties in row order (``stable=False``) get it when a sample of
the values shows few distinct ones.
"""
from __future__ import annotations

import numpy as np

from ._compiled import _jit

_SMALL = 4096  # below this NumPy's argsort is as fast
_SAMPLE = 257
_FEW = 32  # at most this many distinct values in the sample: few distinct values


@_jit
def _packed_keys(bits, shift):  # pragma: no cover - compiled
    """Order-preserving unsigned keys of float64 ``bits`` with the row index in the low
    ``shift`` bits."""
    n = bits.shape[0]
    out = np.empty(n, dtype=np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    nan = np.uint64(0x7FF8000000000000)
    exp_mask = np.uint64(0x7FF0000000000000)
    frac_mask = np.uint64(0x000FFFFFFFFFFFFF)
    s = np.uint64(shift)
    for i in range(n):
        b = bits[i]
        if (b & exp_mask) == exp_mask and (b & frac_mask) != 0:
            b = nan  # every NaN is one value, after +inf
        elif b == sign:
            b = np.uint64(0)  # -0.0 is 0.0
        if b & sign:
            b = ~b
        else:
            b = b | sign
        out[i] = ((b >> s) << s) | np.uint64(i)
    return out


@_jit
def _order_from_keys(keys, values, shift):  # pragma: no cover - compiled
    """Row order from sorted packed keys; runs sharing the high bits sorted by value
    (stable), so the order is exact."""
    n = keys.shape[0]
    s = np.uint64(shift)
    low = (np.uint64(1) << s) - np.uint64(1)
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        order[i] = np.int64(keys[i] & low)
    i = 0
    while i < n:
        high = keys[i] >> s
        j = i + 1
        while j < n and (keys[j] >> s) == high:
            j += 1
        if j - i > 1:
            in_order = True
            for k in range(i + 1, j):
                if values[order[k]] < values[order[k - 1]]:
                    in_order = False
                    break
            if not in_order:
                run = order[i:j].copy()  # ascending row numbers
                sub = np.argsort(values[run], kind="mergesort")
                for k in range(j - i):
                    order[i + k] = run[sub[k]]
        i = j
    return order


def _few_distinct(values: np.ndarray) -> bool:
    sample = values[:: max(1, len(values) // _SAMPLE)]
    return len(np.unique(sample)) <= _FEW


def ascending_order(values, stable: bool = True) -> np.ndarray:
    """Row indices that sort ``values`` ascending (int64), equal to
    ``np.argsort(values, kind="stable")``; with ``stable=False`` ties may come in any
    row order (``np.argsort(values)``)."""
    v = np.ascontiguousarray(values, dtype=np.float64)
    n = len(v)
    if n < _SMALL or (not stable and _few_distinct(v)):
        return np.argsort(v, kind="stable" if stable else None).astype(np.int64, copy=False)
    shift = (n - 1).bit_length()
    keys = _packed_keys(v.view(np.uint64), shift)
    keys.sort()
    return _order_from_keys(keys, v, shift)
