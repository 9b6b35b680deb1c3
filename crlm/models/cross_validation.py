"""Cross-validation on the development centres: stratified, seeded folds; one fit per
fold on development patients only (a frame holding an external patient is refused);
the refit on all development patients predicts the external centre and the task's
comparison population, which no fit sees.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from crlm.models.families import Family
from crlm.models.fitted import FittedModel, build_pipeline
from crlm.models.inputs import shared_model_matrix
from crlm.models.survival import survival_target
from crlm.models.tasks import BINARY, Task

DEVELOPMENT = "development"


class ExternalLeakError(AssertionError):
    """A training step was about to see a patient of the external centre."""


def assign_folds(dev: pd.DataFrame, task: Task, folds: int, seed: int) -> np.ndarray:
    """The fold (0..folds-1) of each development patient, stratified and seeded."""
    strata = task.stratum(dev)
    smallest = int(np.bincount(strata, minlength=2).min())
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    if smallest < folds:
        raise ValueError(
            f"task {task.name}: only {smallest} development patients in the smaller outcome "
            f"class, too few for {folds}-fold cross-validation")
    out = np.empty(len(dev), dtype=int)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(seed))
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(dev)), strata)):
        out[test] = k
    return out


def check_development_only(frame: pd.DataFrame) -> None:
    """Refuse a training frame holding any external-centre patient."""
    split = frame["cohort_split"].astype("object")
    if (split != DEVELOPMENT).any():
        bad = frame.index[(split != DEVELOPMENT).to_numpy()][:3]
        raise ExternalLeakError(
            f"training frame holds non-development patients ({', '.join(map(str, bad))}); "
            "the external centre must never be used for training")


def _target(task: Task, frame: pd.DataFrame):
    if task.kind == BINARY:
        return task.outcome(frame)
    time, event = task.outcome(frame)
    return survival_target(time, event)


def _unfitted(family: Family, task: Task, columns, seed: int, fast: bool) -> FittedModel:
    return FittedModel(model_id=f"{task.name}.{family.name}", task=task.name,
                       family=family.name, explainer=family.explainer, columns=columns,
                       pipeline=build_pipeline(family, columns, seed, fast), seed=seed)


def fit_model(family: Family, task: Task, columns, frame: pd.DataFrame, seed: int,
              fast: bool) -> FittedModel:
    """One fit on development patients only."""
    check_development_only(frame)
    return _unfitted(family, task, columns, seed, fast).fit(frame, _target(task, frame))


def _fit_rows(family: Family, task: Task, columns, X: pd.DataFrame, meta: pd.DataFrame,
              seed: int, fast: bool) -> FittedModel:
    """``fit_model`` on rows already typed (``X``, the model matrix) whose split and
    outcome columns are ``meta``'s."""
    check_development_only(meta)
    return _unfitted(family, task, columns, seed, fast).fit_matrix(X, _target(task, meta))


def clinical_score(family: Family, task: Task, frame: pd.DataFrame) -> np.ndarray:
    """A clinical baseline's score: the column itself for survival risk (higher =
    worse); negated for a binary response task, so that a higher score means a
    higher chance of response and the ROC curve reads the usual way."""
    values = pd.to_numeric(frame[family.column], errors="coerce").astype(float).to_numpy()
    return -values if task.kind == BINARY else values


@dataclass(frozen=True)
class TrainedModel:
    """What one family produced for one task (before it is registered)."""

    oof: np.ndarray
    external: np.ndarray
    model: FittedModel | None
    columns: list[str]
    comparison: np.ndarray = field(default_factory=lambda: np.empty(0))

    def to_dict(self) -> dict:
        return {"oof": self.oof.tolist(), "external": self.external.tolist(),
                "comparison": self.comparison.tolist(), "columns": list(self.columns)}


def cross_validate(family: Family, task: Task, columns, dev: pd.DataFrame,
                   fold_of: np.ndarray, ext: pd.DataFrame, *, seed: int, fast: bool,
                   on_fold=None, comparison: pd.DataFrame | None = None) -> TrainedModel:
    """Out-of-fold scores for ``dev``, and the all-development refit's scores for ``ext``
    (and for the task's ``comparison`` population, which no fit sees either)."""
    # The development rows are typed once (the model matrix shares the float columns of
    # ``dev``); a fold copies its rows of that matrix, the final fit reads it whole.
    meta = dev.loc[:, list(dict.fromkeys(["cohort_split", *task.outcome_columns]))]
    X = shared_model_matrix(dev, columns)
    oof = np.full(len(dev), np.nan)
    for k in range(int(fold_of.max()) + 1):
        test = fold_of == k
        model = _fit_rows(family, task, columns, X[~test], meta[~test], seed, fast)
        oof[test] = model.predict_matrix_scores(X[test])
        del model
        if on_fold:
            on_fold()
    final = _fit_rows(family, task, columns, X, meta, seed, fast)
    del X
    external = final.predict_scores(ext) if len(ext) else np.empty(0)
    compared = (final.predict_scores(comparison) if comparison is not None and len(comparison)
                else np.empty(0))
    if on_fold:
        on_fold()
    return TrainedModel(oof=oof, external=external, model=final, columns=list(columns),
                        comparison=np.asarray(compared, dtype=float))
