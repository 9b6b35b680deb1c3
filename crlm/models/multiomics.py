"""The multi-omics anti-EGFR models: a lesion CNN on CT crops and its fusion
with the genomic random forest, registered through the same family registry,
folds, registry rows and predictions as every other model.

* ``cnn`` — ResNet-18 (``crlm.models.imaging.train_cnn``) on lesion crops,
  trained with the task's own patient folds; a patient's score is the mean of
  its lesions' probabilities.
* ``fusion`` — ``0.3 × p_cnn + 0.7 × p_genomic_rf`` (the 3 : 7 weighting of the
  multi-omics study), from the two models' out-of-fold and external scores.
* ``fusion_stacked`` — logistic regression on the logits of the two scores,
  cross-fitted on the same folds (each fold's stacker is fitted on the other
  folds' out-of-fold scores); the external centre gets the stacker fitted on
  all out-of-fold scores.

Crops come from a ``CropSource``; for a synthetic cohort the default renders
them with ``crlm.ingest.synthetic_ct.lesion_crops`` from the stored patients
and the cohort seed. Cohorts without images do not get these models.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crlm import store as st
from crlm.models.families import Family, register_family
from crlm.models.tasks import BINARY

FUSION_WEIGHT_CNN = 0.3
FUSION_WEIGHT_GENOMIC = 0.7
CROP_SIZE = 64  # as crlm.models.imaging.case_crop cuts an uploaded CT
CROP_SLICES = 3
CNN_EPOCHS = 25
CNN_PATIENCE = 8
CNN_LEARNING_RATE = 5e-3
CNN_BATCH_SIZE = 32


class CnnModel:
    """A trained lesion CNN as saved in an artefact: configuration and CPU weights."""

    def __init__(self, network):
        self.config = dict(network.config)
        self.state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
        self.fit_info = getattr(network, "fit_info_", {})

    def network(self):
        from crlm.models.imaging import ResNet18

        cfg = self.config
        net = ResNet18(cfg["in_channels"], cfg["n_classes"], cfg["base_width"],
                       cfg["input_size"], tuple(cfg["hu_window"]))
        net.load_state_dict(self.state)
        return net.eval()

    def patient_scores(self, crops: np.ndarray, owners) -> pd.Series:
        from crlm.models.imaging import cnn_predict, patient_scores

        probabilities = cnn_predict(self.network(), crops, device="cpu")
        return patient_scores(probabilities, owners)


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
        return self.stacker.predict_proba(_logits(p_cnn, p_genomic))[:, 1]

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "weights": list(self.weights)}
        if self.stacker is not None:
            out["coefficients"] = np.ravel(self.stacker.coef_).tolist()
            out["intercept"] = float(np.ravel(self.stacker.intercept_)[0])
        return out


def _logits(p_cnn, p_genomic) -> np.ndarray:
    p = np.clip(np.column_stack([p_cnn, p_genomic]), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def synthetic_crops(store, cohort: str, patients: pd.DataFrame):
    """Lesion crops of a synthetic cohort, rendered from the stored patients and the
    cohort seed; ``None`` for a cohort that is not synthetic."""
    from crlm.ingest.synthetic_ct import lesion_crops

    info = st.load_cohort_info(store, cohort) or {}
    if info.get("kind") != "synthetic":
        return None
    seed = int(info.get("seed") or 0)
    frame = patients.reset_index(drop=True)
    return lesion_crops(frame, seed=seed, size=CROP_SIZE, slices=CROP_SLICES)


CROP_SOURCE = synthetic_crops


def _imports():
    from crlm.models.training import TrainedModel

    return TrainedModel


def train_cnn_family(*, store, cohort, task, family, dev, ext, fold_of, seed, fast, columns,
                     previous, on_fold=None):
    """Cross-validated CNN on the task's patients (same folds), refit for the external centre."""
    from crlm.models.imaging import train_cnn
    from crlm.models.training import check_development_only

    TrainedModel = _imports()
    check_development_only(dev)
    both = pd.concat([dev, ext])
    rendered = CROP_SOURCE(store, cohort, both)
    if rendered is None:
        raise ValueError(f"cohort {cohort!r} has no lesion crops; the CNN needs CT images")
    crops, index = rendered
    owners = index["patient_id"].astype(str).to_numpy()
    dev_ids = set(dev.index.astype(str))
    in_dev = np.array([o in dev_ids for o in owners])
    fold_by_patient = dict(zip(dev.index.astype(str), fold_of))
    labels = dev["responder"].astype(bool).astype(int)
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
    from crlm.models.imaging import patient_scores

    oof = patient_scores(oof_crops, dev_owners).reindex(dev.index.astype(str)).to_numpy()
    model = CnnModel(network)
    if (~in_dev).any():
        external = model.patient_scores(crops[~in_dev], owners[~in_dev])
        external = external.reindex(ext.index.astype(str)).to_numpy()
    else:
        external = np.full(len(ext), np.nan)
    return TrainedModel(oof=np.asarray(oof, float), external=np.asarray(external, float),
                        model=model, columns=["ct_lesion_crops"])


def _parts(previous, family_name: str):
    missing = [name for name in ("cnn", "genomic_rf") if name not in previous]
    if missing:
        raise ValueError(f"{family_name} needs {' and '.join(missing)} trained in the same run "
                         "(train the anti_egfr_benefit task with those families too)")
    return previous["cnn"], previous["genomic_rf"]


def train_fusion(*, store, cohort, task, family, dev, ext, fold_of, seed, fast, columns,
                 previous, on_fold=None):
    TrainedModel = _imports()
    cnn, genomic = _parts(previous, family.name)
    fusion = FusionModel(kind="weighted")
    return TrainedModel(oof=fusion.combine(cnn.oof, genomic.oof),
                        external=fusion.combine(cnn.external, genomic.external),
                        model=fusion, columns=["cnn", "genomic_rf"])


def train_fusion_stacked(*, store, cohort, task, family, dev, ext, fold_of, seed, fast,
                         columns, previous, on_fold=None):
    from sklearn.linear_model import LogisticRegression

    from crlm.models.training import check_development_only

    TrainedModel = _imports()
    check_development_only(dev)
    cnn, genomic = _parts(previous, family.name)
    y = dev["responder"].astype(bool).astype(int).to_numpy()
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
                        model=final, columns=["cnn", "genomic_rf"])


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
