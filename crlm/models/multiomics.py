"""The multi-omics anti-EGFR models: a lesion CNN on CT crops and its fusion
with the genomic random forest, registered through the same family registry,
folds, registry rows and predictions as every other model.

* ``cnn`` — ResNet-18 (``crlm.models.cnn.train_cnn``) on lesion crops,
  trained with the task's own patient folds; a patient's score is the mean of
  its lesions' probabilities.
* ``fusion`` — ``0.3 × p_cnn + 0.7 × p_genomic_rf`` (the 3 : 7 weighting of the
  multi-omics study), from the two models' out-of-fold and external scores.
* ``fusion_stacked`` — logistic regression on the logits of the two scores,
  cross-fitted on the same folds (each fold's stacker is fitted on the other
  folds' out-of-fold scores); the external centre gets the stacker fitted on
  all out-of-fold scores.

Crops are read from the store (``images`` rows at the baseline time point,
``crlm.store.load_lesion_crops``), for every cohort alike: the demo writes its
crops there once, at build time, rendered from the stored imaging phenotype.
No training step renders or alters an image, and none reads an outcome column to
make an input. Cohorts without stored crops do not get these models.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crlm import config
from crlm import store as st
from crlm.models.cnn import CnnModel
from crlm.models.families import Family, register_family
from crlm.models.tasks import BINARY

FUSION_WEIGHT_CNN = 0.3
FUSION_WEIGHT_GENOMIC = 0.7
CROP_SIZE = config.CROP_SIZE_PX  # as crlm.models.imaging.case_crop cuts an uploaded CT
CROP_SLICES = config.CROP_SLICES
CNN_EPOCHS = 25
CNN_PATIENCE = 8
CNN_LEARNING_RATE = 5e-3
CNN_BATCH_SIZE = 32


@dataclass(frozen=True)
class FusionModel:
    """``weights`` of (cnn, genomic_rf) probabilities, or a fitted logistic stacker."""

    kind: str
    weights: tuple[float, float] = (FUSION_WEIGHT_CNN, FUSION_WEIGHT_GENOMIC)
    stacker: object | None = None

    def combine(self, p_cnn, p_genomic) -> np.ndarray:
        p_cnn, p_genomic = np.asarray(p_cnn, float), np.asarray(p_genomic, float)
        if self.stacker is None:
            return self.weights[0] * p_cnn + self.weights[1] * p_genomic
        X = _logits(p_cnn, p_genomic)
        out = np.full(len(X), np.nan)
        ok = np.isfinite(X).all(axis=1)
        if ok.any():
            out[ok] = self.stacker.predict_proba(X[ok])[:, 1]
        return out

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "weights": list(self.weights)}
        if self.stacker is not None:
            out["coefficients"] = np.ravel(self.stacker.coef_).tolist()
            out["intercept"] = float(np.ravel(self.stacker.intercept_)[0])
        return out


def _logits(p_cnn, p_genomic) -> np.ndarray:
    p = np.clip(np.column_stack([p_cnn, p_genomic]), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def stored_crops(store, cohort: str, patient_ids) -> tuple[np.ndarray, pd.DataFrame] | None:
    """The stored baseline lesion crops of these patients (``None`` when the cohort has
    none). Reads pixels and lesion geometry only: no patient column, no outcome."""
    return st.load_lesion_crops(store, cohort, [str(p) for p in patient_ids])


def _imports():
    from crlm.models.training import TrainedModel

    return TrainedModel


def _scores_for(model: "CnnModel", crops, owners, frame: pd.DataFrame | None) -> np.ndarray:
    """Patient scores of the final CNN for ``frame``'s patients (NaN without crops)."""
    if frame is None or not len(frame):
        return np.empty(0)
    wanted = set(frame.index.astype(str))
    mask = np.array([o in wanted for o in owners], dtype=bool)
    if not mask.any():
        return np.full(len(frame), np.nan)
    scores = model.patient_scores(crops[mask], owners[mask])
    return scores.reindex(frame.index.astype(str)).to_numpy(dtype=float)


def train_cnn_family(*, store, cohort, task, family, dev, ext, fold_of, seed, fast, columns,
                     previous, on_fold=None, comparison=None):
    """Cross-validated CNN on the task's patients (same folds), refit for the external centre
    and the task's comparison population."""
    from crlm.models.cnn import train_cnn
    from crlm.models.training import check_development_only

    TrainedModel = _imports()
    check_development_only(dev)
    ids = list(dev.index.astype(str)) + list(ext.index.astype(str))
    if comparison is not None:
        ids += list(comparison.index.astype(str))
    rendered = stored_crops(store, cohort, ids)
    if rendered is None:
        raise ValueError(f"cohort {cohort!r} has no stored lesion crops; the CNN needs CT "
                         "images (import them, or build the demo with its images)")
    crops, index = rendered
    owners = index["patient_id"].astype(str).to_numpy()
    dev_ids = set(dev.index.astype(str))
    in_dev = np.array([o in dev_ids for o in owners])
    fold_by_patient = dict(zip(dev.index.astype(str), fold_of))
    labels = pd.Series(task.outcome(dev), index=dev.index)
    label_by_patient = dict(zip(dev.index.astype(str), labels))
    dev_owners = owners[in_dev]
    oof_crops, network = train_cnn(
        crops[in_dev], [label_by_patient[o] for o in dev_owners], dev_owners,
        folds=np.array([fold_by_patient[o] for o in dev_owners]), seed=int(seed),
        epochs=6 if fast else CNN_EPOCHS, patience=CNN_PATIENCE, lr=CNN_LEARNING_RATE,
        batch_size=CNN_BATCH_SIZE, device=None)
    if on_fold:
        for _ in range(int(np.max(fold_of)) + 2):
            on_fold()
    from crlm.models.cnn import patient_scores

    oof = patient_scores(oof_crops, dev_owners).reindex(dev.index.astype(str)).to_numpy()
    model = CnnModel(network)
    external = _scores_for(model, crops, owners, ext)
    return TrainedModel(oof=np.asarray(oof, float), external=np.asarray(external, float),
                        model=model, columns=["ct_lesion_crops"],
                        comparison=_scores_for(model, crops, owners, comparison))


def _parts(previous, family_name: str):
    missing = [name for name in ("cnn", "genomic_rf") if name not in previous]
    if missing:
        raise ValueError(f"{family_name} needs {' and '.join(missing)} trained in the same run "
                         "(train the anti_egfr_benefit task with those families too)")
    return previous["cnn"], previous["genomic_rf"]


def train_fusion(*, store, cohort, task, family, dev, ext, fold_of, seed, fast, columns,
                 previous, on_fold=None, comparison=None):
    TrainedModel = _imports()
    cnn, genomic = _parts(previous, family.name)
    fusion = FusionModel(kind="weighted")
    return TrainedModel(oof=fusion.combine(cnn.oof, genomic.oof),
                        external=fusion.combine(cnn.external, genomic.external),
                        model=fusion, columns=["cnn", "genomic_rf"],
                        comparison=fusion.combine(cnn.comparison, genomic.comparison))


def train_fusion_stacked(*, store, cohort, task, family, dev, ext, fold_of, seed, fast,
                         columns, previous, on_fold=None, comparison=None):
    from sklearn.linear_model import LogisticRegression

    from crlm.models.training import check_development_only

    TrainedModel = _imports()
    check_development_only(dev)
    cnn, genomic = _parts(previous, family.name)
    y = np.asarray(task.outcome(dev))
    X = _logits(cnn.oof, genomic.oof)
    ok = np.isfinite(X).all(axis=1)
    oof = np.full(len(dev), np.nan)
    for k in np.unique(fold_of):
        train, test = ok & (fold_of != k), ok & (fold_of == k)
        stacker = LogisticRegression(C=1.0, random_state=int(seed)).fit(X[train], y[train])
        oof[test] = stacker.predict_proba(X[test])[:, 1]
    final = FusionModel(kind="stacked", stacker=LogisticRegression(
        C=1.0, random_state=int(seed)).fit(X[ok], y[ok]))
    return TrainedModel(oof=oof, external=final.combine(cnn.external, genomic.external),
                        model=final, columns=["cnn", "genomic_rf"],
                        comparison=final.combine(cnn.comparison, genomic.comparison))


for _family in (
    Family("cnn", BINARY, "CT lesion CNN (ResNet-18)", kind="imaging",
           feature_sets=("imaging",), explainer="none", trainer=train_cnn_family,
           tasks=("anti_egfr_benefit",), default=False),
    Family("fusion", BINARY, "Radiomic + genomic fusion (0.3 CNN + 0.7 genomic RF)",
           kind="fusion", feature_sets=("imaging", "genomic"), explainer="none",
           trainer=train_fusion, tasks=("anti_egfr_benefit",), default=False),
    Family("fusion_stacked", BINARY, "Stacked fusion (logistic on CNN and genomic RF)",
           kind="fusion", feature_sets=("imaging", "genomic"), explainer="none",
           trainer=train_fusion_stacked, tasks=("anti_egfr_benefit",), default=False),
):
    register_family(_family)
