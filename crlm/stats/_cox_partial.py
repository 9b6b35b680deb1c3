"""The Cox partial likelihood, its score and information, over sorted risk sets.

After one sort by (stratum, decreasing time) every Newton step of
:func:`crlm.stats.cox` is a handful of vectorised passes (cumulative sums over
the risk sets), O(n p^2); the two loops that remain (one pass over the rows,
one over the event times) are compiled with numba when it is installed (plain
Python otherwise, with the same numbers). The sort is
one argsort of the times (rows tied on time, which are summed together, in
any order), then a counting sort by stratum.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ._kernels import _jit, _stable_order
from ._sort import ascending_order


@_jit
def _group_sums(x, w, gstart, event, pair_k, pair_m):  # pragma: no cover - compiled
    """One pass over the sorted rows, a group (one run from ``gstart``) at a time: per
    group the sums of w, w x, w x_k x_m (the (k, m) pairs) over all rows and over the
    deaths, for the row weights ``w``.

    Within a group the censored rows and the deaths are summed into two halves
    of one small buffer (no branch on the event per sum); all rows = both halves.
    """
    n, p = x.shape
    n_groups = gstart.shape[0]
    n_pairs = pair_k.shape[0]
    h = 1 + p + n_pairs  # buffer: [w, w x, w x x'] of the censored, then of the deaths
    w_g = np.zeros(n_groups)
    wx_g = np.zeros((n_groups, p))
    wxx_g = np.zeros((n_groups, n_pairs))
    d0 = np.zeros(n_groups)
    d1 = np.zeros((n_groups, p))
    d2 = np.zeros((n_groups, n_pairs))
    acc = np.zeros(2 * h)
    for g in range(n_groups):
        hi = gstart[g + 1] if g + 1 < n_groups else n
        acc[:] = 0.0
        for i in range(gstart[g], hi):
            wi = w[i]
            o = h if event[i] else 0
            acc[o] += wi
            for k in range(p):
                acc[o + 1 + k] += wi * x[i, k]
            for q in range(n_pairs):
                acc[o + 1 + p + q] += wi * x[i, pair_k[q]] * x[i, pair_m[q]]
        d0[g] = acc[h]
        w_g[g] = acc[0] + acc[h]
        for k in range(p):
            d1[g, k] = acc[h + 1 + k]
            wx_g[g, k] = acc[1 + k] + acc[h + 1 + k]
        for q in range(n_pairs):
            d2[g, q] = acc[h + 1 + p + q]
            wxx_g[g, q] = acc[1 + p + q] + acc[h + 1 + p + q]
    return w_g, wx_g, wxx_g, d0, d1, d2


@_jit
def _group_sums_1(x, w, gstart, event):  # pragma: no cover - compiled
    """:func:`_group_sums` for one covariate, with the sums in registers: the same sums
    in the same order (censored rows and deaths apart, then added), so the same numbers."""
    n = x.shape[0]
    n_groups = gstart.shape[0]
    w_g = np.empty(n_groups)
    wx_g = np.empty((n_groups, 1))
    wxx_g = np.empty((n_groups, 1))
    d0 = np.empty(n_groups)
    d1 = np.empty((n_groups, 1))
    d2 = np.empty((n_groups, 1))
    for g in range(n_groups):
        hi = gstart[g + 1] if g + 1 < n_groups else n
        c0 = 0.0  # censored rows: w, w x, w x x
        c1 = 0.0
        c2 = 0.0
        e0 = 0.0  # deaths
        e1 = 0.0
        e2 = 0.0
        for i in range(gstart[g], hi):
            wi = w[i]
            xi = x[i, 0]
            wd = wi if event[i] else 0.0
            wc = wi - wd  # exactly wi or 0
            c0 += wc
            c1 += wc * xi
            c2 += wc * xi * xi
            e0 += wd
            e1 += wd * xi
            e2 += wd * xi * xi
        d0[g] = e0
        d1[g, 0] = e1
        d2[g, 0] = e2
        w_g[g] = c0 + e0
        wx_g[g, 0] = c1 + e1
        wxx_g[g, 0] = c2 + e2
    return w_g, wx_g, wxx_g, d0, d1, d2


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
        s0g, d0g = s0[g], d0[g]
        cg = 0.0
        eg = 0.0
        prod = 1.0  # the product of the group's denominators, its log taken once in range
        for l in range(d):
            f = l / d if efron else 0.0
            den = s0g - f * d0g
            inv = 1.0 / den
            if 1e-100 < den < 1e100:
                prod *= den
                if not 1e-200 < prod < 1e200:
                    log_sum += np.log(prod)
                    prod = 1.0
            else:
                log_sum += np.log(den)
            cg += a * inv
            eg += a * f * inv
            for k in range(p):
                mean[k] = (s1[g, k] - f * d1[g, k]) * inv
                mean_sum[k] += mean[k]
                wmean[k] += a * mean[k]
            for k in range(p):
                for m in range(p):
                    outer[k, m] += a * mean[k] * mean[m]
        log_sum += np.log(prod)
        c_g[g] += cg
        e_g[g] += eg
    return log_sum, mean_sum, outer, c_g, e_g, wmean


class _CoxData:
    """Data sorted by (stratum, decreasing time), with risk-set bookkeeping.

    Rows sharing (stratum, time) form a "group"; per Newton step the row-level
    work is one exp and a few segment sums, the rest is on groups and events.
    """

    def __init__(self, time, event, x, strata, efron: bool):
        n, p = x.shape
        # decreasing time (the order of increasing -time); tied rows are summed together
        order = ascending_order(np.negative(time), stable=False)
        stratified = not np.all(strata == strata[0])
        if stratified:
            order = order[_stable_order(strata[order], int(strata.max()) + 1)]
        self.order = order
        t, e = time[order], event[order]
        s = strata[order] if stratified else strata
        # one column at a time: a gather from a contiguous column is faster than from rows
        self.cols = [np.ascontiguousarray(x[:, k], dtype=np.float64)[order] for k in range(p)]
        self.xrows = self.cols[0].reshape(n, 1) if p == 1 else np.column_stack(self.cols)
        self.time, self.event, self.strata = t, e, s
        self._work = None  # a row buffer the Newton steps of one fit share (``fitting``)
        self.p = p
        new_group = np.ones(n, dtype=bool)
        np.not_equal(t[1:], t[:-1], out=new_group[1:])
        if stratified:
            new_group[1:] |= s[1:] != s[:-1]
        self.gstart = np.flatnonzero(new_group)
        n_groups = len(self.gstart)
        self.gid = np.repeat(np.arange(n_groups, dtype=np.int64), np.diff(self.gstart, append=n))
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
        self.pair_k = np.array([k for k, _ in self.pairs], dtype=np.int64)
        self.pair_m = np.array([m for _, m in self.pairs], dtype=np.int64)

    def _risk(self, group_sum: np.ndarray) -> np.ndarray:
        """Risk-set totals per group: sum over groups from the stratum start to it."""
        c = np.concatenate(([0.0], np.cumsum(group_sum)))
        return c[1:] - c[self.g_first]

    def _tail(self, group_value: np.ndarray) -> np.ndarray:
        """Per group, the sum of ``group_value`` over this and later groups of the stratum."""
        rc = np.concatenate((np.cumsum(group_value[::-1])[::-1], [0.0]))
        return rc[:-1] - rc[self.g_last + 1]

    @contextmanager
    def fitting(self):
        """One row buffer for the linear predictor of every Newton step while the fit runs
        (the steps are sequential); released after, so later calls allocate their own."""
        self._work = np.empty(len(self.time))
        try:
            yield self
        finally:
            self._work = None

    def linear_predictor(self, beta: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        eta = np.multiply(self.cols[0], beta[0], out=out)
        for k in range(1, self.p):
            eta += beta[k] * self.cols[k]
        return eta

    def derivatives(self, beta: np.ndarray, group_weights: tuple = ()):
        """Log partial likelihood, score and information at ``beta``.

        With ``group_weights`` (one array per weight, values per group) also
        returns, for each weight a, the a-weighted score and information sums
        used by the proportional-hazards test.
        """
        p = self.p
        eta = self.linear_predictor(beta, out=self._work)  # the fit's row buffer while it runs
        shift = float(eta.max())
        w = np.exp(np.subtract(eta, shift, out=eta), out=eta)  # w = exp(x beta - max)
        if p == 1:
            w_g, wx_g, wxx_g, d0, d1, d2 = _group_sums_1(self.xrows, w, self.gstart, self.event)
        else:
            w_g, wx_g, wxx_g, d0, d1, d2 = _group_sums(self.xrows, w, self.gstart, self.event,
                                                       self.pair_k, self.pair_m)
        wxx = {pair: wxx_g[:, q] for q, pair in enumerate(self.pairs)}
        wdxx = {pair: d2[:, q] for q, pair in enumerate(self.pairs)}
        s0 = self._risk(w_g)
        s1 = np.column_stack([self._risk(wx_g[:, k]) for k in range(p)])
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
            # elementwise sums, not BLAS dot products: a threaded BLAS wakes its threads
            # for these short vectors and costs more than the sums
            info[k, m] = info[m, k] = (np.sum(c_tail * wxx[(k, m)]) - np.sum(e_g * wdxx[(k, m)])
                                       - outer[k, m])
        return info
