"""The Cox fit of a 0/1 group within one subgroup level, compiled whole.

A level's hazard ratio (``crlm.stats.subgroups``) is a Cox model with one covariate, the
group, so its patients fall in two cells. ``fit_two_cells`` runs the same fit as
``cox_cells.fit_cells(counts, [0, 1])`` (the same centring, derivatives, Newton–Raphson
with step halving and convergence rule, and inverse information) in one compiled call
instead of a Python loop around each step: equal to it to rounding, by test."""
from __future__ import annotations

import numpy as np

from ._compiled import _jit
from ._efron import efron_sums, power_sums
from ._newton import MAX_HALVINGS, converged_after, step_accepted
from .cox_cells import CellCounts, CellCoxFit


@_jit
def _derivatives(R, D, n_dead, x, present, dead, n_events, x_dead, beta, efron,
                 table):  # pragma: no cover - compiled
    """(log-likelihood, score, information) at ``beta`` (cells' centred covariate ``x``)."""
    eta0, eta1 = x[0] * beta, x[1] * beta
    if present[0] and present[1]:
        shift = max(eta0, eta1)
    elif present[0]:
        shift = eta0
    else:
        shift = eta1
    w0, w1 = np.exp(eta0 - shift), np.exp(eta1 - shift)
    wx0, wx1 = w0 * x[0], w1 * x[1]
    log_den = 0.0
    minus = 0.0
    outer = 0.0
    a0 = 0.0
    a1 = 0.0
    for j in range(R.shape[0]):
        s0 = R[j, 0] * w0 + R[j, 1] * w1
        d0 = D[j, 0] * w0 + D[j, 1] * w1
        s1 = R[j, 0] * wx0 + R[j, 1] * wx1
        d1 = D[j, 0] * wx0 + D[j, 1] * wx1
        c, e, a2, b2, c2, log_time = efron_sums(s0, d0, n_dead[j], efron, table)
        if log_time == np.inf:
            return -np.inf, 0.0, 0.0
        log_den += log_time
        minus += c * s1 - e * d1
        outer += a2 * s1 * s1 - b2 * (s1 * d1 + d1 * s1) + c2 * d1 * d1
        a0 += c * R[j, 0] - e * D[j, 0]
        a1 += c * R[j, 1] - e * D[j, 1]
    loglik = dead[0] * eta0 + dead[1] * eta1 - n_events * shift - log_den
    info = x[0] * (a0 * w0) * x[0] + x[1] * (a1 * w1) * x[1] - outer
    return loglik, x_dead - minus, info


@_jit
def _newton(R, D, n_dead, x, present, dead, n_events, x_dead, efron, table,
            max_iter):  # pragma: no cover - compiled
    beta = 0.0
    loglik, score, info = _derivatives(R, D, n_dead, x, present, dead, n_events, x_dead,
                                       beta, efron, table)
    loglik_null = loglik
    converged = False
    iterations = 0
    for it in range(1, max_iter + 1):
        iterations = it
        step = score / info if info != 0.0 else 0.0
        halvings = 0
        while True:
            new_beta = beta + step
            new_loglik, new_score, new_info = _derivatives(R, D, n_dead, x, present, dead,
                                                           n_events, x_dead, new_beta,
                                                           efron, table)
            if step_accepted(new_loglik, loglik):
                break
            halvings += 1
            step = step / 2
            if halvings > MAX_HALVINGS:
                break
        change = abs(new_loglik - loglik)
        beta, loglik, score, info = new_beta, new_loglik, new_score, new_info
        if converged_after(change, loglik, abs(step)):
            converged = True
            break
    return beta, loglik, loglik_null, info, iterations, converged


def fit_two_cells(counts: CellCounts, ties: str = "efron", *, max_iter: int = 50) -> CellCoxFit:
    """``cox_cells.fit_cells(counts, [0.0, 1.0], ties)`` of two cells (group 0, group 1)."""
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    if counts.at_risk.shape[1] != 2:
        raise ValueError("fit_two_cells: counts of two cells are needed")
    if counts.deaths.sum() == 0:
        raise ValueError("no events: a Cox model needs at least one event")
    present = counts.total > 0
    if not present.all():
        raise ValueError("covariate(s) ['x1'] are constant; remove them from the model")
    keep = counts.deaths.sum(axis=1) > 0
    R, D = counts.at_risk[keep], counts.deaths[keep]
    design = np.array([0.0, 1.0])
    x = design - counts.total @ design / counts.total.sum()
    n_dead = D.sum(axis=1).astype(np.int64)
    dead = D.sum(axis=0)
    table = power_sums(int(n_dead.max()) if len(n_dead) else 0)
    with np.errstate(all="ignore"):
        beta, loglik, loglik_null, info, iterations, converged = _newton(
            np.ascontiguousarray(R), np.ascontiguousarray(D), n_dead, x, present, dead,
            float(dead.sum()), float(dead @ x), ties == "efron", table, int(max_iter))
    cov = np.array([[1.0 / info if info != 0.0 else 0.0]])
    return CellCoxFit(np.array([beta]), cov, np.sqrt(np.clip(np.diag(cov), 0, None)),
                      float(loglik), float(loglik_null), int(iterations), bool(converged))
