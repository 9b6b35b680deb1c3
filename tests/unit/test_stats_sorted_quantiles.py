"""Quantiles read from sorted values are np.percentile's numbers, bit for bit."""
import numpy as np
import pytest

from crlm.stats.sorted_quantiles import sorted_median, sorted_percentiles

PERCENTS = [0, 1, 12.5, 25, 33.3, 50, 66.7, 75, 90, 99.9, 100]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 10, 101, 1000, 4097])
@pytest.mark.parametrize("kind", ["normal", "ties", "integers", "skewed", "negative"])
def test_same_bits_as_numpy(n, kind):
    rng = np.random.default_rng(n)
    x = {"normal": rng.normal(60, 11, n),
         "ties": np.round(rng.normal(60, 11, n), 1),
         "integers": rng.integers(0, 6, n).astype(float),
         "skewed": np.exp(rng.normal(1, 2, n)),
         "negative": -np.abs(rng.standard_cauchy(n))}[kind]
    s = np.sort(x)
    got = sorted_percentiles(s, PERCENTS)
    want = np.percentile(x, PERCENTS)
    assert got.tobytes() == want.tobytes(), (got, want)
    assert np.float64(sorted_median(s)).tobytes() == np.float64(np.median(x)).tobytes()


def test_empty_and_out_of_range():
    assert np.isnan(sorted_percentiles(np.array([]), [25, 50])).all()
    assert np.isnan(sorted_median(np.array([])))
    with pytest.raises(ValueError, match="between 0 and 100"):
        sorted_percentiles(np.array([1.0, 2.0]), [101])


def test_reads_positions_so_unsorted_input_gives_other_numbers():
    x = np.array([5.0, 1.0, 3.0])
    assert sorted_percentiles(x, [0])[0] == 5.0      # the first position, not the minimum
    assert sorted_percentiles(np.sort(x), [0])[0] == 1.0
