"""Test of proportional hazards for a Cox fit: R ``cox.zph(fit, transform="km")``.

Survival >= 3.0: a score test per term and GLOBAL for adding ``coef * g(t)``
terms to the fitted model, g = 1 - KM(t-) over all patients (strata ignored),
centred over the events.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._cox_partial import _CoxData
from ._dist import chi2_sf
from ._result import ResultMixin

if TYPE_CHECKING:
    from .cox import CoxResult


@dataclass(frozen=True)
class PHTestResult(ResultMixin):
    """Test of proportional hazards (R ``cox.zph``, transform "km")."""

    terms: list[str]
    chisq: np.ndarray
    df: np.ndarray
    p_value: np.ndarray
    global_chisq: float
    global_df: int
    global_p_value: float
    transform: str = "km"


def ph_test(data: _CoxData, beta: np.ndarray, names: list[str]) -> PHTestResult:
    """The test at the fitted ``beta`` on the sorted data of the fit."""
    # g(t) = 1 - KM(t-) over all patients (ignoring strata), centred over the events
    times, inv, counts = np.unique(data.time, return_inverse=True, return_counts=True)
    d = np.bincount(inv.reshape(-1), weights=data.event.astype(float), minlength=len(times))
    at_risk = len(data.time) - np.concatenate(([0], np.cumsum(counts)[:-1]))
    surv = np.cumprod(1.0 - d / at_risk)
    left = np.concatenate(([1.0], surv[:-1]))
    ttimes = 1.0 - left[inv.reshape(-1)]
    gtime = ttimes - ttimes[data.dead].mean()
    weight = np.zeros(data.n_groups)
    weight[data.gid] = gtime
    _, _, info, extra = data.derivatives(beta, (weight, weight ** 2))
    (score_a, info_a), (_, info_aa) = extra
    p = len(beta)
    imat = np.block([[info, info_a], [info_a.T, info_aa]])
    u = np.concatenate((np.zeros(p), score_a))
    chisq = np.empty(p)
    for k in range(p):
        kk = np.concatenate((np.arange(p), [p + k]))
        uk = u[kk]
        chisq[k] = float(uk @ np.linalg.solve(imat[np.ix_(kk, kk)], uk))
    glob = float(u @ np.linalg.solve(imat, u))
    df = np.ones(p, dtype=np.int64)
    return PHTestResult(list(names), chisq, df, chi2_sf(chisq, 1),
                        glob, p, float(chi2_sf(glob, p)))


def proportional_hazards_test(result: CoxResult) -> PHTestResult:
    """R ``cox.zph(fit, transform="km")`` for a :func:`crlm.stats.cox` result."""
    return result.proportional_hazards_test()
