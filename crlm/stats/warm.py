"""Load every compiled kernel once, so that the first page a user opens does not wait for it.

numba keeps each kernel's machine code on disk (``cache=True``), but a process still
builds its typing context and loads each kernel's code on the kernel's first call: about
two seconds in all on a 2-core machine, paid by whichever request first reaches a
kernel. ``warm_kernels`` makes those first calls on a few dozen synthetic rows, through
the same public functions the pages call (so with the same argument types); the app runs
it once per server process in a background thread."""
from __future__ import annotations

import threading

import numpy as np

_STARTED: list[threading.Thread] = []
_LOCK = threading.Lock()


def warm_kernels() -> None:
    """Run each statistic that uses a compiled kernel once on small synthetic data."""
    from . import (calibration, concordance_index, cox, delong_test, kaplan_meier_by, logrank,
                   roc, subgroup_effects, time_dependent_auc)
    from ._sort import _SMALL, ascending_order
    from .cox_cells import event_time_ranks
    from .grid_series import series_on_grid
    from .roc_levels import aucs_by_level
    from .survival_discrimination import harrell_c

    rng = np.random.default_rng(0)
    n = 60
    t = np.round(rng.exponential(12.0, n), 1)
    e = rng.random(n) < 0.6
    g = (rng.random(n) < 0.5).astype(np.int64)
    level = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 2))
    y = rng.random(n) < 0.4
    score = np.clip(rng.random(n) * 0.8 + y * 0.2, 0.01, 0.99)
    kaplan_meier_by(t, e, g)
    logrank(t, e, g)
    logrank(t, e, g, strata=level)       # stratified: rows put in stratum order
    cox(t, e, x)                         # with its concordance
    cox(t, e, x[:, 0])                   # one covariate: its own row pass
    concordance_index(t, e, x[:, 0])
    harrell_c(t, e, x[:, 0])
    time_dependent_auc(t, e, x[:, 0], [6.0, 12.0])
    roc(y, score)
    delong_test(y, score, rng.random(n))
    calibration(y, score)
    subgroup_effects(t, e, g, level, min_events=1)
    event_time_ranks(t, e)               # the subgroup pages' ranks, once per cohort
    order = np.argsort(score, kind="stable")
    aucs_by_level(y[order], score[order], level[order], 3, presorted=True)
    ascending_order(rng.normal(size=_SMALL))  # the large-array path of the sorts above
    series_on_grid(np.array([0]), np.array([n]), np.sort(t), score, np.arange(0.0, 12.5, 0.5))


def warm_in_background() -> threading.Thread:
    """``warm_kernels`` in a daemon thread, started once per process (later calls return
    the same thread)."""
    with _LOCK:
        if not _STARTED:
            thread = threading.Thread(target=warm_kernels, name="crlm-warm-kernels",
                                      daemon=True)
            thread.start()
            _STARTED.append(thread)
        return _STARTED[0]
