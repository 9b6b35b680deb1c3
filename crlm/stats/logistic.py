"""Logistic regression (maximum likelihood), Wald intervals, and the unpaired AUC test.

Conventions (R ``glm(y ~ x, family = binomial)``):

* an intercept is always fitted; it is reported apart from the covariate terms;
* Newton–Raphson (= IRLS for the canonical link) from zero, with step halving,
  until the relative change of the log-likelihood is below 1e-12;
* standard errors from the inverse observed information at the estimate;
* ``ci_lower`` / ``ci_upper``: Wald ``exp(coef ± z se)`` on the odds-ratio scale
  (R ``exp(confint.default(fit))``; R's ``confint(fit)`` gives profile-likelihood
  intervals instead, which differ in small samples);
* two-sided Wald p-values (R ``summary(fit)``);
* nested models are compared with :func:`crlm.stats.likelihood_ratio_test`
  (R ``anova(reduced, full, test = "LRT")``).

Complete or quasi-complete separation (a covariate that predicts the outcome
perfectly) has no finite maximum-likelihood estimate: the fit then reports
``separation=True`` (R warns "fitted probabilities numerically 0 or 1
occurred") and its estimates and intervals must not be read.

:func:`unpaired_auc_test` compares two AUCs measured on different patients as
pROC ``roc.test(roc_a, roc_b, method = "delong", paired = FALSE)`` does:
``D = (AUC_a - AUC_b) / sqrt(V_a + V_b)`` with DeLong variances, referred to
Student's t with Welch–Satterthwaite degrees of freedom
``(V_a + V_b)^2 / (V_a^2 / (n_a - 1) + V_b^2 / (n_b - 1))`` (n = patients per curve).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scipy import special

from ._design import check_not_constant, design_matrix, drop_missing
from ._result import ResultMixin, TermsMixin, covariance_from_information, wald_terms
from ._validate import as_event, check_conf_level, prepare

SEPARATION_EPS = 1e-8  # a fitted probability this close to 0 or 1 flags separation


@dataclass(frozen=True)
class LogisticTerm(ResultMixin):
    """One coefficient: ``odds_ratio`` = exp(coef) per unit of the covariate."""

    name: str
    coef: float
    odds_ratio: float
    se: float
    ci_lower: float
    ci_upper: float
    z: float
    p_value: float


@dataclass(frozen=True)
class LogisticResult(TermsMixin, ResultMixin):
    """A fitted logistic regression (see module doc)."""

    terms: list[LogisticTerm]
    intercept: LogisticTerm
    coefficients: np.ndarray          # covariate coefficients (intercept apart)
    covariance: np.ndarray            # of (intercept, covariates)
    log_likelihood: float
    log_likelihood_null: float
    deviance: float
    null_deviance: float
    n: int
    events: int
    iterations: int
    converged: bool
    separation: bool
    conf_level: float

    @property
    def aic(self) -> float:
        return float(self.deviance + 2 * (len(self.terms) + 1))


def _loglik(y: np.ndarray, eta: np.ndarray) -> float:
    # log p = -log(1 + e^-eta), log(1 - p) = -log(1 + e^eta), both computed stably
    return float(-np.sum(np.where(y, np.logaddexp(0.0, -eta), np.logaddexp(0.0, eta))))


def _null_loglik(y: np.ndarray) -> float:
    k, n = float(y.sum()), float(len(y))
    if k in (0.0, n):
        return 0.0
    return float(k * np.log(k / n) + (n - k) * np.log(1 - k / n))


def logistic(y, covariates, conf_level: float = 0.95, *, dropna: bool = False,
             max_iter: int = 100) -> LogisticResult:
    """Fit ``logit P(y = 1) = b0 + x b`` by maximum likelihood (see module doc).

    ``y``: 0/1 or boolean. ``covariates``: 2-D array (terms ``x1, x2, ...``),
    1-D array, or a DataFrame (column names become term names). Rows with a
    missing value raise ``ValueError`` unless ``dropna=True``. A constant
    covariate, or an outcome with one class only, raises ``ValueError``.
    """
    conf_level = check_conf_level(conf_level)
    x, names = design_matrix(covariates)
    x, a = drop_missing(x, names, prepare(dropna=False, y=y), dropna, "y")
    yb = as_event(a["y"], "y")
    n, events = len(yb), int(yb.sum())
    if n == 0:
        raise ValueError("y is empty: at least one patient is needed")
    if events in (0, n):
        which = "no positive" if events == 0 else "no negative"
        raise ValueError(f"y has {which} outcomes: logistic regression needs both classes")
    check_not_constant(x, names)
    design = np.column_stack([np.ones(n), x])
    yf = yb.astype(float)
    beta = np.zeros(design.shape[1])
    eta = design @ beta
    loglik = _loglik(yb, eta)
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):
        p = special.expit(eta)
        w = p * (1 - p)
        score = design.T @ (yf - p)
        info = design.T @ (design * w[:, None])
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, score, rcond=None)[0]
        for _ in range(40):
            new_beta = beta + step
            new_eta = design @ new_beta
            new_loglik = _loglik(yb, new_eta)
            if np.isfinite(new_loglik) and new_loglik >= loglik - 1e-12 * abs(loglik):
                break
            step = step / 2
        change = abs(new_loglik - loglik)
        beta, eta, loglik = new_beta, new_eta, new_loglik
        if change <= 1e-12 * max(abs(loglik), 1.0):
            converged = True
            break
    p = special.expit(eta)
    w = p * (1 - p)
    info = design.T @ (design * w[:, None])
    cov, se = covariance_from_information(info)
    separation = bool(np.any(p < SEPARATION_EPS) or np.any(p > 1 - SEPARATION_EPS))
    all_terms = wald_terms(LogisticTerm, ["(Intercept)"] + names, beta, se, conf_level)
    null = _null_loglik(yb)
    return LogisticResult(all_terms[1:], all_terms[0], beta[1:].copy(), cov, float(loglik),
                          float(null), float(-2 * loglik), float(-2 * null), int(n), events,
                          iterations, converged, separation, conf_level)


@dataclass(frozen=True)
class UnpairedAUCTestResult(ResultMixin):
    """``statistic`` = D, ``df`` its t degrees of freedom; ``ci_lower``/``ci_upper``: the
    difference ± the t quantile × its standard error."""

    auc_a: float
    auc_b: float
    difference: float
    se: float
    statistic: float
    df: float
    p_value: float
    ci_lower: float
    ci_upper: float
    conf_level: float


def unpaired_auc_test(roc_a, roc_b, conf_level: float = 0.95) -> UnpairedAUCTestResult:
    """Two AUCs from different patients (two :func:`roc` results with DeLong ``auc_se``):
    pROC's unpaired DeLong test of their difference (see module doc)."""
    conf_level = check_conf_level(conf_level)
    a, b = float(roc_a.auc), float(roc_b.auc)
    va, vb = float(roc_a.auc_se) ** 2, float(roc_b.auc_se) ** 2
    se = float(np.sqrt(va + vb))
    diff = a - b
    nan = float("nan")
    if not np.isfinite(se) or se == 0:
        return UnpairedAUCTestResult(a, b, diff, se, nan, nan, nan, nan, nan, conf_level)
    df = (va + vb) ** 2 / (va ** 2 / (roc_a.n - 1) + vb ** 2 / (roc_b.n - 1))
    stat = diff / se
    p = float(2 * special.stdtr(df, -abs(stat)))
    q = float(special.stdtrit(df, 1 - (1 - conf_level) / 2))
    return UnpairedAUCTestResult(a, b, diff, se, float(stat), float(df), p,
                                 diff - q * se, diff + q * se, conf_level)
