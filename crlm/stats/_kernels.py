"""Compiled loops shared by the survival and diagnostic statistics, and the sorts
that put their input in order.

Each kernel is a plain-Python function compiled with numba when it is
installed (it is in requirements); without numba the same Python runs and
gives the same numbers, only slower. All are O(n) or O(n log n) passes over
arrays that the callers have already put in the order the kernel needs.
"""
from __future__ import annotations

import numpy as np

from ._compiled import _jit
from ._sort import ascending_order


@_jit
def _stable_order(code, n_codes):  # pragma: no cover - compiled
    """Row indices ordered by ``code`` (0 .. n_codes - 1), ties in row order: a
    counting sort, the same permutation as a stable argsort of ``code``."""
    n = code.shape[0]
    start = np.zeros(n_codes + 1, dtype=np.int64)
    for i in range(n):
        start[code[i] + 1] += 1
    for k in range(n_codes):
        start[k + 1] += start[k]
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        c = code[i]
        out[start[c]] = i
        start[c] += 1
    return out


@_jit
def split_by_flag(values, flag):  # pragma: no cover - compiled
    """(values where ``flag``, values where not), each in row order: one pass instead
    of two boolean masks."""
    n = values.shape[0]
    n_true = 0
    for i in range(n):
        n_true += flag[i]
    yes = np.empty(n_true, dtype=values.dtype)
    no = np.empty(n - n_true, dtype=values.dtype)
    a = 0
    b = 0
    for i in range(n):
        if flag[i]:
            yes[a] = values[i]
            a += 1
        else:
            no[b] = values[i]
            b += 1
    return yes, no


def split_by_code(codes: np.ndarray, n_codes: int, *arrays: np.ndarray) -> list[tuple]:
    """For each code 0 .. n_codes - 1, the rows of ``arrays`` with that code (row order
    kept): one counting sort instead of a boolean mask per code."""
    order = _stable_order(codes, n_codes)
    counts = np.bincount(codes, minlength=n_codes)
    ends = np.cumsum(counts)
    starts = ends - counts
    sorted_arrays = [a[order] for a in arrays]
    return [tuple(a[lo:hi] for a in sorted_arrays) for lo, hi in zip(starts, ends)]


@_jit
def _times_by_code(codes, n_codes, time, event):  # pragma: no cover - compiled
    """All times and the event times laid out code by code (row order kept within a
    code), with each code's start in both: one count and one scatter pass."""
    n = codes.shape[0]
    start_all = np.zeros(n_codes + 1, dtype=np.int64)
    start_ev = np.zeros(n_codes + 1, dtype=np.int64)
    for i in range(n):
        start_all[codes[i] + 1] += 1
        if event[i]:
            start_ev[codes[i] + 1] += 1
    for k in range(n_codes):
        start_all[k + 1] += start_all[k]
        start_ev[k + 1] += start_ev[k]
    all_times = np.empty(n, dtype=np.float64)
    ev_times = np.empty(start_ev[n_codes], dtype=np.float64)
    at_all = start_all[:n_codes].copy()
    at_ev = start_ev[:n_codes].copy()
    for i in range(n):
        c = codes[i]
        all_times[at_all[c]] = time[i]
        at_all[c] += 1
        if event[i]:
            ev_times[at_ev[c]] = time[i]
            at_ev[c] += 1
    return all_times, start_all, ev_times, start_ev


def sorted_times_by_code(codes: np.ndarray, n_codes: int, time: np.ndarray,
                         event: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each code 0 .. n_codes - 1: (its times, its event times), each sorted
    ascending (values only, no permutation)."""
    all_times, start_all, ev_times, start_ev = _times_by_code(codes, n_codes, time, event)
    parts = []
    for k in range(n_codes):
        a = all_times[start_all[k]:start_all[k + 1]]
        b = ev_times[start_ev[k]:start_ev[k + 1]]
        a.sort()  # views of fresh arrays that nothing else holds: sorted in place
        b.sort()
        parts.append((a, b))
    return parts


def time_keys(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, int]:
    """(key, number of keys) for :func:`_pair_counts_by_risk`: ``2 c`` for an event and
    ``2 c + 1`` for a censoring at the ``c``-th distinct time (ascending), so that a
    censoring at an event's time comes after it."""
    codes, m = dense_codes_unstable(time)
    return 2 * codes + (~np.asarray(event, dtype=np.bool_)), 2 * m


def dense_codes_unstable(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(codes, number of distinct values): ``codes[i]`` is the rank of ``values[i]``
    among the distinct values, ascending (0-based), by one unstable (fast) argsort;
    ties get one code, so the sort's order among them does not matter."""
    n = len(values)
    codes = np.zeros(n, dtype=np.int64)
    if n == 0:
        return codes, 0
    order = ascending_order(values, stable=False)
    v = values[order]
    step = np.empty(n, dtype=np.int64)
    step[0] = 0
    np.cumsum(v[1:] != v[:-1], out=step[1:])
    codes[order] = step
    return codes, int(step[-1]) + 1


@_jit
def _pair_counts_by_risk(risk, key, event, n_keys, lower, equal, higher):  # pragma: no cover
    """Harrell's comparable pairs per event, split by the other patient's risk.

    For an event with time key k (see :func:`time_keys`) the comparable
    patients are those with a larger key: a longer time, or a censoring at the
    same time; earlier events at the same time share its key and are not
    comparable. All arrays are in increasing risk order. Patients join a tie
    group at a time, a Fenwick tree over the keys: before a group joins,
    an event of the group reads its lower-risk comparable patients, after it
    joins also the equal-risk ones; the rest of its comparable patients have a
    higher risk. The tree has one slot per key, so with tied times it is small.
    Writes the counts of the events (censored patients are left as they are)
    unless ``lower`` is empty, and returns the totals (lower, equal, higher).
    """
    n = risk.shape[0]
    keep = lower.shape[0] > 0
    tree = np.zeros(n_keys + 1, dtype=np.int64)
    above = np.zeros(n_keys + 1, dtype=np.int64)  # above[c]: patients with key >= c
    for i in range(n):
        above[key[i]] += 1
    for c in range(n_keys - 1, -1, -1):
        above[c] += above[c + 1]
    tot_lower = 0
    tot_equal = 0
    tot_higher = 0
    inside = 0
    i = 0
    while i < n:
        v = risk[i]
        j = i
        while j < n and risk[j] == v:
            j += 1
        if j == i + 1:  # a risk of its own: no equal-risk pair, one read, one insert
            if event[i]:
                not_above = 0
                pos = key[i] + 1
                while pos > 0:
                    not_above += tree[pos]
                    pos -= pos & -pos
                low = inside - not_above
                tot_lower += low
                tot_higher += above[key[i] + 1] - low
                if keep:
                    lower[i] = low
                    equal[i] = 0
                    higher[i] = above[key[i] + 1] - low
            pos = key[i] + 1
            while pos <= n_keys:
                tree[pos] += 1
                pos += pos & -pos
            inside += 1
            i = j
            continue
        group_lower = 0  # the group's events: pairs with a lower risk,
        group_upto = 0  # with a lower or equal risk, and all their comparable pairs
        group_above = 0
        for step in range(3):  # events read lower risk, the group joins, events read equal
            for k in range(i, j):
                if step == 1:
                    pos = key[k] + 1
                    while pos <= n_keys:
                        tree[pos] += 1
                        pos += pos & -pos
                    inside += 1
                elif event[k]:
                    not_above = 0  # inside with key <= key[k]
                    pos = key[k] + 1
                    while pos > 0:
                        not_above += tree[pos]
                        pos -= pos & -pos
                    if step == 0:
                        group_lower += inside - not_above
                        if keep:
                            lower[k] = inside - not_above
                    else:
                        group_upto += inside - not_above
                        group_above += above[key[k] + 1]
                        if keep:
                            equal[k] = inside - not_above - lower[k]
                            higher[k] = above[key[k] + 1] - lower[k] - equal[k]
        tot_lower += group_lower
        tot_equal += group_upto - group_lower
        tot_higher += group_above - group_upto
        i = j
    return tot_lower, tot_equal, tot_higher


def pair_counts_by_risk(key: np.ndarray, n_keys: int, event: np.ndarray, risk: np.ndarray):
    """(by_risk, lower, equal, higher): the permutation putting patients in increasing
    risk and, in that order, each event's comparable pairs with lower, equal and
    higher risk (zeros for censored patients). ``key`` from :func:`time_keys`."""
    n = len(risk)
    by_risk = ascending_order(risk, stable=False)
    lower = np.zeros(n, dtype=np.int64)
    equal = np.zeros(n, dtype=np.int64)
    higher = np.zeros(n, dtype=np.int64)
    _pair_counts_by_risk(risk[by_risk], key[by_risk], event[by_risk], n_keys, lower, equal, higher)
    return by_risk, lower, equal, higher


def pair_totals(key: np.ndarray, n_keys: int, event: np.ndarray, risk: np.ndarray):
    """(lower, equal, higher) summed over the events: :func:`pair_counts_by_risk`
    without keeping the per-patient counts."""
    by_risk = ascending_order(risk, stable=False)
    none = np.zeros(0, dtype=np.int64)  # totals only: no counts per patient
    tot = _pair_counts_by_risk(risk[by_risk], key[by_risk], event[by_risk], n_keys, none, none, none)
    return int(tot[0]), int(tot[1]), int(tot[2])


@_jit
def _merge_counts(sx, sc):  # pragma: no cover - compiled
    """Walk two ascending arrays together: the distinct values of both (ascending)
    and, per distinct value, how many entries of ``sx`` and of ``sc`` hold it."""
    nx, nc = sx.shape[0], sc.shape[0]
    values = np.empty(nx + nc, dtype=np.float64)
    cx = np.zeros(nx + nc, dtype=np.int64)
    cc = np.zeros(nx + nc, dtype=np.int64)
    a = 0
    b = 0
    m = 0
    while a < nx or b < nc:
        if b >= nc or (a < nx and sx[a] < sc[b]):
            v = sx[a]
        else:
            v = sc[b]
        values[m] = v
        while a < nx and sx[a] == v:
            cx[m] += 1
            a += 1
        while b < nc and sc[b] == v:
            cc[m] += 1
            b += 1
        m += 1
    return values[:m], cx[:m], cc[:m]


@_jit
def placements_in_order(score, n_cases, order):  # pragma: no cover - compiled
    """DeLong placements of the cases (``score[:n_cases]``: P(control < case) + 0.5
    P(tie)) and of the controls (the rest: P(case > control) + 0.5 P(tie)), each at
    its own row, from ``order``, the rows in increasing score: one walk over the
    distinct scores."""
    n = score.shape[0]
    nx = n_cases
    nc = n - n_cases
    out = np.empty(n)
    below_c = 0
    upto_x = 0
    i = 0
    while i < n:
        v = score[order[i]]
        j = i + 1
        while j < n and score[order[j]] == v:
            j += 1
        cx = 0
        for k in range(i, j):
            if order[k] < n_cases:
                cx += 1
        cc = j - i - cx
        upto_x += cx
        p10 = (below_c + 0.5 * cc) / nc
        p01 = (nx - upto_x + 0.5 * cx) / nx
        for k in range(i, j):
            out[order[k]] = p10 if order[k] < n_cases else p01
        below_c += cc
        i = j
    return out


@_jit
def _placement_sums(cx, cc, nx, nc, centre10, centre01, squared):  # pragma: no cover - compiled
    """Over the distinct scores (ascending; ``cx`` cases and ``cc`` controls at each),
    the sums of the case placements (P(control < case) + 0.5 P(tie)) and of the
    control placements (P(case > control) + 0.5 P(tie)) less ``centre10`` and
    ``centre01``, each weighted by its count, squared first when ``squared``."""
    sum10 = 0.0
    sum01 = 0.0
    below_c = 0
    upto_x = 0
    for g in range(cx.shape[0]):
        upto_x += cx[g]
        d10 = (below_c + 0.5 * cc[g]) / nc - centre10
        d01 = (nx - upto_x + 0.5 * cx[g]) / nx - centre01
        if squared:
            sum10 += cx[g] * d10 * d10
            sum01 += cc[g] * d01 * d01
        else:
            sum10 += cx[g] * d10
            sum01 += cc[g] * d01
        below_c += cc[g]
    return sum10, sum01


@_jit
def _roc_from_sorted(sx, sc):  # pragma: no cover - compiled
    """Empirical ROC and DeLong moments from ascending case scores ``sx`` and control
    scores ``sc``.

    Returns tpr, fpr and thresholds (from +inf through midpoints between
    distinct scores to -inf), the index of the last Youden maximum, and the
    mean and sum of squared deviations of the case placements (P(control <
    case) + 0.5 P(tie)) and of the control placements (P(case > control) +
    0.5 P(tie)), each summed over the distinct scores weighted by their counts.
    """
    values, cx, cc = _merge_counts(sx, sc)
    m = values.shape[0]
    nx, nc = sx.shape[0], sc.shape[0]
    tpr = np.empty(m + 1)
    fpr = np.empty(m + 1)
    thresholds = np.empty(m + 1)
    tpr[0] = 0.0
    fpr[0] = 0.0
    thresholds[0] = np.inf
    cum_x = 0
    cum_c = 0
    best = 0
    best_val = 0.0
    for j in range(m):  # distinct scores from the highest down
        g = m - 1 - j
        cum_x += cx[g]
        cum_c += cc[g]
        tpr[j + 1] = cum_x / nx
        fpr[j + 1] = cum_c / nc
        thresholds[j + 1] = (values[g] + values[g - 1]) / 2 if g > 0 else -np.inf
    for j in range(m + 1):
        youden = tpr[j] - fpr[j]
        if youden >= best_val or j == 0:
            best_val = youden
            best = j
    sum10, sum01 = _placement_sums(cx, cc, nx, nc, 0.0, 0.0, False)
    mean10 = sum10 / nx
    mean01 = sum01 / nc
    ss10, ss01 = _placement_sums(cx, cc, nx, nc, mean10, mean01, True)
    return tpr, fpr, thresholds, best, mean10, ss10, mean01, ss01


@_jit
def logistic_terms(y, x, offset, beta):  # pragma: no cover - compiled
    """Score and information of a logistic regression at ``beta`` in one pass over the
    rows: with mu = 1 / (1 + exp(-(offset + x beta))), the score x'(y - mu) and the
    information x' diag(mu (1 - mu)) x (``x`` C-contiguous, n x p)."""
    n, p = x.shape
    score = np.zeros(p)
    info = np.zeros((p, p))
    for i in range(n):
        eta = offset[i]
        for k in range(p):
            eta += x[i, k] * beta[k]
        mu = 1.0 / (1.0 + np.exp(-eta))
        w = mu * (1.0 - mu)
        r = y[i] - mu
        for k in range(p):
            score[k] += x[i, k] * r
            wk = w * x[i, k]
            for m in range(k + 1):
                info[k, m] += wk * x[i, m]
    for k in range(p):
        for m in range(k + 1, p):
            info[k, m] = info[m, k]
    return score, info
