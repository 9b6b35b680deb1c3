"""Why a lesion-set CT model scored a patient so: each lesion's weight in the pooling
(attention, or 1/n for the mean) and an occlusion map over each crop.

Occlusion (Zeiler and Fergus, 2014): a square patch of ``patch_px`` crop pixels (all
slices) is replaced by the crop's median HU, the patient is scored again with every
lesion, and the map holds ``score(original) - score(occluded)`` per patch position
(stride = patch size): positive where the region raised the score (probability for a
binary model, log hazard for a Cox model). Deterministic; no gradient is taken.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LesionExplanation:
    """One model's explanation of one patient: ``score``, per lesion ``weights`` and
    ``alone`` (the score of that lesion by itself), and ``occlusion`` maps
    ``[n_lesions, size / patch, size / patch]``."""

    score: float
    weights: tuple[float, ...]
    alone: tuple[float, ...]
    occlusion: np.ndarray
    patch_px: int
    score_kind: str

    @property
    def driving_lesion(self) -> int:
        """Index of the lesion with the largest weight."""
        return int(np.argmax(self.weights))

    def to_dict(self) -> dict:
        return {"score": self.score, "weights": list(self.weights), "alone": list(self.alone),
                "occlusion": self.occlusion.tolist(), "patch_px": self.patch_px,
                "score_kind": self.score_kind, "driving_lesion": self.driving_lesion}


def explain_lesions(model, crops: np.ndarray, patch_px: int = 8) -> LesionExplanation:
    """Weights, single-lesion scores and occlusion maps of a lesion-set model
    (:class:`crlm.models.lesion_sets.LesionSetModel`) for one patient's crops
    ``[n_lesions, slices, H, W]``."""
    arr = np.asarray(crops)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or not len(arr):
        raise ValueError(f"crops must be [n_lesions, slices, H, W], got shape {arr.shape}")
    n, _, h, w = arr.shape
    if h % patch_px or w % patch_px:
        raise ValueError(f"patch of {patch_px} pixels does not tile a {h} x {w} crop")
    scores, weights = model.predict(arr, ["case"] * n)
    base = float(scores.iloc[0])
    alone = model.patient_scores(arr, [f"lesion-{k}" for k in range(n)])
    gy, gx = h // patch_px, w // patch_px
    batch, owners = [], []
    for i in range(n):
        fill = np.median(arr[i])
        for r in range(gy):
            for c in range(gx):
                occluded = arr.copy()
                occluded[i, :, r * patch_px:(r + 1) * patch_px,
                         c * patch_px:(c + 1) * patch_px] = fill
                batch.append(occluded)
                owners += [f"{i}-{r}-{c}"] * n
    occluded_scores = model.patient_scores(np.concatenate(batch), owners).to_numpy(float)
    occlusion = (base - occluded_scores).reshape(n, gy, gx)
    kind = "probability" if model.config.head == "binary" else "log hazard"
    return LesionExplanation(score=base, weights=tuple(float(v) for v in weights),
                             alone=tuple(float(v) for v in alone.to_numpy()),
                             occlusion=occlusion, patch_px=int(patch_px), score_kind=kind)
