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

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from crlm import config, recist
from crlm.stats.sorted_quantiles import sorted_percentiles

GRID_MONTHS = np.arange(0.0, 12.01, 0.5)
MIN_AT_GRID = 10
SPAGHETTI_PER_GROUP = 40
MAX_WATERFALL_BARS = 2000
CEA_ELEVATED_NG_ML = 5.0
CEA_RESPONSE_FALL = 0.5
LANDMARK_DAY = 56                 # the first restaging at 8 weeks
LANDMARK_WINDOW_DAYS = (28, config.RESTAGING_LANDMARK_DAYS)
MISSING_GROUP = "unknown"


def relative_values(kind: str, value: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """What the trajectory figure plots for ``kind`` (see the module conventions)."""
    if kind == "lesion_count":
        return value
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "cea":
            return np.where(baseline > 0, 100.0 * value / baseline, np.nan)
        return recist.change_from_baseline_pct(baseline, value)


def axis_label(kind: str) -> str:
    return {"cea": "CEA, % of baseline", "target_lesion_sum":
            "Target-lesion sum, % change from baseline",
            "lesion_count": "Visible liver lesions",
            "liver_volume": "Total liver volume, % change from baseline"}.get(kind, kind)


@dataclass(frozen=True)
class _PlottedRows:
    """Every row a trajectory figure plots, as arrays (``table`` makes them a frame)."""

    columns: dict
    ids: np.ndarray
    labels: np.ndarray
    group_code: np.ndarray

    def frame(self) -> pd.DataFrame:
        code = self.columns["code"]
        out = pd.DataFrame({
            "patient_id": pd.Categorical.from_codes(code, categories=pd.Index(self.ids)),
            "group": self.labels[self.group_code[code]]})
        for name in ("day", "months", "value", "baseline", "plotted"):
            out[name] = self.columns[name]
        return out


@dataclass(frozen=True)
class TrajectoryResult:
    """Per group: the median and band on ``grid_months`` (NaN where too few patients),
    patients at each grid point, and a sample of individual series (``lines``: patient_id,
    group, months, value). ``table`` holds every series plotted (for the CSV; made when
    first asked for)."""

    kind: str
    grid_months: np.ndarray
    groups: tuple[str, ...]
    median: dict
    lower: dict
    upper: dict
    n_at_grid: dict
    n_patients: dict
    lines: pd.DataFrame
    rows: _PlottedRows = field(repr=False, compare=False)

    @cached_property
    def table(self) -> pd.DataFrame:
        """``patient_id, group, day, months, value, baseline, plotted`` of every row plotted."""
        return self.rows.frame()

    def summary_table(self) -> pd.DataFrame:
        rows = []
        for g in self.groups:
            for i, t in enumerate(self.grid_months):
                rows.append({"group": g, "months": t, "median": self.median[g][i],
                             "q25": self.lower[g][i], "q75": self.upper[g][i],
                             "n_patients": int(self.n_at_grid[g][i])})
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class _Series:
    """One kind's rows from the baseline on, in patient order, then day: ``code`` (into
    ``ids``, the patients in the order first met), ``day``, ``value``, ``baseline``, and
    each patient's group (``group_code`` into ``labels``; -1: the patient is left out)."""

    code: np.ndarray
    day: np.ndarray
    value: np.ndarray
    baseline: np.ndarray
    ids: np.ndarray
    group_code: np.ndarray
    labels: np.ndarray


def _coded(patient_id: np.ndarray, day: np.ndarray, value: np.ndarray,
           group_of: pd.Series) -> _Series:
    """Rows from the baseline on as integer patient codes, with one baseline row at day 0
    (the last value on or before day 0); patients without a baseline or a group go.
    Integer work throughout: 10^6-row inputs stay fast."""
    codes, uniques = pd.factorize(patient_id, sort=False)
    ids = np.asarray(pd.Index(uniques).astype(str), dtype=object)
    if not recist.in_patient_day_order(codes, day):       # the store's rows come by patient and day
        order = np.lexsort((day, codes))
        codes, day, value = codes[order], day[order], value[order]
    n = len(ids)
    pre = day <= 0
    base_row = np.full(n, -1)
    np.maximum.at(base_row, codes[pre], np.flatnonzero(pre))
    baseline = np.where(base_row >= 0, value[np.maximum(base_row, 0)], np.nan)
    where = group_of.index.get_indexer(pd.Index(ids))
    keep_patient = (base_row >= 0) & (where >= 0)
    post = ~pre & keep_patient[codes]
    first = np.flatnonzero(keep_patient)
    out_codes = np.concatenate([first, codes[post]])
    # each patient's baseline row (day 0) before its later rows, which are in day order:
    # a stable sort by patient alone
    order = np.argsort(out_codes, kind="stable")
    out_codes = out_codes[order]
    # group labels as text, one per patient kept
    group_values = group_of.to_numpy(dtype=object)[where[first]]
    labels, kept_group = np.unique(group_values.astype(str), return_inverse=True)
    group_code = np.full(n, -1)
    group_code[first] = kept_group
    return _Series(code=out_codes,
                   day=np.concatenate([np.zeros(len(first)), day[post]])[order],
                   value=np.concatenate([baseline[first], value[post]])[order],
                   baseline=baseline[out_codes], ids=ids, group_code=group_code,
                   labels=labels.astype(object))


def _interpolate(codes: np.ndarray, months: np.ndarray, values: np.ndarray, n_codes: int,
                 grid: np.ndarray) -> np.ndarray:
    """(n_codes, len(grid)) each patient's series on the grid, NaN outside its own range."""
    if not recist.in_patient_day_order(codes, months):
        order = np.lexsort((months, codes))
        codes, months, values = codes[order], months[order], values[order]
    span = float(grid.max() - min(grid.min(), months.min() if len(months) else 0)) + 1.0
    key = codes * span * 4 + months
    q = (np.arange(n_codes)[:, None] * span * 4 + grid[None, :]).ravel()
    right = np.searchsorted(key, q, side="left")
    right_c = np.clip(right, 0, len(key) - 1)
    left_c = np.clip(right - 1, 0, len(key) - 1)
    qc = np.repeat(np.arange(n_codes), len(grid))
    qt = np.tile(grid, n_codes)
    exact = (right < len(key)) & (codes[right_c] == qc) & (months[right_c] == qt)
    inside = ((right < len(key)) & (right > 0) & (codes[right_c] == qc)
              & (codes[left_c] == qc))
    t0, t1 = months[left_c], months[right_c]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(t1 > t0, (qt - t0) / (t1 - t0), 0.0)
    out = np.where(exact, values[right_c],
                   np.where(inside, values[left_c] + w * (values[right_c] - values[left_c]), np.nan))
    return out.reshape(n_codes, len(grid))


def compute_trajectories(measurements: pd.DataFrame, groups: pd.Series, kind: str, *,
                         grid_months: np.ndarray = GRID_MONTHS,
                         per_group: int = SPAGHETTI_PER_GROUP, seed: int = 0) -> TrajectoryResult:
    """Median trajectories with bands by group. ``groups`` is indexed by patient_id (a patient
    without a group value is in ``unknown``); ``measurements`` are the store's long rows."""
    rows = (measurements["kind"] == kind).to_numpy()
    group_of = groups.astype(object).where(groups.notna(), MISSING_GROUP)
    group_of.index = group_of.index.astype(str)
    group_of = group_of[~group_of.index.duplicated()]
    s = _coded(measurements["patient_id"].to_numpy()[rows],
               measurements["day"].to_numpy(float)[rows],
               measurements["value"].to_numpy(float)[rows], group_of)
    shown = relative_values(kind, s.value, s.baseline)
    keep = np.isfinite(shown)
    code, shown = s.code[keep], shown[keep]
    months = s.day[keep] / config.DAYS_PER_MONTH
    row_group = s.group_code[code]
    present = s.labels[np.unique(row_group)]
    names = tuple(sorted(present, key=lambda g: (g == MISSING_GROUP, g)))
    median, lower, upper, n_at, n_pat = {}, {}, {}, {}, {}
    sample = []
    rng = np.random.default_rng(seed)
    grid = np.asarray(grid_months, float)
    for g in names:
        part = np.flatnonzero(row_group == np.searchsorted(s.labels, g))
        ids, codes = np.unique(code[part], return_inverse=True)
        values = shown[part]
        if kind == "cea":
            values = np.log(np.maximum(values, 1e-3))
        on_grid = _interpolate(codes, months[part], values, len(ids), grid)
        finite = np.isfinite(on_grid)
        count = finite.sum(axis=0)
        q = np.full((3, len(grid)), np.nan)
        enough = count >= MIN_AT_GRID
        # each grid point's finite values in order, the rest (NaN) after them
        by_value = np.sort(np.where(finite, on_grid, np.nan), axis=0)
        for j in np.flatnonzero(enough):    # each grid point over its patients
            q[:, j] = sorted_percentiles(by_value[:count[j], j], [25, 50, 75])
        if kind == "cea":
            q = np.exp(q)
        lower[g], median[g], upper[g] = q[0], q[1], q[2]
        n_at[g], n_pat[g] = count, len(ids)
        chosen = ids if len(ids) <= per_group else np.sort(rng.choice(ids, per_group,
                                                                      replace=False))
        sample.append(part[np.isin(code[part], chosen)])
    drawn = np.concatenate(sample) if sample else np.zeros(0, int)
    lines = pd.DataFrame({"patient_id": s.ids[code[drawn]], "group": s.labels[row_group[drawn]],
                          "months": months[drawn], "value": shown[drawn]})
    kept = {"code": code, "day": s.day[keep], "months": months, "value": s.value[keep],
            "baseline": s.baseline[keep], "plotted": shown}
    return TrajectoryResult(kind=kind, grid_months=grid, groups=names,
                            median=median, lower=lower, upper=upper, n_at_grid=n_at,
                            n_patients=n_pat, lines=lines,
                            rows=_PlottedRows(kept, s.ids, s.labels, s.group_code))


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
    sums = measurements[measurements["kind"] == "target_lesion_sum"]
    derived = recist.derive_frame(sums[["patient_id", "day", "value"]])
    derived = derived[np.isfinite(derived["best_change_pct"])]
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
