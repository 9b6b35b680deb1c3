"""Efron's tie sums of one event time: the power series equals summing the sub-steps one by
one (written out below), and times outside the series' range are summed step by step."""
from __future__ import annotations

import math

import numpy as np
import pytest

from crlm.stats._efron import SERIES_MAX_Q, SERIES_MIN_DEATHS, efron_sums, power_sums


def _by_hand(s0, d0, d, efron=True):
    sums = [0.0] * 5
    log_den = 0.0
    for step in range(d):
        f = step / d if efron else 0.0
        den = s0 - f * d0
        sums[0] += 1 / den
        sums[1] += f / den
        sums[2] += 1 / den ** 2
        sums[3] += f / den ** 2
        sums[4] += f * f / den ** 2
        log_den += math.log(den)
    return (*sums, log_den)


def test_the_power_sums_are_those_of_the_steps():
    table = power_sums(40)
    for d in (1, 2, 7, 40):
        for k in range(table.shape[1]):
            assert table[d, k] == pytest.approx(sum((l / d) ** k for l in range(d)), rel=1e-13)


@pytest.mark.parametrize("d", [SERIES_MIN_DEATHS, 9, 40, 400, 3000])
@pytest.mark.parametrize("q", [1e-6, 3e-4, 0.01, SERIES_MAX_Q])
def test_the_series_equals_the_steps(d, q):
    s0 = 7.3e3 * d
    got = efron_sums(s0, q * s0, d, True, power_sums(d))
    want = _by_hand(s0, q * s0, d)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("d,q", [(3, 0.01), (40, 0.4), (12, 0.999)])
def test_few_deaths_or_a_large_share_are_summed_step_by_step(d, q):
    s0 = 55.0
    got = efron_sums(s0, q * s0, d, True, power_sums(d))
    np.testing.assert_allclose(got, _by_hand(s0, q * s0, d), rtol=1e-13)


def test_breslow_and_a_weight_that_underflowed():
    np.testing.assert_allclose(efron_sums(80.0, 2.0, 20, False, power_sums(20)),
                               _by_hand(80.0, 2.0, 20, efron=False), rtol=1e-13)
    assert efron_sums(0.0, 0.0, 8, True, power_sums(8))[-1] == np.inf
