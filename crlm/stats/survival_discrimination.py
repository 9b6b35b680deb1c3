"""Discrimination of a survival risk score beyond the point estimate: Harrell's C with
its standard error and confidence interval, a paired comparison of two scores on the
same patients, and the time-dependent ROC curve at a horizon.

Standard error of Harrell's C: the infinitesimal jackknife, as R's
``survival::concordance`` computes it (Therneau & Atkinson, the ``concordance``
vignette of the survival package). With C = (Somers' d + 1) / 2 and
d = (concordant − discordant) / comparable, the influence of patient i is

    dfbeta_i = ((c_i − d_i) − d · (c_i + d_i + t_i)) / comparable / 2

where c_i, d_i and t_i count the comparable pairs patient i belongs to (as the earlier
event or as the later patient) that are concordant, discordant or tied on risk.
var(C) = Σ dfbeta_i², and for two scores on the same patients
cov(C_a, C_b) = Σ dfbeta_a,i · dfbeta_b,i — ``concordance(fit_a, fit_b)`` in R. The
paired comparison is the Wald test of C_a − C_b with that covariance (the contrast the
vignette describes); the interval of C is C ± z · SE.

Pairs are comparable as in ``concordance_index``: an event before a later time, or an
event and a censoring at the same time; two events at the same time are not.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ._result import ResultMixin
from ._validate import as_event, as_float, as_time, prepare
from .concordance import _ipcw, _jit, pair_counts, time_dependent_auc


@_jit
def _later_counts(k, rank, ev_rank, n_ranks):  # pragma: no cover - compiled
    """For each patient j: among the first k[j] events in time order, how many have a
    lower and a lower-or-equal risk rank than j (a Fenwick tree over risk ranks)."""
    n = k.shape[0]
    order = np.argsort(k, kind="mergesort")
    tree = np.zeros(n_ranks + 1, dtype=np.int64)
    less = np.zeros(n, dtype=np.int64)
    leq = np.zeros(n, dtype=np.int64)
    p = 0
    for q in range(n):
        j = order[q]
        while p < k[j]:
            i = ev_rank[p]
            while i <= n_ranks:
                tree[i] += 1
                i += i & (-i)
            p += 1
        s = 0
        i = rank[j] - 1
        while i > 0:
            s += tree[i]
            i -= i & (-i)
        less[j] = s
        s = 0
        i = rank[j]
        while i > 0:
            s += tree[i]
            i -= i & (-i)
        leq[j] = s
    return less, leq


def pair_counts_by_patient(time, event, risk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per patient: concordant, discordant and risk-tied comparable pairs it belongs to,
    as the earlier event and as the later patient together."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    r = np.asarray(risk, dtype=float)
    lower, equal, higher = pair_counts(t, e, r)     # as the earlier event
    _, rank = np.unique(r, return_inverse=True)
    rank = rank.reshape(-1).astype(np.int64) + 1
    ev = np.flatnonzero(e)
    ev = ev[np.argsort(t[ev], kind="stable")]
    ev_times = t[ev]
    # comparable earlier events: before t_j; at t_j too when j is censored
    k = np.where(e, np.searchsorted(ev_times, t, side="left"),
                 np.searchsorted(ev_times, t, side="right")).astype(np.int64)
    less, leq = _later_counts(k, rank, rank[ev], int(rank.max()) if len(rank) else 0)
    # as the later patient: an earlier event with higher risk is concordant
    concordant = lower + (k - leq)
    discordant = higher + less
    tied = equal + (leq - less)
    return concordant, discordant, tied


@dataclass(frozen=True)
class HarrellCResult(ResultMixin):
    """Harrell's C with its infinitesimal-jackknife standard error and Wald interval."""

    concordance: float
    se: float
    ci_lower: float
    ci_upper: float
    level: float
    n: int
    events: int
    comparable: int


@dataclass(frozen=True)
class PairedConcordanceResult(ResultMixin):
    """C of two risk scores on the same patients and the Wald test of their difference."""

    concordance_a: float
    concordance_b: float
    difference: float
    se: float
    ci_lower: float
    ci_upper: float
    z: float
    p_value: float
    covariance: float
    level: float
    n: int
    events: int
    method: str = "infinitesimal jackknife (R survival::concordance)"


def _prepare(time, event, risks: dict, dropna: bool):
    a = prepare(dropna, time=time, event=event, **risks)
    t, e = as_time(a["time"]), as_event(a["event"])
    rs = {name: as_float(a[name], name) for name in risks}
    if len(t) < 2 or not e.any():
        raise ValueError("Harrell's C needs at least two patients and one event")
    return t, e, rs


def _influence(t: np.ndarray, e: np.ndarray, r: np.ndarray) -> tuple[float, np.ndarray, int]:
    c, d, tie = pair_counts_by_patient(t, e, r)
    comparable = int((c + d + tie).sum() // 2)
    if comparable == 0:
        raise ValueError("no comparable pair of patients: Harrell's C is not defined")
    somers = float((c.sum() - d.sum()) / 2) / comparable
    dfbeta = ((c - d) - somers * (c + d + tie)) / comparable / 2.0
    return (somers + 1.0) / 2.0, dfbeta, comparable


def _z(level: float) -> float:
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    return float(sps.norm.ppf(0.5 + float(level) / 2.0))


def concordance_influence(time, event, risk, *, dropna: bool = False) -> np.ndarray:
    """Each patient's infinitesimal-jackknife influence on Harrell's C (R's
    ``concordance(..., influence = 1)$dfbeta`` with ``reverse = TRUE``)."""
    t, e, rs = _prepare(time, event, {"risk": risk}, dropna)
    return _influence(t, e, rs["risk"])[1]


def harrell_c(time, event, risk, *, level: float = 0.95, dropna: bool = False) -> HarrellCResult:
    """Harrell's C (higher risk = shorter survival) with its standard error (R's
    ``sqrt(concordance(...)$var)``) and the Wald interval C ± z · SE."""
    z = _z(level)
    t, e, rs = _prepare(time, event, {"risk": risk}, dropna)
    c, dfbeta, comparable = _influence(t, e, rs["risk"])
    se = float(np.sqrt(np.sum(dfbeta ** 2)))
    return HarrellCResult(concordance=float(c), se=se, ci_lower=float(c - z * se),
                          ci_upper=float(c + z * se), level=float(level), n=int(len(t)),
                          events=int(e.sum()), comparable=comparable)


def compare_concordance(time, event, risk_a, risk_b, *, level: float = 0.95,
                        dropna: bool = False) -> PairedConcordanceResult:
    """Paired comparison of Harrell's C of two risk scores on the same patients: the
    difference C_a − C_b, its infinitesimal-jackknife standard error (R's
    ``concordance(fit_a, fit_b)``), its Wald interval and the two-sided p-value."""
    z = _z(level)
    t, e, rs = _prepare(time, event, {"risk_a": risk_a, "risk_b": risk_b}, dropna)
    ca, da, _ = _influence(t, e, rs["risk_a"])
    cb, db, _ = _influence(t, e, rs["risk_b"])
    var = float(np.sum((da - db) ** 2))
    cov = float(np.sum(da * db))
    diff = float(ca - cb)
    se = float(np.sqrt(var))
    if se > 0:
        stat = diff / se
        p = float(2.0 * sps.norm.sf(abs(stat)))
    else:   # the two scores order every comparable pair alike
        stat, p = float("nan"), 1.0 if diff == 0 else float("nan")
    return PairedConcordanceResult(concordance_a=float(ca), concordance_b=float(cb),
                                   difference=diff, se=se, ci_lower=diff - z * se,
                                   ci_upper=diff + z * se, z=stat, p_value=p, covariance=cov,
                                   level=float(level), n=int(len(t)), events=int(e.sum()))


@dataclass(frozen=True)
class TimeDependentROCResult(ResultMixin):
    """Cumulative/dynamic ROC curve at ``horizon``: cases are events by then (weighted by
    1/G(t_i-)), controls are patients still event-free after it. ``thresholds`` descend;
    a patient is called positive when its risk is at least the threshold."""

    horizon: float
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float
    n_cases: int
    n_controls: int


def time_dependent_roc(time, event, risk, horizon: float, *,
                       dropna: bool = False) -> TimeDependentROCResult:
    """The time-dependent ROC curve at ``horizon`` whose area is ``time_dependent_auc``
    (riskRegression convention; the trapezoids count risk ties one half). With no case
    or no control the curve is empty and the AUC NaN."""
    a = prepare(dropna, time=time, event=event, risk=risk)
    t, e, r = as_time(a["time"]), as_event(a["event"]), as_float(a["risk"], "risk")
    h = float(horizon)
    if not np.isfinite(h) or h <= 0:
        raise ValueError(f"horizon must be a positive number of months, got {horizon!r}")
    w = _ipcw(t, e, just_before=True)
    case = e & (t <= h) & (w > 0)
    control = t > h
    auc = float(time_dependent_auc(t, e, r, [h]).auc[0]) if len(t) else float("nan")
    if not case.any() or not control.any():
        empty = np.zeros(0)
        return TimeDependentROCResult(h, empty, empty, empty, float("nan"),
                                      int(case.sum()), int(control.sum()))
    thresholds = np.unique(r[case | control])[::-1]
    # weighted cases and controls at or above each threshold
    rc, wc = r[case], w[case]
    order = np.argsort(-rc, kind="stable")
    cum_w = np.concatenate(([0.0], np.cumsum(wc[order])))
    tp = cum_w[np.searchsorted(-rc[order], -thresholds, side="right")]
    ctrl = np.sort(r[control])
    fp = len(ctrl) - np.searchsorted(ctrl, thresholds, side="left")
    tpr = np.concatenate(([0.0], tp / wc.sum()))
    fpr = np.concatenate(([0.0], fp / len(ctrl)))
    return TimeDependentROCResult(h, fpr, tpr, np.concatenate(([np.inf], thresholds)), auc,
                                  int(case.sum()), int(control.sum()))


__all__ = ["HarrellCResult", "PairedConcordanceResult", "TimeDependentROCResult",
           "compare_concordance", "concordance_influence", "harrell_c", "pair_counts_by_patient",
           "time_dependent_roc"]
