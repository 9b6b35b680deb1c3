"""crlm.stats._sort.ascending_order: the same permutation as NumPy's stable argsort."""
import numpy as np
import pytest

from crlm.stats._sort import ascending_order


def _cases():
    rng = np.random.default_rng(7)
    n = 50_000
    yield "continuous", rng.normal(size=n)
    yield "times to 2 decimals", np.round(rng.exponential(40, n), 2)
    yield "three values", rng.integers(0, 3, n).astype(float)
    yield "all equal", np.full(n, 2.5)
    yield "integers", rng.integers(-10**6, 10**6, n)
    yield "signed zeros and infinities", rng.choice([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf], n)
    yield "NaNs", np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n))
    yield "negative NaN", np.where(rng.random(n) < 0.1, -np.nan, rng.normal(size=n))
    # values that differ only in the lowest mantissa bits: the packed keys cannot tell them
    # apart, the pass over the runs must
    base = 1.0 + np.arange(40) * 2.0 ** -40
    yield "differ in the low bits", rng.permutation(np.tile(base, n // 40))
    yield "subnormals", rng.choice([5e-324, -5e-324, 0.0, 1e-310, -1e-310], n)
    yield "descending", np.arange(n, 0, -1, dtype=float)


@pytest.mark.parametrize("name,values", list(_cases()), ids=[c[0] for c in _cases()])
def test_the_order_is_numpys_stable_argsort(name, values):
    assert np.array_equal(ascending_order(values), np.argsort(values, kind="stable"))


@pytest.mark.parametrize("name,values", list(_cases()), ids=[c[0] for c in _cases()])
def test_the_unstable_order_sorts(name, values):
    order = ascending_order(values, stable=False)
    assert np.array_equal(np.sort(order), np.arange(len(values)))
    assert np.array_equal(values[order], np.sort(values), equal_nan=True)


def test_small_and_empty_inputs():
    assert ascending_order(np.array([])).tolist() == []
    assert ascending_order([3.0, 1.0, 2.0, 1.0]).tolist() == [1, 3, 2, 0]
