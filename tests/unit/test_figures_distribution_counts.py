"""A distribution's bins and counts are NumPy's: ``np.histogram_bin_edges(bins="auto")``
(at most MAX_BINS) and ``np.histogram`` per group, on random data of many shapes."""
import numpy as np
import pandas as pd
import pytest

from crlm.figures.distribution import MAX_BINS, _auto_bin_count, bin_distribution


def _numpy_way(x: np.ndarray, group: np.ndarray | None, log: bool):
    ok = np.isfinite(x)
    values = np.sort(x[ok])
    v = np.log10(values) if log else values
    edges = np.histogram_bin_edges(v, bins="auto")
    if len(edges) - 1 > MAX_BINS:
        edges = np.histogram_bin_edges(v, bins=MAX_BINS)
    w = np.log10(x) if log else x
    if group is None:
        return edges, [np.histogram(w[ok], bins=edges)[0]]
    return edges, [np.histogram(w[ok & (group == k)], bins=edges)[0]
                   for k in sorted(set(group.tolist()))]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [3, 50, 2_000, 30_001])
@pytest.mark.parametrize("grouped", [False, True])
def test_counts_and_edges_equal_numpys(seed, n, grouped):
    rng = np.random.default_rng(seed)
    shape = seed % 3
    x = (np.round(rng.normal(60, 11, n), 1) if shape == 0
         else np.exp(rng.normal(1.5, 1.8, n)) if shape == 1
         else rng.integers(1, 9, n).astype(float))
    x[rng.random(n) < 0.05] = np.nan
    group = rng.integers(0, 3, n) if grouped else None
    binned = bin_distribution(pd.Series(x, index=np.arange(n) + 7),
                              group=None if group is None else pd.Series(group.astype(str)))
    edges, counts = _numpy_way(x, group, binned.log)
    got = np.log10(binned.edges) if binned.log else binned.edges
    assert np.allclose(got, edges, rtol=1e-12, atol=0)
    assert np.array_equal(np.asarray(binned.counts), np.asarray(counts))
    assert binned.missing == int(np.isnan(x).sum())


@pytest.mark.parametrize("x", [[5.0], [2.0, 2.0, 2.0], [1.0, 2.0], [0.1, 0.1, 0.2, 7.0, 9.0]])
def test_auto_bin_count_small(x):
    v = np.sort(np.asarray(x))
    assert _auto_bin_count(v) == len(np.histogram_bin_edges(v, bins="auto")) - 1
