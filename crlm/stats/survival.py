"""Kaplan–Meier curves and what is read off them: number at risk, follow-up, landmarks.

Conventions (those of R's ``survival`` package, version 3):

* Kaplan–Meier estimate at every distinct observed time (events and censorings),
  with tied events and censorings at the same time treated as events first.
* Greenwood variance of the cumulative hazard, ``sum d / (n (n - d))``;
  ``std_err`` is its square root (R's ``survfit()$std.err``), the standard error
  of −log S, not of S. ``survival_at`` also gives the standard error of S
  (``survival_std_err``, R's ``summary(fit, times=)$std.err``).
* Confidence intervals: ``"log-log"`` (default here; R ``conf.type="log-log"``),
  ``"log"`` (R's own default) or ``"plain"``; exactly R's ``survfit_confint``.
* Median and its confidence interval: R's ``quantile.survfit`` — the first time
  the curve (resp. its confidence bounds) falls to 0.5 or below; where a curve is
  exactly 0.5 on a flat segment the midpoint of that segment is used.

The log-rank test is in :mod:`crlm.stats.logrank_test`, the restricted mean
survival time in :mod:`crlm.stats.restricted_mean`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._dist import z_quantile
from ._kernels import sorted_times_by_code
from ._result import ResultMixin
from ._validate import (
    as_event,
    as_levels,
    as_time,
    check_conf_level,
    prepare,
)

CONF_TYPES = ("log-log", "log", "plain")
_TOL = float(np.sqrt(np.finfo(float).eps))


# --------------------------------------------------------------------------- tables
def _risk_table(time: np.ndarray, event: np.ndarray):
    """Distinct times, number at risk, events and censorings at each (ascending).

    Sorts the values only (no permutation): all times, then the event times.
    """
    te = time[event]  # a copy: sorted in place
    te.sort()
    return _risk_table_of_sorted(np.sort(time), te)


def _risk_table_of_sorted(ts: np.ndarray, te: np.ndarray):
    """:func:`_risk_table` from all times and the event times, each sorted ascending."""
    n = len(ts)
    last = np.flatnonzero(np.concatenate((ts[1:] != ts[:-1], [True])))
    times = ts[last]
    counts = np.diff(np.concatenate(([-1], last)))
    events = np.diff(np.concatenate(([0], np.searchsorted(te, times, side="right"))))
    at_risk = n - np.concatenate(([0], np.cumsum(counts)[:-1]))
    return times, at_risk.astype(np.int64), events.astype(np.int64), (counts - events).astype(np.int64)


def _confint(surv: np.ndarray, std_err: np.ndarray, conf_type: str, z: float):
    """R's ``survfit_confint`` (log-scale standard errors), NaN where R gives NA."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            se2 = std_err * surv * z
            lower = np.maximum(surv - se2, 0.0)
            upper = np.minimum(surv + se2, 1.0)
            lower = np.where(np.isnan(se2), np.nan, lower)
            upper = np.where(np.isnan(se2), np.nan, upper)
        elif conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            se2 = z * std_err
            lower = np.exp(np.log(xx) - se2)
            upper = np.minimum(np.exp(np.log(xx) + se2), 1.0)
            upper = np.where(np.isnan(xx), np.nan, upper)
        elif conf_type == "log-log":
            xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
            se2 = z * std_err / np.log(xx)
            lower = np.exp(-np.exp(np.log(-np.log(xx)) - se2))
            upper = np.exp(-np.exp(np.log(-np.log(xx)) + se2))
        else:  # pragma: no cover - checked by callers
            raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    return lower, upper


def _findq(x: np.ndarray, y: np.ndarray, p: float, tol: float = _TOL) -> float:
    """R's ``survival:::findq``: first x where the step function y reaches p."""
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return float("nan")
    xmax = x[-1]
    # drop duplicated y values (NaN equal to NaN), keeping the first
    rising = not np.isnan(y).any() and bool(np.all(y[1:] >= y[:-1]))
    if rising:  # the usual case (1 - S and its bounds): the first of each run of equal values
        keep = np.flatnonzero(np.concatenate(([True], y[1:] != y[:-1])))
    else:
        _, first = np.unique(y, return_index=True)
        keep = np.sort(first)
    x, y = x[keep], y[keep]
    n = len(y)

    def approx_index(shift: float) -> float:
        yy = y + shift
        ok = ~np.isnan(yy)
        xs, idx = yy[ok], np.arange(n)[ok]
        if not rising:  # a rising y stays in order when shifted: its stable sort is itself
            order = np.argsort(xs, kind="stable")
            xs, idx = xs[order], idx[order]
        if len(xs) == 0 or p < xs[0] or p > xs[-1]:
            return float("nan")
        return float(idx[np.searchsorted(xs, p, side="left")])

    i1, i2 = approx_index(tol), approx_index(-tol)
    if np.isnan(i1) or np.isnan(i2):
        return float("nan")
    quant = (x[int(i1)] + x[int(i2)]) / 2
    if p == 0:
        quant = x[0]
    if not np.isnan(y[n - 1]) and abs(p - y[n - 1]) < tol:
        quant = (x[int(i1)] + xmax) / 2
    return float(quant)


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SurvivalAtResult(ResultMixin):
    """Kaplan–Meier survival read off at chosen times (R ``summary(fit, times=)``).

    Survival is the step function's value at the largest observed time <= t
    (1 before the first time); beyond the last observed time the last value is
    carried forward (R's ``extend=TRUE``) with ``at_risk`` 0.

    Two standard errors, both Greenwood: ``std_err`` is that of the cumulative
    hazard −log S (R's ``fit$std.err``, the scale the log and log-log bands
    use); ``survival_std_err`` is that of S itself, S × ``std_err`` (what R's
    ``summary(fit, times=)$std.err`` reports; NaN once S is 0, as in R).
    """

    times: np.ndarray
    survival: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    std_err: np.ndarray
    at_risk: np.ndarray
    survival_std_err: np.ndarray


@dataclass(frozen=True)
class KMResult(ResultMixin):
    """A Kaplan–Meier curve.

    ``std_err`` is the Greenwood standard error of the cumulative hazard (R's
    ``std.err``). ``ci_lower``/``ci_upper`` follow ``conf_type``; where R reports
    NA (survival exactly 1 for log-log, survival 0 for log and log-log) the band
    is closed: (1, 1) while survival is 1 and (0, 0) once it is 0. The median and
    its CI use R's NA semantics and are NaN when not reached.
    """

    timeline: np.ndarray
    survival: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    std_err: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    censored: np.ndarray
    median: float
    median_ci: tuple[float, float]
    n: int
    n_events: int
    conf_level: float
    conf_type: str

    def survival_at(self, times: Sequence[float] | float) -> SurvivalAtResult:
        t = np.atleast_1d(np.asarray(times, dtype=float))
        if np.isnan(t).any():
            raise ValueError("times must not contain NaN")
        idx = np.searchsorted(self.timeline, t, side="right") - 1
        before = idx < 0
        j = np.clip(idx, 0, None)
        if len(self.timeline) == 0:
            ones = np.ones_like(t)
            return SurvivalAtResult(t, ones, ones.copy(), ones.copy(), np.zeros_like(t),
                                    np.zeros(len(t), dtype=np.int64), np.zeros_like(t))
        surv = np.where(before, 1.0, self.survival[j])
        lo = np.where(before, 1.0, self.ci_lower[j])
        hi = np.where(before, 1.0, self.ci_upper[j])
        se = np.where(before, 0.0, self.std_err[j])
        k = np.searchsorted(self.timeline, t, side="left")
        at_risk = np.where(k < len(self.timeline), self.at_risk[np.clip(k, 0, len(self.at_risk) - 1)], 0)
        with np.errstate(invalid="ignore"):
            surv_se = surv * se  # inf * 0 = NaN once the curve reaches 0, as R's summary()
        return SurvivalAtResult(t, surv, lo, hi, se, at_risk.astype(np.int64), surv_se)


def _km_core(time: np.ndarray, event: np.ndarray, conf_level: float, conf_type: str) -> KMResult:
    te = time[event]  # a copy: sorted in place
    te.sort()
    return _km_of_sorted(np.sort(time), te, conf_level, conf_type)


def _km_of_sorted(time: np.ndarray, event_times: np.ndarray, conf_level: float,
                  conf_type: str) -> KMResult:
    """The curve from all times and the event times, each sorted ascending."""
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    z = z_quantile(conf_level)
    if len(time) == 0:
        empty = np.zeros(0)
        return KMResult(empty, empty, empty, empty, empty, np.zeros(0, np.int64),
                        np.zeros(0, np.int64), np.zeros(0, np.int64), float("nan"),
                        (float("nan"), float("nan")), 0, 0, conf_level, conf_type)
    times, at_risk, events, censored = _risk_table_of_sorted(time, event_times)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - events / at_risk)
        inc = np.where(events > 0, events / (at_risk * (at_risk - events).astype(float)), 0.0)
    std_err = np.sqrt(np.cumsum(inc))
    lower_r, upper_r = _confint(surv, std_err, conf_type, z)
    x = np.concatenate(([0.0], times))
    median = _findq(x, np.concatenate(([0.0], 1 - surv)), 0.5)
    med_lo = _findq(x, np.concatenate(([0.0], 1 - lower_r)), 0.5)
    med_hi = _findq(x, np.concatenate(([0.0], 1 - upper_r)), 0.5)
    lower = np.where(surv == 1, 1.0, np.where(surv == 0, 0.0, lower_r))
    upper = np.where(surv == 1, 1.0, np.where(surv == 0, 0.0, upper_r))
    lower = np.where(np.isnan(lower), 0.0, lower)
    upper = np.where(np.isnan(upper), 1.0, upper)
    return KMResult(
        timeline=times, survival=surv, ci_lower=lower, ci_upper=upper, std_err=std_err,
        at_risk=at_risk, events=events, censored=censored, median=median,
        median_ci=(med_lo, med_hi), n=int(len(time)), n_events=int(events.sum()),
        conf_level=conf_level, conf_type=conf_type,
    )


def kaplan_meier(time, event, conf_level: float = 0.95, conf_type: str = "log-log",
                 *, dropna: bool = False) -> KMResult:
    """Kaplan–Meier curve with Greenwood-based confidence band (see module doc).

    ``time`` in any unit (months in this project), ``event`` 1 = event, 0 =
    censored. All censored: survival stays 1 and the median is NaN. A single
    patient is allowed.
    """
    conf_level = check_conf_level(conf_level)
    a = prepare(dropna, time=time, event=event)
    t, e = as_time(a["time"]), as_event(a["event"])
    return _km_core(t, e, conf_level, conf_type)


def kaplan_meier_by(time, event, group, conf_level: float = 0.95,
                    conf_type: str = "log-log", *, dropna: bool = False) -> dict[str, KMResult]:
    """One Kaplan–Meier curve per level of ``group``, keyed by ``str(level)`` in sorted level order."""
    conf_level = check_conf_level(conf_level)
    a = prepare(dropna, time=time, event=event, group=group)
    t, e = as_time(a["time"]), as_event(a["event"])
    codes, levels = as_levels(a["group"], "group")
    parts = sorted_times_by_code(codes, len(levels), t, e)
    return {str(level): _km_of_sorted(t_k, te_k, conf_level, conf_type)
            for level, (t_k, te_k) in zip(levels, parts)}


def number_at_risk(time, times) -> np.ndarray:
    """Number of patients with ``time >= t`` for each ``t`` in ``times`` (int array)."""
    a = prepare(False, time=time)
    t = np.sort(as_time(a["time"]))
    q = np.atleast_1d(np.asarray(times, dtype=float))
    if np.isnan(q).any():
        raise ValueError("times must not contain NaN")
    return (len(t) - np.searchsorted(t, q, side="left")).astype(np.int64)


@dataclass(frozen=True)
class FollowUpResult(ResultMixin):
    """Median follow-up by the reverse Kaplan–Meier method (censoring as the event)."""

    median: float
    median_ci: tuple[float, float]
    n: int
    conf_type: str


def median_follow_up(time, event, conf_level: float = 0.95, conf_type: str = "log-log",
                     *, dropna: bool = False) -> FollowUpResult:
    """Reverse Kaplan–Meier median follow-up: R ``survfit(Surv(time, 1 - event) ~ 1)``."""
    conf_level = check_conf_level(conf_level)
    a = prepare(dropna, time=time, event=event)
    t, e = as_time(a["time"]), as_event(a["event"])
    km = _km_core(t, ~e, conf_level, conf_type)
    return FollowUpResult(km.median, km.median_ci, km.n, conf_type)


# --------------------------------------------------------------------------- landmarks
@dataclass(frozen=True)
class LandmarkResult(ResultMixin):
    """Survival with CI at fixed times, per group (rows of ``survival`` = groups)."""

    times: np.ndarray
    groups: list
    survival: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    at_risk: np.ndarray
    conf_type: str

    def table(self) -> list[dict]:
        """One row per (group, time) for CSV export."""
        rows = []
        for i, g in enumerate(self.groups):
            for j, t in enumerate(self.times):
                rows.append({"group": g, "time": float(t),
                             "survival": float(self.survival[i, j]),
                             "ci_lower": float(self.ci_lower[i, j]),
                             "ci_upper": float(self.ci_upper[i, j]),
                             "at_risk": int(self.at_risk[i, j])})
        return rows


def landmark_survival(time, event, group, times: Sequence[float] = (12, 36, 60),
                      conf_level: float = 0.95, conf_type: str = "log-log",
                      *, dropna: bool = False) -> LandmarkResult:
    """Kaplan–Meier survival per group at ``times`` (e.g. 1-, 3-, 5-year OS in months)."""
    curves = kaplan_meier_by(time, event, group, conf_level, conf_type, dropna=dropna)
    q = np.asarray(times, dtype=float)
    rows = [c.survival_at(q) for c in curves.values()]
    stack = lambda name: np.vstack([getattr(r, name) for r in rows]) if rows else np.zeros((0, len(q)))
    return LandmarkResult(q, list(curves.keys()), stack("survival"), stack("ci_lower"),
                          stack("ci_upper"), stack("at_risk").astype(np.int64), conf_type)

