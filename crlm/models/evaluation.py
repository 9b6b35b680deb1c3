"""Metrics of a model's predictions, computed by ``crlm.stats`` and kept as
plain numbers for the registry (``models.metrics`` JSON)."""
from __future__ import annotations

import math

import numpy as np

from crlm.models.tasks import BINARY

TIME_POINTS_MONTHS = (12.0, 36.0, 60.0)


def _num(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def binary_metrics(y, score, *, probability: bool) -> dict:
    """AUC with its DeLong interval, Youden threshold; Brier and calibration
    slope / intercept when ``score`` is a probability."""
    from crlm import stats

    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    out: dict = {"n": int(len(y)), "n_positive": int(y.sum())}
    if len(y) < 2 or y.min() == y.max():
        return out
    r = stats.roc(y, score)
    lo, hi = r.auc_ci
    out.update(auc=_num(r.auc), auc_ci_lower=_num(lo), auc_ci_upper=_num(hi),
               youden_threshold=_num(r.youden_threshold), sensitivity=_num(r.sensitivity),
               specificity=_num(r.specificity))
    if probability:
        out["brier"] = _num(stats.brier(y, score))
        cal = stats.calibration(y, score)
        out["calibration_slope"] = _num(getattr(cal, "slope", None))
        out["calibration_intercept"] = _num(getattr(cal, "intercept", None))
    return out


def survival_metrics(time, event, risk, *, train_time=None, train_event=None) -> dict:
    """Harrell's C-index and time-dependent AUC at 12, 36 and 60 months."""
    from crlm import stats

    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    risk = np.asarray(risk, dtype=float)
    out: dict = {"n": int(len(time)), "n_events": int(event.sum())}
    if len(time) < 2 or not event.any():
        return out
    c = stats.concordance_index(time, event, risk)
    out["c_index"] = _num(getattr(c, "c_index", getattr(c, "concordance", c)))
    for t in TIME_POINTS_MONTHS:
        key = f"td_auc_{int(t)}m"
        if not ((time <= t) & event).any() or not (time > t).any():
            out[key] = None
            continue
        try:
            td = stats.time_dependent_auc(time, event, risk, times=[t])
        except ValueError:
            out[key] = None
            continue
        auc = getattr(td, "auc", td)
        out[key] = _num(np.ravel(auc)[0])
    return out


def metrics_for(task, y, score, *, probability: bool) -> dict:
    if task.kind == BINARY:
        return binary_metrics(y, score, probability=probability)
    time, event = y
    return survival_metrics(time, event, score)
