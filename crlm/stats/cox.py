"""Cox proportional hazards model (Newton–Raphson), LR test, scaled-Schoenfeld PH test.

Conventions (R ``survival::coxph``):

* ties: ``"efron"`` (default, as R) or ``"breslow"``;
* optional ``strata``: a separate baseline hazard per stratum;
* Wald CI ``exp(coef ± z se)`` and two-sided Wald p-values;
* ``concordance``: Harrell's C of the linear predictor within strata
  (R ``coxph()$concordance``);
* ``proportional_hazards_test`` is R ``cox.zph(fit, transform="km")``
  (survival >= 3.0): a score test per term and GLOBAL for adding
  ``coef * g(t)`` terms, g = 1 - KM(t-) centred over the events.

After one sort by (stratum, decreasing time) every Newton step is a handful of
vectorised passes (cumulative sums over the risk sets), O(n p^2).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._dist import chi2_sf, norm_sf, z_quantile
from ._result import ResultMixin, TermsMixin
from ._validate import as_event, as_levels, as_time, check_conf_level, prepare
from .concordance import _jit, pair_counts


@_jit
def _group_sums(x, beta, gid, event, n_groups):  # pragma: no cover - compiled
    """One pass over the sorted rows: per group the sums of w, w x, w x x' over all rows
    and over the deaths, w = exp(x beta - max). Returns the max as well."""
    n, p = x.shape
    eta = np.empty(n)
    top = -np.inf
    for i in range(n):
        v = 0.0
        for k in range(p):
            v += x[i, k] * beta[k]
        eta[i] = v
        if v > top:
            top = v
    w_g = np.zeros(n_groups)
    wx_g = np.zeros((n_groups, p))
    wxx_g = np.zeros((n_groups, p, p))
    d0 = np.zeros(n_groups)
    d1 = np.zeros((n_groups, p))
    d2 = np.zeros((n_groups, p, p))
    for i in range(n):
        g = gid[i]
        w = np.exp(eta[i] - top)
        w_g[g] += w
        for k in range(p):
            wx_g[g, k] += w * x[i, k]
            for m in range(k, p):
                wxx_g[g, k, m] += w * x[i, k] * x[i, m]
        if event[i]:
            d0[g] += w
            for k in range(p):
                d1[g, k] += w * x[i, k]
                for m in range(k, p):
                    d2[g, k, m] += w * x[i, k] * x[i, m]
    return top, w_g, wx_g, wxx_g, d0, d1, d2


@_jit
def _event_terms(s0, s1, d0, d1, ev_groups, n_dead, efron, weight):  # pragma: no cover - compiled
    """Sums over event times (and Efron's sub-steps) of the Cox partial likelihood.

    Per event group g with d deaths, risk-set sums s0/s1 and death sums d0/d1,
    sub-step l (0..d-1) has denominator s0 - f d0 and mean s1 - f d1 over it,
    f = l/d (Efron) or 0 (Breslow). Returns sum log(den), sum of means,
    sum of weight * mean mean', and per group sum weight/den, sum weight f/den,
    and sum weight * mean (for the weighted score).
    """
    p = s1.shape[1]
    n_groups = s0.shape[0]
    log_sum = 0.0
    mean_sum = np.zeros(p)
    outer = np.zeros((p, p))
    c_g = np.zeros(n_groups)
    e_g = np.zeros(n_groups)
    wmean = np.zeros(p)
    mean = np.zeros(p)
    for idx in range(ev_groups.shape[0]):
        g = ev_groups[idx]
        d = n_dead[idx]
        a = weight[g]
        for l in range(d):
            f = l / d if efron else 0.0
            den = s0[g] - f * d0[g]
            log_sum += np.log(den)
            c_g[g] += a / den
            e_g[g] += a * f / den
            for k in range(p):
                mean[k] = (s1[g, k] - f * d1[g, k]) / den
                mean_sum[k] += mean[k]
                wmean[k] += a * mean[k]
            for k in range(p):
                for m in range(p):
                    outer[k, m] += a * mean[k] * mean[m]
    return log_sum, mean_sum, outer, c_g, e_g, wmean


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


@dataclass(frozen=True)
class CoxResult(TermsMixin, ResultMixin):
    """A fitted Cox model. ``hr`` = exp(coef) per unit of the covariate."""

    terms: list[CoxTerm]
    coefficients: np.ndarray
    covariance: np.ndarray
    concordance: float
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

    def likelihood_ratio(self) -> tuple[float, int, float]:
        """LR test of the model against the null model: (statistic, df, p)."""
        stat = 2 * (self.log_likelihood - self.log_likelihood_null)
        df = len(self.terms)
        return float(stat), df, float(chi2_sf(stat, df))

    def proportional_hazards_test(self) -> PHTestResult:
        """Scaled Schoenfeld residual test, R ``cox.zph(fit, transform="km")``."""
        return self._fit.zph(self.coefficients, self.term_names)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.pop("_fit", None)
        return d


class _CoxData:
    """Data sorted by (stratum, decreasing time), with risk-set bookkeeping.

    Rows sharing (stratum, time) form a "group"; per Newton step the row-level
    work is one exp and a few segment sums, the rest is on groups and events.
    """

    def __init__(self, time, event, x, strata, efron: bool):
        n, p = x.shape
        if np.all(strata == strata[0]):
            order = np.argsort(-time, kind="stable")
        else:
            order = np.lexsort((-time, strata))
        self.order = order
        t, e, s = time[order], event[order], strata[order]
        xs = x[order]
        self.xrows = np.ascontiguousarray(xs, dtype=np.float64)
        self.cols = [np.ascontiguousarray(xs[:, k]) for k in range(p)]
        self.time, self.event, self.strata = t, e, s
        self.p = p
        new_group = np.ones(n, dtype=bool)
        new_group[1:] = (t[1:] != t[:-1]) | (s[1:] != s[:-1])
        self.gstart = np.flatnonzero(new_group)
        self.gid = np.cumsum(new_group) - 1
        n_groups = len(self.gstart)
        self.n_groups = n_groups
        gs = s[self.gstart]
        new_s = np.ones(n_groups, dtype=bool)
        new_s[1:] = gs[1:] != gs[:-1]
        s_starts = np.flatnonzero(new_s)
        s_ends = np.concatenate((s_starts[1:], [n_groups])) - 1
        s_index = np.cumsum(new_s) - 1
        self.g_first = s_starts[s_index]  # first group of each group's stratum
        self.g_last = s_ends[s_index]  # last group of each group's stratum
        self.dead = np.flatnonzero(e)
        self.dead_gid = self.gid[self.dead]
        self.dead_cols = [c[self.dead] for c in self.cols]
        d_g = np.bincount(self.dead_gid, minlength=n_groups)
        self.ev_groups = np.flatnonzero(d_g).astype(np.int64)
        self.n_dead_g = d_g[self.ev_groups].astype(np.int64)
        self.n_events = int(len(self.dead))
        self.efron = bool(efron)
        self.ones = np.ones(n_groups)
        self.x_dead_sum = np.array([c.sum() for c in self.dead_cols])
        self.pairs = [(k, m) for k in range(p) for m in range(k, p)]

    def _risk(self, group_sum: np.ndarray) -> np.ndarray:
        """Risk-set totals per group: sum over groups from the stratum start to it."""
        c = np.concatenate(([0.0], np.cumsum(group_sum)))
        return c[1:] - c[self.g_first]

    def _tail(self, group_value: np.ndarray) -> np.ndarray:
        """Per group, the sum of ``group_value`` over this and later groups of the stratum."""
        rc = np.concatenate((np.cumsum(group_value[::-1])[::-1], [0.0]))
        return rc[:-1] - rc[self.g_last + 1]

    def linear_predictor(self, beta: np.ndarray) -> np.ndarray:
        eta = np.zeros(len(self.time))
        for k, c in enumerate(self.cols):
            eta += beta[k] * c
        return eta

    def derivatives(self, beta: np.ndarray, group_weights: tuple = ()):
        """Log partial likelihood, score and information at ``beta``.

        With ``group_weights`` (one array per weight, values per group) also
        returns, for each weight a, the a-weighted score and information sums
        used by the proportional-hazards test.
        """
        p = self.p
        shift, w_g, wx_g, wxx_g, d0, d1, d2 = _group_sums(
            self.xrows, np.ascontiguousarray(beta, dtype=np.float64), self.gid, self.event,
            self.n_groups)
        s0 = self._risk(w_g)
        s1 = np.column_stack([self._risk(wx_g[:, k]) for k in range(p)])
        wxx = {(k, m): wxx_g[:, k, m] for k, m in self.pairs}
        wdxx = {(k, m): d2[:, k, m] for k, m in self.pairs}
        eta_dead_sum = float(sum(beta[k] * self.x_dead_sum[k] for k in range(p)))
        log_sum, mean_sum, outer, c_g, e_g, _ = _event_terms(
            s0, s1, d0, d1, self.ev_groups, self.n_dead_g, self.efron, self.ones)
        loglik = eta_dead_sum - self.n_events * shift - float(log_sum)
        score = self.x_dead_sum - mean_sum
        info = self._info(c_g, e_g, outer, wxx, wdxx)
        if not group_weights:
            return loglik, score, info
        extra = []
        for a in group_weights:
            _, _, outer_a, c_a, e_a, wmean = _event_terms(
                s0, s1, d0, d1, self.ev_groups, self.n_dead_g, self.efron, a)
            score_a = np.array([np.sum(a[self.dead_gid] * c) for c in self.dead_cols]) - wmean
            extra.append((score_a, self._info(c_a, e_a, outer_a, wxx, wdxx)))
        return loglik, score, info, extra

    def _info(self, c_g, e_g, outer, wxx, wdxx):
        c_tail = self._tail(c_g)
        info = np.empty((self.p, self.p))
        for k, m in self.pairs:
            info[k, m] = info[m, k] = (np.dot(c_tail, wxx[(k, m)]) - np.dot(e_g, wdxx[(k, m)])
                                       - outer[k, m])
        return info

    def zph(self, beta: np.ndarray, names: list[str]) -> PHTestResult:
        # g(t) = 1 - KM(t-) over all patients (ignoring strata), centred over the events
        times, inv, counts = np.unique(self.time, return_inverse=True, return_counts=True)
        d = np.bincount(inv.reshape(-1), weights=self.event.astype(float), minlength=len(times))
        at_risk = len(self.time) - np.concatenate(([0], np.cumsum(counts)[:-1]))
        surv = np.cumprod(1.0 - d / at_risk)
        left = np.concatenate(([1.0], surv[:-1]))
        ttimes = 1.0 - left[inv.reshape(-1)]
        gtime = ttimes - ttimes[self.dead].mean()
        weight = np.zeros(self.n_groups)
        weight[self.gid] = gtime
        _, _, info, extra = self.derivatives(beta, (weight, weight ** 2))
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


def _concordance_counts(data: _CoxData, risk: np.ndarray) -> tuple[int, int, int]:
    """(concordant, tied on risk, discordant) pair counts within strata; higher risk = shorter."""
    conc = tied = disc = 0
    s = data.strata
    bounds = np.concatenate(([0], np.flatnonzero(s[1:] != s[:-1]) + 1, [len(s)]))
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # rows are sorted by stratum, then time
        lower, equal, higher = pair_counts(data.time[lo:hi], data.event[lo:hi], risk[lo:hi],
                                           order=np.arange(hi - lo))
        conc += int(lower.sum())
        tied += int(equal.sum())
        disc += int(higher.sum())
    return conc, tied, disc


def _design(covariates, n_expected: int | None = None) -> tuple[np.ndarray, list[str]]:
    if isinstance(covariates, pd.Series):
        covariates = covariates.to_frame()
    if isinstance(covariates, pd.DataFrame):
        names = [str(c) for c in covariates.columns]
        try:
            x = covariates.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            bad = [c for c in covariates.columns if not pd.api.types.is_numeric_dtype(covariates[c])
                   and not pd.api.types.is_bool_dtype(covariates[c])]
            raise ValueError(f"covariates must be numeric; non-numeric column(s): {bad}") from None
    else:
        x = np.asarray(covariates, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise ValueError(f"covariates must be 1-D or 2-D, got shape {x.shape}")
        names = [f"x{k + 1}" for k in range(x.shape[1])]
    if x.shape[1] == 0:
        raise ValueError("covariates has no columns")
    return x, names


def _solve(info: np.ndarray, score: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(info, score)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(info, score, rcond=None)[0]


def cox(time, event, covariates, ties: str = "efron", strata=None, conf_level: float = 0.95,
        *, dropna: bool = False, max_iter: int = 50, with_concordance: bool = True) -> CoxResult:
    """Fit a Cox model by Newton–Raphson with step halving (see module doc).

    ``covariates``: 2-D array (terms ``x1, x2, ...``), 1-D array, or a pandas
    DataFrame (column names become term names). Raises ``ValueError`` when there
    are no events or a covariate is constant. Monotone likelihood (a covariate
    that separates events perfectly) gives a large coefficient with
    ``converged`` False after ``max_iter`` steps, as R warns.
    ``with_concordance=False`` skips the O(n log n) concordance count (then NaN),
    for callers that fit many models and do not report it.
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    conf_level = check_conf_level(conf_level)
    x, names = _design(covariates)
    a = prepare(dropna=False, time=time, event=event, strata=strata)
    n_rows = len(a["time"])
    if x.shape[0] != n_rows:
        raise ValueError(f"covariates has {x.shape[0]} rows but time has length {n_rows}")
    missing = np.isnan(x).any(axis=1)
    for arr in a.values():
        if arr.dtype.kind in "fc":
            missing |= np.isnan(arr)
        elif arr.dtype.kind == "O":
            missing |= np.asarray(pd.isna(arr), dtype=bool)
    if missing.any():
        if not dropna:
            cols = [names[k] for k in range(x.shape[1]) if np.isnan(x[:, k]).any()]
            where = f"covariates {cols}" if cols else "time/event/strata"
            raise ValueError(f"{where} have {int(missing.sum())} row(s) with missing values; "
                             "remove them or pass dropna=True")
        keep = ~missing
        x = x[keep]
        a = {k: v[keep] for k, v in a.items()}
    t, e = as_time(a["time"]), as_event(a["event"])
    if len(t) == 0:
        raise ValueError("time is empty: at least one patient is needed")
    if not e.any():
        raise ValueError("no events: a Cox model needs at least one event")
    sd = x.std(axis=0)
    const = [names[k] for k in np.flatnonzero(sd == 0)]
    if const:
        raise ValueError(f"covariate(s) {const} are constant; remove them from the model")
    s = as_levels(a["strata"], "strata")[0] if "strata" in a else np.zeros(len(t), np.int64)
    means = x.mean(axis=0)
    stratified = "strata" in a
    data = _CoxData(t, e, x - means, s, ties == "efron")
    p = x.shape[1]
    beta = np.zeros(p)
    loglik, score, info = data.derivatives(beta)
    loglik_null = loglik
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):
        step = _solve(info, score)
        halvings = 0
        while True:
            new_beta = beta + step
            new_loglik, new_score, new_info = data.derivatives(new_beta)
            if np.isfinite(new_loglik) and new_loglik >= loglik - 1e-12 * abs(loglik):
                break
            halvings += 1
            step = step / 2
            if halvings > 30:
                break
        change = abs(new_loglik - loglik)
        beta, loglik, score, info = new_beta, new_loglik, new_score, new_info
        if change <= 1e-13 * max(abs(loglik), 1.0) or np.max(np.abs(step)) < 1e-12:
            converged = True
            break
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.linalg.pinv(info)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    z = z_quantile(conf_level)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        zstat = beta / se
        terms = [
            CoxTerm(names[k], float(beta[k]), float(np.exp(beta[k])), float(se[k]),
                    float(np.exp(beta[k] - z * se[k])), float(np.exp(beta[k] + z * se[k])),
                    float(zstat[k]), float(2 * norm_sf(abs(zstat[k]))))
            for k in range(p)
        ]
    # concordance of the linear predictor, within strata (rows already sorted by time)
    if with_concordance:
        conc, tied, disc = _concordance_counts(data, data.linear_predictor(beta))
    else:
        conc = tied = disc = 0
    total = conc + disc + tied
    concordance = (conc + 0.5 * tied) / total if total else float("nan")
    return CoxResult(terms, beta, cov, float(concordance), float(loglik), float(loglik_null),
                     int(len(t)), int(e.sum()), ties, iterations, converged, conf_level,
                     stratified=stratified, _fit=_ZPH(data))


class _ZPH:
    """Keeps the sorted data of a fit for the proportional-hazards test."""

    def __init__(self, data: _CoxData):
        self.data = data

    def zph(self, beta, names):
        return self.data.zph(beta, names)


def proportional_hazards_test(result: CoxResult) -> PHTestResult:
    """R ``cox.zph(fit, transform="km")`` for a :func:`cox` result."""
    return result.proportional_hazards_test()


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
