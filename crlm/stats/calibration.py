"""Calibration of predicted probabilities, Brier score, decision-curve net benefit.

* ``calibration``: patients binned by predicted probability (equal-count
  quantile bins by default, or equal-width), mean predicted vs observed
  proportion with a Wilson CI per bin; ``slope`` = coefficient of logit(p) in a
  logistic regression of y on logit(p); ``intercept`` = calibration-in-the-large,
  the intercept of a logistic regression of y with logit(p) as offset. Ideal:
  slope 1, intercept 0. Probabilities are clipped to [1e-12, 1 - 1e-12] before
  the logit.
* ``net_benefit`` (Vickers & Elkin decision curve): treat when p >= threshold;
  NB = TP/n - FP/n * pt / (1 - pt); treat-all uses everyone positive; treat-none is 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._dist import z_quantile
from ._kernels import logistic_terms
from ._result import ResultMixin
from ._validate import as_event, as_probability, check_conf_level, prepare
from .diagnostic import wilson_interval

_EPS = 1e-12


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


def _logistic_fit(y: np.ndarray, x: np.ndarray, offset: np.ndarray, max_iter: int = 100):
    """Newton–Raphson logistic regression; returns (coef, covariance, converged)."""
    y, offset = np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(offset, dtype=float)
    x = np.ascontiguousarray(x, dtype=float)
    beta = np.zeros(x.shape[1])
    converged = False
    for _ in range(max_iter):
        score, info = logistic_terms(y, x, offset, beta)
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            converged = True
            break
    info = logistic_terms(y, x, offset, beta)[1]
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full(info.shape, np.nan)
    return beta, cov, converged


@dataclass(frozen=True)
class CalibrationResult(ResultMixin):
    bin_lower: np.ndarray
    bin_upper: np.ndarray
    mean_predicted: np.ndarray
    observed: np.ndarray
    observed_ci_lower: np.ndarray
    observed_ci_upper: np.ndarray
    count: np.ndarray
    events: np.ndarray
    slope: float
    slope_ci: tuple[float, float]
    intercept: float
    intercept_ci: tuple[float, float]
    brier: float
    n: int
    strategy: str


def calibration(y_true, prob, bins: int = 10, strategy: str = "quantile",
                conf_level: float = 0.95, *, dropna: bool = False) -> CalibrationResult:
    """Binned calibration table plus logistic recalibration slope and intercept.

    Quantile bins are cut at the quantiles of ``prob``; duplicate edges are
    merged, so fewer bins may come back; empty bins are dropped. Slope and
    intercept are NaN when y_true has a single class.
    """
    conf_level = check_conf_level(conf_level)
    if int(bins) < 1:
        raise ValueError(f"bins must be a positive integer, got {bins}")
    if strategy not in ("quantile", "uniform"):
        raise ValueError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}")
    a = prepare(dropna, y_true=y_true, prob=prob)
    y = as_event(a["y_true"], "y_true").astype(float)
    p = as_probability(a["prob"], "prob")
    if len(y) == 0:
        raise ValueError("y_true is empty: at least one patient is needed")
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, int(bins) + 1)))
    else:
        edges = np.linspace(0, 1, int(bins) + 1)
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    k = len(edges) - 1
    count = np.bincount(idx, minlength=k)
    events = np.bincount(idx, weights=y, minlength=k)
    sum_p = np.bincount(idx, weights=p, minlength=k)
    keep = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = sum_p / count
        observed = events / count
    lo, hi = wilson_interval(events, count, conf_level)
    z = z_quantile(conf_level)
    lp = _logit(p)
    if 0 < y.sum() < len(y):
        coef, cov, _ = _logistic_fit(y, np.column_stack((np.ones_like(lp), lp)), np.zeros_like(lp))
        slope, slope_se = float(coef[1]), float(np.sqrt(cov[1, 1]))
        icoef, icov, _ = _logistic_fit(y, np.ones((len(y), 1)), lp)
        intercept, intercept_se = float(icoef[0]), float(np.sqrt(icov[0, 0]))
    else:
        slope = slope_se = intercept = intercept_se = float("nan")
    return CalibrationResult(
        edges[:-1][keep], edges[1:][keep], mean_pred[keep], observed[keep], lo[keep], hi[keep],
        count[keep].astype(np.int64), np.rint(events[keep]).astype(np.int64),
        slope, (slope - z * slope_se, slope + z * slope_se),
        intercept, (intercept - z * intercept_se, intercept + z * intercept_se),
        float(np.mean((p - y) ** 2)), int(len(y)), strategy,
    )


def brier(y_true, prob, *, dropna: bool = False) -> float:
    """Brier score: mean squared difference between probability and 0/1 outcome."""
    a = prepare(dropna, y_true=y_true, prob=prob)
    y = as_event(a["y_true"], "y_true").astype(float)
    p = as_probability(a["prob"], "prob")
    if len(y) == 0:
        raise ValueError("y_true is empty: at least one patient is needed")
    return float(np.mean((p - y) ** 2))


@dataclass(frozen=True)
class NetBenefitResult(ResultMixin):
    thresholds: np.ndarray
    model: np.ndarray
    treat_all: np.ndarray
    treat_none: np.ndarray
    n: int
    prevalence: float


def net_benefit(y_true, prob, thresholds, *, dropna: bool = False) -> NetBenefitResult:
    """Decision-curve net benefit of the model, treat-all and treat-none at each threshold.

    Thresholds must lie in [0, 1); a patient is treated when prob >= threshold.
    """
    a = prepare(dropna, y_true=y_true, prob=prob)
    y = as_event(a["y_true"], "y_true")
    p = as_probability(a["prob"], "prob")
    n = len(y)
    if n == 0:
        raise ValueError("y_true is empty: at least one patient is needed")
    pt = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if np.isnan(pt).any() or (pt < 0).any() or (pt >= 1).any():
        raise ValueError("thresholds must lie in [0, 1)")
    odds = pt / (1 - pt)
    pos_scores = np.sort(p[y])
    neg_scores = np.sort(p[~y])
    tp = len(pos_scores) - np.searchsorted(pos_scores, pt, side="left")
    fp = len(neg_scores) - np.searchsorted(neg_scores, pt, side="left")
    model = tp / n - fp / n * odds
    prevalence = float(y.mean())
    treat_all = prevalence - (1 - prevalence) * odds
    return NetBenefitResult(pt, model, treat_all, np.zeros_like(pt), n, prevalence)
