"""A level's Cox fit compiled whole equals the cell-count fit it stands for."""
from __future__ import annotations

import numpy as np
import pytest

from crlm.stats.cox_cells import cell_counts, event_index, fit_cells
from crlm.stats.cox_two_cells import fit_two_cells


@pytest.mark.parametrize("seed,n,ties", [(1, 60, "efron"), (2, 400, "efron"), (3, 5000, "efron"),
                                         (4, 300, "breslow"), (5, 3000, "efron")])
def test_the_compiled_fit_equals_the_cell_fit(seed, n, ties):
    rng = np.random.default_rng(seed)
    group = (rng.random(n) < 0.4).astype(np.int64)
    # coarse times: many ties, so Efron's sums run both by steps and by series
    time = np.round(rng.exponential(20 / (1 + 0.6 * group)), 0 if seed % 2 else 1) + 0.5
    event = rng.random(n) < 0.7
    counts = cell_counts(event_index(time, event), group, 2)
    want = fit_cells(counts, np.array([0.0, 1.0]), ties)
    got = fit_two_cells(counts, ties)
    assert got.coefficients[0] == pytest.approx(want.coefficients[0], rel=1e-12, abs=1e-15)
    assert got.se[0] == pytest.approx(want.se[0], rel=1e-12)
    assert got.covariance[0, 0] == pytest.approx(want.covariance[0, 0], rel=1e-12)
    assert got.log_likelihood == pytest.approx(want.log_likelihood, rel=1e-14)
    assert got.log_likelihood_null == pytest.approx(want.log_likelihood_null, rel=1e-14)
    assert (got.iterations, got.converged) == (want.iterations, want.converged)


def test_one_cell_or_no_death_is_refused():
    time, event = np.array([1.0, 2.0, 3.0]), np.array([True, False, True])
    with pytest.raises(ValueError, match="constant"):
        fit_two_cells(cell_counts(event_index(time, event), np.zeros(3, np.int64), 2))
    with pytest.raises(ValueError, match="no events"):
        fit_two_cells(cell_counts(event_index(time, np.zeros(3, bool)),
                                  np.array([0, 1, 0]), 2))
