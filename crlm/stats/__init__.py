"""Survival and diagnostic statistics as pure functions on array-likes.

Every function validates its input (missing values rejected unless
``dropna=True``, non-negative times, 0/1 events, equal lengths) and returns a
frozen dataclass with ``to_dict()``. Conventions and the references each
function was checked against are in ``docs/statistics.md``.
"""
from .calibration import (
    CalibrationResult,
    NetBenefitResult,
    brier,
    calibration,
    net_benefit,
)
from .concordance import (
    ConcordanceResult,
    TimeDependentAUCResult,
    concordance_index,
    time_dependent_auc,
)
from .cox import (
    CoxResult,
    CoxTerm,
    LikelihoodRatioResult,
    PHTestResult,
    cox,
    likelihood_ratio_test,
    proportional_hazards_test,
)
from .diagnostic import (
    DeLongTestResult,
    DiagnosticMetrics,
    ROCResult,
    delong_test,
    diagnostic_metrics,
    roc,
    wilson_interval,
)
from .logistic import (
    LogisticResult,
    LogisticTerm,
    UnpairedAUCTestResult,
    logistic,
    unpaired_auc_test,
)
from .logrank_test import LogrankResult, logrank
from ._sort import ascending_order
from .restricted_mean import RMSTGroup, RMSTResult, rmst
from .subgroups import SubgroupEffect, SubgroupResult, monotone_likelihood, subgroup_effects
from .survival import (
    FollowUpResult,
    KMResult,
    LandmarkResult,
    SurvivalAtResult,
    kaplan_meier,
    kaplan_meier_by,
    landmark_survival,
    median_follow_up,
    number_at_risk,
)

__all__ = [
    "CalibrationResult", "ConcordanceResult", "CoxResult", "CoxTerm", "DeLongTestResult",
    "DiagnosticMetrics", "FollowUpResult", "KMResult", "LandmarkResult", "LikelihoodRatioResult",
    "LogisticResult", "LogisticTerm", "LogrankResult", "NetBenefitResult", "PHTestResult",
    "RMSTGroup", "RMSTResult", "ROCResult", "SubgroupEffect", "SubgroupResult",
    "SurvivalAtResult", "TimeDependentAUCResult", "UnpairedAUCTestResult",
    "ascending_order", "brier", "calibration", "concordance_index", "cox", "delong_test", "diagnostic_metrics",
    "kaplan_meier", "kaplan_meier_by", "landmark_survival", "likelihood_ratio_test", "logistic",
    "logrank", "median_follow_up", "monotone_likelihood", "net_benefit", "number_at_risk",
    "proportional_hazards_test",
    "rmst", "roc", "subgroup_effects", "time_dependent_auc", "unpaired_auc_test",
    "wilson_interval",
]
