"""RECIST 1.1 from serial sums of target-lesion diameters, computed one way for the project.

Conventions (Eisenhauer et al., Eur J Cancer 2009;45:228-47, RECIST 1.1), on the sum of
the diameters of the target lesions (at most two per organ, so at most two in the liver):

* percentage change from baseline: ``100 * (sum - baseline) / baseline``;
* complete response (CR): the sum is 0 (every target lesion gone);
* partial response (PR): at least a 30 % decrease from the baseline sum;
* progressive disease (PD): at least a 20 % increase over the smallest sum so far
  (the nadir, baseline included) **and** at least 5 mm (0.5 cm) absolute increase;
* stable disease (SD): neither.

The best overall response is the best category recorded from the start of treatment
until progression; a first evaluation showing progression gives PD. Only target lesions
are read: new lesions and non-target progression (which RECIST also counts as PD) are
not in a sum of diameters, so a series can show SD or PR where the chart says PD.
Confirmation of CR/PR and the minimum duration of SD are not applied.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PR_CHANGE_PCT = -30.0
PD_CHANGE_PCT = 20.0
PD_ABSOLUTE_CM = 0.5
CATEGORIES = ("CR", "PR", "SD", "PD")


def change_from_baseline_pct(baseline, value):
    """Percentage change of ``value`` from ``baseline`` (NaN where the baseline is not > 0)."""
    b = np.asarray(baseline, dtype=float)
    v = np.asarray(value, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, 100.0 * (v - b) / b, np.nan)


def category_from_ratio(ratio) -> np.ndarray:
    """RECIST category codes (0 CR, 1 PR, 2 SD, 3 PD) of best-sum / baseline-sum ratios,
    for a response judged against the baseline (the nadir is the baseline)."""
    r = np.asarray(ratio, dtype=float)
    return np.select([r <= 0.0, r <= 1 + PR_CHANGE_PCT / 100, r >= 1 + PD_CHANGE_PCT / 100],
                     [0, 1, 3], 2)


@dataclass(frozen=True)
class RecistSeries:
    """One patient's derived response: best % change of the target sum from baseline (the
    waterfall's bar), the best overall response, and the day progression was first seen in
    the sums (None if never)."""

    best_change_pct: float
    best_response: str | None
    progression_day: int | None


def derive_series(days, sums) -> RecistSeries:
    """RECIST from one patient's target-lesion sums (cm) on ``days`` (from treatment start).

    The baseline is the last value on or before day 0; without one, or without a later
    value, the response is not evaluable (``best_response`` None).
    """
    d = np.asarray(days, dtype=float)
    s = np.asarray(sums, dtype=float)
    order = np.argsort(d, kind="stable")
    d, s = d[order], s[order]
    keep = np.isfinite(s)
    d, s = d[keep], s[keep]
    base_idx = np.flatnonzero(d <= 0)
    if len(base_idx) == 0 or s[base_idx[-1]] <= 0:
        return RecistSeries(np.nan, None, None)
    baseline = s[base_idx[-1]]
    follow = np.flatnonzero(d > 0)
    if len(follow) == 0:
        return RecistSeries(np.nan, None, None)
    nadir, best, best_change, progression = baseline, None, np.inf, None
    for i in follow:
        value = s[i]
        if value >= nadir * (1 + PD_CHANGE_PCT / 100) and value - nadir >= PD_ABSOLUTE_CM - 1e-9:
            progression = int(d[i])
            break
        change = 100.0 * (value - baseline) / baseline
        code = 0 if value <= 0 else 1 if change <= PR_CHANGE_PCT else 2
        best = code if best is None else min(best, code)
        best_change = min(best_change, change)
        nadir = min(nadir, value)
    all_change = 100.0 * (s[follow].min() - baseline) / baseline
    if best is None:  # progression at the first evaluation
        return RecistSeries(float(all_change), "PD", progression)
    return RecistSeries(float(best_change), CATEGORIES[best], progression)


def derive_frame(measurements: pd.DataFrame) -> pd.DataFrame:
    """Per patient (``patient_id, day, value`` rows of target-lesion sums): baseline sum,
    best % change, derived best response and progression day."""
    rows = []
    for pid, group in measurements.groupby("patient_id", sort=True, observed=True):
        r = derive_series(group["day"].to_numpy(), group["value"].to_numpy())
        base = group.loc[group["day"] <= 0, "value"]
        rows.append({"patient_id": pid, "baseline_sum_cm": float(base.iloc[-1]) if len(base) else np.nan,
                     "best_change_pct": r.best_change_pct, "derived_response": r.best_response,
                     "progression_day": r.progression_day})
    return pd.DataFrame(rows, columns=["patient_id", "baseline_sum_cm", "best_change_pct",
                                       "derived_response", "progression_day"])
