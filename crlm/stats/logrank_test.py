"""Log-rank test of two or more survival curves, optionally stratified (R ``survdiff``, rho = 0)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._dist import chi2_sf
from ._kernels import sorted_times_by_code, split_by_code
from ._result import ResultMixin
from ._validate import as_event, as_levels, as_time, prepare, require_nonempty


@dataclass(frozen=True)
class LogrankResult(ResultMixin):
    """Log-rank test (R ``survdiff``, rho = 0); observed/expected summed over strata."""

    statistic: float
    df: int
    p_value: float
    groups: list
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray


def _logrank_pieces(t: np.ndarray, e: np.ndarray, g: np.ndarray, k: int):
    """Observed, expected and variance matrix of one stratum (value sorts per group)."""
    parts = sorted_times_by_code(g, k, t, e)
    all_sorted = [a for a, _ in parts]
    ev_sorted = [b for _, b in parts]
    merged = np.concatenate(ev_sorted)
    merged.sort(kind="stable")
    if len(merged) == 0:
        return np.zeros(k), np.zeros(k), np.zeros((k, k))
    times = merged[np.concatenate((merged[1:] != merged[:-1], [True]))]
    at_risk = np.column_stack([len(a) - np.searchsorted(a, times, side="left") for a in all_sorted])
    dead = np.column_stack([np.searchsorted(a, times, side="right") - np.searchsorted(a, times, side="left")
                            for a in ev_sorted]).astype(float)
    at_risk = at_risk.astype(float)
    d = dead.sum(axis=1)
    r = at_risk.sum(axis=1)
    frac = at_risk / r[:, None]
    expected = (d[:, None] * frac).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(r > 1, d * (r - d) / (r - 1), 0.0)
    # einsum rather than a BLAS product: a threaded BLAS costs more than this k x k sum
    var = np.diag((c[:, None] * frac).sum(axis=0)) - np.einsum("ij,ik->jk", frac * c[:, None], frac)
    return dead.sum(axis=0), expected, var


def logrank(time, event, group, strata=None, *, dropna: bool = False) -> LogrankResult:
    """Log-rank test of two or more groups, optionally stratified (R ``survdiff``).

    The chi-square uses groups with expected > 0, dropping the first of them
    (R's convention); ``df`` = that number of groups minus one. With fewer than
    two groups with expected events the statistic is 0, df 0 and p 1.
    """
    a = prepare(dropna, time=time, event=event, group=group, strata=strata)
    t, e = as_time(a["time"]), as_event(a["event"])
    require_nonempty(len(t))
    g, levels = as_levels(a["group"], "group")
    k = len(levels)
    if "strata" in a:
        s, s_levels = as_levels(a["strata"], "strata")
        strata = split_by_code(s, len(s_levels), t, e, g)
    else:
        strata = [(t, e, g)]
    observed = np.zeros(k)
    expected = np.zeros(k)
    var = np.zeros((k, k))
    for t_s, e_s, g_s in strata:
        o_s, x_s, v_s = _logrank_pieces(t_s, e_s, g_s, k)
        observed += o_s
        expected += x_s
        var += v_s
    use = np.flatnonzero(expected > 0)
    df = len(use) - 1
    if df < 1:
        stat = 0.0
        p = 1.0
        df = max(df, 0)
    else:
        idx = use[1:]
        diff = (observed - expected)[idx]
        vv = var[np.ix_(idx, idx)]
        stat = float(diff @ np.linalg.solve(vv, diff))
        p = float(chi2_sf(stat, df))
    n = np.bincount(g, minlength=k)
    return LogrankResult(stat, int(df), p, levels, n, observed, expected)
