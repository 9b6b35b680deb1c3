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


def in_patient_day_order(codes: np.ndarray, day: np.ndarray) -> bool:
    """Whether rows already come by patient code, then day."""
    if len(codes) < 2:
        return True
    step = np.diff(codes)
    return bool((step >= 0).all() and (np.diff(day)[step == 0] >= 0).all())


def derive_frame(measurements: pd.DataFrame) -> pd.DataFrame:
    """Per patient (``patient_id, day, value`` rows of target-lesion sums): baseline sum,
    best % change, derived best response and progression day; :func:`derive_series`
    vectorised over patients (a loop over visit positions, not over patients)."""
    columns = ["patient_id", "baseline_sum_cm", "best_change_pct", "derived_response",
               "progression_day"]
    m = measurements[["patient_id", "day", "value"]].copy()
    m["patient_id"] = m["patient_id"].astype(str)
    m = m[np.isfinite(m["value"].to_numpy(float))]
    if m.empty:
        return pd.DataFrame(columns=columns)
    # patients as codes into their sorted ids, rows by patient then day (stable): the order
    # of sorting by the ids themselves, without comparing text per row
    codes, ids = pd.factorize(m["patient_id"].to_numpy(), sort=True)
    day = m["day"].to_numpy(float)
    value = m["value"].to_numpy(float)
    if not in_patient_day_order(codes, day):
        order = np.lexsort((day, codes))      # the store's rows already come in this order
        codes, day, value = codes[order], day[order], value[order]
    ids = np.asarray(ids, dtype=object)
    n = len(ids)
    # each patient's last row on or before day 0 (rows by patient, then day)
    base_row = np.full(n, -1)
    np.maximum.at(base_row, codes, np.where(day <= 0, np.arange(len(codes)), -1))
    baseline = np.full(n, np.nan)
    has = base_row >= 0
    baseline[has] = value[base_row[has]]
    follow = day > 0
    fc, fd, fv = codes[follow], day[follow], value[follow]
    # the visit's place among the patient's follow-up visits (``fc`` is sorted)
    position = np.arange(len(fc)) - np.searchsorted(fc, fc, side="left")
    width = int(position.max()) + 1 if len(position) else 0
    days = np.full((n, width), np.nan)
    sums = np.full((n, width), np.nan)
    days[fc, position] = fd
    sums[fc, position] = fv
    valid = np.isfinite(baseline) & (baseline > 0)
    nadir = baseline.copy()
    best = np.full(n, 9)
    best_change = np.full(n, np.inf)
    progression = np.full(n, np.nan)
    stopped = ~valid
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(width):
            v = sums[:, j]
            here = ~stopped & np.isfinite(v)
            progress = here & (v >= nadir * (1 + PD_CHANGE_PCT / 100)) & \
                (v - nadir >= PD_ABSOLUTE_CM - 1e-9)
            progression[progress] = days[progress, j]
            stopped |= progress
            ok = here & ~progress
            change = 100.0 * (v - baseline) / baseline
            code = np.where(v <= 0, 0, np.where(change <= PR_CHANGE_PCT, 1, 2))
            best = np.where(ok, np.minimum(best, code), best)
            best_change = np.where(ok, np.minimum(best_change, change), best_change)
            nadir = np.where(ok, np.minimum(nadir, v), nadir)
        any_follow = np.isfinite(sums).any(axis=1) if width else np.zeros(n, bool)
        all_min = np.nanmin(np.where(np.isfinite(sums), sums, np.inf), axis=1) if width else \
            np.full(n, np.inf)
        all_change = 100.0 * (all_min - baseline) / baseline
    evaluable = valid & any_follow
    labels = np.asarray(CATEGORIES + ("PD",), dtype=object)
    response = np.where(best < 9, labels[np.minimum(best, 4)], "PD").astype(object)
    response[~evaluable] = None
    change = np.where(best < 9, best_change, all_change)
    change[~evaluable] = np.nan
    return pd.DataFrame({
        "patient_id": ids, "baseline_sum_cm": baseline, "best_change_pct": change,
        "derived_response": response,
        "progression_day": _whole_days(progression),
    }, columns=columns)


def take_derived(derived: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """Rows ``rows`` of a ``derive_frame`` result: the frame ``derive_frame`` gives for
    those patients' own rows (one patient's response depends on its rows alone)."""
    if len(rows) == 0:
        return derive_frame(pd.DataFrame(columns=["patient_id", "day", "value"]))
    out = derived.iloc[rows].reset_index(drop=True)
    out["progression_day"] = _whole_days(out["progression_day"].to_numpy(dtype=float,
                                                                         na_value=np.nan))
    return out


def _whole_days(days: np.ndarray) -> list:
    """Days as Python ints, None where missing (the column pandas makes of such a list)."""
    out = np.full(len(days), None, dtype=object)
    known = np.isfinite(days)
    out[known] = days[known].astype(np.int64).tolist()
    return out.tolist()
