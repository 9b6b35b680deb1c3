"""Concordance (Harrell, Uno) and cumulative/dynamic time-dependent AUC.

Convention: ``risk`` is a risk score — a higher value means a shorter expected
survival (R ``concordance(..., reverse=TRUE)``, i.e. what a Cox linear predictor
gives). For an event at time t_i, a patient j is comparable when t_j > t_i, or
when t_j == t_i and j is censored (censoring at the same time as an event is
taken to come after it). Pairs tied on time with both events are not
comparable. Pairs tied on risk count one half.

Counting is O(n log n): patients are visited by decreasing time and their risk
ranks are kept in a Fenwick (binary indexed) tree.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._result import ResultMixin
from ._validate import as_event, as_float, as_time, prepare
from .survival import _risk_table

try:  # numba makes the Fenwick walk fast; the pure-Python path gives the same numbers
    from numba import njit as _njit

    def _jit(fn):
        return _njit(cache=True, nogil=True)(fn)
except ImportError:  # pragma: no cover - numba is in requirements
    def _jit(fn):
        return fn


@_jit
def _fenwick_counts(order, time, event, rank, n_ranks):  # pragma: no cover - compiled
    """Per patient (in input positions): comparable patients with lower / equal / higher risk.

    ``order`` sorts patients by decreasing time. Only events get counts. The
    tree holds, per risk rank, how many patients have been passed; a plain
    array holds the same per rank for the ties.
    """
    n = order.shape[0]
    tree = np.zeros(n_ranks + 1, dtype=np.int32)
    same = np.zeros(n_ranks, dtype=np.int32)
    lower = np.zeros(n, dtype=np.int64)
    equal = np.zeros(n, dtype=np.int64)
    higher = np.zeros(n, dtype=np.int64)
    inserted = 0
    i = 0
    while i < n:
        j = i
        t = time[order[i]]
        while j < n and time[order[j]] == t:
            j += 1
        # censored at this time are comparable to events at this time
        for k in range(i, j):
            p = order[k]
            if not event[p]:
                r = rank[p]
                same[r] += 1
                pos = r + 1
                while pos <= n_ranks:
                    tree[pos] += 1
                    pos += pos & (-pos)
                inserted += 1
        for k in range(i, j):
            p = order[k]
            if event[p]:
                r = rank[p]
                below = 0
                pos = r
                while pos > 0:
                    below += tree[pos]
                    pos -= pos & (-pos)
                lower[p] = below
                equal[p] = same[r]
                higher[p] = inserted - below - same[r]
        for k in range(i, j):
            p = order[k]
            if event[p]:
                r = rank[p]
                same[r] += 1
                pos = r + 1
                while pos <= n_ranks:
                    tree[pos] += 1
                    pos += pos & (-pos)
                inserted += 1
        i = j
    return lower, equal, higher


def _dense_rank(values: np.ndarray) -> tuple[np.ndarray, int]:
    """0-based dense ranks (equal values share a rank) and the number of distinct values."""
    order = np.argsort(values)
    v = values[order]
    new = np.empty(len(v), dtype=bool)
    new[:1] = True
    new[1:] = v[1:] != v[:-1]
    rank = np.empty(len(v), dtype=np.int64)
    rank[order] = np.cumsum(new) - 1
    return rank, int(new.sum())


def pair_counts(time: np.ndarray, event: np.ndarray, risk: np.ndarray, order: np.ndarray | None = None):
    """Per-patient counts of comparable pairs with lower, equal and higher risk.

    ``order``, if given, must list the patients by decreasing time.
    """
    if order is None:
        order = np.argsort(-time, kind="stable")
    rank, n_ranks = _dense_rank(risk)
    return _fenwick_counts(order.astype(np.int64), time.astype(np.float64),
                           event.astype(np.bool_), rank, n_ranks)


@dataclass(frozen=True)
class ConcordanceResult(ResultMixin):
    """Concordance index and its pair counts (unweighted counts for both methods)."""

    concordance: float
    concordant: int
    discordant: int
    tied_risk: int
    comparable: int
    method: str
    tau: float | None = None


def censoring_survival(time: np.ndarray, event: np.ndarray):
    """Kaplan–Meier of the censoring distribution (scikit-survival's convention).

    At a time with both events and censorings the events leave the risk set
    first. Returns (distinct times, G at those times), right-continuous.
    """
    times, inv, counts = np.unique(time, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    d = np.bincount(inv, weights=event.astype(float), minlength=len(times))
    c = counts - d
    at_risk = len(time) - np.concatenate(([0], np.cumsum(counts)[:-1])) - d
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(c > 0, c / at_risk, 0.0)
    return times, np.cumprod(1.0 - ratio)


def _ipcw(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """1 / G(t_i) for events (0 for censored, and 0 where G has reached 0)."""
    times, g = censoring_survival(time, event)
    idx = np.searchsorted(times, time, side="right") - 1
    gi = g[idx]
    w = np.zeros(len(time))
    ok = event & (gi > 0)
    w[ok] = 1.0 / gi[ok]
    return w


def concordance_index(time, event, risk, method: str = "harrell", tau: float | None = None,
                      *, dropna: bool = False) -> ConcordanceResult:
    """Harrell's or Uno's C for a risk score (higher risk = shorter survival).

    ``"harrell"`` equals R ``survival::concordance(Surv(time, event) ~ risk,
    reverse=TRUE)``. ``"uno"`` weights each comparable pair by 1 / G(t_i)^2,
    G the Kaplan–Meier of censoring from the same data, and uses only events
    before ``tau`` (scikit-survival ``concordance_index_ipcw``). With no
    comparable pair the concordance is NaN.
    """
    if method not in ("harrell", "uno"):
        raise ValueError(f"method must be 'harrell' or 'uno', got {method!r}")
    a = prepare(dropna, time=time, event=event, risk=risk)
    t, e, r = as_time(a["time"]), as_event(a["event"]), as_float(a["risk"], "risk")
    if len(t) == 0:
        return ConcordanceResult(float("nan"), 0, 0, 0, 0, method, tau)
    lower, equal, higher = pair_counts(t, e, r)
    # an event with higher risk than a comparable (longer) survivor is concordant
    concordant, tied, discordant = int(lower.sum()), int(equal.sum()), int(higher.sum())
    comparable = concordant + tied + discordant
    if method == "harrell":
        c = (concordant + 0.5 * tied) / comparable if comparable else float("nan")
        return ConcordanceResult(float(c), concordant, discordant, tied, comparable, method, tau)
    w = _ipcw(t, e) ** 2
    if tau is not None:
        w = np.where(t < float(tau), w, 0.0)
    num = float(np.sum(w * (lower + 0.5 * equal)))
    den = float(np.sum(w * (lower + equal + higher)))
    c = num / den if den > 0 else float("nan")
    return ConcordanceResult(c, concordant, discordant, tied, comparable, method,
                             None if tau is None else float(tau))


@dataclass(frozen=True)
class TimeDependentAUCResult(ResultMixin):
    """Cumulative/dynamic AUC(t): cases = events by t (IPCW-weighted), controls = alive after t."""

    times: np.ndarray
    auc: np.ndarray
    mean_auc: float
    n_cases: np.ndarray
    n_controls: np.ndarray


def time_dependent_auc(time, event, risk, times, *, dropna: bool = False) -> TimeDependentAUCResult:
    """Cumulative/dynamic time-dependent AUC with inverse-probability-of-censoring weights.

    As scikit-survival ``cumulative_dynamic_auc`` with the same data as training
    and test set: cases at t are events with t_i <= t weighted by 1/G(t_i),
    controls have t_j > t; risk ties count one half. ``mean_auc`` integrates
    AUC(t) over the Kaplan–Meier estimate as scikit-survival does. AUC(t) is
    NaN where there is no case or no control.
    """
    a = prepare(dropna, time=time, event=event, risk=risk)
    t, e, r = as_time(a["time"]), as_event(a["event"]), as_float(a["risk"], "risk")
    q = np.atleast_1d(as_float(np.asarray(times, dtype=float), "times"))
    w = _ipcw(t, e)
    order = np.argsort(t, kind="stable")
    ts, es, rs, ws = t[order], e[order], r[order], w[order]
    auc = np.full(len(q), np.nan)
    n_cases = np.zeros(len(q), dtype=np.int64)
    n_controls = np.zeros(len(q), dtype=np.int64)
    for k, tk in enumerate(q):
        cut = np.searchsorted(ts, tk, side="right")
        controls = np.sort(rs[cut:])
        case = es[:cut]
        rc, wc = rs[:cut][case], ws[:cut][case]
        n_cases[k], n_controls[k] = len(rc), len(controls)
        if len(rc) == 0 or len(controls) == 0 or wc.sum() == 0:
            continue
        lo = np.searchsorted(controls, rc, side="left")
        hi = np.searchsorted(controls, rc, side="right")
        auc[k] = float(np.sum(wc * (lo + 0.5 * (hi - lo))) / (wc.sum() * len(controls)))
    if len(q) == 1:
        mean_auc = float(auc[0])
    else:
        km_t, n_r, d, _ = _risk_table(t, e)
        surv = np.cumprod(1.0 - d / n_r)
        idx = np.searchsorted(km_t, q, side="right") - 1
        s_q = np.where(idx < 0, 1.0, surv[np.clip(idx, 0, None)])
        dd = -np.diff(np.concatenate(([1.0], s_q)))
        mean_auc = float(np.sum(auc * dd) / (1.0 - s_q[-1])) if s_q[-1] < 1 else float("nan")
    return TimeDependentAUCResult(q, auc, mean_auc, n_cases, n_controls)
