"""Cox models whose covariates take a few distinct rows ("cells"), fitted on counts.

When every patient's covariate row is one of C cell rows (a group indicator, a
subgroup's dummies and their products), the partial likelihood depends on the data
only through, per distinct event time, the number at risk and the number of deaths
in each cell. After one pass over the patients (``EventIndex``, ``cell_counts``)
each Newton step costs O(events x C x p) with matrix products, whatever the number
of patients; the fit is the same as :func:`crlm.stats.cox` on the patient rows
(same centring, Newton–Raphson with step halving, convergence rule, Efron or
Breslow ties), so the coefficients, the information and the log-likelihood agree
to rounding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from ._kernels import _jit
from ._newton import newton_maximise
from ._result import covariance_from_information


@dataclass(frozen=True, eq=False)
class EventIndex:
    """Where each patient stands among the distinct event times (decreasing).

    ``first_at_risk[i]``: the first event time (in decreasing order) at which patient i
    is at risk, ``n_times`` when none is; ``death_time[i]``: the index of patient i's own
    event time (only meaningful where ``event[i]``)."""

    n_times: int
    first_at_risk: np.ndarray
    death_time: np.ndarray
    event: np.ndarray


def event_index(time: np.ndarray, event: np.ndarray) -> EventIndex:
    """One sort of the distinct event times and one search per patient."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    times = np.unique(t[e])                  # increasing
    n = len(times)
    # patients are at risk at the event times <= their own time
    first = n - np.searchsorted(times, t, side="right")
    own = n - 1 - np.searchsorted(times, t, side="left")
    return EventIndex(n, first.astype(np.int64), own.astype(np.int64), e)


@dataclass(frozen=True, eq=False)
class CellCounts:
    """Per event time (rows, decreasing time) and cell (columns): the number at risk and
    the number of deaths; ``total``: patients per cell."""

    at_risk: np.ndarray
    deaths: np.ndarray
    total: np.ndarray

    def cells(self, columns) -> "CellCounts":
        """The counts of some cells only, on the event times where they hold a death."""
        columns = np.asarray(columns, dtype=np.int64)
        deaths = self.deaths[:, columns]
        keep = deaths.sum(axis=1) > 0
        return CellCounts(self.at_risk[keep][:, columns], deaths[keep], self.total[columns])


def cell_counts(index: EventIndex, cell: np.ndarray, n_cells: int,
                rows: np.ndarray | None = None) -> CellCounts:
    """Counts of the patients ``rows`` (all when None) in cells ``cell`` (codes 0..C-1)."""
    first, own, e = index.first_at_risk, index.death_time, index.event
    cell = np.asarray(cell, dtype=np.int64)
    if rows is not None:
        first, own, e, cell = first[rows], own[rows], e[rows], cell[rows]
    n = index.n_times
    entered = np.bincount(first * n_cells + cell, minlength=(n + 1) * n_cells)
    at_risk = np.cumsum(entered.reshape(n + 1, n_cells)[:n], axis=0, dtype=float)
    deaths = np.bincount(own[e] * n_cells + cell[e], minlength=n * n_cells)
    total = np.bincount(cell, minlength=n_cells).astype(float)
    return CellCounts(at_risk, deaths.reshape(n, n_cells).astype(float), total)


@_jit
def _efron_sums(s0, d0, n_dead, efron):  # pragma: no cover - compiled
    """Per event time with d deaths, over Efron's sub-steps l = 0..d-1 (f = l/d; f = 0
    for Breslow) with den = s0 - f d0: the sums of 1/den, f/den, 1/den^2, f/den^2 and
    f^2/den^2, and the total of log(den). The mean (s1 - f d1)/den and its outer
    product expand in 1, f and f^2, so these scalars are all the steps need."""
    m = s0.shape[0]
    c = np.zeros(m)
    e = np.zeros(m)
    a2 = np.zeros(m)
    b2 = np.zeros(m)
    c2 = np.zeros(m)
    log_den = 0.0
    for j in range(m):
        d = n_dead[j]
        for step in range(d):
            f = step / d if efron else 0.0
            den = s0[j] - f * d0[j]
            if den <= 0.0:        # every weight underflowed: this step is not taken
                return np.inf, c, e, a2, b2, c2
            inv = 1.0 / den
            log_den += np.log(den)
            c[j] += inv
            e[j] += f * inv
            inv2 = inv * inv
            a2[j] += inv2
            b2[j] += f * inv2
            c2[j] += f * f * inv2
    return log_den, c, e, a2, b2, c2


@dataclass(frozen=True, eq=False)
class CellCoxFit:
    coefficients: np.ndarray
    covariance: np.ndarray
    se: np.ndarray
    log_likelihood: float
    log_likelihood_null: float
    iterations: int
    converged: bool


class _Partial:
    """The partial likelihood of cell counts (only event times with a death)."""

    def __init__(self, counts: CellCounts, design: np.ndarray, efron: bool):
        keep = counts.deaths.sum(axis=1) > 0
        self.R, self.D = counts.at_risk[keep], counts.deaths[keep]
        means = counts.total @ design / counts.total.sum()
        self.X = design - means
        self.present = counts.total > 0
        self.n_dead = self.D.sum(axis=1).astype(np.int64)
        self.efron = bool(efron)
        self.dead_per_cell = self.D.sum(axis=0)
        self.n_events = float(self.dead_per_cell.sum())
        self.x_dead_sum = self.dead_per_cell @ self.X

    def derivatives(self, beta: np.ndarray):
        eta = self.X @ beta
        shift = float(eta[self.present].max())   # cells without patients play no part
        w = np.exp(eta - shift)
        wx = self.X * w[:, None]
        s0, s1 = self.R @ w, self.R @ wx
        d0, d1 = self.D @ w, self.D @ wx
        log_den, c, e, a2, b2, c2 = _efron_sums(s0, d0, self.n_dead, self.efron)
        loglik = float(self.dead_per_cell @ eta - self.n_events * shift - log_den)
        score = self.x_dead_sum - (c @ s1 - e @ d1)
        cross = s1.T @ (b2[:, None] * d1)
        outer = s1.T @ (a2[:, None] * s1) - cross - cross.T + d1.T @ (c2[:, None] * d1)
        a = (c @ self.R - e @ self.D) * w
        info = (self.X * a[:, None]).T @ self.X - outer
        return loglik, score, info


_CONTROLLER: list = []


def _blas() -> ThreadpoolController:
    """The process's thread-pool controller (finding the libraries once)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def fit_cells(counts: CellCounts, design, ties: str = "efron", *,
              max_iter: int = 50) -> CellCoxFit:
    """Cox fit of the cells' covariate rows ``design`` (C x p) on their counts.

    Raises ``ValueError`` when there is no death or a covariate is constant over the
    patients (as :func:`crlm.stats.cox`)."""
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    design = np.asarray(design, dtype=float)
    if design.ndim == 1:
        design = design[:, None]
    if counts.deaths.sum() == 0:
        raise ValueError("no events: a Cox model needs at least one event")
    present = counts.total > 0
    constant = [k for k in range(design.shape[1])
                if np.ptp(design[present, k]) == 0]
    if constant:
        raise ValueError(f"covariate(s) {[f'x{k + 1}' for k in constant]} are constant; "
                         "remove them from the model")
    # small products: threads only wait; a step too far (a risk set's weight underflows)
    # gives a non-finite log-likelihood, and the step is halved
    with _blas().limit(limits=1, user_api="blas"), np.errstate(all="ignore"):
        return _newton(_Partial(counts, design, ties == "efron"), design.shape[1], max_iter)


def _newton(data: _Partial, p: int, max_iter: int) -> CellCoxFit:
    fit = newton_maximise(data, p, max_iter)
    beta, loglik, loglik_null = fit.beta, fit.loglik, fit.loglik_null
    info, iterations, converged = fit.info, fit.iterations, fit.converged
    cov, se = covariance_from_information(info)
    return CellCoxFit(beta, cov, se, float(loglik), float(loglik_null), iterations, converged)
