"""Estimators for the model families of the review that the first zoo lacked
(Zhang et al., *AI in colorectal liver metastases*; section numbers are the review's).

* ``cart`` — a shallow classification tree (CART: Moro et al. and Endo et al., §4.2 / §4.1):
  depth ≤ 3, leaves ≥ 5 % of the training patients, so that the whole tree can be drawn
  and read (``tree_structure``).
* ``gaussian_nb`` — Gaussian naive Bayes (Giannini et al., §4.1).
* ``cost_sensitive_rf`` — a random forest whose class weights are the board's stated
  costs (Karagkounis et al., §4.1: misclassifying a non-responder was penalised more):
  ``MISSED_RESPONDER_COST`` for a responder called a non-responder, and
  ``UNNECESSARY_TREATMENT_COST`` for a non-responder called a responder.
* ``elastic_net_cox`` — Cox with an elastic-net penalty (Luo et al., §4.2), next to the
  lasso Cox and the random survival forest.
* ``lightgbm`` / ``lightgbm_cox`` — gradient-boosted trees from LightGBM (§2.2.1 names
  XGBoost, LightGBM and CatBoost); the survival version boosts the negative Cox partial
  log-likelihood (Breslow ties) through LightGBM's custom-objective interface.
* ``lightgbm_top6`` / ``lightgbm_cox_top6`` — the GBDT-Top6 of Amygdalos et al. (§4.2):
  the six inputs a first LightGBM ranks highest by total split gain, then a LightGBM on
  those six only. Selection is a step of the estimator, so it is refitted inside every
  training fold, never on the whole cohort; the chosen six are listed in the model card.
* ``mrmr_logistic`` — ridge logistic regression on six inputs chosen by minimum-redundancy
  maximum-relevance selection (Qi et al., §4.2), also refitted inside every training
  fold (``crlm.models.selection``).

Every estimator here follows the scikit-learn contract (``fit`` returns ``self``,
hyper-parameters only stored by ``__init__``, integer ``random_state``) and runs on the
preprocessed matrix of ``crlm.models.inputs`` (numbers imputed and scaled, categories
one-hot), so its "features" are the transformed columns. ``card_details(names)`` returns
what the model card shows about a fitted estimator (the tree, the costs, the selection).
The CART estimator and its nodes in clinical units are in ``crlm.models.readable_tree``.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.utils.validation import check_is_fitted

from crlm.models.readable_tree import (  # noqa: F401  (the CART estimator and its nodes)
    CART_MAX_DEPTH, ReadableTree, TreeNode, tree_nodes, tree_path,
)
from crlm.models.selection import MRMR_K, MRMRSelected, mrmr_logistic  # noqa: F401
from crlm.models.survival import split_target

# The board's stated costs (Karagkounis et al. penalised a missed non-responder more:
# an unnecessary, toxic treatment costs twice a missed responder here). Change them and
# retrain to see another trade-off (``train --cost-ratio``, ``crlm.models.costs``); the
# ratio is in the family's label and model card.
MISSED_RESPONDER_COST = 1.0
UNNECESSARY_TREATMENT_COST = 2.0
TOP_K = 6


def _lgbm_params(seed: int) -> dict:
    # One thread, no console output, deterministic histogram construction.
    return {"n_jobs": 1, "verbose": -1, "random_state": int(seed), "deterministic": True,
            "force_col_wise": True}


def _fit_lightgbm(model, X, y):
    """``model.fit`` with LightGBM's own failure (on a tiny cohort: no input it can split
    with the leaf sizes asked) turned into the ``ValueError`` training reports as skipped.
    Leaves may hold at most a tenth of the training patients, so a small cohort still
    gets splits."""
    import lightgbm as lgb

    n = int(np.asarray(X).shape[0])
    model.set_params(min_child_samples=int(max(2, min(model.min_child_samples, n // 10))),
                     min_data_in_bin=int(max(1, min(3, n // 10))))
    try:
        return model.fit(np.asarray(X, dtype=float), y)
    except lgb.basic.LightGBMError as exc:
        raise ValueError(f"LightGBM could not fit {n} training patients: "
                         f"{str(exc).splitlines()[0]}") from None

# -- Gaussian naive Bayes -------------------------------------------------------------
def gaussian_nb(seed: int, fast: bool):
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB(var_smoothing=1e-6)


# -- cost-sensitive random forest ---------------------------------------------------
class CostSensitiveForest(RandomForestClassifier):
    """scikit-learn's random forest, built with ``class_weight`` = the misclassification
    costs: a responder (class 1) weighs ``MISSED_RESPONDER_COST``, a non-responder
    ``UNNECESSARY_TREATMENT_COST``; ``card_details`` states them."""

    def card_details(self, names) -> dict:
        weights = self.class_weight or {}
        return {"cost of a missed responder": f"{weights.get(1, 1.0):g}",
                "cost of an unnecessary treatment": f"{weights.get(0, 1.0):g}",
                "cost ratio (missed responder : unnecessary treatment)":
                    f"{weights.get(1, 1.0):g} : {weights.get(0, 1.0):g}"}


# -- LightGBM -------------------------------------------------------------------------
class LightGBMClassifier(ClassifierMixin, BaseEstimator):
    """``lightgbm.LGBMClassifier`` with a few board-sized defaults, single-threaded."""

    def __init__(self, n_estimators: int = 200, learning_rate: float = 0.05,
                 num_leaves: int = 8, min_child_samples: int = 20, reg_lambda: float = 1.0,
                 subsample: float = 0.8, colsample_bytree: float = 0.8,
                 random_state: int = 0):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.random_state = random_state

    def fit(self, X, y):
        import lightgbm as lgb

        y = np.asarray(y).astype(int)
        self.booster_model_ = _fit_lightgbm(lgb.LGBMClassifier(
            n_estimators=int(self.n_estimators), learning_rate=float(self.learning_rate),
            num_leaves=int(self.num_leaves), min_child_samples=int(self.min_child_samples),
            reg_lambda=float(self.reg_lambda), subsample=float(self.subsample), subsample_freq=1,
            colsample_bytree=float(self.colsample_bytree), **_lgbm_params(self.random_state)
        ), X, y)
        self.classes_ = self.booster_model_.classes_
        self.n_features_in_ = int(np.asarray(X).shape[1])
        return self

    @property
    def feature_importances_(self) -> np.ndarray:
        return self.booster_model_.booster_.feature_importance(importance_type="gain")

    def predict_proba(self, X):
        check_is_fitted(self, "booster_model_")
        return self.booster_model_.predict_proba(np.asarray(X, dtype=float))

    def predict(self, X):
        return self.booster_model_.predict(np.asarray(X, dtype=float))


def cox_objective(label, raw):
    """Gradient and Hessian (diagonal) of the negative Cox partial log-likelihood with
    Breslow ties, for LightGBM. ``label`` is the signed time: ``time`` for an event,
    ``-time`` for a censoring (XGBoost's ``survival:cox`` convention)."""
    label = np.asarray(label, dtype=float)
    time, event = np.abs(label), (label > 0).astype(float)
    order = np.argsort(time, kind="stable")
    t, d = time[order], event[order]
    f = np.asarray(raw, dtype=float)[order]
    r = np.exp(f - f.max())
    # risk-set sums S(t_j) = sum over t_k >= t_j: reverse cumulative sums, ties sharing
    # the value of the first of their group
    rev = np.cumsum(r[::-1])[::-1]
    first = np.searchsorted(t, t, side="left")
    last = np.searchsorted(t, t, side="right") - 1
    s = rev[first]
    a_step = np.cumsum(np.where(d > 0, 1.0 / s, 0.0))
    b_step = np.cumsum(np.where(d > 0, 1.0 / s ** 2, 0.0))
    a, b = a_step[last], b_step[last]  # over events with t_j <= t_i, ties included
    grad = r * a - d
    hess = np.maximum(r * a - r ** 2 * b, 1e-12)
    out_g, out_h = np.empty_like(grad), np.empty_like(hess)
    out_g[order], out_h[order] = grad, hess
    return out_g, out_h


def signed_time(y) -> np.ndarray:
    time, event = split_target(y)
    time = np.maximum(time, 1e-6)
    return np.where(event, time, -time)


class LightGBMCox(BaseEstimator):
    """LightGBM boosting the Cox partial likelihood: ``predict`` is the log relative
    hazard (higher = earlier events)."""

    def __init__(self, n_estimators: int = 150, learning_rate: float = 0.05,
                 num_leaves: int = 8, min_child_samples: int = 20, reg_lambda: float = 1.0,
                 subsample: float = 0.8, colsample_bytree: float = 0.8,
                 random_state: int = 0):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.random_state = random_state

    def fit(self, X, y):
        import lightgbm as lgb

        label = signed_time(y)
        if not (label > 0).any():
            raise ValueError("LightGBM Cox needs at least one event in the training data")
        self.booster_model_ = _fit_lightgbm(lgb.LGBMRegressor(
            objective=cox_objective, n_estimators=int(self.n_estimators),
            learning_rate=float(self.learning_rate), num_leaves=int(self.num_leaves),
            min_child_samples=int(self.min_child_samples), reg_lambda=float(self.reg_lambda),
            subsample=float(self.subsample), subsample_freq=1,
            colsample_bytree=float(self.colsample_bytree), **_lgbm_params(self.random_state)
        ), X, label)
        self.n_features_in_ = int(np.asarray(X).shape[1])
        return self

    @property
    def feature_importances_(self) -> np.ndarray:
        return self.booster_model_.booster_.feature_importance(importance_type="gain")

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "booster_model_")
        return np.asarray(self.booster_model_.predict(np.asarray(X, dtype=float), raw_score=True),
                          dtype=float)

    def score(self, X, y) -> float:
        from sksurv.metrics import concordance_index_censored

        time, event = split_target(y)
        return float(concordance_index_censored(event, time, self.predict(X))[0])


# -- top-k selection ------------------------------------------------------------------
class TopKSelected(BaseEstimator):
    """Fit ``ranker`` on all columns, keep the ``k`` with the largest
    ``feature_importances_``, fit ``estimator`` on those only. Works for classifiers
    (``predict_proba``) and survival models (``predict`` = risk)."""

    def __init__(self, ranker=None, estimator=None, k: int = TOP_K):
        self.ranker = ranker
        self.estimator = estimator
        self.k = k

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        ranker = clone(self.ranker).fit(X, y)
        importance = np.asarray(ranker.feature_importances_, dtype=float)
        k = int(min(self.k, X.shape[1]))
        # stable: equal importances keep column order
        self.selected_ = np.sort(np.argsort(-importance, kind="stable")[:k])
        self.importances_ = importance
        self.estimator_ = clone(self.estimator).fit(X[:, self.selected_], y)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(np.asarray(X, dtype=float)[:, self.selected_])

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(np.asarray(X, dtype=float)[:, self.selected_])

    def selected_names(self, names) -> list[str]:
        return [str(names[i]) for i in self.selected_]

    def card_details(self, names) -> dict:
        ranked = sorted(self.selected_, key=lambda i: -self.importances_[i])
        return {f"top {len(self.selected_)} inputs (LightGBM split gain, refitted per fold)":
                ", ".join(f"{names[i]} ({self.importances_[i]:.3g})" for i in ranked)}


# -- builders (seed, fast) -> unfitted estimator ---------------------------------------
def cart(seed: int, fast: bool):
    return ReadableTree(max_depth=CART_MAX_DEPTH, min_samples_leaf=0.05, random_state=seed)


def cost_sensitive_rf(seed: int, fast: bool, missed: float = MISSED_RESPONDER_COST,
                      unnecessary: float = UNNECESSARY_TREATMENT_COST):
    return CostSensitiveForest(
        n_estimators=40 if fast else 200, min_samples_leaf=5, max_depth=10,
        max_features="sqrt", n_jobs=1, random_state=seed,
        class_weight={0: float(unnecessary), 1: float(missed)})


def elastic_net_cox(seed: int, fast: bool):
    from crlm.models.survival import LassoCox

    return LassoCox(alpha=0.05, l1_ratio=0.5)


def lightgbm(seed: int, fast: bool):
    return LightGBMClassifier(n_estimators=40 if fast else 200, random_state=seed)


def lightgbm_cox(seed: int, fast: bool):
    return LightGBMCox(n_estimators=40 if fast else 150, random_state=seed)


def lightgbm_top6(seed: int, fast: bool):
    return TopKSelected(ranker=lightgbm(seed, fast), estimator=lightgbm(seed, fast), k=TOP_K)


def lightgbm_cox_top6(seed: int, fast: bool):
    return TopKSelected(ranker=lightgbm_cox(seed, fast), estimator=lightgbm_cox(seed, fast),
                        k=TOP_K)


def ft_transformer(seed: int, fast: bool):
    from crlm.models.tabular_transformer import FTTransformerClassifier

    return FTTransformerClassifier(max_epochs=15 if fast else 150, patience=5 if fast else 20,
                                   random_state=seed)


def cost_label(missed: float, unnecessary: float) -> str:
    return f"missed responder : unnecessary treatment = {missed:g} : {unnecessary:g}"


COST_LABEL = cost_label(MISSED_RESPONDER_COST, UNNECESSARY_TREATMENT_COST)


def card_details_of(model) -> dict[str, str]:
    """What a fitted model's estimator says about itself for the model card (the tree,
    the costs, the selected inputs, the search), with the preprocessed column names
    (``age_years``, ``primary_side_right``); empty when it says nothing."""
    pipeline = getattr(model, "pipeline", None)
    describe = getattr(pipeline[-1], "card_details", None) if pipeline is not None else None
    if describe is None:
        return {}
    names = [str(n).split("__", 1)[-1] for n in pipeline[:-1].get_feature_names_out()]
    return {str(k): str(v) for k, v in describe(names).items()}
