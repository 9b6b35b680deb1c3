"""The Models page's comparison of a binary task's models: ROC per model, DeLong against a
reference, the model table at each model's threshold, calibration and net benefit, and
the threshold slider's range. Pure functions of (snapshot, filter key, choices), each
cached with ``memo`` and returning frozen results.

Speed on a large cohort: a task's scores are read once per (snapshot, task, split) for
the whole cohort, one row per patient and one column per model
(``crlm.store.prediction_scores``, keyed by row id); a new filter then selects rows in
memory (``crlm.analysis.selection``). Every section shares that selection, and each model's
ROC, calibration and DeLong test are computed once per filter, whatever the threshold.
The caches of whole-cohort arrays are small: at 10^6 patients one entry holds tens of MB.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np
import pandas as pd

from crlm import stats
from crlm.analysis.selection import row_index, selected
from crlm.analysis.snapshot import Snapshot, memo
from crlm.models import TASKS, kinds
from crlm.stats._result import ResultMixin
from crlm.store import load_models
from crlm.store.prediction_scores import load_task_scores, patient_keys_exact

NET_BENEFIT_THRESHOLDS = np.round(np.arange(0.01, 0.96, 0.01), 2)
CALIBRATION_BINS = 10


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _target(task: str) -> str:
    spec = TASKS.get(task)
    if spec is None or spec.kind != "binary":
        raise ValueError(f"{task!r} is not a binary task: model comparison needs one")
    return spec.target


def models_by_auc(records: pd.DataFrame) -> list[str]:
    """Model ids (``records``' index), best stored out-of-fold AUC first."""
    auc = records["metrics"].map(lambda m: ((m or {}).get("out_of_fold") or {}).get("auc") or 0.0)
    return list(auc.sort_values(ascending=False, kind="stable").index)


@dataclass(frozen=True)
class ModelInfo(ResultMixin):
    """What the comparison needs of a model record."""

    model_id: str
    name: str
    kind: str
    threshold: float


@memo(maxsize=32)
def model_info(snap: Snapshot, task: str) -> Mapping[str, ModelInfo]:
    """The task's current models in the snapshot, by model id."""
    records = load_models(snap.store(), cohort=snap.cohort, task=task)
    return MappingProxyType({
        str(r.model_id): ModelInfo(str(r.model_id), str(r.name), str(r.kind),
                                   float(r.threshold) if pd.notna(r.threshold) else np.nan)
        for r in records.itertuples()})


@dataclass(frozen=True)
class TaskScores:
    """Scores of every model: one row per patient (``rowid``: the patients' row ids,
    increasing), one column per model (NaN where the model did not score the patient), and
    the outcome (NaN when unknown)."""

    model_ids: tuple[str, ...]
    rowid: np.ndarray = field(compare=False, repr=False)
    scores: np.ndarray = field(compare=False, repr=False)
    outcome: np.ndarray = field(compare=False, repr=False)

    @property
    def n(self) -> int:
        return len(self.outcome)

    def to_dict(self) -> dict:
        """Counts only (the row ids stand for patients and stay in memory)."""
        return {"model_ids": list(self.model_ids), "n": self.n,
                "scored": {m: int(np.sum(~np.isnan(self.scores[:, k])))
                           for k, m in enumerate(self.model_ids)},
                "outcome_known": int(np.sum(~np.isnan(self.outcome)))}

    def model(self, model_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(outcome as bool, score) of the patients with both; empty for an unknown model."""
        if model_id not in self.model_ids:
            return np.zeros(0, bool), np.zeros(0)
        s = self.scores[:, self.model_ids.index(model_id)]
        known = ~np.isnan(s) & ~np.isnan(self.outcome)
        return self.outcome[known] > 0.5, s[known]


@memo(maxsize=8)
def _keys_exact(snap: Snapshot) -> bool:
    return patient_keys_exact(snap.store(), snap.cohort)


@memo(maxsize=4)
def cohort_scores(snap: Snapshot, task: str, split: str) -> TaskScores:
    """The task's scores on ``split`` for the whole cohort (read once per snapshot)."""
    target = _target(task)
    raw = load_task_scores(snap.store(), snap.cohort, task, split, (target,),
                           exact=_keys_exact(snap))
    return TaskScores(raw["model_ids"], _readonly(raw["rowid"]), _readonly(raw["scores"]),
                      _readonly(raw[target]))


@memo(maxsize=4)
def _positions(snap: Snapshot, task: str, split: str) -> np.ndarray:
    """Each row of :func:`cohort_scores`' place among the cohort's rows."""
    return _readonly(row_index(snap).position(cohort_scores(snap, task, split).rowid))


@memo(maxsize=8)
def filtered_scores(snap: Snapshot, key: tuple, task: str, split: str) -> TaskScores:
    """:func:`cohort_scores` of the patients that match the filter."""
    whole = cohort_scores(snap, task, split)
    at = _positions(snap, task, split)
    mask = at >= 0
    mask[mask] = selected(snap, key)[at[mask]]
    return TaskScores(whole.model_ids, _readonly(whole.rowid[mask]),
                      _readonly(whole.scores[mask]), _readonly(whole.outcome[mask]))


@memo(maxsize=16)
def model_scores(snap: Snapshot, key: tuple, task: str, split: str,
                 model_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(outcome as bool, score) of the filtered patients with both (read only)."""
    y, s = filtered_scores(snap, key, task, split).model(model_id)
    return _readonly(y), _readonly(s)


@dataclass(frozen=True)
class RocCurves(ResultMixin):
    """The ROC of each model with both responders and non-responders under the filter."""

    task: str
    split: str
    model_ids: tuple[str, ...]
    rocs: tuple = field(compare=False)

    def get(self, model_id: str):
        return self.rocs[self.model_ids.index(model_id)] if model_id in self.model_ids else None

    def frame(self, names: dict[str, str], model_ids=None) -> pd.DataFrame:
        """The curves' points (model name, fpr, tpr, threshold) for ``model_ids``."""
        chosen = [m for m in (model_ids or self.model_ids) if m in self.model_ids]
        parts = [pd.DataFrame({"model": names.get(m, m), "fpr": r.fpr, "tpr": r.tpr,
                               "threshold": r.thresholds})
                 for m in chosen for r in [self.get(m)]]
        return pd.concat(parts) if parts else pd.DataFrame(columns=["model", "fpr", "tpr",
                                                                    "threshold"])


@memo(maxsize=8)
def model_rocs(snap: Snapshot, key: tuple, task: str, split: str) -> RocCurves:
    """ROC with DeLong CI per model (models without both classes are left out)."""
    data = filtered_scores(snap, key, task, split)
    ids, rocs = [], []
    for model_id in data.model_ids:
        y, s = model_scores(snap, key, task, split, model_id)
        if 0 < y.sum() < len(y):
            ids.append(model_id)
            rocs.append(stats.roc(y, s))
    return RocCurves(task, split, tuple(ids), tuple(rocs))


@dataclass(frozen=True)
class DeLongComparison(ResultMixin):
    """Paired DeLong p-value of each model against ``reference`` on the patients both
    scored (models with fewer than 2 responders or non-responders there are left out)."""

    reference: str
    p_values: tuple[tuple[str, float], ...]

    def p(self, model_id: str) -> float:
        return dict(self.p_values).get(model_id, np.nan)


@memo(maxsize=64)
def delong_vs_reference(snap: Snapshot, key: tuple, task: str, split: str,
                        reference: str) -> DeLongComparison:
    data = filtered_scores(snap, key, task, split)
    out = []
    if reference in data.model_ids:
        ref = data.scores[:, data.model_ids.index(reference)]
        base = ~np.isnan(ref) & ~np.isnan(data.outcome)
        for k, model_id in enumerate(data.model_ids):
            if model_id == reference:
                continue
            both = base & ~np.isnan(data.scores[:, k])
            y = data.outcome[both] > 0.5
            if y.sum() >= 2 and (~y).sum() >= 2:
                test = stats.delong_test(y, data.scores[both, k], ref[both])
                out.append((model_id, float(test.p_value)))
    return DeLongComparison(reference, tuple(out))


@memo(maxsize=64)
def model_calibration(snap: Snapshot, key: tuple, task: str, split: str, model_id: str):
    """Calibration (``CALIBRATION_BINS`` quantile bins) of a model whose scores are
    probabilities and that has both classes under the filter; None otherwise."""
    info = model_info(snap, task).get(model_id)
    if model_rocs(snap, key, task, split).get(model_id) is None or info is None:
        return None
    y, s = model_scores(snap, key, task, split, model_id)
    if not kinds.shows_probability(info.kind, s):
        return None
    return stats.calibration(y, s, bins=CALIBRATION_BINS)


@dataclass(frozen=True)
class ModelRow(ResultMixin):
    model: str
    model_id: str
    kind: str
    n: int
    responders: int
    auc: float
    auc_ci_lower: float
    auc_ci_upper: float
    threshold: float
    sensitivity: float
    specificity: float
    ppv: float
    npv: float
    brier: float
    calibration_slope: float
    delong_p: float


@dataclass(frozen=True)
class ModelTable(ResultMixin):
    """One row per shown model with both classes, in the comparison's model order."""

    task: str
    split: str
    reference: str
    rows: tuple[ModelRow, ...]

    def row(self, model_id: str) -> ModelRow | None:
        return next((r for r in self.rows if r.model_id == model_id), None)

    def frame(self) -> pd.DataFrame:
        """The rows as a frame; the p-value column is ``delong_p_vs_<reference>``."""
        frame = pd.DataFrame([r.to_dict() for r in self.rows], columns=list(ModelRow.__annotations__))
        return frame.rename(columns={"delong_p": f"delong_p_vs_{self.reference}"})


@memo(maxsize=128)
def model_table(snap: Snapshot, key: tuple, task: str, split: str, reference: str,
                thresholds: tuple[tuple[str, float], ...]) -> ModelTable:
    """The table for the models in ``thresholds`` (model id, threshold), each at its
    threshold (positive when score >= threshold)."""
    rocs = model_rocs(snap, key, task, split)
    info = model_info(snap, task)
    delong = delong_vs_reference(snap, key, task, split, reference)
    chosen = dict(thresholds)
    rows = []
    for model_id in rocs.model_ids:
        if model_id not in chosen or model_id not in info:
            continue
        r, threshold = rocs.get(model_id), float(chosen[model_id])
        y, s = model_scores(snap, key, task, split, model_id)
        m = stats.diagnostic_metrics(y, s, threshold)
        cal = model_calibration(snap, key, task, split, model_id)
        rows.append(ModelRow(
            info[model_id].name, model_id, info[model_id].kind, int(r.n), int(r.n_positive),
            float(r.auc), float(r.auc_ci[0]), float(r.auc_ci[1]), threshold,
            m.sensitivity, m.specificity, m.ppv, m.npv,
            cal.brier if cal else np.nan, cal.slope if cal else np.nan, delong.p(model_id)))
    return ModelTable(task, split, reference, tuple(rows))


@dataclass(frozen=True)
class CalibrationPanel(ResultMixin):
    """Calibration and net benefit of one model per split (``splits``, in order).
    ``probability`` is False when the model's scores are not probabilities, and the
    panel then holds no split."""

    model_id: str
    probability: bool
    splits: tuple[str, ...]
    calibration: tuple = field(compare=False)
    net_benefit: tuple = field(compare=False)

    def calibration_frame(self, labels: dict[str, str]) -> pd.DataFrame:
        return pd.concat([pd.DataFrame({
            "split": labels.get(s, s), "mean_predicted": c.mean_predicted, "observed": c.observed,
            "ci_lower": c.observed_ci_lower, "ci_upper": c.observed_ci_upper, "n": c.count})
            for s, c in zip(self.splits, self.calibration)])

    def net_benefit_frame(self, labels: dict[str, str]) -> pd.DataFrame:
        return pd.concat([pd.DataFrame({
            "split": labels.get(s, s), "threshold": r.thresholds, "net_benefit": r.model,
            "treat_all": r.treat_all}) for s, r in zip(self.splits, self.net_benefit)])


@memo(maxsize=64)
def calibration_panel(snap: Snapshot, key: tuple, task: str, splits: tuple[str, ...],
                      model_id: str) -> CalibrationPanel:
    """Calibration and decision curve of ``model_id`` on each split where it has both
    classes under the filter."""
    info = model_info(snap, task).get(model_id)
    kept, cals, nbs = [], [], []
    for split in splits:
        if model_rocs(snap, key, task, split).get(model_id) is None:
            continue
        y, s = model_scores(snap, key, task, split, model_id)
        if info is None or not kinds.shows_probability(info.kind, s):
            return CalibrationPanel(model_id, False, (), (), ())
        kept.append(split)
        cals.append(model_calibration(snap, key, task, split, model_id))
        nbs.append(_net_benefit(snap, key, task, split, model_id))
    return CalibrationPanel(model_id, True, tuple(kept), tuple(cals), tuple(nbs))


@memo(maxsize=64)
def _net_benefit(snap: Snapshot, key: tuple, task: str, split: str, model_id: str):
    y, s = model_scores(snap, key, task, split, model_id)
    return stats.net_benefit(y, s, NET_BENEFIT_THRESHOLDS)


@dataclass(frozen=True)
class ThresholdRange(ResultMixin):
    """The threshold slider's bounds and step for a model."""

    low: float
    high: float
    step: float


@memo(maxsize=128)
def threshold_range(snap: Snapshot, key: tuple, task: str, split: str, model_id: str,
                    stored: float) -> ThresholdRange:
    """0 to 1 by 0.01 for a trained model scoring probabilities (or without both classes
    under the filter); otherwise the observed score range, widened to ``stored``, in 200
    steps."""
    info = model_info(snap, task).get(model_id)
    clinical = info is not None and kinds.is_clinical_score(info.kind)
    has_roc = model_rocs(snap, key, task, split).get(model_id) is not None
    scores = model_scores(snap, key, task, split, model_id)[1] if has_roc else None
    if not clinical and (scores is None or kinds.is_probability(scores)):
        return ThresholdRange(0.0, 1.0, 0.01)
    scores = scores if scores is not None else np.array([stored])
    lo, hi = float(min(scores.min(), stored)), float(max(scores.max(), stored))
    return ThresholdRange(lo, hi, max((hi - lo) / 200, 1e-3))
