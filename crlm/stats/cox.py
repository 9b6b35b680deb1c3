"""Cox proportional hazards model (Newton–Raphson) and the likelihood-ratio test.

Conventions (R ``survival::coxph``):

* ties: ``"efron"`` (default, as R) or ``"breslow"``;
* optional ``strata``: a separate baseline hazard per stratum;
* Wald CI ``exp(coef ± z se)`` and two-sided Wald p-values;
* ``concordance``: Harrell's C of the linear predictor within strata
  (R ``coxph()$concordance``), counted the first time it is read (a fit whose
  concordance nobody reads does not pay for it);
* the proportional-hazards test of a fit is in :mod:`crlm.stats.cox_ph_test`
  (R ``cox.zph(fit, transform="km")``); the partial likelihood and its
  derivatives in :mod:`crlm.stats._cox_partial`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ._cox_partial import _CoxData
from ._design import check_not_constant, design_matrix, drop_missing
from ._dist import chi2_sf
from ._result import ResultMixin, TermsMixin, covariance_from_information, wald_terms
from ._validate import as_event, as_levels, as_time, check_conf_level, prepare
from ._kernels import pair_totals
from ._newton import newton_maximise
from .cox_ph_test import PHTestResult, ph_test, proportional_hazards_test

__all__ = ["CoxResult", "CoxTerm", "LikelihoodRatioResult", "PHTestResult", "cox",
           "likelihood_ratio_test", "proportional_hazards_test"]


@dataclass(frozen=True)
class CoxTerm(ResultMixin):
    name: str
    coef: float
    hr: float
    se: float
    ci_lower: float
    ci_upper: float
    z: float
    p_value: float


@dataclass(frozen=True)
class CoxResult(TermsMixin, ResultMixin):
    """A fitted Cox model. ``hr`` = exp(coef) per unit of the covariate.

    ``concordance`` is counted when first read (then kept); NaN for a fit made
    with ``with_concordance=False``.
    """

    terms: list[CoxTerm]
    coefficients: np.ndarray
    covariance: np.ndarray
    log_likelihood: float
    log_likelihood_null: float
    n: int
    events: int
    ties: str
    iterations: int
    converged: bool
    conf_level: float
    stratified: bool = False
    _fit: object = field(default=None, repr=False, compare=False)
    _with_concordance: bool = field(default=True, repr=False, compare=False)

    @cached_property
    def concordance(self) -> float:
        """Harrell's C of the linear predictor within strata (R ``coxph()$concordance``)."""
        if not self._with_concordance or self._fit is None:
            return float("nan")
        conc, tied, disc = _concordance_counts(self._fit, self._fit.linear_predictor(self.coefficients))
        total = conc + disc + tied
        return float((conc + 0.5 * tied) / total) if total else float("nan")

    def likelihood_ratio(self) -> tuple[float, int, float]:
        """LR test of the model against the null model: (statistic, df, p)."""
        stat = 2 * (self.log_likelihood - self.log_likelihood_null)
        df = len(self.terms)
        return float(stat), df, float(chi2_sf(stat, df))

    def proportional_hazards_test(self) -> PHTestResult:
        """Scaled Schoenfeld residual test, R ``cox.zph(fit, transform="km")``."""
        return ph_test(self._fit, self.coefficients, self.term_names)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.pop("_fit", None)
        d.pop("_with_concordance", None)
        keys = list(d)
        at = keys.index("covariance") + 1
        d["concordance"] = self.concordance
        return {k: d[k] for k in keys[:at] + ["concordance"] + keys[at:]}


def _concordance_counts(data: _CoxData, risk: np.ndarray) -> tuple[int, int, int]:
    """(concordant, tied on risk, discordant) pair counts within strata; higher risk = shorter."""
    conc = tied = disc = 0
    s = data.strata
    bounds = np.concatenate(([0], np.flatnonzero(s[1:] != s[:-1]) + 1, [len(s)]))
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # rows are sorted by stratum, then time
        gid, event = data.gid[lo:hi], data.event[lo:hi]
        # time keys: 2 per tied-time group in increasing time, a censoring after an event
        key = np.subtract(gid[-1], gid)
        key *= 2
        key += ~event
        lower, equal, higher = pair_totals(key, 2 * int(gid[-1] - gid[0] + 1), event, risk[lo:hi])
        conc += lower
        tied += equal
        disc += higher
    return conc, tied, disc


def cox(time, event, covariates, ties: str = "efron", strata=None, conf_level: float = 0.95,
        *, dropna: bool = False, max_iter: int = 50, with_concordance: bool = True) -> CoxResult:
    """Fit a Cox model by Newton–Raphson with step halving (see module doc).

    ``covariates``: 2-D array (terms ``x1, x2, ...``), 1-D array, or a pandas
    DataFrame (column names become term names). Raises ``ValueError`` when there
    are no events or a covariate is constant. Monotone likelihood (a covariate
    that separates events perfectly) gives a large coefficient with
    ``converged`` False after ``max_iter`` steps, as R warns.
    The concordance is counted only when ``concordance`` is first read;
    ``with_concordance=False`` makes it NaN.
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    conf_level = check_conf_level(conf_level)
    x, names = design_matrix(covariates)
    a = prepare(dropna=False, time=time, event=event, strata=strata)
    x, a = drop_missing(x, names, a, dropna, "time/event/strata")
    t, e = as_time(a["time"]), as_event(a["event"])
    if len(t) == 0:
        raise ValueError("time is empty: at least one patient is needed")
    if not e.any():
        raise ValueError("no events: a Cox model needs at least one event")
    check_not_constant(x, names)
    s = as_levels(a["strata"], "strata")[0] if "strata" in a else np.zeros(len(t), np.int64)
    means = x.mean(axis=0)
    stratified = "strata" in a
    data = _CoxData(t, e, x - means, s, ties == "efron")
    p = x.shape[1]
    with data.fitting():
        fit = newton_maximise(data, p, max_iter)
    beta, loglik, loglik_null = fit.beta, fit.loglik, fit.loglik_null
    info, iterations, converged = fit.info, fit.iterations, fit.converged
    cov, se = covariance_from_information(info)
    terms = wald_terms(CoxTerm, names, beta, se, conf_level)
    return CoxResult(terms, beta, cov, float(loglik), float(loglik_null),
                     int(len(t)), int(e.sum()), ties, iterations, converged, conf_level,
                     stratified=stratified, _fit=data, _with_concordance=with_concordance)


@dataclass(frozen=True)
class LikelihoodRatioResult(ResultMixin):
    statistic: float
    df: int
    p_value: float


def likelihood_ratio_test(full: CoxResult, reduced: CoxResult) -> LikelihoodRatioResult:
    """LR test of nested models fitted on the same patients: 2 (ll_full - ll_reduced).

    Takes two Cox results or two logistic results (``crlm.stats.logistic``)."""
    if full.n != reduced.n or full.events != reduced.events:
        raise ValueError(
            f"models must be fitted on the same patients: full has n={full.n}, events={full.events}; "
            f"reduced has n={reduced.n}, events={reduced.events}")
    df = len(full.terms) - len(reduced.terms)
    if df <= 0:
        raise ValueError(f"full model must have more terms than reduced ({len(full.terms)} vs {len(reduced.terms)})")
    stat = max(2 * (full.log_likelihood - reduced.log_likelihood), 0.0)
    return LikelihoodRatioResult(float(stat), int(df), float(chi2_sf(stat, df)))
