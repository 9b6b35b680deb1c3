"""CT models for any cohort with stored lesion crops, for every task it supports.

Families (registered here; trained by ``train`` whenever the cohort has baseline CT
crops and no family list is given, or when named):

* ``attention_mil`` — binary and survival tasks: the patient's lesions pooled by gated
  attention (:mod:`crlm.models.lesion_sets`), a logistic or a Cox head;
* ``attention_mil_ssl`` — the same, its encoder first pre-trained self-supervised on every
  stored crop (:mod:`crlm.models.pretraining`); trained when named;
* ``cnn_cox`` — survival tasks: the lesion encoder with the mean over lesions and a Cox
  head (the CT risk model of a cohort with OS / DFS and no response, such as TCIA);
* ``ct_fusion`` — stacking of the task's CT model (``attention_mil_ssl`` when trained in the
  run, else ``attention_mil``, else ``cnn_cox`` / ``cnn``) with the cohort's other modality
  trained in the same run: the genomic random forest where there is one, else the clinical
  logistic regression (binary), or the Cox model (survival). Cross-fitted on the task's
  folds: each fold's stacker sees only the other folds' out-of-fold scores; the external
  centre gets the stacker fitted on all out-of-fold scores.

Crops are read from the store only (``crlm.store.load_lesion_crops``); patients of the
task without crops get no CT score (NaN, not stored) and the fusion none either.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crlm import config
from crlm import store as st
from crlm.models.families import ANY, Family, register_family
from crlm.models.lesion_sets import LesionSetConfig, train_lesion_sets
from crlm.models.tasks import BINARY, SURVIVAL

CT_EPOCHS, CT_EPOCHS_FAST = 25, 6
CT_PATIENCE, CT_PATIENCE_FAST = 8, 3
# the CT model a fusion stacks: the first of these trained in the run (a fixed rule, not a
# choice on the out-of-fold scores); the pre-trained encoder first
CT_PARTS = {BINARY: ("attention_mil_ssl", "attention_mil", "cnn"),
            SURVIVAL: ("attention_mil_ssl", "attention_mil", "cnn_cox")}
PARTNERS = {BINARY: ("genomic_rf", "logistic", "lasso_logistic"),
            SURVIVAL: ("cox", "lasso_cox")}


def has_stored_crops(store, cohort: str) -> bool:
    """Whether the cohort holds baseline CT lesion crops."""
    rows = st.load_images(store, cohort, time_point=config.BASELINE_CT)
    return bool(len(rows)) and bool(rows["has_crops"].any())


def _targets(task, frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    if task.kind == BINARY:
        return (np.asarray(task.outcome(frame), dtype=float),)
    time, event = task.outcome(frame)
    return np.asarray(time, float), np.asarray(event, float)


def _scores(model, crops, owners, frame: pd.DataFrame | None) -> np.ndarray:
    if frame is None or not len(frame):
        return np.empty(0)
    ids = frame.index.astype(str)
    mask = np.isin(owners, np.asarray(ids))
    if not mask.any():
        return np.full(len(frame), np.nan)
    return model.patient_scores(crops[mask], owners[mask]).reindex(ids).to_numpy(dtype=float)


def lesion_set_trainer(pooling: str, head: str | None = None, pretrained: bool = False):
    """A family trainer: the lesion-set network with this pooling (and head; default:
    binary for binary tasks, Cox for survival tasks)."""

    def trainer(*, store, cohort, task, family, dev, ext, fold_of, seed, fast, columns,
                previous, on_fold=None, comparison=None):
        from crlm.models.training import TrainedModel, check_development_only

        check_development_only(dev)
        ids = [*dev.index.astype(str), *ext.index.astype(str)]
        if comparison is not None:
            ids += list(comparison.index.astype(str))
        found = st.load_lesion_crops(store, cohort, ids)
        if found is None:
            raise ValueError(f"cohort {cohort!r} has no stored lesion crops for this task's "
                             "patients (python -m crlm import-images)")
        crops, index = found
        owners = index["patient_id"].astype(str).to_numpy()
        in_dev = np.isin(owners, np.asarray(dev.index.astype(str)))
        cfg = LesionSetConfig(
            pooling=pooling, head=head or ("binary" if task.kind == BINARY else "cox"),
            epochs=CT_EPOCHS_FAST if fast else CT_EPOCHS,
            patience=CT_PATIENCE_FAST if fast else CT_PATIENCE,
            batch_patients=32 if task.kind == BINARY else 64)
        encoder = pretraining = None
        if pretrained:
            from crlm.models.pretraining import pretrained_encoder

            encoder, pretraining = pretrained_encoder(store, cohort, seed=seed, fast=fast)
        oof, model = train_lesion_sets(
            crops[in_dev], owners[in_dev], list(dev.index.astype(str)), _targets(task, dev),
            fold_of, config=cfg, seed=int(seed), encoder_state=encoder)
        if pretraining is not None:
            model.fit_info["pretraining"] = pretraining
        if on_fold:
            for _ in range(int(np.max(fold_of)) + 2):
                on_fold()
        return TrainedModel(oof=oof, external=_scores(model, crops, owners, ext), model=model,
                            columns=["ct_lesion_crops"],
                            comparison=_scores(model, crops, owners, comparison))

    return trainer


@dataclass(frozen=True)
class StackedFusion:
    """A stacker over two models' scores: ``parts`` (CT model, other modality), standardised
    with the training scores' ``mean``/``scale``; logistic on logits (binary) or Cox on the
    risks (survival)."""

    kind: str
    parts: tuple[str, str]
    estimator: object = field(repr=False)
    mean: tuple[float, float] = (0.0, 0.0)
    scale: tuple[float, float] = (1.0, 1.0)

    def _design(self, a, b) -> np.ndarray:
        X = np.column_stack([np.asarray(a, float), np.asarray(b, float)])
        if self.kind == BINARY:
            p = np.clip(X, 1e-6, 1 - 1e-6)
            X = np.log(p / (1 - p))
        return (X - np.asarray(self.mean)) / np.asarray(self.scale)

    def combine(self, a, b) -> np.ndarray:
        X = self._design(a, b)
        out = np.full(len(X), np.nan)
        ok = np.isfinite(X).all(axis=1)
        if ok.any():
            out[ok] = (self.estimator.predict_proba(X[ok])[:, 1] if self.kind == BINARY
                       else self.estimator.predict(X[ok]))
        return out


def _fit_stacker(kind: str, parts, a, b, y, seed: int) -> StackedFusion:
    raw = StackedFusion(kind, parts, None)._design(a, b)
    mean, scale = raw.mean(axis=0), raw.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    X = (raw - mean) / scale
    if kind == BINARY:
        from sklearn.linear_model import LogisticRegression

        est = LogisticRegression(C=1.0, random_state=int(seed)).fit(X, y[0])
    else:
        from crlm.models.survival import PenalizedCox, survival_target

        est = PenalizedCox(penalizer=0.1).fit(X, survival_target(y[0], y[1]))
    return StackedFusion(kind, tuple(parts), est, tuple(mean), tuple(scale))


def train_ct_fusion(*, store, cohort, task, family, dev, ext, fold_of, seed, fast, columns,
                    previous, on_fold=None, comparison=None):
    from crlm.models.training import TrainedModel, check_development_only

    check_development_only(dev)
    ct = next((n for n in CT_PARTS[task.kind] if n in previous), None)
    other = next((n for n in PARTNERS[task.kind] if n in previous), None)
    if ct is None or other is None:
        raise ValueError(f"ct_fusion needs a CT model ({' or '.join(CT_PARTS[task.kind])}) "
                         f"and another modality ({' or '.join(PARTNERS[task.kind])}) trained "
                         "in the same run")
    a, b = previous[ct], previous[other]
    y = _targets(task, dev)
    ok = np.isfinite(a.oof) & np.isfinite(b.oof)
    oof = np.full(len(dev), np.nan)
    for k in np.unique(fold_of):
        train, test = ok & (fold_of != k), ok & (fold_of == k)
        if not test.any():
            continue
        if len(np.unique(y[-1][train])) < 2:
            raise ValueError("too few patients with CT crops in a fold to fit the stacker")
        stacker = _fit_stacker(task.kind, (ct, other), a.oof[train], b.oof[train],
                               tuple(t[train] for t in y), seed)
        oof[test] = stacker.combine(a.oof[test], b.oof[test])
    final = _fit_stacker(task.kind, (ct, other), a.oof[ok], b.oof[ok],
                         tuple(t[ok] for t in y), seed)
    return TrainedModel(oof=oof, external=final.combine(a.external, b.external), model=final,
                        columns=[ct, other],
                        comparison=final.combine(a.comparison, b.comparison))


for _family in (
    Family("attention_mil", ANY, "CT attention-MIL over lesions (gated attention, ResNet-18)",
           kind="imaging", feature_sets=("imaging",), explainer="none",
           trainer=lesion_set_trainer("attention"), default=False, default_with_images=True),
    Family("attention_mil_ssl", ANY, "CT attention-MIL, encoder pre-trained self-supervised "
           "on every stored crop (SimCLR)", kind="imaging", feature_sets=("imaging",),
           explainer="none", trainer=lesion_set_trainer("attention", pretrained=True),
           default=False),
    Family("cnn_cox", SURVIVAL, "CT lesion CNN, Cox head (ResNet-18, mean over lesions)",
           kind="imaging", feature_sets=("imaging",), explainer="none",
           trainer=lesion_set_trainer("mean", "cox"), default=False, default_with_images=True),
    Family("ct_fusion", ANY, "CT + clinical / genomic stacking (cross-fitted)", kind="fusion",
           feature_sets=("imaging", "clinical"), explainer="none", trainer=train_ct_fusion,
           default=False, default_with_images=True),
):
    register_family(_family)
