"""The Subgroups page's numbers: does a response model's split of survival, and its
discrimination, hold within each level of RAS/KRAS, tumour burden, sidedness, BRAF, MSI,
Fong group, centre (and the cohort's own variables)? (A cohort's own variable, such as a
trial's arm, compared within subgroups: ``crlm.analysis.subgroup_arms``.)

Each function takes a ``Snapshot``, a filter key (``snapshot.filter_key``) and the page's
choices, all hashable, and is cached on exactly those (``snapshot.memo``):

* :func:`forest` — per level the hazard ratio of predicted responders vs non-responders
  (Cox, Efron ties) and the likelihood-ratio interaction p per variable;
* :func:`auc_by_level` — the model's AUC with its DeLong CI per level;
* ``crlm.analysis.subgroup_panels.km_panels`` — Kaplan–Meier curves by predicted
  response per level of one variable, with the log-rank p (the same reads).

The model's predictions over the whole cohort, with every endpoint, the task's target and
the subgroup columns, are read once per data version and model, and the subgroup columns
coded once; a new filter only selects rows (the row ids it matches, as on the Survival
page). The statistics are ``crlm.stats``' (``subgroup_effects_by``, ``aucs_by_level``,
``kaplan_meier``, ``logrank``). :func:`predictions` (the R export's frame, on request)
reads the cohort's predictions with their identifiers and keeps the filter's rows.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from crlm import config, stats
from crlm import store as st
from crlm.analysis import extras
from crlm.analysis.pages import (
    SUBGROUP_COLUMNS, SUBGROUP_MIN_EVENTS, SUBGROUP_MIN_PATIENTS_AUC, subgroup_levels,
)
from crlm.analysis.snapshot import Snapshot, memo
from crlm.analysis.selection import row_index, selected
from crlm.figures.forest import auc_rows, forest_rows
from crlm.models import TASKS
from crlm.store.cohort_predictions import load_cohort_predictions
from crlm.stats.cox_cells import EventTimeRanks, event_time_ranks
from crlm.stats.roc_levels import aucs_by_level
from crlm.stats.subgroups import SubgroupTimes, subgroup_effects_by, subgroup_times

PREDICTION_SPLITS = ("out-of-fold", "external")
# offered besides the default subgroups where the cohort records them (not drawn unasked)
MORE_SUBGROUP_COLUMNS = ("growth_pattern",)
_ENDPOINT_COLUMNS = tuple(c for pair in config.ENDPOINTS.values() for c in pair)


# -- the cohort's own variables -------------------------------------------------------
@memo(maxsize=16)
def extra_variables(snap: Snapshot) -> tuple[extras.ExtraVariable, ...]:
    """The cohort's own variables (``extras.load_extra_variables``)."""
    return extras.load_extra_variables(snap.store(), snap.cohort)


@memo(maxsize=8)
def _extra_values(snap: Snapshot) -> pd.DataFrame:
    return st.load_features(snap.store(), snap.cohort, ("extra",))


def with_extras(snap: Snapshot, frame: pd.DataFrame) -> pd.DataFrame:
    variables = extra_variables(snap)
    if not variables:
        return frame
    return extras.with_extra_values(frame, _extra_values(snap), variables)


def own_variable(snap: Snapshot, column: str) -> extras.ExtraVariable:
    """The cohort's own variable ``column`` (``extra:name``); ValueError naming it when the
    cohort has none such."""
    for v in extra_variables(snap):
        if v.key == column:
            return v
    raise ValueError(f"{column!r} is not one of this cohort's own variables")


def variable_label(snap: Snapshot, column: str) -> str:
    """A subgroup variable's name on the page (an own variable by its mapping label)."""
    if extras.is_extra(column):
        return own_variable(snap, column).label
    if column not in config.COLUMNS_BY_NAME:
        raise ValueError(f"{column!r} is not a subgroup variable")
    return config.COLUMNS_BY_NAME[column].label


def variable_labels(snap: Snapshot, columns) -> list[str]:
    """The labels of ``columns``, one per column and all different: an own variable named
    like another column is marked as the cohort's own (and by its key if still alike)."""
    labels = [variable_label(snap, c) for c in columns]
    out = [f"{label} (this cohort's variable)" if extras.is_extra(c) and labels.count(label) > 1
           else label for c, label in zip(columns, labels)]
    return [f"{label} [{c}]" if out.count(label) > 1 else label for c, label in zip(columns, out)]


def endpoint_columns(endpoint: str) -> tuple[str, str]:
    """An endpoint's (time, event) columns; ValueError naming an unknown one."""
    if endpoint not in config.ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r} (one of {', '.join(config.ENDPOINTS)})")
    return config.ENDPOINTS[endpoint]


# -- levels ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Levels:
    """A subgroup variable over some patients: a code per patient into ``names`` (sorted)
    and the present names in display order."""

    codes: np.ndarray
    names: tuple[str, ...]
    order: tuple[str, ...]

    def groups(self) -> np.ndarray:
        return np.asarray(self.names, dtype=object)[self.codes]


def _sorted_codes(values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    codes, uniques = pd.factorize(values, sort=True)
    return np.asarray(codes, dtype=np.int64), tuple(str(v) for v in uniques)


def _contract_codes(series: pd.Series, column: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """``subgroup_levels`` of ``series`` as codes: its few distinct values named once."""
    raw, uniques = pd.factorize(series, use_na_sentinel=True)
    raw = np.asarray(raw, dtype=np.int64)
    values = list(uniques) + ([None] if (raw < 0).any() else [])   # None: "unknown"
    names = [str(v) for v in subgroup_levels(pd.Series(values, dtype=object), column)]
    present = sorted(set(names))
    position = np.array([present.index(name) for name in names] or [0], dtype=np.int64)
    return position[np.where(raw < 0, len(uniques), raw)], tuple(present)


def levels(snap: Snapshot, frame: pd.DataFrame, column: str) -> Levels:
    """The levels of ``column`` over the rows of ``frame`` (an own numeric variable cut at
    the median of these rows; missing values ``unknown``)."""
    if extras.is_extra(column):
        groups = extras.extra_groups(frame[column], own_variable(snap, column))
        codes, names = _sorted_codes(groups.groups)
        return Levels(codes, names, tuple(extras.order_groups(names, own_variable(snap, column))))
    codes, names = _contract_codes(frame[column], column)
    known = [lv for lv in config.COLUMNS_BY_NAME[column].levels if lv in names]
    return Levels(codes, names, tuple(known + sorted(lv for lv in names if lv not in known)))


# -- predictions ----------------------------------------------------------------------
_COLUMNS_READ = tuple(SUBGROUP_COLUMNS) + MORE_SUBGROUP_COLUMNS


def _prediction_columns(task: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*_ENDPOINT_COLUMNS, TASKS[task].target, *_COLUMNS_READ]))


# the R export's frame, read on request; the page's numbers come from the cohort's rows
@memo(maxsize=4)
def predictions(snap: Snapshot, key: tuple, task: str, model_id: str) -> pd.DataFrame:
    """One out-of-fold or external prediction per filtered patient, with every endpoint,
    the task's target, the subgroup columns and the cohort's own variables (read only)."""
    frame = load_cohort_predictions(snap.store(), snap.cohort, task=task, model_id=model_id,
                                    splits=PREDICTION_SPLITS, columns=_prediction_columns(task),
                                    with_ids=True)
    at = row_index(snap).position(frame.pop("rowid").to_numpy(np.int64))
    keep = (at >= 0) & selected(snap, key)[at]     # every row read is the cohort's
    preds = frame[keep].reset_index(drop=True)
    for c in preds.columns:   # the levels of the filtered patients only
        if isinstance(preds[c].dtype, pd.CategoricalDtype):
            preds[c] = preds[c].cat.remove_unused_categories()
    return with_extras(snap, preds)


def prediction_data(snap: Snapshot, key: tuple, task: str, model_id: str, threshold: float,
                    endpoint: str) -> pd.DataFrame:
    """The predictions with ``predicted`` (score >= threshold), for the R export."""
    preds = predictions(snap, key, task, model_id)
    preds = preds.astype({c: object for c in preds.columns
                          if isinstance(preds[c].dtype, pd.CategoricalDtype)})
    return preds.assign(predicted=(preds["score"].to_numpy(float) >= threshold).astype(int))


@dataclass(frozen=True, eq=False)
class _Scored:
    """The cohort's patients with a prediction of one model (one each), read once per
    data version: their rows in the table's order (``frame``: score, endpoints, target,
    subgroup columns, own variables; no identifier) and each row's ``position`` among
    the cohort's rows (what ``survival_split.selected`` masks)."""

    frame: pd.DataFrame
    position: np.ndarray
    score: np.ndarray


@memo(maxsize=4)
def scored(snap: Snapshot, task: str, model_id: str) -> _Scored:
    ids = bool(extra_variables(snap))     # the own variables are joined on the identifier
    frame = load_cohort_predictions(snap.store(), snap.cohort, task=task, model_id=model_id,
                                    splits=PREDICTION_SPLITS, columns=_prediction_columns(task),
                                    with_ids=ids)
    if ids:
        frame = with_extras(snap, frame).drop(columns="patient_id")
    position = row_index(snap).position(frame.pop("rowid").to_numpy(np.int64))
    return _Scored(frame, _read_only(position), _read_only(frame["score"].to_numpy(float)))


def _read_only(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False
    return values


@memo(maxsize=16)
def _rows(snap: Snapshot, key: tuple, task: str, model_id: str) -> np.ndarray:
    """The filtered patients' rows of ``scored`` (increasing)."""
    data = scored(snap, task, model_id)
    return _read_only(np.flatnonzero(selected(snap, key)[data.position]))


@memo(maxsize=8)
def endpoint_values(snap: Snapshot, task: str, model_id: str,
                    endpoint: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every scored patient's time, event and whether both are known."""
    time_col, event_col = endpoint_columns(endpoint)
    frame = scored(snap, task, model_id).frame
    known = frame[time_col].notna().to_numpy() & frame[event_col].notna().to_numpy()
    time = frame[time_col].to_numpy(float, na_value=np.nan)
    event = frame[event_col].astype(object).where(known, False).astype(bool).to_numpy()
    return _read_only(time), _read_only(event), _read_only(known)


@memo(maxsize=4)
def survival_rows(snap: Snapshot, key: tuple, task: str, model_id: str,
                  endpoint: str) -> tuple[np.ndarray, SubgroupTimes]:
    """The rows of the filtered patients with a known endpoint and their checked times
    and events."""
    rows = _rows(snap, key, task, model_id)
    time, event, known = endpoint_values(snap, task, model_id, endpoint)
    rows = _read_only(rows[known[rows]])
    return rows, subgroup_times(time[rows], event[rows],
                                event_ranks(snap, task, model_id, endpoint), rows)


@memo(maxsize=8)
def event_ranks(snap: Snapshot, task: str, model_id: str, endpoint: str) -> EventTimeRanks:
    """Every scored patient's place among the event times of all of them (once per
    snapshot: a filter's event-time index is then counted, not searched)."""
    time, event, known = endpoint_values(snap, task, model_id, endpoint)
    return event_time_ranks(np.where(known, time, np.nan), event & known)


@memo(maxsize=4)
def target_values(snap: Snapshot, task: str, model_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Every scored patient's target and whether it (and the score) is known."""
    frame = scored(snap, task, model_id).frame
    target = frame[TASKS[task].target]
    known = target.notna().to_numpy() & frame["score"].notna().to_numpy()
    return (_read_only(target.astype(object).where(known, False).astype(bool).to_numpy()),
            _read_only(known))


@memo(maxsize=4)
def score_order(snap: Snapshot, task: str, model_id: str) -> np.ndarray:
    """Every scored patient's row, by ascending score."""
    return _read_only(stats.ascending_order(scored(snap, task, model_id).score))


@memo(maxsize=4)
def _response_rows(snap: Snapshot, key: tuple, task: str, model_id: str) -> np.ndarray:
    rows = _rows(snap, key, task, model_id)
    return _read_only(rows[target_values(snap, task, model_id)[1][rows]])


@memo(maxsize=24)
def contract_levels(snap: Snapshot, task: str, model_id: str, column: str) -> Levels:
    """A contract column's levels over every scored patient (coded once per version)."""
    return levels(snap, scored(snap, task, model_id).frame, column)


@memo(maxsize=24)
def levels_of(snap: Snapshot, key: tuple, task: str, model_id: str, endpoint: str | None,
              column: str) -> Levels:
    """``levels`` over the filtered patients with a known endpoint (``endpoint`` None: with
    a known target and score)."""
    rows = (_response_rows(snap, key, task, model_id) if endpoint is None
            else survival_rows(snap, key, task, model_id, endpoint)[0])
    if extras.is_extra(column):      # cut at the median of these patients
        return levels(snap, scored(snap, task, model_id).frame[[column]].iloc[rows], column)
    whole = contract_levels(snap, task, model_id, column)
    codes = whole.codes[rows]
    used = np.bincount(codes, minlength=len(whole.names)) > 0
    names = tuple(name for name, u in zip(whole.names, used) if u)
    if len(names) < len(whole.names):
        codes = (np.cumsum(used) - 1)[codes]
    return Levels(codes, names, tuple(lv for lv in whole.order if lv in names))


def ranked_rows(rows: pd.DataFrame, labels: list[str], order: dict) -> pd.DataFrame:
    """Rows by variable (as chosen) and level (display order)."""
    position = {label: i for i, label in enumerate(labels)}
    rank = {(label, level): k for label, names in order.items() for k, level in enumerate(names)}
    rows = rows.assign(_variable=rows["variable"].map(position),
                       _level=[rank.get(key, 99) for key in zip(rows["variable"], rows["level"])])
    return rows.sort_values(["_variable", "_level"], kind="stable").drop(
        columns=["_variable", "_level"]).reset_index(drop=True)


# -- results --------------------------------------------------------------------------
class RowsResult:
    """A result of named choices and one frame, ``rows``: its dict names the choices and
    lists the rows as records."""

    rows: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.rows.empty

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**out, "rows": self.rows.to_dict("records")}


@dataclass(frozen=True, eq=False)
class SubgroupForest(RowsResult):
    """Hazard ratio per level (``crlm.figures.forest_rows`` columns), in display order;
    empty when no patient has predictions and a known endpoint."""

    endpoint: str
    rows: pd.DataFrame


@memo(maxsize=32)
def forest(snap: Snapshot, key: tuple, task: str, model_id: str, threshold: float,
           endpoint: str, columns: tuple) -> SubgroupForest:
    """Predicted responders vs non-responders: the hazard ratio within each level of each
    of ``columns`` and the interaction p per variable."""
    rows, times = survival_rows(snap, key, task, model_id, endpoint)
    if not len(rows) or not columns:
        return SubgroupForest(endpoint, pd.DataFrame())
    predicted = (scored(snap, task, model_id).score[rows] >= threshold).astype(np.int64)
    labels = variable_labels(snap, columns)          # an unknown column is named here
    coded = {c: levels_of(snap, key, task, model_id, endpoint, c) for c in columns}
    results = subgroup_effects_by(times, predicted, {
        label: (coded[c].codes, coded[c].names) for label, c in zip(labels, columns)},
        min_events=SUBGROUP_MIN_EVENTS)
    order = {label: coded[c].order for label, c in zip(labels, columns)}
    return SubgroupForest(endpoint, ranked_rows(forest_rows(results), labels, order))


@dataclass(frozen=True, eq=False)
class SubgroupAUC(RowsResult):
    """AUC per level (``crlm.figures.auc_rows`` columns), in display order."""

    rows: pd.DataFrame


@memo(maxsize=32)
def auc_by_level(snap: Snapshot, key: tuple, task: str, model_id: str,
                 columns: tuple) -> SubgroupAUC:
    """The model's AUC (DeLong CI) within each level; a level with fewer than
    ``SUBGROUP_MIN_PATIENTS_AUC`` patients or one class only gives its reason."""
    rows = _response_rows(snap, key, task, model_id)
    inside = np.full(len(scored(snap, task, model_id).score), -1, dtype=np.int64)
    inside[rows] = np.arange(len(rows))
    by_score = inside[score_order(snap, task, model_id)]
    by_score = by_score[by_score >= 0]      # the patients of ``rows``, by ascending score
    y_all = target_values(snap, task, model_id)[0][rows]
    y, score = y_all[by_score], scored(snap, task, model_id).score[rows][by_score]
    nested = {}
    for column, label in zip(columns, variable_labels(snap, columns)):
        lv = levels_of(snap, key, task, model_id, None, column)
        k = len(lv.names)
        counts = np.bincount(lv.codes, minlength=k)
        positives = np.bincount(lv.codes, weights=y_all, minlength=k).astype(np.int64)
        results = aucs_by_level(y, score, lv.codes[by_score], k, presorted=True)
        per_level = {}
        for level in lv.order:
            code = lv.names.index(level)
            n, pos = int(counts[code]), int(positives[code])
            if n < SUBGROUP_MIN_PATIENTS_AUC:
                per_level[level] = {"n": n, "events": pos,
                                    "reason": f"fewer than {SUBGROUP_MIN_PATIENTS_AUC} patients"}
            elif pos == 0 or pos == n:
                per_level[level] = {"n": n, "events": pos,
                                    "reason": "no responders" if pos == 0 else "no non-responders"}
            else:
                per_level[level] = results[code]
        nested[label] = per_level
    return SubgroupAUC(auc_rows(nested))
