"""Statistics from counts that sites share instead of rows (federated evaluation).

Every function here takes aggregated counts — never a patient's value — and returns
the same result as the pooled function of this package applied to the rows those
counts summarise:

- Survival on a shared grid ``g_0 < g_1 < ... < g_K`` (months). A time ``t`` belongs
  to the first grid point ``g_k >= t`` (``to_grid``); a site sends, per grid point,
  the events and the censorings that fall on it, and the number of patients followed
  beyond ``g_K``. ``km_from_counts`` equals ``kaplan_meier(to_grid(time, grid), event)``
  at every grid time and ``logrank_from_counts`` equals ``logrank`` on the same
  gridded times (R ``survfit`` / ``survdiff`` on gridded data): the counts are expanded
  to pseudo-rows at the grid points and the pooled functions run on them.
- Discrimination from score histograms on shared bin edges: ``roc_from_histograms``
  equals ``roc(y, bin_of_score)`` — the AUC with its DeLong interval, scores tied
  within a bin counted as half, as pROC counts ties.
- Calibration from probability bins: ``calibration_from_bins`` (count, events and the
  sum of predicted probabilities per bin; Wilson intervals of the observed rate).
- Hazard ratios from a federated Cox fit: ``wald_hazard_ratios`` (coefficients and the
  observed information summed over sites).

Small cells: ``small_cell_cuts`` says which boundaries between adjacent cells of a
site's table can stay so that every shared count is 0 or at least ``min_count``
(5 by default), splitting by halves so that all sites' choices nest; ``merge_cells``
applies the boundaries kept by every site. A sum of counts that are each 0 or >= 5
is again 0 or >= 5, so the intersection of the sites' cuts keeps every site's cells
safe.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from ._dist import z_quantile
from ._result import ResultMixin
from .diagnostic import ROCResult, roc, wilson_interval
from .logrank_test import LogrankResult, logrank
from .survival import KMResult, kaplan_meier

MIN_CELL = 5


def _counts(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.size and (np.isnan(arr).any() or (arr < 0).any() or (arr != np.round(arr)).any()):
        raise ValueError(f"{name} must be non-negative whole counts")
    return arr.astype(np.int64)


def _grid(grid) -> np.ndarray:
    g = np.asarray(grid, dtype=float)
    if g.ndim != 1 or len(g) < 1 or np.isnan(g).any() or (np.diff(g) <= 0).any() or g[0] < 0:
        raise ValueError("grid must be increasing non-negative times")
    return g


def beyond_time(grid) -> float:
    """The time at which pseudo-rows of patients followed beyond the grid are placed."""
    g = _grid(grid)
    return float(g[-1] + (g[-1] - g[-2] if len(g) > 1 else max(g[-1], 1.0)))


def to_grid(time, grid) -> np.ndarray:
    """Each time moved to the first grid point at or after it; times after the last grid
    point to ``beyond_time(grid)`` (the pooled twin of what sites send)."""
    g = _grid(grid)
    t = np.asarray(time, dtype=float)
    k = np.searchsorted(g, t, side="left")
    out = np.where(k < len(g), g[np.clip(k, 0, len(g) - 1)], beyond_time(g))
    return out


def grid_counts(time, event, grid) -> tuple[np.ndarray, np.ndarray, int]:
    """(events per grid point, censorings per grid point, patients beyond the grid):
    what one site sends for one group."""
    g = _grid(grid)
    t = np.asarray(time, dtype=float)
    e = np.asarray(event).astype(bool)
    k = np.searchsorted(g, t, side="left")
    inside = k < len(g)
    events = np.bincount(k[inside & e], minlength=len(g))
    censored = np.bincount(k[inside & ~e], minlength=len(g))
    return events.astype(np.int64), censored.astype(np.int64), int((~inside).sum())


def _expand(grid, events, censored, beyond) -> tuple[np.ndarray, np.ndarray]:
    g = _grid(grid)
    ev, ce = _counts(events, "events"), _counts(censored, "censored")
    if len(ev) != len(g) or len(ce) != len(g):
        raise ValueError("events and censored need one count per grid point")
    n_beyond = int(_counts([beyond], "beyond")[0])
    time = np.concatenate([np.repeat(g, ev), np.repeat(g, ce), np.full(n_beyond, beyond_time(g))])
    event = np.concatenate([np.ones(int(ev.sum())), np.zeros(int(ce.sum()) + n_beyond)])
    return time, event


def km_from_counts(grid, events, censored, beyond: int, conf_level: float = 0.95,
                   conf_type: str = "log-log") -> KMResult:
    """Kaplan–Meier curve from summed grid counts (see module doc); equal to
    ``kaplan_meier(to_grid(time, grid), event)``."""
    time, event = _expand(grid, events, censored, beyond)
    return kaplan_meier(time, event, conf_level=conf_level, conf_type=conf_type)


def logrank_from_counts(grid, events, censored, beyond) -> LogrankResult:
    """Log-rank test from summed grid counts per group: ``events``/``censored`` are
    (groups x grid) arrays, ``beyond`` one count per group."""
    ev, ce = np.atleast_2d(events), np.atleast_2d(censored)
    by = np.atleast_1d(beyond)
    if not (len(ev) == len(ce) == len(by)) or len(ev) < 2:
        raise ValueError("log-rank needs counts of at least two groups, one row per group")
    times, evs, groups = [], [], []
    for j in range(len(ev)):
        t, e = _expand(grid, ev[j], ce[j], by[j])
        times.append(t)
        evs.append(e)
        groups.append(np.full(len(t), j))
    return logrank(np.concatenate(times), np.concatenate(evs), np.concatenate(groups))


def roc_from_histograms(positives, negatives, conf_level: float = 0.95) -> ROCResult:
    """ROC and AUC (DeLong CI) from per-bin counts of positive and negative patients on
    shared bin edges; equal to ``roc(y, bin index)``. Its thresholds are bin indices."""
    pos, neg = _counts(positives, "positives"), _counts(negatives, "negatives")
    if pos.shape != neg.shape or pos.ndim != 1:
        raise ValueError("positives and negatives need one count per bin")
    bins = np.arange(len(pos), dtype=float)
    score = np.concatenate([np.repeat(bins, pos), np.repeat(bins, neg)])
    y = np.concatenate([np.ones(int(pos.sum())), np.zeros(int(neg.sum()))])
    return roc(y, score, conf_level=conf_level)


@dataclass(frozen=True)
class BinnedCalibration(ResultMixin):
    """Observed against predicted per probability bin (bins with no patient dropped)."""

    bin_lower: np.ndarray
    bin_upper: np.ndarray
    count: np.ndarray
    events: np.ndarray
    mean_predicted: np.ndarray
    observed: np.ndarray
    observed_ci_lower: np.ndarray
    observed_ci_upper: np.ndarray
    n: int


def calibration_from_bins(edges, count, events, sum_predicted,
                          conf_level: float = 0.95) -> BinnedCalibration:
    """Calibration table from per-bin count, events and summed predicted probability."""
    e = np.asarray(edges, dtype=float)
    n, d = _counts(count, "count"), _counts(events, "events")
    s = np.asarray(sum_predicted, dtype=float)
    if not (len(n) == len(d) == len(s) == len(e) - 1):
        raise ValueError("count, events and sum_predicted need one value per bin")
    if (d > n).any():
        raise ValueError("events cannot exceed the count of a bin")
    keep = n > 0
    lo, hi = wilson_interval(d[keep], n[keep], conf_level)
    return BinnedCalibration(e[:-1][keep], e[1:][keep], n[keep], d[keep], s[keep] / n[keep],
                             d[keep] / n[keep], np.asarray(lo), np.asarray(hi), int(n.sum()))


@dataclass(frozen=True)
class WaldTerm(ResultMixin):
    name: str
    coef: float
    hr: float
    ci_lower: float
    ci_upper: float
    se: float
    p_value: float


def wald_hazard_ratios(coef, information, names, conf_level: float = 0.95) -> tuple[WaldTerm, ...]:
    """Hazard ratios with Wald intervals from coefficients and the (summed) observed
    information matrix of a Cox fit (the inverse gives the covariance)."""
    from scipy.stats import norm

    b = np.asarray(coef, dtype=float)
    info = np.asarray(information, dtype=float)
    if info.shape != (len(b), len(b)) or len(names) != len(b):
        raise ValueError("information must be square with one row per coefficient")
    cov = np.linalg.pinv(info)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    z = z_quantile(conf_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * norm.sf(np.abs(b / se))
    return tuple(WaldTerm(str(nm), float(bi), float(np.exp(bi)), float(np.exp(bi - z * si)),
                          float(np.exp(bi + z * si)), float(si), float(pi))
                 for nm, bi, si, pi in zip(names, b, se, p))


def is_safe(counts, min_count: int = MIN_CELL) -> bool:
    """True when every count is 0 or at least ``min_count``."""
    c = _counts(counts, "counts")
    return bool(((c == 0) | (c >= min_count)).all())


def small_cell_cuts(counts, min_count: int = MIN_CELL) -> np.ndarray:
    """Which of the K-1 boundaries between K ordered cells (rows of ``counts``, any
    number of count columns) can stay so that every merged cell holds 0 or at least
    ``min_count`` in each column.

    The cells are split by halves: the range of all cells is cut at its middle cell
    when both halves are safe, and each half again, down to single cells. Every site
    uses the same middles, so the boundaries two sites keep are nested, and their
    intersection is a coarser partition of the same kind — one whose cells are unions
    of each site's safe cells, hence safe. Whether the whole table (one cell) is safe
    is ``is_safe(counts.sum(axis=0))``."""
    c = _counts(counts, "counts")
    if c.ndim == 1:
        c = c[:, None]
    cuts = np.zeros(max(len(c) - 1, 0), dtype=bool)
    prefix = np.vstack([np.zeros((1, c.shape[1]), dtype=np.int64), np.cumsum(c, axis=0)])

    def safe(lo: int, hi: int) -> bool:
        total = prefix[hi] - prefix[lo]
        return bool(((total == 0) | (total >= min_count)).all())

    stack = [(0, len(c))]
    while stack:
        lo, hi = stack.pop()
        if hi - lo < 2:
            continue
        mid = (lo + hi) // 2
        if safe(lo, mid) and safe(mid, hi):
            cuts[mid - 1] = True
            stack.extend([(lo, mid), (mid, hi)])
    return cuts


def merge_cells(counts, cuts) -> np.ndarray:
    """Sum the rows of ``counts`` between kept boundaries (``cuts``, K-1 booleans)."""
    c = np.asarray(counts)
    keep = np.asarray(cuts, dtype=bool)
    if len(keep) != max(len(c) - 1, 0):
        raise ValueError("cuts need one entry per boundary between cells")
    group = np.concatenate([[0], np.cumsum(keep)]) if len(c) else np.zeros(0, int)
    out = np.zeros((int(group[-1]) + 1 if len(c) else 0,) + c.shape[1:], dtype=c.dtype)
    np.add.at(out, group, c)
    return out


def merged_edges(edges, cuts) -> np.ndarray:
    """Bin edges left after merging: the outer edges and the kept inner ones."""
    e = np.asarray(edges, dtype=float)
    keep = np.asarray(cuts, dtype=bool)
    return np.concatenate([[e[0]], e[1:-1][keep], [e[-1]]])


def logistic_pieces(Z: np.ndarray, y: np.ndarray, beta: np.ndarray):
    """Gradient of the log-likelihood, information matrix and log-likelihood (intercept first)."""
    A = np.column_stack([np.ones(len(Z)), Z])
    eta = A @ beta
    p = special.expit(eta)
    grad = A.T @ (y - p)
    info = (A * (p * (1 - p))[:, None]).T @ A
    loglik = float(np.sum(y * eta - np.logaddexp(0, eta)))
    return grad, info, loglik


def cox_pieces(Z: np.ndarray, time: np.ndarray, event: np.ndarray, beta: np.ndarray):
    """Gradient, information and log partial likelihood of a Cox model (Breslow ties)."""
    order = np.argsort(-time, kind="stable")
    Z, time, event = Z[order], time[order], event[order].astype(bool)
    eta = Z @ beta
    w = np.exp(eta - eta.max())
    s0 = np.cumsum(w)
    s1 = np.cumsum(w[:, None] * Z, axis=0)
    # risk set of a patient: everybody with time >= theirs, i.e. sorted rows 0..last
    last = np.searchsorted(-time, -time, side="right") - 1
    ev = np.flatnonzero(event)
    d = Z.shape[1]
    grad, info, s2 = np.zeros(d), np.zeros((d, d)), np.zeros((d, d))
    loglik, j = 0.0, 0
    for e_i in ev:  # events in sorted order: risk-set ends never decrease
        end = last[e_i]
        while j <= end:
            s2 += w[j] * np.outer(Z[j], Z[j])
            j += 1
        mu = s1[end] / s0[end]
        grad += Z[e_i] - mu
        info += s2 / s0[end] - np.outer(mu, mu)
        loglik += eta[e_i] - (np.log(s0[end]) + eta.max())
    return grad, info, float(loglik)
