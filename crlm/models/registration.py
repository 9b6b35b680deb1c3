"""Registration of a trained model: its metrics (out-of-fold and external), threshold,
model card, artefact, registry row and stored predictions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crlm import store as st
from crlm.models.artefacts import save_artefact
from crlm.models.cross_validation import TrainedModel
from crlm.models.decision import InputPlan
from crlm.models.evaluation import metrics_for
from crlm.models.families import Family
from crlm.models.tasks import BINARY, Task

EXTERNAL = "external"
OUT_OF_FOLD = "out-of-fold"
COMPARISON = "comparison"


def _threshold(task: Task, y_dev, oof: np.ndarray, oof_metrics: dict) -> float | None:
    ok = ~np.isnan(oof)
    if not ok.any():
        return None
    if task.kind == BINARY:
        return oof_metrics.get("youden_threshold")
    return float(np.median(oof[ok]))


def _subset(task: Task, y, mask):
    if task.kind == BINARY:
        return y[mask]
    return y[0][mask], y[1][mask]


def _next_version(store, model_id: str) -> int:
    models = st.load_models(store, current_only=False)
    if models.empty:
        return 1
    mine = models.loc[models["model_id"] == model_id, "version"]
    return int(mine.max()) + 1 if len(mine) else 1


def model_card(task: Task, family: Family, trained: TrainedModel, dev: pd.DataFrame,
               ext: pd.DataFrame, plan: InputPlan | None, feature_times) -> dict:
    """What a board needs to know to read a model's numbers: task, decision time, every
    input with the time it is known, the training rows, the external centre."""
    from crlm.models.decision import known_at_of
    from crlm.models.families_review import card_details_of

    if plan is not None:
        inputs = [{"name": n, "known_at": k} for n, k in zip(plan.used, plan.used_known_at)]
        refused = [r.to_dict() for r in plan.refused]
    else:  # clinical baselines and combinations of other models
        inputs = [{"name": c, "known_at": known_at_of(c, feature_times)}
                  for c in trained.columns]
        refused = []
    return {"task": task.name, "task_label": task.label, "decision_time": task.decision_time,
            "population": task.applies_to, "family": family.name, "family_label": family.label,
            "inputs": inputs, "refused_inputs": refused,
            "n_training": int(len(dev)), "n_external": int(len(ext)),
            "development_centres": sorted(map(str, dev["center"].dropna().unique())),
            "external_centres": sorted(map(str, ext["center"].dropna().unique())),
            "n_comparison": int(len(trained.comparison)),
            "comparison": task.comparison_label,
            "estimator": card_details_of(trained.model)}


def register(store, *, cohort: str, task: Task, family: Family, trained: TrainedModel,
             dev: pd.DataFrame, fold_of: np.ndarray, ext: pd.DataFrame, train_hash: str,
             seed: int, folds: int, fast: bool, artefact_dir,
             comparison: pd.DataFrame | None = None, card: dict | None = None
             ) -> tuple[int, dict]:
    """Metrics, artefact and registry row (with predictions) of one trained model."""
    model_id = f"{task.name}.{family.name}"
    y_dev, y_ext = task.outcome(dev), task.outcome(ext)
    probability = not family.is_clinical and task.kind == BINARY
    ok_dev, ok_ext = ~np.isnan(trained.oof), ~np.isnan(trained.external)
    oof_metrics = metrics_for(task, _subset(task, y_dev, ok_dev), trained.oof[ok_dev],
                              probability=probability)
    ext_metrics = metrics_for(task, _subset(task, y_ext, ok_ext), trained.external[ok_ext],
                              probability=probability)
    threshold = _threshold(task, y_dev, trained.oof, oof_metrics)
    metrics = {"out_of_fold": oof_metrics, "external": ext_metrics, "folds": int(folds),
               "seed": int(seed), "fast": bool(fast),
               "threshold_rule": "Youden J on out-of-fold scores" if task.kind == BINARY
               else "median out-of-fold risk score",
               "score_direction": ("negated clinical score (higher = more likely to respond)"
                                   if family.is_clinical and task.kind == BINARY
                                   else "probability of response" if task.kind == BINARY
                                   else "risk (higher = earlier events)"),
               "card": card or {}}
    version = _next_version(store, model_id)
    path = None
    if trained.model is not None:
        path = save_artefact(trained.model, model_id=model_id, version=version,
                             family=family.name, task=task.name, features=trained.columns,
                             artefact_dir=artefact_dir,
                             extra={"cohort": cohort, "training_hash": train_hash,
                                    "seed": int(seed)})
    preds = pd.concat([
        pd.DataFrame({"patient_id": dev.index[ok_dev].astype(str), "split": OUT_OF_FOLD,
                      "fold": fold_of[ok_dev], "score": trained.oof[ok_dev]}),
        pd.DataFrame({"patient_id": ext.index[ok_ext].astype(str), "split": EXTERNAL,
                      "fold": pd.array([None] * int(ok_ext.sum()), dtype="Int64"),
                      "score": trained.external[ok_ext]}),
    ], ignore_index=True)
    if comparison is not None and len(trained.comparison):
        ok_cmp = ~np.isnan(trained.comparison)
        preds = pd.concat([preds, pd.DataFrame({
            "patient_id": comparison.index[ok_cmp].astype(str), "split": COMPARISON,
            "fold": pd.array([None] * int(ok_cmp.sum()), dtype="Int64"),
            "score": trained.comparison[ok_cmp]})], ignore_index=True)
    record = {"model_id": model_id, "name": family.label, "family": family.name,
              "task": task.name, "cohort": cohort, "kind": family.kind,
              "feature_set": trained.columns, "training_hash": train_hash,
              "threshold": threshold, "metrics": metrics,
              "artefact_path": str(path.resolve()) if path is not None else None}
    saved = st.save_model(store, record, preds)
    if saved != version and path is not None:  # another writer took the version meanwhile
        target = path.parent / f"v{saved}"
        if target.exists():
            import shutil
            shutil.rmtree(target)
        path.rename(target)
        raise RuntimeError(f"{model_id}: registry gave version {saved}, expected {version}; "
                           "another process is training the same model, retrain afterwards")
    return saved, metrics
