"""The Cox fit on cell counts (``cox_cells.fit_cells``), compiled whole.

Per Newton step, one pass over the event times gives the cells' share of the score and
the information (``_cell_derivatives``); the steps themselves (solve, halving, the
convergence rule of ``_newton``) run in the same compiled call, so a fit of a few cells
costs no Python per step. The rules are those of ``crlm.stats.cox`` on patient rows:
the same centring, step halving and convergence, so the two agree to rounding (tests).
"""
from __future__ import annotations

import numpy as np

from ._compiled import _jit
from ._efron import efron_sums
from ._newton import MAX_HALVINGS, converged_after, step_accepted


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


@_jit
def _derivatives(R, D, n_dead, X, present, dead, n_events, x_dead, beta, efron,
                 table):  # pragma: no cover - compiled
    """(log-likelihood, score, information) at ``beta``; ``X`` the cells' centred rows,
    ``dead`` the deaths per cell and ``x_dead`` = dead @ X. Cells without patients play
    no part in the shift that keeps the weights finite."""
    n_cells, p = X.shape
    eta = np.empty(n_cells)
    shift = -np.inf
    for k in range(n_cells):
        s = 0.0
        for q in range(p):
            s += X[k, q] * beta[q]
        eta[k] = s
        if present[k] and s > shift:
            shift = s
    w = np.exp(eta - shift)
    log_den, minus, a, outer = _cell_derivatives(R, D, n_dead, X, w, efron, table)
    loglik = 0.0
    for k in range(n_cells):
        loglik += dead[k] * eta[k]
    loglik = loglik - n_events * shift - log_den
    info = np.empty((p, p))
    for q in range(p):
        for r in range(p):
            s = 0.0
            for k in range(n_cells):
                s += X[k, q] * a[k] * X[k, r]
            info[q, r] = s - outer[q, r]
    return loglik, x_dead - minus, info


@_jit
def _solve(info, score):  # pragma: no cover - compiled
    """The Newton step; least squares where the information matrix is singular (NaN
    where it is not finite, so that the step is halved and then given up)."""
    if not (np.isfinite(info).all() and np.isfinite(score).all()):
        return np.full(score.shape[0], np.nan)
    try:
        return np.linalg.solve(info, score)
    except Exception:  # singular
        rcond = np.finfo(np.float64).eps * info.shape[0]
        return np.linalg.lstsq(info, score, rcond)[0]


@_jit
def newton(R, D, n_dead, X, present, dead, n_events, x_dead, efron, table,
           max_iter):  # pragma: no cover - compiled
    """Maximise the partial likelihood from zero (``_newton.newton_maximise``' rules):
    (beta, loglik, null loglik, information, iterations, converged)."""
    p = X.shape[1]
    beta = np.zeros(p)
    loglik, score, info = _derivatives(R, D, n_dead, X, present, dead, n_events, x_dead,
                                       beta, efron, table)
    loglik_null = loglik
    converged = False
    iterations = 0
    for it in range(1, max_iter + 1):
        iterations = it
        step = _solve(info, score)
        halvings = 0
        while True:
            new_beta = beta + step
            new_loglik, new_score, new_info = _derivatives(R, D, n_dead, X, present, dead,
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
        if converged_after(change, loglik, np.max(np.abs(step))):
            converged = True
            break
    return beta, loglik, loglik_null, info, iterations, converged
