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

from ._efron import efron_sums, power_sums
from ._kernels import _jit
from ._sort import ascending_order
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
class EventTimeRanks:
    """Every patient's place among the distinct event times of a whole set of patients
    (a cohort): ``times`` increasing; ``at_most[i]`` and ``before[i]``, how many of them
    are <= and < patient i's time. Read only."""

    times: np.ndarray
    at_most: np.ndarray
    before: np.ndarray


def event_time_ranks(time: np.ndarray, event: np.ndarray) -> EventTimeRanks:
    """The ranks of ``EventTimeRanks`` (once for the set): the patients in order of time,
    then one walk along them and the event times together (what two searches of every
    patient's time among the event times give; a missing time ranks after them all)."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    times = np.unique(t[e & ~np.isnan(t)])
    at_most, before = _ranks_in_order(t, ascending_order(t, stable=False), times)
    for a in (times, at_most, before):
        a.flags.writeable = False
    return EventTimeRanks(times, at_most, before)


@_jit
def _ranks_in_order(t, order, times):  # pragma: no cover - compiled
    """For each patient (visited in ``order``, increasing time, missing times last) how
    many of the increasing ``times`` are <= and < its time."""
    n = order.shape[0]
    m = times.shape[0]
    at_most = np.empty(n, dtype=np.int64)
    before = np.empty(n, dtype=np.int64)
    lo = 0  # times < v
    hi = 0  # times <= v
    for k in range(n):
        i = order[k]
        v = t[i]
        if v != v:  # missing: after every time
            at_most[i] = m
            before[i] = m
            continue
        while lo < m and times[lo] < v:
            lo += 1
        if hi < lo:
            hi = lo
        while hi < m and times[hi] <= v:
            hi += 1
        at_most[i] = hi
        before[i] = lo
    return at_most, before


def event_index_within(ranks: EventTimeRanks, rows: np.ndarray,
                       event: np.ndarray) -> EventIndex:
    """``event_index(time[rows], event)`` for some patients of the set ``ranks`` was made
    for (``event``: theirs, in ``rows`` order): the same index, counting which of the
    set's event times are theirs instead of searching among them."""
    rows = np.asarray(rows, dtype=np.int64)
    e = np.asarray(event, dtype=bool)
    theirs = np.zeros(len(ranks.times), dtype=bool)
    theirs[ranks.before[rows[e]]] = True      # an event's time is the set's time there
    counted = np.concatenate(([0], np.cumsum(theirs)))
    n = int(counted[-1])
    first = n - counted[ranks.at_most[rows]]
    own = n - 1 - counted[ranks.before[rows]]
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
    at_risk, deaths, total = _tallies(first, own, e, cell, index.n_times, n_cells)
    return CellCounts(at_risk, deaths, total)


@_jit
def _tallies(first, own, event, cell, n, n_cells):  # pragma: no cover - compiled
    """One pass over the patients: per event time (decreasing) and cell the number at
    risk (those entering the risk set at that time or before) and of deaths, and the
    patients per cell."""
    entered = np.zeros((n + 1, n_cells))
    deaths = np.zeros((n, n_cells))
    total = np.zeros(n_cells)
    for i in range(first.shape[0]):
        c = cell[i]
        entered[first[i], c] += 1.0
        total[c] += 1.0
        if event[i]:
            deaths[own[i], c] += 1.0
    at_risk = entered[:n]
    for j in range(1, n):
        for c in range(n_cells):
            at_risk[j, c] += at_risk[j - 1, c]
    return at_risk.copy(), deaths, total


@_jit
def _cell_derivatives(R, D, n_dead, X, w, efron, table):  # pragma: no cover - compiled
    """One pass over the event times (rows of ``R``, ``D``): per time the weighted sums
    s0 = R w, s1 = R (w X) at risk and d0, d1 of the deaths, and Efron's sub-steps
    l = 0..d-1 (f = l/d; f = 0 for Breslow) with den = s0 - f d0 (``_efron``). The mean
    (s1 - f d1)/den and its outer product expand in 1, f and f^2, so per time the sums
    of 1/den, f/den, 1/den^2, f/den^2 and f^2/den^2 give its part of the score and the
    information. Returns the total of log(den) (inf when a step's den underflowed to 0),
    the score's subtracted part, the per-cell weights a of the first information term
    and the outer-product part of the information."""
    m, n_cells = R.shape
    p = X.shape[1]
    wx = np.empty((n_cells, p))
    for k in range(n_cells):
        for q in range(p):
            wx[k, q] = w[k] * X[k, q]
    s1 = np.empty(p)
    d1 = np.empty(p)
    minus = np.zeros(p)
    a = np.zeros(n_cells)
    outer = np.zeros((p, p))
    log_den = 0.0
    for j in range(m):
        s0 = 0.0
        d0 = 0.0
        for q in range(p):
            s1[q] = 0.0
            d1[q] = 0.0
        for k in range(n_cells):
            r = R[j, k]
            dd = D[j, k]
            s0 += r * w[k]
            d0 += dd * w[k]
            for q in range(p):
                s1[q] += r * wx[k, q]
                d1[q] += dd * wx[k, q]
        c, e, a2, b2, c2, log_time = efron_sums(s0, d0, n_dead[j], efron, table)
        if log_time == np.inf:    # every weight underflowed: this step is not taken
            return np.inf, minus, a, outer
        log_den += log_time
        for q in range(p):
            minus[q] += c * s1[q] - e * d1[q]
            for r2 in range(p):
                outer[q, r2] += (a2 * s1[q] * s1[r2] - b2 * (s1[q] * d1[r2] + d1[q] * s1[r2])
                                 + c2 * d1[q] * d1[r2])
        for k in range(n_cells):
            a[k] += c * R[j, k] - e * D[j, k]
    for k in range(n_cells):
        a[k] *= w[k]
    return log_den, minus, a, outer


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
        self.table = power_sums(int(self.n_dead.max()) if len(self.n_dead) else 0)
        self.efron = bool(efron)
        self.dead_per_cell = self.D.sum(axis=0)
        self.n_events = float(self.dead_per_cell.sum())
        self.x_dead_sum = self.dead_per_cell @ self.X

    def derivatives(self, beta: np.ndarray):
        eta = self.X @ beta
        shift = float(eta[self.present].max())   # cells without patients play no part
        w = np.exp(eta - shift)
        log_den, minus, a, outer = _cell_derivatives(self.R, self.D, self.n_dead, self.X, w,
                                                     self.efron, self.table)
        loglik = float(self.dead_per_cell @ eta - self.n_events * shift - log_den)
        info = (self.X * a[:, None]).T @ self.X - outer
        return loglik, self.x_dead_sum - minus, info


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
