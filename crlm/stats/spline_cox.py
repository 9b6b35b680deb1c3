"""Cox models of one score through a restricted cubic spline, fitted with Breslow ties
and vectorised over bootstrap weights (the engine of ``crlm.stats.prediction``'s
absolute survival).

Restricted cubic spline (Stone & Koo 1985; Harrell, *Regression Modeling Strategies*,
2nd ed., §2.4.5): with ``k`` knots ``t_1 < … < t_k`` the basis of ``x`` is ``x`` itself
and, for ``j = 1 … k − 2``,
``[(x − t_j)₊³ − (x − t_{k−1})₊³ (t_k − t_j)/(t_k − t_{k−1})
+ (x − t_k)₊³ (t_{k−1} − t_j)/(t_k − t_{k−1})] / (t_k − t_1)²``:
cubic between the knots, linear beyond the outer ones (so an extreme score is not
extrapolated by a cubic), ``k − 1`` degrees of freedom. Knots sit at Harrell's
quantiles of ``x`` (``KNOT_QUANTILES``; tied quantiles of a score with few values are
merged, and fewer than three left give a straight line).

The number of knots is fixed in advance by the number of events, not chosen by how well
the fits look (a choice made on the data would make the bootstrap intervals too narrow):
4 knots (3 degrees of freedom) with at least ``EVENTS_PER_DF`` = 15 events per degree of
freedom, else 3 knots (2 df) with at least 30 events, else a straight line (``choose_knots``).
"""
from __future__ import annotations

import numpy as np

KNOT_QUANTILES = {3: (0.10, 0.50, 0.90), 4: (0.05, 0.35, 0.65, 0.95),
                  5: (0.05, 0.275, 0.50, 0.725, 0.95)}
KNOT_CHOICES = (0, 3, 4, 5)        # 0: a straight line; 5 only when asked for
EVENTS_PER_DF = 15


def spline_knots(x: np.ndarray, n_knots: int) -> np.ndarray:
    """Harrell's knots of ``x`` for ``n_knots`` (empty for 0: a straight line)."""
    if n_knots == 0:
        return np.zeros(0)
    if n_knots not in KNOT_QUANTILES:
        raise ValueError(f"n_knots must be one of {KNOT_CHOICES}, got {n_knots!r}")
    knots = np.unique(np.quantile(np.asarray(x, dtype=float), KNOT_QUANTILES[n_knots]))
    return knots if len(knots) >= 3 else np.zeros(0)     # tied quantiles: fewer knots


def spline_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """The restricted cubic spline basis ``[n, max(1, len(knots) − 1)]`` of ``x`` (see
    the module doc); a straight line (the column ``x``) without knots."""
    x = np.asarray(x, dtype=float)
    cols = [x]
    k = len(knots)
    if k >= 3:
        tk, tk1 = knots[-1], knots[-2]
        norm = (tk - knots[0]) ** 2 or 1.0
        span = (tk - tk1) or 1.0
        for tj in knots[: k - 2]:
            cols.append((np.maximum(x - tj, 0) ** 3
                         - np.maximum(x - tk1, 0) ** 3 * (tk - tj) / span
                         + np.maximum(x - tk, 0) ** 3 * (tk1 - tj) / span) / norm)
    return np.column_stack(cols)


def event_time_index(time_sorted: np.ndarray, event_sorted: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Distinct event times of time-sorted data and the index of the first patient at
    each (the start of its risk set)."""
    times, first = np.unique(time_sorted, return_index=True)
    ends = list(first[1:]) + [len(time_sorted)]
    keep = np.array([event_sorted[i:j].any() for i, j in zip(first, ends)], dtype=bool)
    return times[keep], first[keep]


def breslow_cox(X: np.ndarray, event: np.ndarray, first: np.ndarray, weights: np.ndarray,
                max_iter: int = 60, tol: float = 1e-9
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted Cox fits (Breslow ties) of the columns of ``X``, one per row of ``weights``.

    ``X [n, p]`` (or ``[B, n, p]``, one design per fit) and ``event [n]`` sorted by time
    ascending; ``first``: index of the first patient of each distinct event time
    (``event_time_index``). Newton–Raphson with step halving. Returns ``coef [B, p]``,
    the baseline hazard increments ``dh0 [B, n_times]`` at the event times (at
    ``X = 0``) and the log partial likelihood ``loglik [B]``.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    n_boot = w.shape[0]
    X = np.broadcast_to(X, (n_boot,) + X.shape[-2:]) if X.ndim == 2 else X
    p = X.shape[2]
    we = w * event[None, :]
    event_idx = np.flatnonzero(event)
    slot = np.searchsorted(first, event_idx, side="right") - 1
    d = np.zeros((n_boot, len(first)))
    np.add.at(d.T, slot, we[:, event_idx].T)
    # centre the columns for numerical stability (coefficients do not change)
    mu = X.mean(axis=1, keepdims=True)                         # [B, 1, p]
    Xc = X - mu
    sum_ex = np.einsum("bn,bnp->bp", we, Xc)                   # [B, p]
    iu = np.triu_indices(p)
    # per patient: 1, the columns and their pairwise products, summed over risk sets
    F = np.concatenate([np.ones(Xc.shape[:2] + (1,)), Xc,
                        Xc[:, :, iu[0]] * Xc[:, :, iu[1]]], axis=2)

    def _risk_set_sums(r, cols):
        blocks = np.add.reduceat(r[:, :, None] * cols, first, axis=1)
        return np.cumsum(blocks[:, ::-1], axis=1)[:, ::-1]

    def _loglik(coef):
        eta = np.einsum("bnp,bp->bn", Xc, coef)
        eta = eta - eta.max(axis=1, keepdims=True)             # shift per fit
        r = w * np.exp(eta)
        s0 = _risk_set_sums(r, F[:, :, :1])[:, :, 0]
        with np.errstate(divide="ignore"):
            log_s0 = np.where(s0 > 0, np.log(np.where(s0 > 0, s0, 1.0)), 0.0)
        return (we * eta).sum(axis=1) - (d * log_s0).sum(axis=1), r

    coef = np.zeros((n_boot, p))
    ll, r = _loglik(coef)
    for _ in range(max_iter):
        sums = _risk_set_sums(r, F)
        s0 = sums[:, :, 0]
        safe = np.where(s0 > 0, s0, 1.0)
        m1 = sums[:, :, 1:1 + p] / safe[:, :, None]
        dm1 = d[:, :, None] * m1
        grad = sum_ex - dm1.sum(1)
        # information: sum over event times of d * (E[x xᵀ] − E[x] E[x]ᵀ) in the risk set
        info = np.zeros((n_boot, p, p))
        info[:, iu[0], iu[1]] = (d[:, :, None] * sums[:, :, 1 + p:] / safe[:, :, None]).sum(1)
        info[:, iu[1], iu[0]] = info[:, iu[0], iu[1]]
        info = info - np.matmul(dm1.transpose(0, 2, 1), m1) + 1e-9 * np.eye(p)[None]
        step = np.linalg.solve(info, grad[:, :, None])[:, :, 0]
        step = np.where(np.isfinite(step), step, 0.0)
        new_ll, new_r = _loglik(coef + step)
        for _half in range(30):                                # step halving
            worse = new_ll < ll - 1e-12
            if not worse.any():
                break
            step = np.where(worse[:, None], step / 2, step)
            new_ll, new_r = _loglik(coef + step)
        coef, ll, r = coef + step, new_ll, new_r
        if np.all(np.abs(step) < tol):
            break
    # baseline hazard at X = 0: the risk weights without the centring and the shift
    r0 = w * np.exp(np.einsum("bnp,bp->bn", X, coef))
    s0 = _risk_set_sums(r0, np.ones(X.shape[:2] + (1,)))[:, :, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        dh0 = np.where(s0 > 0, d / np.where(s0 > 0, s0, 1.0), 0.0)
    return coef, dh0, ll


def choose_knots(n_events: int) -> int:
    """The number of knots (0 = a straight line) by the module doc's rule."""
    for k in (4, 3):
        if n_events >= EVENTS_PER_DF * (k - 1):
            return k
    return 0
