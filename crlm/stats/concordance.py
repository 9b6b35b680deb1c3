"""Concordance (Harrell, Uno) and cumulative/dynamic time-dependent AUC.

Time-dependent AUC weights each case by 1/G(t_i-), the censoring survival just
before its event time, as R's riskRegression and timeROC do (scikit-survival's
1/G(t_i) is ``convention="scikit-survival"``). Uno's C keeps scikit-survival's
``concordance_index_ipcw`` weights 1/G(t_i)^2.

Convention: ``risk`` is a risk score — a higher value means a shorter expected
survival (R ``concordance(..., reverse=TRUE)``, i.e. what a Cox linear predictor
gives). For an event at time t_i, a patient j is comparable when t_j > t_i, or
when t_j == t_i and j is censored (censoring at the same time as an event is
taken to come after it). Pairs tied on time with both events are not
comparable. Pairs tied on risk count one half.

Counting is O(n log n): patients are put in decreasing time order (censored
before events at a tied time) and a merge sort on risk counts, for every
event, the earlier patients with lower and equal risk; earlier events at the
same time are then taken out by a second merge sort keyed on (time, risk).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._result import ResultMixin
from ._validate import as_event, as_float, as_time, prepare
from .survival import _risk_table

try:  # numba makes the merge counts fast; the pure-Python path gives the same numbers
    from numba import njit as _njit

    def _jit(fn):
        return _njit(cache=True, nogil=True)(fn)
except ImportError:  # pragma: no cover - numba is in requirements
    def _jit(fn):
        return fn


@_jit
def _count_before_sorted(value, less, same, offset):  # pragma: no cover - compiled
    """Sorts ``value`` in place; adds to less[offset + i] / same[offset + i] how many
    earlier positions hold a lower / equal value than position i.

    The running counts travel with the values through the merges (sequential
    memory access) and are written out once at the end.
    """
    n = value.shape[0]
    pos = np.arange(n)
    cl = np.zeros(n, dtype=np.int64)
    cs = np.zeros(n, dtype=np.int64)
    # insertion sort of short blocks, counting inside each block
    block = 16
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        for i in range(lo + 1, hi):
            v = value[i]
            p = pos[i]
            c_less = 0
            c_same = 0
            for j in range(lo, i):
                if value[j] < v:
                    c_less += 1
                elif value[j] == v:
                    c_same += 1
            j = i - 1
            while j >= lo and value[j] > v:
                value[j + 1] = value[j]
                pos[j + 1] = pos[j]
                cl[j + 1] = cl[j]
                cs[j + 1] = cs[j]
                j -= 1
            value[j + 1] = v
            pos[j + 1] = p
            cl[j + 1] = c_less
            cs[j + 1] = c_same
    va_b = np.empty(n, dtype=value.dtype)
    pos_b = np.empty(n, dtype=np.int64)
    cl_b = np.empty(n, dtype=np.int64)
    cs_b = np.empty(n, dtype=np.int64)
    va = value
    width = block
    while width < n:
        lo = 0
        while lo < n:
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            a, b, k = lo, mid, lo
            p_le = lo
            while b < hi:
                v = va[b]
                # left elements lower than v go first
                while a < mid and va[a] < v:
                    va_b[k] = va[a]
                    pos_b[k] = pos[a]
                    cl_b[k] = cl[a]
                    cs_b[k] = cs[a]
                    a += 1
                    k += 1
                if p_le < a:
                    p_le = a
                while p_le < mid and va[p_le] <= v:
                    p_le += 1
                va_b[k] = v
                pos_b[k] = pos[b]
                cl_b[k] = cl[b] + (a - lo)
                cs_b[k] = cs[b] + (p_le - a)
                b += 1
                k += 1
            while a < mid:
                va_b[k] = va[a]
                pos_b[k] = pos[a]
                cl_b[k] = cl[a]
                cs_b[k] = cs[a]
                a += 1
                k += 1
            lo = hi
        va, va_b = va_b, va
        pos, pos_b = pos_b, pos
        cl, cl_b = cl_b, cl
        cs, cs_b = cs_b, cs
        width *= 2
    for i in range(n):
        less[offset + pos[i]] += cl[i]
        same[offset + pos[i]] += cs[i]


@_jit
def _count_before_by_group(starts, value, less, same):  # pragma: no cover - compiled
    """``_count_before_sorted`` within each run value[starts[g]:starts[g + 1]]."""
    for g in range(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        if hi - lo > 1:
            _count_before_sorted(value[lo:hi].copy(), less, same, lo)


@_jit
def _comparable_sequence(order, time, event):  # pragma: no cover - compiled
    """Patients by decreasing time; within a time, censored before events.

    Returns the sequence, the time-group number of each position, and for each
    position how many events of the same time come earlier.
    """
    n = order.shape[0]
    seq = np.empty(n, dtype=np.int64)
    grp = np.empty(n, dtype=np.int64)
    tied_before = np.zeros(n, dtype=np.int64)
    k = 0
    i = 0
    g = 0
    while i < n:
        j = i
        t = time[order[i]]
        while j < n and time[order[j]] == t:
            j += 1
        for q in range(i, j):
            if not event[order[q]]:
                seq[k] = order[q]
                grp[k] = g
                k += 1
        c = 0
        for q in range(i, j):
            if event[order[q]]:
                seq[k] = order[q]
                grp[k] = g
                tied_before[k] = c
                c += 1
                k += 1
        i = j
        g += 1
    return seq, grp, tied_before


def pair_counts(time: np.ndarray, event: np.ndarray, risk: np.ndarray, order: np.ndarray | None = None):
    """Per-patient counts of comparable pairs with lower, equal and higher risk.

    ``order``, if given, must list the patients by decreasing time. Events get
    counts; censored patients get zeros.
    """
    if order is None:
        order = np.argsort(-time, kind="stable")
    event = np.asarray(event, dtype=np.bool_)
    risk = np.asarray(risk, dtype=np.float64)
    seq, grp, tied_before = _comparable_sequence(np.asarray(order, dtype=np.int64),
                                                 np.asarray(time, dtype=np.float64), event)
    r = risk[seq]
    ev = event[seq]
    r_events = r[ev]  # taken before r is sorted in place
    n = len(seq)
    less = np.zeros(n, dtype=np.int64)
    same = np.zeros(n, dtype=np.int64)
    _count_before_sorted(r, less, same, 0)  # sorts r in place
    lower = np.zeros(len(time), dtype=np.int64)
    equal = np.zeros(len(time), dtype=np.int64)
    higher = np.zeros(len(time), dtype=np.int64)
    if not ev.any():
        return lower, equal, higher
    ev_pos = np.flatnonzero(ev)
    lo, eq = less[ev_pos], same[ev_pos]
    if tied_before[ev_pos].any():
        # take out earlier events at the same time (not comparable): counts within each time
        g_ev = grp[ev_pos]
        starts = np.flatnonzero(np.concatenate(([True], g_ev[1:] != g_ev[:-1], [True])))
        less_g = np.zeros(len(ev_pos), dtype=np.int64)
        same_g = np.zeros(len(ev_pos), dtype=np.int64)
        _count_before_by_group(starts.astype(np.int64), r_events, less_g, same_g)
        lo = lo - less_g
        eq = eq - same_g
    total = ev_pos - tied_before[ev_pos]
    idx = seq[ev_pos]
    lower[idx] = lo
    equal[idx] = eq
    higher[idx] = total - lo - eq
    return lower, equal, higher


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
    """Kaplan–Meier of the censoring distribution (scikit-survival's and prodlim's
    ``reverse=TRUE`` convention).

    At a time with both events and censorings the events leave the risk set
    first (R's ``survfit(Surv(time, 1 - event) ~ 1)`` keeps them in). Returns (distinct times, G at those times), right-continuous.
    """
    times, inv, counts = np.unique(time, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    d = np.bincount(inv, weights=event.astype(float), minlength=len(times))
    c = counts - d
    at_risk = len(time) - np.concatenate(([0], np.cumsum(counts)[:-1])) - d
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(c > 0, c / at_risk, 0.0)
    return times, np.cumprod(1.0 - ratio)


def _ipcw(time: np.ndarray, event: np.ndarray, *, just_before: bool = False) -> np.ndarray:
    """1 / G(t_i) for events (0 for censored, and 0 where G has reached 0).

    ``just_before=True`` gives 1 / G(t_i-), the censoring survival just before
    the event time (R riskRegression / timeROC); otherwise 1 / G(t_i), G
    right-continuous (scikit-survival).
    """
    times, g = censoring_survival(time, event)
    side = "left" if just_before else "right"
    idx = np.searchsorted(times, time, side=side) - 1
    gi = np.where(idx < 0, 1.0, g[np.clip(idx, 0, None)])
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
    """Cumulative/dynamic AUC(t): cases = events by t (IPCW-weighted), controls = alive after t.

    ``convention`` names the case weights: ``"riskRegression"`` (1/G(t_i-)) or
    ``"scikit-survival"`` (1/G(t_i)).
    """

    times: np.ndarray
    auc: np.ndarray
    mean_auc: float
    n_cases: np.ndarray
    n_controls: np.ndarray
    convention: str = "riskRegression"


TD_AUC_CONVENTIONS = ("riskRegression", "scikit-survival")


def time_dependent_auc(time, event, risk, times, *, convention: str = "riskRegression",
                       dropna: bool = False) -> TimeDependentAUCResult:
    """Cumulative/dynamic time-dependent AUC with inverse-probability-of-censoring weights.

    Cases at t are events with t_i <= t, controls have t_j > t; risk ties count
    one half. G is the Kaplan–Meier estimate of the censoring distribution from
    the same data, with events leaving the risk set before censorings at a tied
    time (prodlim's ``reverse=TRUE``). The controls share one weight 1/G(t),
    which cancels; the cases are weighted by

    * ``convention="riskRegression"`` (default): 1/G(t_i-), the censoring
      survival just before the event time, as R's ``riskRegression::Score``
      (``metrics="auc"``, ``cens.model="km"``) and ``timeROC`` do;
    * ``convention="scikit-survival"``: 1/G(t_i), as scikit-survival's
      ``cumulative_dynamic_auc`` does. The two differ only where a censoring
      shares its time with an event.

    ``mean_auc`` integrates AUC(t) over the Kaplan–Meier estimate as
    scikit-survival does. AUC(t) is NaN where there is no case or no control.
    """
    if convention not in TD_AUC_CONVENTIONS:
        raise ValueError(f"convention must be one of {TD_AUC_CONVENTIONS}, got {convention!r}")
    a = prepare(dropna, time=time, event=event, risk=risk)
    t, e, r = as_time(a["time"]), as_event(a["event"]), as_float(a["risk"], "risk")
    q = np.atleast_1d(as_float(np.asarray(times, dtype=float), "times"))
    w = _ipcw(t, e, just_before=convention == "riskRegression")
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
    return TimeDependentAUCResult(q, auc, mean_auc, n_cases, n_controls, convention)
