"""The family registry: every model the board can see, trained or not.

A ``Family`` says which task kind it serves, which inputs it reads, how its
estimator is built (always the last step of a pipeline that starts with the
shared preprocessing) and how its per-case contributions are computed.
Clinical baselines are families of kind ``clinical``: no training, the score is
a column computed by ``crlm.clinical``. A family with its own training routine
(for example one on image crops) plugs in with ``register_family`` and a
``trainer``; see ``crlm.models.training``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sklearn.base import BaseEstimator, ClassifierMixin

from crlm.models import families_review as _review
from crlm.models import kinds
from crlm.models.tasks import BINARY, SURVIVAL

ALL_FEATURE_SETS = ("clinical", "radiomic", "genomic")
ANY = "any"


@dataclass(frozen=True)
class Family:
    """One model family.

    ``build(seed, fast)`` returns an unfitted estimator; ``fast`` asks for fewer
    trees / epochs. ``explainer`` is ``linear`` (exact contributions of a linear
    score), ``tree`` (``shap.TreeExplainer``), ``baseline_shapley`` (sampled
    permutations against a reference patient) or ``none``. ``column`` is the
    score column of a clinical baseline. ``trainer`` replaces the tabular
    cross-validation for families that need another kind of input. ``inputs``
    names the exact columns a family reads instead of its feature sets; like
    every input they must be known by the task's decision time, else the family
    is refused for that task (``crlm.models.decision``). ``default_with_images``: trained
    by default on a cohort that holds stored CT lesion crops.
    """

    name: str
    task_kind: str
    label: str
    kind: str = kinds.TRAINED
    feature_sets: tuple[str, ...] = ALL_FEATURE_SETS
    build: Callable[[int, bool], object] | None = field(default=None, compare=False)
    explainer: str = "baseline_shapley"
    column: str | None = None
    trainer: Callable | None = field(default=None, compare=False)
    tasks: tuple[str, ...] = ()
    default: bool = True
    inputs: tuple[str, ...] = ()
    default_with_images: bool = False

    @property
    def is_clinical(self) -> bool:
        """A clinical baseline: no training, the score is a stored column."""
        return kinds.is_clinical_score(self.kind)

    def serves(self, task) -> bool:
        if self.tasks and task.name not in self.tasks:
            return False
        return self.task_kind in (ANY, task.kind)

    def to_dict(self) -> dict:
        return {"name": self.name, "task_kind": self.task_kind, "label": self.label,
                "kind": self.kind, "feature_sets": list(self.feature_sets),
                "explainer": self.explainer, "column": self.column, "tasks": list(self.tasks),
                "default": self.default, "inputs": list(self.inputs),
                "default_with_images": self.default_with_images}


# -- estimator builders ------------------------------------------------------
def _logistic(seed: int, fast: bool):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=0.5, max_iter=2000, random_state=seed)


def _lasso_logistic(seed: int, fast: bool):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(l1_ratio=1.0, C=0.1, solver="liblinear", max_iter=2000,
                              random_state=seed)


def _svm(seed: int, fast: bool):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    return CalibratedClassifierCV(SVC(C=1.0, kernel="rbf", gamma="scale", random_state=seed),
                                  method="sigmoid", cv=3)


def _random_forest(seed: int, fast: bool):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=40 if fast else 200, min_samples_leaf=5,
                                  max_depth=10, max_features="sqrt", n_jobs=1,
                                  random_state=seed)


def _gradient_boosting(seed: int, fast: bool):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=40 if fast else 200, learning_rate=0.05, max_depth=3, min_samples_leaf=20,
        l2_regularization=1.0, early_stopping=False, random_state=seed)


class CappedKNeighborsClassifier(ClassifierMixin, BaseEstimator):
    """k nearest neighbours with k capped at half the training patients, so a small task
    (a few dozen RAS wild-type patients in a fold) still fits instead of failing."""

    def __init__(self, n_neighbors: int = 25):
        self.n_neighbors = n_neighbors

    def fit(self, X, y):
        from sklearn.neighbors import KNeighborsClassifier

        k = int(max(1, min(self.n_neighbors, len(y) // 2)))
        self.model_ = KNeighborsClassifier(n_neighbors=k, weights="uniform").fit(X, y)
        self.classes_ = self.model_.classes_
        self.n_neighbors_used_ = k
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.model_.predict(X)


def _knn(seed: int, fast: bool):
    return CappedKNeighborsClassifier(n_neighbors=25)


def _mlp(seed: int, fast: bool):
    from crlm.models.neural import TorchMLPClassifier

    return TorchMLPClassifier(max_epochs=80 if fast else 300, patience=15 if fast else 25,
                              random_state=seed)


def _cox(seed: int, fast: bool):
    from crlm.models.survival import PenalizedCox

    return PenalizedCox(penalizer=0.1, l1_ratio=0.0)


def _lasso_cox(seed: int, fast: bool):
    from crlm.models.survival import LassoCox

    return LassoCox(alpha=0.03, l1_ratio=1.0)


def _rsf(seed: int, fast: bool):
    from sksurv.ensemble import RandomSurvivalForest

    return RandomSurvivalForest(n_estimators=25 if fast else 100, min_samples_leaf=15,
                                max_features="sqrt", n_jobs=1, low_memory=True,
                                random_state=seed)


def _gb_survival(seed: int, fast: bool):
    from sksurv.ensemble import GradientBoostingSurvivalAnalysis

    return GradientBoostingSurvivalAnalysis(
        n_estimators=40 if fast else 150, learning_rate=0.05, max_depth=3,
        min_samples_leaf=15, subsample=0.8, max_features="sqrt", random_state=seed)


def _deepsurv(seed: int, fast: bool):
    from crlm.models.neural import DeepSurv

    return DeepSurv(max_epochs=80 if fast else 300, patience=15 if fast else 25,
                    random_state=seed)


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add (or replace) a family in the registry."""
    FAMILIES[family.name] = family
    return family


for _family in (
    Family("logistic", BINARY, "Logistic regression (ridge)", build=_logistic,
           explainer="linear"),
    Family("lasso_logistic", BINARY, "Lasso logistic regression (L1)", build=_lasso_logistic,
           explainer="linear"),
    Family("svm", BINARY, "Support vector machine (RBF, sigmoid-calibrated)", build=_svm),
    Family("random_forest", BINARY, "Random forest", build=_random_forest, explainer="tree"),
    Family("gradient_boosting", BINARY, "Gradient boosting (histogram)",
           build=_gradient_boosting, explainer="tree"),
    Family("knn", BINARY, "k-nearest neighbours (k=25, fewer on small sets)", build=_knn),
    Family("mlp", BINARY, "Neural network (torch MLP)", build=_mlp),
    Family("genomic_rf", BINARY, "Random forest, genomic panel only", build=_random_forest,
           explainer="tree", feature_sets=("genomic",)),
    Family("cox", SURVIVAL, "Cox proportional hazards (ridge)", build=_cox, explainer="linear"),
    Family("lasso_cox", SURVIVAL, "Lasso Cox (L1)", build=_lasso_cox, explainer="linear"),
    Family("rsf", SURVIVAL, "Random survival forest", build=_rsf),
    Family("gb_survival", SURVIVAL, "Gradient-boosted Cox", build=_gb_survival),
    Family("deepsurv", SURVIVAL, "DeepSurv (torch)", build=_deepsurv),
    # the review's further families (crlm.models.families_review)
    Family("cart", BINARY, "Decision tree (CART, depth ≤ 3)", build=_review.cart,
           explainer="tree"),
    Family("gaussian_nb", BINARY, "Gaussian naive Bayes", build=_review.gaussian_nb),
    Family("cost_sensitive_rf", BINARY, f"Cost-sensitive random forest ({_review.COST_LABEL})",
           build=_review.cost_sensitive_rf, explainer="tree"),
    Family("lightgbm", BINARY, "LightGBM gradient-boosted trees", build=_review.lightgbm),
    Family("lightgbm_top6", BINARY, "LightGBM on its top 6 inputs (GBDT-Top6)",
           build=_review.lightgbm_top6),
    Family("mrmr_logistic", BINARY, "Logistic regression on its 6 MRMR inputs",
           build=_review.mrmr_logistic, explainer="linear"),
    Family("ft_transformer", BINARY, "Tabular Transformer (FT-Transformer, torch)",
           build=_review.ft_transformer, default=False),
    Family("elastic_net_cox", SURVIVAL, "Elastic-net Cox (L1 : L2 = 1 : 1)",
           build=_review.elastic_net_cox, explainer="linear"),
    Family("lightgbm_cox", SURVIVAL, "LightGBM Cox (gradient-boosted trees)",
           build=_review.lightgbm_cox),
    Family("lightgbm_cox_top6", SURVIVAL, "LightGBM Cox on its top 6 inputs (GBDT-Top6)",
           build=_review.lightgbm_cox_top6),
    Family("fong_score", ANY, "Fong clinical risk score", kind=kinds.CLINICAL,
           column="fong_score", explainer="none", feature_sets=("clinical",)),
    Family("game_score", ANY, "GAME score", kind=kinds.CLINICAL, column="game_score",
           explainer="none", feature_sets=("clinical",)),
    Family("mcs_score", ANY, "m-CS score", kind=kinds.CLINICAL, column="mcs_score",
           explainer="none", feature_sets=("clinical",)),
    # reads the resection margin: a comparator of the post-resection tasks only
    Family("nordlinger_score", ANY, "Nordlinger score (1996)", kind=kinds.CLINICAL,
           column="nordlinger_score", explainer="none", feature_sets=("clinical",),
           tasks=("os_after_resection", "recurrence_after_resection", "rfs_risk")),
    Family("tumour_burden_score", ANY, "Tumour burden score", kind=kinds.CLINICAL,
           column="tumour_burden_score", explainer="none", feature_sets=("clinical",)),
    Family("cea_ng_ml", ANY, "CEA (ng/mL)", kind=kinds.CLINICAL, column="cea_ng_ml",
           explainer="none", feature_sets=("clinical",)),
):
    register_family(_family)

TABULAR_FAMILIES = tuple(n for n, f in FAMILIES.items() if f.kind == kinds.TRAINED)
CLINICAL_BASELINES = tuple(n for n, f in FAMILIES.items() if f.is_clinical)


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"model family {name!r} is not one of {', '.join(FAMILIES)}") from None
