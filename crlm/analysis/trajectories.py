"""Trajectories of serial measurements: the Cohort page's spaghetti plot and waterfall, and
the Survival page's landmark analysis by early CEA response. Pure functions of frames.

Conventions:

* time is months from the start of first-line treatment (``day / config.DAYS_PER_MONTH``);
* a trajectory is shown relative to the patient's baseline (the last value on or before
  day 0): % change for the target-lesion sum, % of baseline (log axis) for CEA, the count
  itself for lesion counts;
* the median trajectory and its band (25th-75th percentile) are taken across patients on
  a monthly grid, each patient's series interpolated linearly between its own visits and
  never extrapolated beyond its first and last visit; a grid point with fewer than
  ``MIN_AT_GRID`` patients is left out;
* the waterfall's bar is the best % change of the target-lesion sum (``crlm.recist``),
  one bar per evaluable patient, sorted from the largest increase to the largest decrease;
* early CEA response: baseline CEA > ``CEA_ELEVATED_NG_ML`` and a fall of at least
  ``CEA_RESPONSE_FALL`` at the visit nearest the landmark within its window. The landmark
  analysis keeps only patients still event-free and followed at the landmark and measures
  time from the landmark (Anderson et al., J Clin Oncol 1983: avoids guarantee-time bias).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crlm import config, recist
from crlm.analysis.trajectory_series import (  # noqa: F401 - the trajectories' public names
    GRID_MONTHS, MIN_AT_GRID, MISSING_GROUP, SPAGHETTI_PER_GROUP, TrajectoryResult,
    compute_trajectories, relative_values,
)

MAX_WATERFALL_BARS = 2000
CEA_ELEVATED_NG_ML = 5.0
CEA_RESPONSE_FALL = 0.5
LANDMARK_DAY = 56                 # the first restaging at 8 weeks
LANDMARK_WINDOW_DAYS = (28, config.RESTAGING_LANDMARK_DAYS)


def axis_label(kind: str) -> str:
    return {"cea": "CEA, % of baseline", "target_lesion_sum":
            "Target-lesion sum, % change from baseline",
            "lesion_count": "Visible liver lesions",
            "liver_volume": "Total liver volume, % change from baseline"}.get(kind, kind)


@dataclass(frozen=True)
class WaterfallResult:
    """One bar per evaluable patient (best % change of the target-lesion sum), sorted from
    the largest increase down; ``shown`` is the bars drawn (evenly thinned by rank above
    ``MAX_WATERFALL_BARS``) and ``table`` every patient."""

    table: pd.DataFrame
    shown: pd.DataFrame
    n_patients: int
    thinned: bool


def compute_waterfall(measurements: pd.DataFrame, groups: pd.Series | None = None, *,
                      max_bars: int = MAX_WATERFALL_BARS) -> WaterfallResult:
    """The waterfall of the store's long rows (their target-lesion sums)."""
    sums = (measurements["kind"] == "target_lesion_sum").to_numpy()
    derived = recist.derive_frame(measurements.loc[sums, ["patient_id", "day", "value"]])
    return waterfall_of(derived, groups, max_bars=max_bars)


def waterfall_of(derived: pd.DataFrame, groups: pd.Series | None = None, *,
                 max_bars: int = MAX_WATERFALL_BARS) -> WaterfallResult:
    """The waterfall of patients' derived responses (``recist.derive_frame``): those with a
    best change, and with ``groups`` (indexed by patient_id) those it names, in its group
    (a missing value: ``unknown``)."""
    derived = derived[np.isfinite(derived["best_change_pct"].to_numpy(float))]
    if groups is not None:
        group_of = groups.astype(object).where(groups.notna(), MISSING_GROUP)
        derived = derived[derived["patient_id"].isin(group_of.index)]
        derived = derived.assign(group=derived["patient_id"].map(group_of).astype(str))
    table = derived.sort_values("best_change_pct", ascending=False,
                                kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    thinned = len(table) > max_bars
    shown = table.iloc[np.unique(np.linspace(0, len(table) - 1, max_bars).round().astype(int))] \
        if thinned else table
    return WaterfallResult(table=table, shown=shown.reset_index(drop=True),
                           n_patients=len(table), thinned=thinned)


def early_cea_response(measurements: pd.DataFrame, *, landmark_day: int = LANDMARK_DAY,
                       window: tuple[int, int] = LANDMARK_WINDOW_DAYS,
                       elevated: float = CEA_ELEVATED_NG_ML,
                       fall: float = CEA_RESPONSE_FALL) -> pd.DataFrame:
    """Per patient with an elevated baseline CEA and a value in the landmark window:
    baseline, value nearest the landmark (the earlier on a tie), its day, ratio and
    ``cea_response`` (ratio <= 1 - fall). Reads no value after ``window[1]``."""
    c = measurements[((measurements["kind"] == "cea") & (measurements["day"] <= window[1]))
                     .to_numpy()]
    codes, uniques = pd.factorize(c["patient_id"].astype(str).to_numpy(), sort=True)
    day = c["day"].to_numpy(float)
    value = c["value"].to_numpy(float)
    n = len(uniques)
    pre = day <= 0
    # baseline: the last value on or before day 0
    base_key = np.where(pre, day, -np.inf)
    order = np.lexsort((base_key, codes))
    last = np.r_[codes[order][1:] != codes[order][:-1], True] if len(order) else np.zeros(0, bool)
    baseline = np.full(n, np.nan)
    rows = order[last]
    baseline[codes[rows]] = np.where(pre[rows], value[rows], np.nan)
    # the value nearest the landmark within the window (the earlier day on a tie)
    inside = (day >= window[0]) & (day <= window[1])
    distance = np.where(inside, np.abs(day - landmark_day), np.inf)
    order = np.lexsort((day, distance, codes))
    first = np.r_[True, codes[order][1:] != codes[order][:-1]] if len(order) else np.zeros(0, bool)
    rows = order[first]
    at = np.full(n, np.nan)
    at_day = np.full(n, np.nan)
    ok = inside[rows]
    at[codes[rows[ok]]] = value[rows[ok]]
    at_day[codes[rows[ok]]] = day[rows[ok]]
    keep = np.isfinite(at)
    return cea_response_from_values(pd.DataFrame({
        "patient_id": uniques[keep].astype(object), "baseline": baseline[keep],
        "day": at_day[keep], "value": at[keep]}), elevated=elevated, fall=fall)


def cea_response_from_values(values: pd.DataFrame, *, elevated: float = CEA_ELEVATED_NG_ML,
                             fall: float = CEA_RESPONSE_FALL) -> pd.DataFrame:
    """Early CEA response from per-patient ``patient_id, baseline, day, value`` (the value
    nearest the landmark; ``crlm.store.load_landmark_values`` gives them in one query)."""
    v = values[values["baseline"].to_numpy(float) > elevated]
    out = pd.DataFrame({"patient_id": v["patient_id"].astype(object).to_numpy(),
                        "baseline_cea": v["baseline"].to_numpy(float),
                        "cea_day": v["day"].to_numpy(float),
                        "cea_at_landmark": v["value"].to_numpy(float)})
    out["cea_ratio"] = out["cea_at_landmark"] / out["baseline_cea"]
    out["cea_response"] = out["cea_ratio"] <= 1 - fall
    return out


@dataclass(frozen=True)
class LandmarkData:
    """Patients in a landmark analysis: ``time`` (months from the landmark), ``event`` and
    ``group``; ``excluded`` counts who left before the landmark and why."""

    landmark_months: float
    frame: pd.DataFrame
    excluded: dict


def landmark_frame(patients: pd.DataFrame, groups: pd.Series, *, time_column: str,
                   event_column: str, landmark_day: int = config.RESTAGING_LANDMARK_DAYS
                   ) -> LandmarkData:
    """Patients event-free and still followed at the landmark, time measured from it.

    ``groups`` is indexed by patient_id (no value: the patient is not in the analysis).
    """
    landmark = landmark_day / config.DAYS_PER_MONTH
    p = patients[["patient_id", time_column, event_column]].dropna()
    p = p.assign(group=p["patient_id"].map(groups))
    no_group = int(p["group"].isna().sum())
    p = p[p["group"].notna()]
    before = p[time_column].astype(float) <= landmark
    events_before = int((before & p[event_column].astype(bool)).sum())
    censored_before = int((before & ~p[event_column].astype(bool)).sum())
    kept = p[~before]
    frame = pd.DataFrame({"patient_id": kept["patient_id"].to_numpy(),
                          "time": kept[time_column].astype(float).to_numpy() - landmark,
                          "event": kept[event_column].astype(bool).to_numpy(),
                          "group": kept["group"].astype(str).to_numpy()})
    return LandmarkData(landmark_months=landmark, frame=frame,
                        excluded={"no early value": no_group, "event before the landmark":
                                  events_before, "censored before the landmark": censored_before})


@dataclass(frozen=True)
class CaseSeries:
    """One case's entered series of one kind, checked: ``frame`` (day, value, months,
    plotted), ``problems`` (one line each, by row), and what the series says by the
    conventions above (``summary``: change at the last value, RECIST, CEA response)."""

    kind: str
    frame: pd.DataFrame
    problems: tuple[str, ...]
    summary: dict


def case_series(entries: pd.DataFrame, kind: str) -> CaseSeries:
    """Check an entered series (columns ``day``, ``value``; rows with both empty are
    ignored): days in -365 ... 3,650, values numbers within the kind's range, one baseline
    on or before day 0, one value a day."""
    spec = config.MEASUREMENT_KINDS[kind]
    raw = entries.loc[:, ["day", "value"]].copy()
    raw = raw[~(raw["day"].isna() & raw["value"].isna())].reset_index(drop=True)
    problems = []
    day = pd.to_numeric(raw["day"], errors="coerce")
    value = pd.to_numeric(raw["value"], errors="coerce")
    for i in range(len(raw)):
        if not np.isfinite(day[i]) or not -365 <= day[i] <= 3650:
            problems.append(f"row {i + 1}: day must be a number from -365 to 3,650")
        if not np.isfinite(value[i]) or not spec.lo <= value[i] <= spec.hi:
            problems.append(f"row {i + 1}: {spec.label} must be a number from {spec.lo:g} to "
                            f"{spec.hi:g} {spec.unit}")
    frame = pd.DataFrame({"day": day, "value": value}).dropna()
    if frame["day"].duplicated().any():
        problems.append("two values on the same day")
    if not (frame["day"] <= 0).any():
        problems.append("a baseline value (day 0 or before) is needed")
    if problems:
        return CaseSeries(kind, frame.iloc[:0], tuple(problems), {})
    frame = frame.sort_values("day").reset_index(drop=True)
    baseline = float(frame.loc[frame["day"] <= 0, "value"].iloc[-1])
    shown = frame[frame["day"] >= 0] if (frame["day"] == 0).any() else pd.concat(
        [pd.DataFrame({"day": [0.0], "value": [baseline]}), frame[frame["day"] > 0]])
    shown = shown.assign(months=shown["day"] / config.DAYS_PER_MONTH,
                         plotted=relative_values(kind, shown["value"].to_numpy(float),
                                                 np.full(len(shown), baseline)))
    summary: dict = {"baseline": baseline}
    later = frame[frame["day"] > 0]
    if len(later):
        summary["last_day"] = int(later["day"].iloc[-1])
        summary["last_change_pct"] = float(recist.change_from_baseline_pct(
            baseline, later["value"].iloc[-1]))
    if kind == "target_lesion_sum":
        r = recist.derive_series(frame["day"], frame["value"])
        summary["recist"] = r.best_response
        summary["best_change_pct"] = r.best_change_pct
    if kind == "cea":
        m = frame.assign(patient_id="case", kind="cea")
        early = early_cea_response(m)
        summary["cea_response"] = None if early.empty else bool(early["cea_response"].iloc[0])
    return CaseSeries(kind, shown.reset_index(drop=True), (), summary)
