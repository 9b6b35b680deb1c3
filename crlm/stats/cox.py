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
from scipy import stats as _sps

from ._result import ResultMixin
from ._validate import as_event, as_levels, as_time, check_conf_level, prepare
from .concordance import pair_counts


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
class CoxResult(ResultMixin):
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

    @property
    def term_names(self) -> list[str]:
        return [t.name for t in self.terms]

    def term(self, name: str) -> CoxTerm:
        for t in self.terms:
            if t.name == name:
                return t
        raise ValueError(f"no term {name!r} in this model; terms are {self.term_names}")

    def likelihood_ratio(self) -> tuple[float, int, float]:
        """LR test of the model against the null model: (statistic, df, p)."""
        stat = 2 * (self.log_likelihood - self.log_likelihood_null)
        df = len(self.terms)
        return float(stat), df, float(_sps.chi2.sf(stat, df))

    def proportional_hazards_test(self) -> PHTestResult:
        """Scaled Schoenfeld residual test, R ``cox.zph(fit, transform="km")``."""
        return self._fit.zph(self.coefficients, self.term_names)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.pop("_fit", None)
        return d


class _CoxData:
    """Data sorted by (stratum, decreasing time) with risk-set bookkeeping."""

    def __init__(self, time, event, x, strata, efron: bool):
        n = len(time)
        order = np.lexsort((-time, strata))
        self.order = order
        t, e, s = time[order], event[order], strata[order]
        self.x = np.ascontiguousarray(x[order])
        self.time, self.event, self.strata = t, e, s
        new_group = np.ones(n, dtype=bool)
        new_group[1:] = (t[1:] != t[:-1]) | (s[1:] != s[:-1])
        gstart = np.flatnonzero(new_group)
        self.gid = np.cumsum(new_group) - 1
        n_groups = len(gstart)
        self.gend = np.concatenate((gstart[1:], [n])) - 1
        new_stratum = np.ones(n, dtype=bool)
        new_stratum[1:] = s[1:] != s[:-1]
        sstart_row = np.maximum.accumulate(np.where(new_stratum, np.arange(n), 0))
        self.g_before = sstart_row[gstart] - 1  # last row index before the stratum (-1 = none)
        # last group of each group's stratum, for per-stratum reverse cumulative sums
        sgroup_start = np.maximum.accumulate(np.where(new_stratum[gstart], np.arange(n_groups), 0))
        last = np.empty(n_groups, dtype=np.int64)
        starts = np.flatnonzero(new_stratum[gstart])
        ends = np.concatenate((starts[1:], [n_groups])) - 1
        last[:] = ends[np.searchsorted(starts, sgroup_start)]
        self.g_last = last
        self.n_groups = n_groups
        self.dead = np.flatnonzero(e)
        self.dead_gid = self.gid[self.dead]
        d_g = np.bincount(self.dead_gid, minlength=n_groups)
        ev_groups = np.flatnonzero(d_g)
        dd = d_g[ev_groups]
        self.entry_g = np.repeat(ev_groups, dd)
        if efron:
            pos = np.arange(len(self.entry_g)) - np.repeat(np.cumsum(dd) - dd, dd)
            self.frac = pos / np.repeat(dd, dd).astype(float)
        else:
            self.frac = np.zeros(len(self.entry_g))
        self.x_dead_sum = self.x[self.dead].sum(axis=0)

    def _risk_sums(self, cum: np.ndarray) -> np.ndarray:
        """Risk-set totals per group from a cumulative sum over sorted rows."""
        tot = cum[self.gend]
        before = np.where(self.g_before[:, None] >= 0 if cum.ndim == 2 else self.g_before >= 0,
                          cum[np.maximum(self.g_before, 0)], 0.0)
        return tot - before

    def derivatives(self, beta: np.ndarray, group_weight: np.ndarray | None = None,
                    need_info: bool = True):
        """Log partial likelihood, score, information; with ``group_weight`` also the
        weighted score / information pieces used by the PH test."""
        x = self.x
        eta = x @ beta
        eta_dead = eta[self.dead]
        shift = eta.max() if len(eta) else 0.0
        w = np.exp(eta - shift)
        wx = w[:, None] * x
        s0 = self._risk_sums(np.cumsum(w))
        s1 = self._risk_sums(np.cumsum(wx, axis=0))
        wd = w[self.dead]
        d0 = np.bincount(self.dead_gid, weights=wd, minlength=self.n_groups)
        p = x.shape[1]
        d1 = np.empty((self.n_groups, p))
        for k in range(p):
            d1[:, k] = np.bincount(self.dead_gid, weights=wx[self.dead, k], minlength=self.n_groups)
        g, f = self.entry_g, self.frac
        den = s0[g] - f * d0[g]
        num = s1[g] - f[:, None] * d1[g]
        loglik = float(eta_dead.sum() - len(g) * shift - np.log(den).sum())
        xbar = num / den[:, None]
        score = self.x_dead_sum - xbar.sum(axis=0)
        if not need_info:
            return loglik, score, None
        info = self._info(w, den, xbar, None)
        if group_weight is None:
            return loglik, score, info
        a = group_weight[g]
        score_a = (group_weight[self.dead_gid][:, None] * x[self.dead]).sum(axis=0) - (a[:, None] * xbar).sum(axis=0)
        info_a = self._info(w, den, xbar, group_weight)
        info_aa = self._info(w, den, xbar, group_weight ** 2)
        return loglik, score, info, score_a, info_a, info_aa

    def _info(self, w, den, xbar, group_weight):
        g, f = self.entry_g, self.frac
        inv = 1.0 / den
        a = np.ones(len(g)) if group_weight is None else group_weight[g]
        c_g = np.bincount(g, weights=a * inv, minlength=self.n_groups)
        e_g = np.bincount(g, weights=a * f * inv, minlength=self.n_groups)
        rc = np.concatenate((np.cumsum(c_g[::-1])[::-1], [0.0]))
        c_row = rc[self.gid] - rc[self.g_last[self.gid] + 1]
        row_w = w * c_row
        row_w[self.dead] -= w[self.dead] * e_g[self.dead_gid]
        x = self.x
        info = (x * row_w[:, None]).T @ x - (xbar * a[:, None]).T @ xbar
        return info

    def zph(self, beta: np.ndarray, names: list[str]) -> PHTestResult:
        # g(t) = 1 - KM(t-) over all patients, centred over the events
        t_all, e_all = self.time, self.event
        times, inv, counts = np.unique(t_all, return_inverse=True, return_counts=True)
        d = np.bincount(inv.reshape(-1), weights=e_all.astype(float), minlength=len(times))
        at_risk = len(t_all) - np.concatenate(([0], np.cumsum(counts)[:-1]))
        surv = np.cumprod(1.0 - d / at_risk)
        left = np.concatenate(([1.0], surv[:-1]))
        ttimes = 1.0 - left[inv.reshape(-1)]
        gtime = ttimes - ttimes[self.dead].mean()
        group_weight = np.zeros(self.n_groups)
        group_weight[self.gid] = gtime
        _, _, info, score_a, info_a, info_aa = self.derivatives(beta, group_weight)
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
        return PHTestResult(list(names), chisq, df, _sps.chi2.sf(chisq, 1),
                            glob, p, float(_sps.chi2.sf(glob, p)))


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
        *, dropna: bool = False, max_iter: int = 50) -> CoxResult:
    """Fit a Cox model by Newton–Raphson with step halving (see module doc).

    ``covariates``: 2-D array (terms ``x1, x2, ...``), 1-D array, or a pandas
    DataFrame (column names become term names). Raises ``ValueError`` when there
    are no events or a covariate is constant. Monotone likelihood (a covariate
    that separates events perfectly) gives a large coefficient with
    ``converged`` False after ``max_iter`` steps, as R warns.
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
    z = float(_sps.norm.ppf(1 - (1 - conf_level) / 2))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        zstat = beta / se
        terms = [
            CoxTerm(names[k], float(beta[k]), float(np.exp(beta[k])), float(se[k]),
                    float(np.exp(beta[k] - z * se[k])), float(np.exp(beta[k] + z * se[k])),
                    float(zstat[k]), float(2 * _sps.norm.sf(abs(zstat[k]))))
            for k in range(p)
        ]
    # concordance of the linear predictor, within strata
    lp = data.x @ beta
    conc = disc = tied = 0
    for level in np.unique(data.strata):
        m = data.strata == level
        lo, eq, hi = pair_counts(data.time[m], data.event[m], np.round(lp[m], 12))
        conc += int(lo.sum())
        tied += int(eq.sum())
        disc += int(hi.sum())
    total = conc + disc + tied
    concordance = (conc + 0.5 * tied) / total if total else float("nan")
    return CoxResult(terms, beta, cov, float(concordance), float(loglik), float(loglik_null),
                     int(len(t)), int(e.sum()), ties, iterations, converged, conf_level,
                     stratified=strata is not None, _fit=_ZPH(data))


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
    """LR test of nested Cox models fitted on the same patients: 2 (ll_full - ll_reduced)."""
    if full.n != reduced.n or full.events != reduced.events:
        raise ValueError(
            f"models must be fitted on the same patients: full has n={full.n}, events={full.events}; "
            f"reduced has n={reduced.n}, events={reduced.events}")
    df = len(full.terms) - len(reduced.terms)
    if df <= 0:
        raise ValueError(f"full model must have more terms than reduced ({len(full.terms)} vs {len(reduced.terms)})")
    stat = max(2 * (full.log_likelihood - reduced.log_likelihood), 0.0)
    return LikelihoodRatioResult(float(stat), int(df), float(_sps.chi2.sf(stat, df)))
