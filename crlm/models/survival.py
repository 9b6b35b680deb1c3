"""Survival estimators with the scikit-survival contract.

``y`` is a structured array with fields ``event`` (bool) and ``time`` (months),
as made by ``survival_target``; ``predict`` returns a risk score (higher means
earlier events). ``score`` is Harrell's concordance as in scikit-survival.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted


def survival_target(time, event) -> np.ndarray:
    """The structured outcome array scikit-survival estimators take."""
    out = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    out["event"] = np.asarray(event, dtype=bool)
    out["time"] = np.asarray(time, dtype=float)
    return out


def split_target(y) -> tuple[np.ndarray, np.ndarray]:
    """(time, event) from a structured outcome array."""
    names = y.dtype.names
    if not names or len(names) != 2:
        raise ValueError("survival outcome must be a structured array with event and time fields")
    event_field = next(n for n in names if y[n].dtype == bool)
    time_field = next(n for n in names if n != event_field)
    return (np.ascontiguousarray(y[time_field], dtype=float),
            np.ascontiguousarray(y[event_field], dtype=bool))


class PenalizedCox(BaseEstimator):
    """Cox proportional hazards (lifelines ``CoxPHFitter``, Efron ties) with an
    elastic-net penalty: ``penalizer`` is its strength, ``l1_ratio`` its L1 share
    (0 = ridge, 1 = lasso). Columns constant in the training data get
    coefficient 0. ``coef_`` are log hazard ratios per input column and
    ``predict`` returns the linear predictor ``X @ coef_``.
    """

    def __init__(self, penalizer: float = 0.1, l1_ratio: float = 0.0, max_steps: int = 200):
        self.penalizer = penalizer
        self.l1_ratio = l1_ratio
        self.max_steps = max_steps

    def fit(self, X, y):
        from lifelines import CoxPHFitter

        X = np.asarray(X, dtype=float)
        time, event = split_target(y)
        if X.shape[0] != len(time):
            raise ValueError("X and y have different numbers of rows")
        if not event.any():
            raise ValueError("Cox model needs at least one event in the training data")
        keep = np.nanstd(X, axis=0) > 1e-12
        self.n_features_in_ = X.shape[1]
        self.kept_columns_ = np.flatnonzero(keep)
        frame = pd.DataFrame(X[:, keep], columns=[f"term_{i}" for i in self.kept_columns_])
        frame["duration_months"] = time
        frame["event"] = event.astype(int)
        fitter = CoxPHFitter(penalizer=self.penalizer, l1_ratio=self.l1_ratio)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitter.fit(frame, duration_col="duration_months", event_col="event",
                       fit_options={"max_steps": self.max_steps})
        coef = np.zeros(X.shape[1])
        coef[keep] = fitter.params_.to_numpy()
        self.coef_ = coef
        self.log_likelihood_ = float(fitter.log_likelihood_)
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return np.asarray(X, dtype=float) @ self.coef_

    def score(self, X, y) -> float:
        from sksurv.metrics import concordance_index_censored

        time, event = split_target(y)
        return float(concordance_index_censored(event, time, self.predict(X))[0])


class LassoCox(BaseEstimator):
    """Lasso-penalised Cox model (scikit-survival ``CoxnetSurvivalAnalysis``,
    coordinate descent, Breslow ties) at one penalty ``alpha``; ``l1_ratio`` < 1
    mixes in a ridge part. ``coef_`` are log hazard ratios (exact zeros for the
    columns the lasso drops); ``predict`` returns ``X @ coef_``.
    """

    def __init__(self, alpha: float = 0.03, l1_ratio: float = 1.0, max_iter: int = 100000):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.max_iter = max_iter

    def fit(self, X, y):
        from sksurv.linear_model import CoxnetSurvivalAnalysis

        X = np.asarray(X, dtype=float)
        time, event = split_target(y)
        if not event.any():
            raise ValueError("lasso Cox model needs at least one event in the training data")
        net = CoxnetSurvivalAnalysis(alphas=[float(self.alpha)], l1_ratio=self.l1_ratio,
                                     max_iter=self.max_iter, normalize=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.fit(X, survival_target(time, event))
        self.coef_ = np.asarray(net.coef_, dtype=float)[:, 0]
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return np.asarray(X, dtype=float) @ self.coef_

    def score(self, X, y) -> float:
        from sksurv.metrics import concordance_index_censored

        time, event = split_target(y)
        return float(concordance_index_censored(event, time, self.predict(X))[0])
