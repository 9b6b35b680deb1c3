"""The AUC within each level from one walk: the same numbers as ``roc`` on the level's rows."""
from __future__ import annotations

import numpy as np
import pytest

from crlm import stats
from crlm.stats.roc_levels import _level_placements, aucs_by_level


def _data(n=600, seed=3):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, n)
    y = rng.random(n) < 0.35 + 0.1 * codes
    score = np.round(rng.normal(y * 0.8, 1.0), 1)      # rounded: many tied scores
    codes[codes == 3] = np.where(y[codes == 3], 3, 2)    # level 3 holds cases only
    return y, score, codes


@pytest.mark.parametrize("presorted", [False, True])
def test_each_level_is_roc_on_its_rows(presorted):
    y, score, codes = _data()
    if presorted:
        order = np.argsort(score, kind="stable")
        y, score, codes = y[order], score[order], codes[order]
    got = aucs_by_level(y, score, codes, 5, presorted=presorted)
    assert got[3] is None and got[4] is None            # one class only; no patient
    for k in range(3):
        want = stats.roc(y[codes == k], score[codes == k])
        res = got[k]
        assert (res.n, res.n_positive) == (want.n, want.n_positive)
        assert res.auc == want.auc and res.auc_ci == want.auc_ci and res.auc_se == want.auc_se


def test_bad_input_is_refused():
    y, score, codes = _data(50)
    with pytest.raises(ValueError, match="ascending"):
        aucs_by_level(y, score, codes, 4, presorted=True)
    with pytest.raises(ValueError, match="codes"):
        aucs_by_level(y, score, codes, 2)
    with pytest.raises(ValueError, match="one value per patient"):
        aucs_by_level(y[:-1], score, codes, 4)
    with pytest.raises(ValueError, match="missing"):
        aucs_by_level(y, np.where(codes == 0, np.nan, score), codes, 4)


def test_the_plain_python_walk_gives_the_same_sums():
    y, score, codes = _data(300, seed=5)
    order = np.argsort(score, kind="stable")
    args = (y[order], score[order], codes[order], 5)
    for got, want in zip(_level_placements(*args), _level_placements.py_func(*args)):
        np.testing.assert_array_equal(got, want)
