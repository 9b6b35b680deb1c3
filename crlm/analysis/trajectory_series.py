"""Serial measurements as each patient's series, and the median trajectories by group drawn
from them (the conventions are in ``crlm.analysis.trajectories``).

A trajectory is computed in two steps, so that the per-patient work can be done once for
many patients and any subset of them then only grouped:

* :func:`patient_series` — each patient's plotted rows (from the baseline on, relative to
  it) and the series on the monthly grid (interpolated between the patient's own visits,
  never beyond them). One patient's series depends on that patient's rows alone, so the
  series of a subset of patients (``PatientSeries.take``) equals the series computed from
  the subset's rows;
* :func:`by_group` — per group, the median and 25th-75th percentile band across patients at
  each grid point, the number of patients there, and a seeded sample of individual series
  to draw.

:func:`compute_trajectories` runs both on a frame of the store's rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from crlm import config, recist
from crlm.stats.grid_series import series_on_grid
from crlm.stats.sorted_quantiles import sorted_percentiles

GRID_MONTHS = np.arange(0.0, 12.01, 0.5)
MIN_AT_GRID = 10
SPAGHETTI_PER_GROUP = 40
MISSING_GROUP = "unknown"
ROW_COLUMNS = ("day", "months", "value", "baseline", "plotted")


def relative_values(kind: str, value: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """What the trajectory figure plots for ``kind`` (see the module conventions)."""
    if kind == "lesion_count":
        return value
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "cea":
            return np.where(baseline > 0, 100.0 * value / baseline, np.nan)
        return recist.change_from_baseline_pct(baseline, value)


def _interpolate(codes: np.ndarray, months: np.ndarray, values: np.ndarray, n_codes: int,
                 grid: np.ndarray) -> np.ndarray:
    """(n_codes, len(grid)) each patient's series on the grid, NaN outside its own range."""
    if not recist.in_patient_day_order(codes, months):
        order = np.lexsort((months, codes))
        codes, months, values = codes[order], months[order], values[order]
    everyone = np.arange(n_codes)
    return series_on_grid(np.searchsorted(codes, everyone, side="left"),
                          np.searchsorted(codes, everyone, side="right"), months, values, grid)


def concatenated_ranges(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """The positions ``start[i]:stop[i]`` of every i, one after the other."""
    length = stop - start
    total = int(length.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(length)
    return np.arange(total) + np.repeat(start - (ends - length), length)


@dataclass(frozen=True, eq=False)
class PatientSeries:
    """One measurement kind's series of the patients ``ids`` (in this order): patient
    ``i``'s plotted rows are ``start[i]:stop[i]`` of ``rows`` (``ROW_COLUMNS``, by day; none
    for a patient without a baseline or a plotted value), and ``on_grid[i]`` its series on
    ``grid`` (NaN outside its visits; CEA on the log scale). Shared: read only."""

    kind: str
    grid: np.ndarray
    ids: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    rows: dict
    on_grid: np.ndarray = field(repr=False)

    @property
    def plotted(self) -> np.ndarray:
        """Which patients have a plotted row."""
        return self.stop > self.start

    def take(self, patients: np.ndarray) -> "PatientSeries":
        """The series of ``patients`` (positions into ``ids``, in the order wanted)."""
        patients = np.asarray(patients, dtype=np.int64)
        start, stop = self.start[patients], self.stop[patients]
        at = concatenated_ranges(start, stop)
        new_stop = np.cumsum(stop - start)
        return PatientSeries(self.kind, self.grid, self.ids[patients], new_stop - (stop - start),
                             new_stop, {c: v[at] for c, v in self.rows.items()},
                             self.on_grid[patients])


def patient_series(codes: np.ndarray, ids: np.ndarray, day: np.ndarray, value: np.ndarray,
                   kind: str, grid: np.ndarray = GRID_MONTHS) -> PatientSeries:
    """Each patient's series of one kind from its rows (``codes`` into ``ids``, any order):
    one baseline row at day 0 (the last value on or before day 0), then the later rows;
    values relative to the baseline (``relative_values``), rows without a plotted number
    left out. Integer work throughout: 10^6-row inputs stay fast."""
    codes = np.asarray(codes, dtype=np.int64)
    day, value = np.asarray(day, dtype=float), np.asarray(value, dtype=float)
    if not recist.in_patient_day_order(codes, day):       # the store's rows come by patient and day
        order = np.lexsort((day, codes))
        codes, day, value = codes[order], day[order], value[order]
    n = len(ids)
    pre = day <= 0
    base_row = np.full(n, -1)
    np.maximum.at(base_row, codes[pre], np.flatnonzero(pre))
    baseline = np.where(base_row >= 0, value[np.maximum(base_row, 0)], np.nan)
    keep_patient = base_row >= 0
    post = ~pre & keep_patient[codes]
    first = np.flatnonzero(keep_patient)
    out_codes = np.concatenate([first, codes[post]])
    # each patient's baseline row (day 0) before its later rows, which are in day order:
    # a stable sort by patient alone
    order = np.argsort(out_codes, kind="stable")
    out_codes = out_codes[order]
    out_day = np.concatenate([np.zeros(len(first)), day[post]])[order]
    out_value = np.concatenate([baseline[first], value[post]])[order]
    out_baseline = baseline[out_codes]
    shown = relative_values(kind, out_value, out_baseline)
    ok = np.isfinite(shown)
    code = out_codes[ok]
    months = out_day[ok] / config.DAYS_PER_MONTH
    drawn = np.log(np.maximum(shown[ok], 1e-3)) if kind == "cea" else shown[ok]
    grid = np.asarray(grid, float)
    return PatientSeries(
        kind, grid, np.asarray(ids, dtype=object),
        np.searchsorted(code, np.arange(n), side="left"),
        np.searchsorted(code, np.arange(n), side="right"),
        {"day": out_day[ok], "months": months, "value": out_value[ok],
         "baseline": out_baseline[ok], "plotted": shown[ok]},
        _interpolate(code, months, drawn, n, grid))


def group_codes(ids: np.ndarray, groups: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each patient's group (codes into the sorted labels, -1 for a patient ``groups`` does
    not name) and the labels; a missing group value is ``MISSING_GROUP``."""
    group_of = groups.astype(object).where(groups.notna(), MISSING_GROUP)
    group_of.index = group_of.index.astype(str)
    group_of = group_of[~group_of.index.duplicated()]
    where = group_of.index.get_indexer(pd.Index(ids))
    named = where >= 0
    labels, code = np.unique(group_of.to_numpy(dtype=object)[where[named]].astype(str),
                             return_inverse=True)
    out = np.full(len(ids), -1, dtype=np.int64)
    out[named] = code
    return out, labels.astype(object)


@dataclass(frozen=True)
class _PlottedRows:
    """Every row a trajectory figure plots (``table`` makes them a frame)."""

    series: PatientSeries = field(repr=False)
    patients: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    group_code: np.ndarray = field(repr=False)

    def frame(self) -> pd.DataFrame:
        s = self.series
        length = s.stop[self.patients] - s.start[self.patients]
        at = concatenated_ranges(s.start[self.patients], s.stop[self.patients])
        out = pd.DataFrame({"patient_id": np.repeat(s.ids[self.patients], length),
                            "group": np.repeat(self.labels[self.group_code[self.patients]],
                                               length)})
        for name in ROW_COLUMNS:
            out[name] = s.rows[name][at]
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


def by_group(series: PatientSeries, group_code: np.ndarray, labels: np.ndarray, *,
             per_group: int = SPAGHETTI_PER_GROUP, seed: int = 0) -> TrajectoryResult:
    """Median trajectories with bands by group (``group_code``: each patient's code into
    ``labels``; -1 leaves the patient out), and up to ``per_group`` series per group drawn
    with a seeded choice."""
    member = (group_code >= 0) & series.plotted
    names = tuple(sorted(labels[np.unique(group_code[member])],
                         key=lambda g: (g == MISSING_GROUP, g)))
    grid = series.grid
    median, lower, upper, n_at, n_pat = {}, {}, {}, {}, {}
    drawn = []
    rng = np.random.default_rng(seed)
    for g in names:
        patients = np.flatnonzero(member & (group_code == np.searchsorted(labels, g)))
        on_grid = series.on_grid[patients]
        finite = np.isfinite(on_grid)
        count = finite.sum(axis=0)
        q = np.full((3, len(grid)), np.nan)
        # each grid point's finite values in order, the rest (NaN) after them
        by_value = np.sort(on_grid, axis=0)
        for j in np.flatnonzero(count >= MIN_AT_GRID):    # each grid point over its patients
            q[:, j] = sorted_percentiles(by_value[:count[j], j], [25, 50, 75])
        if series.kind == "cea":
            q = np.exp(q)
        lower[g], median[g], upper[g] = q[0], q[1], q[2]
        n_at[g], n_pat[g] = count, len(patients)
        drawn.append(patients if len(patients) <= per_group else
                     np.sort(rng.choice(patients, per_group, replace=False)))
    shown = np.concatenate(drawn) if drawn else np.zeros(0, dtype=np.int64)
    length = series.stop[shown] - series.start[shown]
    at = concatenated_ranges(series.start[shown], series.stop[shown])
    lines = pd.DataFrame({"patient_id": np.repeat(series.ids[shown], length),
                          "group": np.repeat(labels[group_code[shown]], length),
                          "months": series.rows["months"][at],
                          "value": series.rows["plotted"][at]})
    return TrajectoryResult(kind=series.kind, grid_months=grid, groups=names, median=median,
                            lower=lower, upper=upper, n_at_grid=n_at, n_patients=n_pat,
                            lines=lines,
                            rows=_PlottedRows(series, np.flatnonzero(member), labels,
                                              group_code))


def compute_trajectories(measurements: pd.DataFrame, groups: pd.Series, kind: str, *,
                         grid_months: np.ndarray = GRID_MONTHS,
                         per_group: int = SPAGHETTI_PER_GROUP, seed: int = 0) -> TrajectoryResult:
    """Median trajectories with bands by group. ``groups`` is indexed by patient_id (a patient
    without a group value is in ``unknown``; one it does not name is left out);
    ``measurements`` are the store's long rows."""
    rows = (measurements["kind"] == kind).to_numpy()
    codes, uniques = pd.factorize(measurements["patient_id"].to_numpy()[rows], sort=False)
    ids = np.asarray(pd.Index(uniques).astype(str), dtype=object)
    series = patient_series(codes, ids, measurements["day"].to_numpy(float)[rows],
                            measurements["value"].to_numpy(float)[rows], kind, grid_months)
    code, labels = group_codes(ids, groups)
    return by_group(series, code, labels, per_group=per_group, seed=seed)
