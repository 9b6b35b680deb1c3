"""Minimum-redundancy maximum-relevance (MRMR) input selection (Qi et al., §4.2 of the
review), as a step of the estimator next to the GBDT top-k of ``families_review``.

The definition used here (Peng's "MID" form, with every term in nats):

* **relevance** of an input = its mutual information with the binary outcome,
  scikit-learn's k-nearest-neighbour estimate (``mutual_info_classif``, 3 neighbours,
  seeded);
* **redundancy** of an input = the mean mutual information between it and the inputs
  already chosen, each pair's taken as for two Gaussian variables from their Pearson
  correlation r: ``-½ log(1 - r²)`` (a constant input has no redundancy);
* greedy selection: first the most relevant input, then, ``k - 1`` times, the input
  with the largest ``relevance - redundancy``; ties go to the earlier column.

``k`` is ``MRMR_K`` = 6, the same number as the GBDT-Top6, so that the two selection
steps compare on equal terms. The selection is made in ``fit``, so training refits it
inside every training fold (and once on all development patients for the saved
model), never on the whole cohort before the cross-validation; the chosen inputs,
in the order they were chosen, are in the model card (``card_details``).

The estimator runs on the preprocessed matrix of ``crlm.models.inputs`` (numbers
imputed and scaled, categories one-hot), so its inputs are the transformed columns.
For a linear final estimator ``coef_`` is given over all columns (zero for the ones
not chosen), so the exact linear contributions still apply.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

MRMR_K = 6
MI_NEIGHBOURS = 3
_MAX_R2 = 1.0 - 1e-12  # an exact duplicate gets a large, finite redundancy


_RELEVANCE_CACHE: OrderedDict[bytes, np.ndarray] = OrderedDict()
_CACHE_SIZE = 16


def relevance(X, y, random_state: int = 0) -> np.ndarray:
    """Mutual information (nats) of each column of ``X`` with the binary outcome ``y``.

    The estimate is remembered for the last few (rows, outcome, seed) it was asked for:
    the trials of a hyper-parameter search refit the same inner folds many times, and the
    relevance does not depend on the final estimator's hyper-parameters."""
    from sklearn.feature_selection import mutual_info_classif

    X = np.ascontiguousarray(X, dtype=float)
    y = np.ascontiguousarray(np.asarray(y).astype(np.int64))
    key = hashlib.blake2b(X.tobytes() + b"|" + y.tobytes() + b"|" + str(X.shape).encode()
                          + b"|" + str(int(random_state)).encode(), digest_size=20).digest()
    if key in _RELEVANCE_CACHE:
        _RELEVANCE_CACHE.move_to_end(key)
        return _RELEVANCE_CACHE[key].copy()
    out = np.asarray(mutual_info_classif(X, y, discrete_features=False,
                                         n_neighbors=MI_NEIGHBOURS,
                                         random_state=int(random_state)), dtype=float)
    _RELEVANCE_CACHE[key] = out.copy()
    while len(_RELEVANCE_CACHE) > _CACHE_SIZE:
        _RELEVANCE_CACHE.popitem(last=False)
    return out


def gaussian_redundancy(X) -> np.ndarray:
    """Pairwise mutual information (nats) of the columns of ``X`` taken as Gaussian:
    ``-½ log(1 - r²)``; zero for a constant column and on the diagonal."""
    X = np.asarray(X, dtype=float)
    sd = X.std(axis=0)
    centred = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    r = (centred.T @ centred) / max(len(X), 1)
    r[:, sd == 0] = 0.0
    r[sd == 0, :] = 0.0
    r2 = np.minimum(r ** 2, _MAX_R2)
    out = -0.5 * np.log1p(-r2)
    np.fill_diagonal(out, 0.0)
    return out


def mrmr_order(relevance_: np.ndarray, redundancy: np.ndarray, k: int) -> list[int]:
    """Greedy MRMR (relevance minus mean redundancy): the ``k`` chosen column indices in
    the order they were chosen."""
    relevance_ = np.asarray(relevance_, dtype=float)
    p = len(relevance_)
    k = int(min(max(k, 0), p))
    if k == 0:
        return []
    chosen = [int(np.argmax(relevance_))]
    left = np.ones(p, dtype=bool)
    left[chosen[0]] = False
    total = redundancy[:, chosen[0]].copy()
    while len(chosen) < k:
        score = np.where(left, relevance_ - total / len(chosen), -np.inf)
        best = int(np.argmax(score))
        chosen.append(best)
        left[best] = False
        total += redundancy[:, best]
    return chosen


class MRMRSelected(ClassifierMixin, BaseEstimator):
    """Choose ``k`` columns by MRMR on the rows given to ``fit``, then fit ``estimator``
    on those only. ``order_`` (chosen order), ``selected_`` (sorted), ``relevance_``."""

    def __init__(self, estimator=None, k: int = MRMR_K, random_state: int = 0):
        self.estimator = estimator
        self.k = k
        self.random_state = random_state

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y)
        if y.dtype.names is not None:
            raise ValueError("MRMR selection here reads a binary outcome, not a survival time")
        if int(self.k) < 1:
            raise ValueError(f"MRMR needs k of at least 1, not {self.k}")
        self.relevance_ = relevance(X, y, self.random_state)
        self.order_ = mrmr_order(self.relevance_, gaussian_redundancy(X), int(self.k))
        self.selected_ = np.sort(np.asarray(self.order_, dtype=int))
        self.estimator_ = clone(self.estimator).fit(X[:, self.selected_], y)
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def _narrow(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.asarray(X, dtype=float)[:, self.selected_]

    def predict_proba(self, X):
        return self.estimator_.predict_proba(self._narrow(X))

    def predict(self, X):
        return self.estimator_.predict(self._narrow(X))

    @property
    def coef_(self) -> np.ndarray:
        """The final estimator's coefficients over all columns, zero where not chosen."""
        check_is_fitted(self, "estimator_")
        inner = np.atleast_2d(np.asarray(self.estimator_.coef_, dtype=float))
        full = np.zeros((inner.shape[0], self.n_features_in_))
        full[:, self.selected_] = inner
        return full

    @property
    def intercept_(self):
        return self.estimator_.intercept_

    def selected_names(self, names) -> list[str]:
        return [str(names[i]) for i in self.order_]

    def card_details(self, names) -> dict:
        key = (f"MRMR {len(self.order_)} inputs, in the order chosen (relevance = mutual "
               "information with the outcome; redundancy = mean Gaussian mutual information "
               "with the inputs already chosen; refitted per fold)")
        return {key: ", ".join(f"{names[i]} ({self.relevance_[i]:.3g} nats)"
                               for i in self.order_)}


def mrmr_logistic(seed: int, fast: bool):
    """Ridge logistic regression (as the ``logistic`` family) on the MRMR-chosen inputs."""
    from sklearn.linear_model import LogisticRegression

    return MRMRSelected(estimator=LogisticRegression(C=0.5, max_iter=2000, random_state=seed),
                        k=MRMR_K, random_state=seed)
