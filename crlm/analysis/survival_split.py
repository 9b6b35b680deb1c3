"""The Survival page's analysis: an endpoint split into groups, each a pure function of
(snapshot, filter key, choices), cached on those arguments (``memo``).

A split is one of: ``"predicted responder"`` (a response model's out-of-fold and external
score at a threshold), ``RISK + model_id`` (tertiles of a survival model's risk score), a
patient column of the contract (booleans as yes/no, missing as ``unknown``), a cohort's
own variable ``extra:<name>`` or ``"none"``.

* :func:`split_data` — time, event and group of every patient with a known endpoint.
* :func:`survival_split` — Kaplan–Meier per group, the log-rank test, Cox hazard ratios
  (Efron ties) against the first group and the proportional-hazards test.
* :func:`split_rmst` — restricted mean survival time per group up to a horizon.
* :func:`survival_table` — one row per group: n, events, median, landmark survival,
  RMST and hazard ratio with their 95% intervals.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from crlm import config, stats
from crlm import store as st
from crlm.analysis import extras
from crlm.analysis import survival_models as sm
from crlm.analysis.pages import PREDICTED
from crlm.analysis.snapshot import Snapshot, cohort_frame, memo
from crlm.analysis.selection import selected
from crlm.store import survival_rows
from crlm.store.cohort_predictions import load_cohort_predictions
from crlm.stats._result import plain

RISK = "risk group:"   # a split by a survival model's predicted risk: RISK + model_id
PREDICTION_SPLITS = ("out-of-fold", "external")
LANDMARKS = (12, 36, 60)
ALL_PATIENTS = "All patients"


@memo(maxsize=16)
def extra_variables(snap: Snapshot) -> tuple[extras.ExtraVariable, ...]:
    """The cohort's own variables."""
    return extras.load_extra_variables(snap.store(), snap.cohort)


def extra_variable(snap: Snapshot, split: str) -> extras.ExtraVariable:
    """The cohort's own variable named by a split ``extra:<name>``."""
    found = [v for v in extra_variables(snap) if v.key == split]
    if not found:
        raise ValueError(f"cohort {snap.cohort!r} has no variable {split!r}")
    return found[0]


@memo(maxsize=16)
def _model_names(snap: Snapshot) -> Mapping[str, str]:
    models = st.load_models(snap.store(), cohort=snap.cohort)
    return MappingProxyType(dict(zip(models["model_id"], models["name"])) if len(models) else {})


def split_label(snap: Snapshot, split: str) -> str:
    """How a split is named on the page."""
    if split.startswith(RISK):
        model_id = split.removeprefix(RISK)
        return f"Predicted risk: {_model_names(snap).get(model_id, model_id)} (tertiles)"
    if extras.is_extra(split):
        return extra_variable(snap, split).label
    if split in config.COLUMNS_BY_NAME:
        return config.COLUMNS_BY_NAME[split].label
    return "No split (whole cohort)" if split == "none" else "Predicted responder (model)"


@dataclass(frozen=True, eq=False)
class SplitData:
    """Every patient with a known endpoint: ``time`` (months), ``event`` and the group as
    ``codes`` into ``levels`` (``group``: the names)."""

    endpoint: str
    split: str
    time: np.ndarray
    event: np.ndarray
    codes: np.ndarray
    levels: tuple[str, ...]

    @property
    def n(self) -> int:
        return int(len(self.time))

    @property
    def group(self) -> np.ndarray:
        return np.asarray(self.levels, dtype=object)[self.codes].astype(str) if self.n \
            else np.zeros(0, dtype=str)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"time": self.time, "event": self.event, "group": self.group})

    def to_dict(self) -> dict:
        return {"endpoint": self.endpoint, "split": self.split, "n": self.n,
                "time": plain(self.time), "event": plain(self.event), "group": plain(self.group)}


def check_choices(endpoint: str, split: str, threshold: float | None, model_id: str | None) -> None:
    if endpoint not in config.ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; choose one of {list(config.ENDPOINTS)}")
    if split == "predicted responder" and (model_id is None or threshold is None):
        raise ValueError("a split by predicted response needs a model and a threshold")
    known = split in ("none", "predicted responder") or split.startswith(RISK) \
        or extras.is_extra(split) or split in config.COLUMNS_BY_NAME
    if not known:
        raise ValueError(f"unknown split {split!r}")


def read_only(arrays: dict) -> dict:
    for value in arrays.values():
        value.flags.writeable = False
    return arrays


@memo(maxsize=16)
def _cohort_rows(snap: Snapshot, endpoint: str, split: str, task: str | None,
                 model_id: str | None) -> dict:
    """The whole cohort's endpoint with the split's group column or model score."""
    time_col, event_col = config.ENDPOINTS[endpoint]
    scored = split == "predicted responder" or split.startswith(RISK)
    rows = survival_rows.cohort_endpoint_rows(
        snap.store(), snap.cohort, time_col, event_col,
        None if split == "none" or scored else split)
    if scored:   # the model's score (NaN: not scored) beside each patient's endpoint
        preds = load_cohort_predictions(snap.store(), snap.cohort, task=task, model_id=model_id,
                                        splits=PREDICTION_SPLITS, columns=())
        rows = {k: v for k, v in rows.items() if k not in ("code", "levels")}
        rows["score"] = np.full(len(rows["rowid"]), np.nan)
        at = np.searchsorted(rows["rowid"], preds["rowid"].to_numpy(np.int64))
        rows["score"][at] = preds["score"].to_numpy(float, na_value=np.nan)
    return read_only(rows)


@memo(maxsize=64)
def split_data(snap: Snapshot, key: tuple, endpoint: str, split: str, task: str | None = None,
               model_id: str | None = None, threshold: float | None = None) -> SplitData:
    """Time, event and group of every patient of the filter with a known endpoint."""
    check_choices(endpoint, split, threshold, model_id)
    if extras.is_extra(split):
        return _extra_split(snap, key, endpoint, split)
    risk = split.startswith(RISK)
    if risk:
        task, model_id = None, split.removeprefix(RISK)
    elif split != "predicted responder":
        task = model_id = None
    rows = _cohort_rows(snap, endpoint, split, task, model_id)
    keep = selected(snap, key) & rows["known"]
    if "score" in rows:
        keep &= ~np.isnan(rows["score"])
        score = rows["score"][keep]
        if risk:
            levels = sm.group_names(3)
            cuts = np.asarray(sm.risk_groups(score).cuts) if len(score) else np.zeros(0)
            codes = np.searchsorted(cuts, score, side="left")
        else:
            levels, codes = PREDICTED, (score >= float(threshold)).astype(np.int64)
    else:
        codes = rows["code"][keep].astype(np.int64)
        levels = (ALL_PATIENTS,) if split == "none" else tuple(rows["levels"])
    return SplitData(endpoint, split, rows["time"][keep], rows["event"][keep], codes,
                     tuple(levels))


def _extra_split(snap: Snapshot, key: tuple, endpoint: str, split: str) -> SplitData:
    time_col, event_col = config.ENDPOINTS[endpoint]
    frame = _with_extras(snap, key, (time_col, event_col))
    groups = extras.extra_groups(frame[split], extra_variable(snap, split)).groups
    known = frame[[time_col, event_col]].notna().all(axis=1).to_numpy()
    levels, codes = np.unique(np.asarray(groups, dtype=str)[known], return_inverse=True)
    return SplitData(endpoint, split, frame[time_col].to_numpy(float)[known],
                     frame[event_col][known].astype(bool).to_numpy(), codes.astype(np.int64),
                     tuple(str(v) for v in levels))


@memo(maxsize=8)
def _extra_values(snap: Snapshot) -> pd.DataFrame:
    return st.load_features(snap.store(), snap.cohort, ("extra",))


def _with_extras(snap: Snapshot, key: tuple, columns: tuple[str, ...]) -> pd.DataFrame:
    patients = cohort_frame(snap, key, ("patient_id",) + columns)
    variables = extra_variables(snap)
    return extras.with_extra_values(patients, _extra_values(snap), variables) if variables \
        else patients


def group_order(snap: Snapshot, levels: Sequence[str], split: str) -> tuple[str, ...]:
    """The groups present, in the order the page shows them (the first is the reference)."""
    levels = list(dict.fromkeys(levels))
    if split == "predicted responder":
        return tuple(g for g in PREDICTED if g in levels)
    if split.startswith(RISK):
        return tuple(g for g in sm.group_names(3) if g in levels)
    if extras.is_extra(split):
        return tuple(extras.order_groups(levels, extra_variable(snap, split)))
    col = config.COLUMNS_BY_NAME.get(split)
    known = list(col.levels) if col is not None and col.levels else sorted(levels)
    ordered = [lv for lv in known if lv in levels]
    return tuple(ordered + sorted(lv for lv in levels if lv not in ordered))


@dataclass(frozen=True)
class HazardRatio:
    """One group against the reference (Cox, Efron ties)."""

    group: str
    hr: float
    ci_lower: float
    ci_upper: float
    p_value: float


@dataclass(frozen=True, eq=False)
class SurvivalSplit:
    """Kaplan–Meier per group (``curves``, in ``order``), the log-rank p-value, hazard
    ratios against ``order[0]``, the global proportional-hazards p-value and a note when
    no (reliable) hazard ratio could be fitted."""

    endpoint: str
    split: str
    n: int
    order: tuple[str, ...]
    curves: Mapping[str, stats.KMResult]
    logrank_p: float
    hazard_ratios: tuple[HazardRatio, ...]
    ph_p: float
    ph_note: str

    @property
    def reference(self) -> str | None:
        return self.order[0] if self.order else None

    def hazard_ratio(self, group: str) -> HazardRatio | None:
        return next((h for h in self.hazard_ratios if h.group == group), None)

    def to_dict(self) -> dict:
        return {"endpoint": self.endpoint, "split": self.split, "n": self.n,
                "order": list(self.order),
                "curves": {g: km.to_dict() for g, km in self.curves.items()},
                "logrank_p": plain(self.logrank_p),
                "hazard_ratios": [plain(vars(h)) for h in self.hazard_ratios],
                "ph_p": plain(self.ph_p), "ph_note": self.ph_note}


def _cox(t: np.ndarray, e: np.ndarray, codes: np.ndarray, order_codes: Sequence[int],
         order: Sequence[str]) -> tuple[tuple[HazardRatio, ...], float, str]:
    design = pd.DataFrame({level: (codes == k).astype(float)
                           for k, level in zip(order_codes[1:], order[1:])})
    try:
        fit = stats.cox(t, e, design)
        hrs = tuple(HazardRatio(term.name, term.hr, term.ci_lower, term.ci_upper, term.p_value)
                    for term in fit.terms)
        ph_p = fit.proportional_hazards_test().global_p_value
    except (ValueError, np.linalg.LinAlgError) as exc:
        return (), float("nan"), f"no hazard ratio: {exc}"
    note = "" if fit.converged else "the Cox model did not converge (a group with very few events)"
    return hrs, float(ph_p), note


@memo(maxsize=64)
def survival_split(snap: Snapshot, key: tuple, endpoint: str, split: str,
                   task: str | None = None, model_id: str | None = None,
                   threshold: float | None = None) -> SurvivalSplit:
    """Kaplan–Meier, log-rank and Cox hazard ratios of the endpoint by the split's groups."""
    data = split_data(snap, key, endpoint, split, task, model_id, threshold)
    t, e, codes = data.time, data.event, data.codes
    counts = np.bincount(codes, minlength=len(data.levels)) if data.n else np.zeros(0, int)
    present = [lv for lv, c in zip(data.levels, counts) if c]
    order = group_order(snap, present, split) if data.n else ()
    code_of = {lv: k for k, lv in enumerate(data.levels)}
    curves = {lv: stats.kaplan_meier(t[codes == code_of[lv]], e[codes == code_of[lv]])
              for lv in order}
    logrank_p, hrs, ph_p, note = float("nan"), (), float("nan"), ""
    if len(order) >= 2:
        logrank_p = float(stats.logrank(t, e, codes).p_value)
        hrs, ph_p, note = _cox(t, e, codes, [code_of[lv] for lv in order], order)
    return SurvivalSplit(endpoint, split, data.n, order, MappingProxyType(curves), logrank_p,
                         hrs, ph_p, note)


@dataclass(frozen=True)
class GroupRMST:
    group: str
    rmst: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class SplitRMST:
    """Restricted mean survival time (months) per group up to ``horizon``."""

    horizon: float
    groups: tuple[GroupRMST, ...]

    def of(self, group: str) -> GroupRMST | None:
        return next((r for r in self.groups if r.group == group), None)

    def to_dict(self) -> dict:
        return {"horizon": self.horizon, "groups": [plain(vars(r)) for r in self.groups]}


@memo(maxsize=64)
def split_rmst(snap: Snapshot, key: tuple, endpoint: str, split: str, task: str | None,
               model_id: str | None, threshold: float | None, horizon: float) -> SplitRMST:
    """RMST per group of the split up to ``horizon`` months."""
    if not float(horizon) > 0:
        raise ValueError(f"the RMST horizon must be positive, got {horizon!r}")
    data = split_data(snap, key, endpoint, split, task, model_id, threshold)
    if not data.n:
        return SplitRMST(float(horizon), ())
    result = stats.rmst(data.time, data.event, float(horizon), group=data.codes)
    return SplitRMST(float(horizon), tuple(
        GroupRMST(data.levels[int(r.group)], r.rmst, r.ci_lower, r.ci_upper)
        for r in result.groups))


def survival_table(result: SurvivalSplit, rmst: SplitRMST,
                   landmarks: Sequence[float] = LANDMARKS) -> pd.DataFrame:
    """One row per group: n, events, median (95% CI), survival at each landmark (95% CI),
    RMST (95% CI) and the hazard ratio against the reference (1 for the reference)."""
    reference, horizon = result.reference, rmst.horizon
    rows = []
    for level, km in result.curves.items():
        at = km.survival_at(list(landmarks))
        row = {"group": level, "n": km.n, "events": km.n_events, "median_months": km.median,
               "median_ci_lower": km.median_ci[0], "median_ci_upper": km.median_ci[1]}
        for k, months in enumerate(landmarks):
            row[f"survival_{months:g}m"] = at.survival[k]
            row[f"survival_{months:g}m_ci_lower"] = at.ci_lower[k]
            row[f"survival_{months:g}m_ci_upper"] = at.ci_upper[k]
        r = rmst.of(level)
        row.update({f"rmst_{horizon:g}m": r.rmst if r else np.nan,
                    f"rmst_{horizon:g}m_ci_lower": r.ci_lower if r else np.nan,
                    f"rmst_{horizon:g}m_ci_upper": r.ci_upper if r else np.nan})
        hr = result.hazard_ratio(level)
        row.update({f"hr_vs_{reference}": hr.hr if hr else (1.0 if level == reference else np.nan),
                    "hr_ci_lower": hr.ci_lower if hr else np.nan,
                    "hr_ci_upper": hr.ci_upper if hr else np.nan})
        rows.append(row)
    return pd.DataFrame(rows)
