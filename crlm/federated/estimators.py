"""The final step of a federated model's pipeline: coefficients agreed by the consortium.

They are ordinary scikit-learn-style estimators (``coef_``, ``predict_proba`` or
``predict``) so that ``FittedModel`` scores, explains and saves them like any trained
model. They are never fitted on a site's rows: ``fit`` refuses.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator


class _Agreed(BaseEstimator):
    def fit(self, X, y=None):  # noqa: D401 - refuse, never silently refit
        raise TypeError(f"{type(self).__name__} holds coefficients agreed by a federated run; "
                        "it is not fitted on one site's rows")


class FederatedLogistic(_Agreed):
    """Logistic regression with coefficients from federated Newton steps."""

    def __init__(self, coef=None, intercept: float = 0.0):
        self.coef = coef
        self.intercept = intercept
        if coef is not None:
            self.coef_ = np.asarray(coef, dtype=float).reshape(1, -1)
            self.intercept_ = np.array([float(intercept)])
            self.classes_ = np.array([0, 1])

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(X, dtype=float) @ self.coef_.ravel() + self.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])


class FederatedCox(_Agreed):
    """Cox model (stratified by site) with coefficients from federated Newton steps;
    ``predict`` is the linear predictor, a risk score (higher = earlier events)."""

    def __init__(self, coef=None):
        self.coef = coef
        if coef is not None:
            self.coef_ = np.asarray(coef, dtype=float).ravel()

    def predict(self, X) -> np.ndarray:
        return np.asarray(X, dtype=float) @ self.coef_


class FederatedMLP(_Agreed):
    """The FedAvg network (``crlm.federated.mlp``) with its agreed parameters; scored
    by a numpy forward pass."""

    def __init__(self, theta=None):
        self.theta = theta
        if theta is not None:
            self.theta_ = np.asarray(theta, dtype=float).ravel()
            self.classes_ = np.array([0, 1])

    def predict_proba(self, X) -> np.ndarray:
        from crlm.federated.mlp import probability

        p = probability(np.asarray(X, dtype=float), self.theta_)
        return np.column_stack([1 - p, p])


class FederatedDeepSurv(_Agreed):
    """The FedAvg DeepSurv network (``crlm.federated.deepsurv``, stratified by site) with
    its agreed parameters; ``predict`` is the log relative hazard, a risk score (higher =
    earlier events), by a numpy forward pass."""

    def __init__(self, theta=None):
        self.theta = theta
        if theta is not None:
            self.theta_ = np.asarray(theta, dtype=float).ravel()

    def predict(self, X) -> np.ndarray:
        from crlm.federated.deepsurv import risk

        return risk(np.asarray(X, dtype=float), self.theta_)
