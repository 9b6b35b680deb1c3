"""Whether a model's scores of new patients sit on the scale of its out-of-fold scores.

The refitted model scores a new case; its fold models scored the out-of-fold patients
whose outcomes calibrate the scores (``crlm.models.absolute``). The calibration only
transfers when both are on one scale.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# The refitted model scores the case; its fold models scored the out-of-fold patients.
# Where the refitted model's external scores sit more than this many out-of-fold
# standard deviations from the out-of-fold median, the two are not on one scale and the
# calibration does not transfer: no absolute survival then.
MAX_SCALE_SHIFT_SD = 1.0
# Families whose risk score sums the cumulative hazard over the training event times
# (sksurv's random survival forest): a fold model trained on fewer patients sums over
# fewer times, so its scores and the refitted model's are put on one scale by dividing
# each by its model's number of distinct training event times (``per_event_time``).
SUMMED_HAZARD_FAMILIES = ("rsf",)


def per_event_time(oof_scores, folds, time, event) -> tuple[np.ndarray, float]:
    """A summed-hazard score per training event time: each out-of-fold score divided by
    the number of distinct event times its fold model was trained on (those of the other
    folds' patients), and the factor (one over the number of distinct event times of all
    of them, the refitted model's) that puts the refitted model's scores on that scale."""
    scores = np.asarray(oof_scores, dtype=float)
    folds = np.asarray(pd.array(folds, dtype="Int64").to_numpy(dtype=float, na_value=np.nan))
    event = np.asarray(event, dtype=bool)
    event_times = np.asarray(time, dtype=float)[event]
    n_all = len(np.unique(event_times))
    if not n_all:
        return scores, 1.0
    out = scores / n_all
    for f in np.unique(folds[np.isfinite(folds)]):
        n_f = len(np.unique(event_times[folds[event] != f]))
        if n_f:
            out[folds == f] = scores[folds == f] / n_f
    return out, 1.0 / n_all


def scale_shift(oof_scores, external_scores) -> float:
    """Median of the external scores minus that of the out-of-fold scores, in out-of-fold
    standard deviations (NaN without external scores)."""
    oof = np.asarray(oof_scores, dtype=float)
    ext = np.asarray(external_scores, dtype=float)
    ext = ext[np.isfinite(ext)]
    sd = float(np.std(oof))
    if not len(ext) or not sd:
        return float("nan")
    return float((np.median(ext) - np.median(oof)) / sd)
