"""Efron's tie sums of one event time, by a power series when the time's deaths are a
small part of its risk set.

At an event time with ``d`` deaths, risk-set weight ``s0`` and deaths' weight ``d0``,
Efron's approximation takes ``d`` sub-steps l = 0..d-1 with f = l/d and denominator
den = s0 - f d0. A Cox fit needs, per time, the sums of 1/den, f/den, 1/den^2, f/den^2,
f^2/den^2 and log(den). With q = d0/s0, den = s0 (1 - q f) and each sum is a power
series in q whose coefficients are the power sums F_k(d) = sum over l of (l/d)^k:

    sum 1/den     = (1/s0)   sum_k q^k F_k          sum f/den    = (1/s0) sum_k q^k F_(k+1)
    sum 1/den^2   = (1/s0^2) sum_k (k+1) q^k F_k    sum f/den^2  = ... F_(k+1)
    sum f^2/den^2 = ... F_(k+2)                      sum log(den) = d log s0 - sum_(k>=1) q^k F_k / k

All terms are positive (no cancellation). Every sub-step has q f < q, so with
q <= ``SERIES_MAX_Q`` the terms fall at least as fast as q^k and ``_TERMS`` of them reach
the last bit of a double; the sums then cost O(terms) instead of O(d). A time with few
deaths (the loop is as cheap) or a large q is summed sub-step by sub-step.
"""
from __future__ import annotations

import threading

import numpy as np

from ._compiled import _jit

SERIES_MIN_DEATHS = 6
SERIES_MAX_Q = 0.05
_TERMS = 16              # 0.05 ** 16 * 18 < 1e-19: past the last bit of every sum
_TABLE: list[np.ndarray] = [np.zeros((0, _TERMS + 2))]
_TABLE_LOCK = threading.Lock()


@_jit
def _fill_power_sums(out):  # pragma: no cover - compiled
    """out[d, k] = sum over l = 0..d-1 of (l/d)^k, through the running sums of l^k."""
    kk = out.shape[1]
    running = np.zeros(kk)          # sum of l^k over l < d
    for d in range(out.shape[0]):
        if d > 0:
            scale = 1.0
            for k in range(kk):
                out[d, k] = running[k] / scale
                scale *= d
        power = 1.0
        for k in range(kk):         # add l = d for the next row
            running[k] += power
            power *= d


def power_sums(max_deaths: int) -> np.ndarray:
    """The table of F_k(d) for d = 0..at least ``max_deaths`` (shared: read only)."""
    table = _TABLE[0]
    if table.shape[0] > max_deaths:
        return table
    with _TABLE_LOCK:
        if _TABLE[0].shape[0] <= max_deaths:
            rows = 1 << int(max(max_deaths, 63)).bit_length()
            if rows > 1 << 20:         # d^(k+1) stays within doubles up to here
                return _TABLE[0]
            grown = np.zeros((rows, _TERMS + 2))
            _fill_power_sums(grown)
            grown.flags.writeable = False
            _TABLE[0] = grown
        return _TABLE[0]


@_jit
def efron_sums(s0, d0, d, efron, table):  # pragma: no cover - compiled
    """(sum 1/den, sum f/den, sum 1/den^2, sum f/den^2, sum f^2/den^2, sum log den) of one
    event time; the log is inf when a denominator is not positive."""
    q = d0 / s0 if s0 > 0.0 else np.inf
    if efron and d >= SERIES_MIN_DEATHS and q <= SERIES_MAX_Q and d < table.shape[0]:
        c = 0.0
        e = 0.0
        a2 = 0.0
        b2 = 0.0
        c2 = 0.0
        log_part = 0.0
        qk = 1.0
        for k in range(_TERMS):
            f0 = table[d, k]
            f1 = table[d, k + 1]
            c += qk * f0
            e += qk * f1
            a2 += (k + 1) * qk * f0
            b2 += (k + 1) * qk * f1
            c2 += (k + 1) * qk * table[d, k + 2]
            if k > 0:
                log_part += qk * f0 / k
            qk *= q
            if qk < 1e-22:       # every later term is below the sums' last bit
                break
        inv = 1.0 / s0
        inv2 = inv * inv
        return c * inv, e * inv, a2 * inv2, b2 * inv2, c2 * inv2, d * np.log(s0) - log_part
    c = 0.0
    e = 0.0
    a2 = 0.0
    b2 = 0.0
    c2 = 0.0
    log_den = 0.0
    product = 1.0          # of the dens, one log per time (or when it grows large)
    per_step = 1.0 / d if efron else 0.0
    for step in range(d):
        f = step * per_step
        den = s0 - f * d0
        if den <= 0.0:        # every weight underflowed: this step is not taken
            return c, e, a2, b2, c2, np.inf
        inv = 1.0 / den
        product *= den
        if product > 1e250 or product < 1e-250:
            log_den += np.log(product)
            product = 1.0
        c += inv
        e += f * inv
        inv2 = inv * inv
        a2 += inv2
        b2 += f * inv2
        c2 += f * f * inv2
    return c, e, a2, b2, c2, log_den + np.log(product)
