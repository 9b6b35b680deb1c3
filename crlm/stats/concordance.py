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

Counting is O(n log n): one sort of the risks and one of the times; patients
then join a Fenwick tree over the distinct times in increasing risk, and each
event reads how many comparable patients have a lower and an equal risk
(:func:`crlm.stats._kernels._pair_counts_by_risk`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._kernels import _jit  # noqa: F401 - shared with survival_discrimination
from ._kernels import pair_counts_by_risk, time_keys
from ._result import ResultMixin
from ._validate import as_event, as_float, as_time, prepare
from .survival import _risk_table


def pair_counts(time: np.ndarray, event: np.ndarray, risk: np.ndarray):
    """Per-patient counts of comparable pairs with lower, equal and higher risk.

    Events get counts; censored patients get zeros.
    """
    event = np.asarray(event, dtype=np.bool_)
    risk = np.asarray(risk, dtype=np.float64)
    key, n_keys = time_keys(np.asarray(time, dtype=np.float64), event)
    by_risk, lo, eq, hi = pair_counts_by_risk(key, n_keys, event, risk)
    lower = np.empty(len(risk), dtype=np.int64)
    equal = np.empty(len(risk), dtype=np.int64)
    higher = np.empty(len(risk), dtype=np.int64)
    lower[by_risk], equal[by_risk], higher[by_risk] = lo, eq, hi
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
