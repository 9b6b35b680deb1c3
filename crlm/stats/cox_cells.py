"""Cox models whose covariates take a few distinct rows ("cells"), fitted on counts.

When every patient's covariate row is one of C cell rows (a group indicator, a
subgroup's dummies and their products), the partial likelihood depends on the data
only through, per distinct event time, the number at risk and the number of deaths
in each cell. After one pass over the patients (``EventIndex``, ``cell_counts``)
each Newton step costs O(events x C x p), whatever the number of patients, and the
whole Newton–Raphson runs in one compiled call (``_cells_newton``); the fit is the same as :func:`crlm.stats.cox` on the patient rows
(same centring, Newton–Raphson with step halving, convergence rule, Efron or
Breslow ties), so the coefficients, the information and the log-likelihood agree
to rounding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._cells_newton import newton
from ._efron import power_sums
from ._kernels import _jit
from ._sort import ascending_order
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


@dataclass(frozen=True, eq=False)
class CellCoxFit:
    coefficients: np.ndarray
    covariance: np.ndarray
    se: np.ndarray
    log_likelihood: float
    log_likelihood_null: float
    iterations: int
    converged: bool


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
    keep = counts.deaths.sum(axis=1) > 0
    R, D = counts.at_risk[keep], counts.deaths[keep]
    X = design - counts.total @ design / counts.total.sum()
    n_dead = D.sum(axis=1).astype(np.int64)
    dead = D.sum(axis=0)
    table = power_sums(int(n_dead.max()) if len(n_dead) else 0)
    with np.errstate(all="ignore"):  # a step too far is halved (its loglik is not finite)
        beta, loglik, loglik_null, info, iterations, converged = newton(
            np.ascontiguousarray(R), np.ascontiguousarray(D), n_dead, np.ascontiguousarray(X),
            present, dead, float(dead.sum()), dead @ X, ties == "efron", table, int(max_iter))
    cov, se = covariance_from_information(info)
    return CellCoxFit(beta, cov, se, float(loglik), float(loglik_null), int(iterations),
                      bool(converged))
