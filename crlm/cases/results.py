"""What the "Score a case" page computes around a case's scores, as pure functions of
their arguments: the models' labels and thresholds, the inputs a CT series gives the
models, where the case falls in the cohort (score distribution, ROC operating point,
Kaplan–Meier curves of the predicted groups), the contributions to a model's score and
the predicted survival band of the case.

No Streamlit here: the page passes what it read (registry, cohort, predictions,
calibrations) and draws what comes back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from crlm import stats
from crlm.cases.ct import CtUpload, lesion_feature_frame, lesion_inputs

RESPONDER, NON_RESPONDER = "Predicted responder", "Predicted non-responder"


# ----------------------------------------------------------------- the registry
def model_labels(registry: pd.DataFrame) -> dict[str, str]:
    """Model id → display name."""
    return dict(zip(registry["model_id"], registry["name"])) if len(registry) else {}


def model_thresholds(registry: pd.DataFrame,
                     override: Callable[[str, float | None], float | None] | None = None
                     ) -> dict[str, float | None]:
    """Model id → threshold: ``override(model_id, stored)`` when given (e.g. the threshold
    set on the Models page), else the stored one (None where none is stored)."""
    out: dict[str, float | None] = {}
    for rec in registry.to_dict("records"):
        stored = rec.get("threshold")
        stored = None if stored is None or pd.isna(stored) else float(stored)
        out[rec["model_id"]] = override(rec["model_id"], stored) if override else stored
    return out


def response_models(registry: pd.DataFrame) -> list[str]:
    """The trained (not clinical-score) response models of a registry."""
    from crlm.models.kinds import trained_only  # importing crlm.models loads the libraries

    if not len(registry):
        return []
    trained = trained_only(registry[registry["task"] == "response"])
    return list(trained["model_id"])


def model_versions(registry: pd.DataFrame) -> tuple[tuple[str, int], ...]:
    """(model id, version) of every model: a cache key of the registry's content."""
    return tuple(zip(registry["model_id"], registry["version"].astype(int)))


# ----------------------------------------------------------------- a CT series
@dataclass(frozen=True)
class CtInputs:
    """What a CT series gives the models of one case: the lesion features the cohort's
    models know (``features``, a feature frame), the lesion crop per case (``crops``),
    the image metadata a saved case keeps and a note naming the features used."""

    features: pd.DataFrame
    crops: Mapping[str, np.ndarray]
    image_metadata: dict | None
    note: str


def ct_inputs(ct: CtUpload, mask: np.ndarray | None, region: Mapping | None,
              known_features: Sequence[str], case_id: str = "case-1") -> CtInputs:
    """The models' inputs from an uploaded series and its lesion mask; ``ValueError``
    when there is no mask yet."""
    if mask is None:
        raise ValueError("upload a CT series and mark the lesion before scoring")
    feats, crop = lesion_inputs(ct, mask)
    features = lesion_feature_frame(case_id, feats, known_features)
    used = [c for c in features.columns if c != "patient_id"]
    note = ("Lesion features used by the tabular models: "
            + (", ".join(used) if used else "none (no matching feature names)"))
    return CtInputs(features=features, crops={case_id: crop},
                    image_metadata=ct.image_metadata(region, feats), note=note)


def seg_slice(mask: np.ndarray) -> int:
    """The slice of a lesion mask ``[z, y, x]`` with the most lesion voxels."""
    return int(np.argmax(mask.sum(axis=(1, 2))))


# ----------------------------------------------------------------- where the case falls
def case_score(table: pd.DataFrame, model_id: str | None) -> float | None:
    """The case's score by a model (``scores_table`` rows), None when the model gave none
    or the case does not give it enough to answer."""
    row = table[table["model_id"] == model_id]
    if not len(row) or not bool(row["sufficient"].iloc[0]):
        return None
    return float(row["score"].iloc[0])


@dataclass(frozen=True)
class CohortResponse:
    """The cohort's out-of-fold and external scores of a response model beside the
    case: scores by observed class (``parts``), the ROC curve (None when the cohort has a
    single class) and the operating point (1 − specificity, sensitivity) at the
    threshold (None without one)."""

    parts: Mapping[str, pd.Series]
    roc: Any
    operating_point: tuple[float, float] | None


def cohort_scores(cohort: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """The cohort's patients with their score (patients without one left out)."""
    return cohort.merge(predictions[["patient_id", "score"]], on="patient_id", how="inner")


def cohort_response(merged: pd.DataFrame, threshold: float | None) -> CohortResponse:
    """Scores by observed response, ROC and operating point of ``cohort_scores`` rows."""
    known = merged["responder"].notna().to_numpy()
    yes = known & (merged["responder"] == True).to_numpy()  # noqa: E712
    parts = {"Responders": merged.loc[yes, "score"],
             "Non-responders": merged.loc[known & ~yes, "score"]}
    y = merged.loc[known, "responder"].astype(bool).to_numpy()
    s = merged.loc[known, "score"].to_numpy(float)
    if len(np.unique(y)) != 2:
        return CohortResponse(parts=parts, roc=None, operating_point=None)
    point = None
    if threshold is not None:
        m = stats.diagnostic_metrics(y, s, threshold)
        point = (1 - m.specificity, m.sensitivity)
    return CohortResponse(parts=parts, roc=stats.roc(y, s), operating_point=point)


@dataclass(frozen=True)
class CaseGroup:
    """Kaplan–Meier curves of the cohort by predicted response at the threshold, the
    case's own group marked "(this case)", and the name of the case's group."""

    curves: Mapping[str, Any]
    case_group: str


def case_group_curves(merged: pd.DataFrame, score: float | None, threshold: float | None,
                      time_col: str, event_col: str) -> CaseGroup | None:
    """The survival curves of the predicted groups (None without a case score or a
    threshold; no curves when no patient has the endpoint)."""
    if score is None or threshold is None:
        return None
    group = RESPONDER if score >= threshold else NON_RESPONDER
    ok = merged[time_col].notna() & merged[event_col].notna()
    if not ok.any():
        return CaseGroup(curves={}, case_group=group)
    predicted = merged.loc[ok, "score"].to_numpy(float) >= threshold
    names = np.where(predicted, RESPONDER, NON_RESPONDER)
    names = np.array([f"{n} (this case)" if n == group else n for n in names], dtype=object)
    curves = stats.kaplan_meier_by(merged.loc[ok, time_col].to_numpy(float),
                                   merged.loc[ok, event_col].astype(bool).to_numpy(), names)
    return CaseGroup(curves=curves, case_group=group)


def contributions(scores: pd.DataFrame, model_id: str | None) -> tuple[dict, str]:
    """A model's per-feature contributions to the case's score and their method
    (``({}, "")`` when the model gives none)."""
    rec = scores[scores["model_id"] == model_id].to_dict("records")
    if not rec or not rec[0].get("contributions"):
        return {}, ""
    return dict(rec[0]["contributions"]), str(rec[0].get("contribution_method"))


# ----------------------------------------------------------------- predicted survival
@dataclass(frozen=True)
class SurvivalBand:
    """A case's predicted survival curve with its band (``times``, ``surv``, ``lower``,
    ``upper``), the Kaplan–Meier curve of the development patients of similar risk
    (``km``) and that group's risk range (``low``, ``high``)."""

    times: np.ndarray
    surv: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    km: Any
    low: float
    high: float

    @property
    def n_similar(self) -> int:
        return int(self.km.at_risk[0]) if len(self.km.timeline) else 0


def survival_band(basis, raw_score: float, coverage: float) -> SurvivalBand:
    """The band of a survival model's calibration (``crlm.models.absolute``) at a score."""
    times, surv, lower, upper = basis.calibration.band(raw_score, coverage)
    _, low, high = basis.similar_risk_group(raw_score)
    return SurvivalBand(times=times, surv=surv, lower=lower, upper=upper,
                        km=basis.similar_risk_km(raw_score), low=float(low), high=float(high))


def survival_predictions(predictions: Sequence) -> dict[str, Any]:
    """Model id → prediction, for the predictions that carry a survival curve."""
    return {p.model_id: p for p in predictions if p.survival is not None}


def entries_changed(current: Mapping[str, Any], scored: Mapping[str, Any] | None) -> bool:
    """True when the form's entries differ from those the shown scores were computed from."""
    return scored is not None and dict(current) != dict(scored)
