"""Readable answers for a scored case: probabilities, survival at 1, 3 and 5 years, and
the uncertainty of each, calibrated on the model's out-of-fold predictions.

* Binary models (a probability of response): the probability itself, the model's
  out-of-fold calibration stated in words (slope, intercept, Brier score, from the
  registry), and a split-conformal prediction set at the coverage the board picks
  (``crlm.stats.prediction.conformal_binary`` on the out-of-fold probabilities and
  outcomes of the development patients).
* Survival models (any risk score, clinical scores included): ``S(t | risk)`` from a
  Cox / Breslow calibration of the risk score through a restricted cubic spline on the
  out-of-fold risk scores, times and events
  (``crlm.stats.prediction.risk_survival_calibration``), at 12, 36 and 60
  months with a bootstrap interval, the median where the curve reaches one half,
  and the Kaplan–Meier curve of the development patients of similar predicted risk
  (the fifth of out-of-fold risk scores the case falls into) to draw it over.
* A random survival forest's score sums the cumulative hazard over its training event
  times, so it is divided by their number (``per_event_time``) to put the fold models'
  and the refitted model's scores on one scale. A survival model whose refitted scores
  are still not on the scale of its out-of-fold scores (``MAX_SCALE_SHIFT_SD``) gets no
  absolute survival, with the reason.
* A case that does not give a model enough (``crlm.models.requirements``) gets no
  probability, set or interval: only what is needed.

Calibrations are computed once per model version and cohort content and kept in
the process, like the score distributions of ``crlm.models.scoring``.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
import pandas as pd

from crlm import stats
from crlm import store as st
from crlm.models.kinds import is_clinical_score
from crlm.models.requirements import NOT_ENOUGH
from crlm.models.score_scale import (
    MAX_SCALE_SHIFT_SD, SUMMED_HAZARD_FAMILIES, per_event_time, scale_shift,
)
from crlm.models.tasks import TASKS
from crlm.models.training import EXTERNAL, OUT_OF_FOLD
from crlm.stats.prediction import (
    AbsoluteSurvival, ConformalBinary, RiskSurvivalCalibration, conformal_binary,
    risk_survival_calibration,
)

HORIZONS_MONTHS = (12.0, 36.0, 60.0)
DEFAULT_COVERAGE = 0.90
N_BOOT = 200
SIMILAR_RISK_GROUPS = 5
MIN_CALIBRATION_PATIENTS = 30

_lock = threading.Lock()
_calibrations: dict[tuple, object] = {}


def clear_caches() -> None:
    with _lock:
        _calibrations.clear()


@dataclass(frozen=True)
class BinaryBasis:
    """A binary model's conformal calibration and its stated out-of-fold calibration."""

    conformal: ConformalBinary
    slope: float | None
    intercept: float | None
    brier: float | None

    def calibration_text(self) -> str:
        parts = []
        if _finite(self.slope):
            parts.append(f"slope {self.slope:.2f}")
        if _finite(self.intercept):
            parts.append(f"intercept {self.intercept:+.2f}")
        if _finite(self.brier):
            parts.append(f"Brier {self.brier:.3f}")
        text = (f"out-of-fold calibration ({self.conformal.n_calibration} patients): "
                + (", ".join(parts) if parts else "not recorded"))
        if _finite(self.slope) and self.slope < 0.8:
            text += "; slope below 1: its probabilities are too extreme, read them as a ranking"
        elif _finite(self.slope) and self.slope > 1.25:
            text += "; slope above 1: its probabilities are too cautious"
        return text


@dataclass(frozen=True)
class SurvivalBasis:
    """A survival model's Breslow calibration and the out-of-fold patients behind it."""

    calibration: RiskSurvivalCalibration
    risk: np.ndarray
    time: np.ndarray
    event: np.ndarray

    def similar_risk_group(self, risk: float, groups: int = SIMILAR_RISK_GROUPS
                           ) -> tuple[np.ndarray, float, float]:
        """Mask of the development patients in the same fifth of out-of-fold risk as
        ``risk`` (a score of the refitted model), and that fifth's bounds on its scale."""
        factor = self.calibration.score_factor
        edges = np.quantile(self.risk, np.linspace(0, 1, groups + 1))
        k = int(np.clip(np.searchsorted(edges, float(risk) * factor, side="right") - 1,
                        0, groups - 1))
        lo, hi = edges[k], edges[k + 1]
        mask = (self.risk >= lo) & ((self.risk <= hi) if k == groups - 1 else (self.risk < hi))
        return mask, float(lo / factor), float(hi / factor)

    def similar_risk_km(self, risk: float) -> stats.KMResult:
        mask, _, _ = self.similar_risk_group(risk)
        return stats.kaplan_meier(self.time[mask], self.event[mask])


@dataclass(frozen=True)
class NoCalibration:
    """Why a model's scores cannot be turned into absolute answers."""

    reason: str


@dataclass(frozen=True)
class CasePrediction:
    """One model's answer for one case, as a board reads it.

    ``answered`` is False when the model gave no score or the case does not give it
    enough; then ``headline`` says why and ``needed`` what is missing. ``probability``
    and ``prediction_set`` are for binary models, ``survival`` for survival models;
    ``raw_score`` stays for the data scientist.
    """

    patient_id: str
    task: str
    model_id: str
    model_version: int
    kind: str
    answered: bool
    headline: str
    interval_text: str
    calibration_text: str
    needed: tuple[str, ...]
    raw_score: float
    coverage: float
    probability: float | None = None
    prediction_set: tuple[str, ...] | None = None
    survival: AbsoluteSurvival | None = None


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _fingerprint(store, cohort: str) -> tuple:
    return (str(store.path.resolve()), cohort) + tuple(st.load_cohort_fingerprint(store, cohort))


def load_bases(store, cohort: str, models: pd.DataFrame) -> dict[tuple[str, int], object]:
    """Per (model_id, version): a ``BinaryBasis`` for models whose score is a probability,
    a ``SurvivalBasis`` for survival models, a ``NoCalibration`` with the reason where
    the scores cannot be calibrated (too few out-of-fold predictions, no event, not a
    probability, refitted scores on another scale)."""
    out: dict[tuple[str, int], object] = {}
    key0 = _fingerprint(store, cohort)
    todo = []
    for rec in models.to_dict("records"):
        key = key0 + (rec["model_id"], int(rec["version"]))
        with _lock:
            cached = _calibrations.get(key, _MISSING)
        if cached is _MISSING:
            todo.append(rec)
        elif cached is not None:
            out[(rec["model_id"], int(rec["version"]))] = cached
    for task_name in sorted({r["task"] for r in todo}):
        task = TASKS.get(task_name)
        if task is None:
            continue
        preds = st.load_predictions(store, st.CohortFilter(cohort=cohort), task=task_name,
                                    split=[OUT_OF_FOLD, EXTERNAL],
                                    columns=list(task.outcome_columns))
        for rec in (r for r in todo if r["task"] == task_name):
            ver = int(rec["version"])
            part = preds[(preds["model_id"] == rec["model_id"])
                         & (preds["model_version"] == ver)]
            basis = _basis(rec, task, part)
            with _lock:
                _calibrations[key0 + (rec["model_id"], ver)] = basis
            if basis is not None:
                out[(rec["model_id"], ver)] = basis
    return out


_MISSING = object()


def _basis(rec: Mapping, task, both: pd.DataFrame):
    external = both.loc[both["split"] == EXTERNAL, "score"].to_numpy(float)
    part = both[both["split"] == OUT_OF_FOLD].dropna(subset=["score", *task.outcome_columns])
    if len(part) < MIN_CALIBRATION_PATIENTS:
        return NoCalibration(f"only {len(part)} out-of-fold predictions with a known outcome "
                             f"(at least {MIN_CALIBRATION_PATIENTS} are needed to calibrate)")
    if task.is_binary:
        if is_clinical_score(rec["kind"]):  # a clinical score is not a probability
            return NoCalibration("clinical score (not a probability)")
        prob = part["score"].to_numpy(float)
        if prob.min() < 0 or prob.max() > 1:
            return NoCalibration("the model's scores are not probabilities")
        oof = (rec.get("metrics") or {}).get("out_of_fold") or {}
        return BinaryBasis(conformal=conformal_binary(prob, part[task.target].astype(bool)),
                           slope=oof.get("calibration_slope"),
                           intercept=oof.get("calibration_intercept"), brier=oof.get("brier"))
    time = part[task.time_column].to_numpy(float)
    event = part[task.event_column].astype(bool).to_numpy()
    ok = time > 0
    if not event[ok].any():
        return NoCalibration("no event among the out-of-fold patients")
    risk = part["score"].to_numpy(float)
    factor = 1.0
    if rec.get("family") in SUMMED_HAZARD_FAMILIES:
        risk, factor = per_event_time(risk, part["fold"].to_numpy(), time, event)
        external = external * factor
    risk = risk[ok]
    shift = scale_shift(risk, external)
    if _finite(shift) and abs(shift) > MAX_SCALE_SHIFT_SD:
        return NoCalibration(
            f"the refitted model's scores are not on the scale of its out-of-fold scores "
            f"(external median {shift:+.1f} out-of-fold SD away), so the calibration does "
            "not transfer; raw score only")
    calibration = risk_survival_calibration(risk, time[ok], event[ok], n_boot=N_BOOT,
                                            random_state=int(rec["version"]))
    if factor != 1.0:
        calibration = replace(calibration, score_factor=factor)
    return SurvivalBasis(calibration=calibration, risk=risk, time=time[ok], event=event[ok])


def outcome_words(task: str) -> tuple[str, str]:
    """How the positive and negative class of a binary task are named."""
    return ("responder", "non-responder")


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def survival_text(surv: AbsoluteSurvival) -> str:
    parts = []
    for t, s, lo, hi in zip(surv.times, surv.survival, surv.lower, surv.upper):
        years = f"{t / 12:g} y"
        if not _finite(s):
            parts.append(f"{years}: beyond follow-up")
        elif _finite(lo):
            parts.append(f"{years} {100 * s:.0f} % ({100 * lo:.0f}–{100 * hi:.0f})")
        else:
            parts.append(f"{years} {_pct(s)}")
    if surv.median_reached:
        med = f"median {surv.median:.0f} months"
        if _finite(surv.median_lower) and _finite(surv.median_upper):
            med += f" ({surv.median_lower:.0f}–{surv.median_upper:.0f})"
        elif _finite(surv.median_lower):
            med += f" ({surv.median_lower:.0f}–not reached)"
        parts.append(med)
    else:
        parts.append(f"median not reached within {surv.max_time:.0f} months")
    return "; ".join(parts)


def _survival_calibration_text(cal) -> str:
    shape = (f"spline with {len(cal.knots)} knots" if len(cal.knots) else "straight line")
    return (f"Cox / Breslow calibration ({shape}) on {cal.n_calibration} out-of-fold "
            f"patients ({cal.n_events} events)")


def interval_words(kind: str, coverage: float, n: int | None = None) -> str:
    """What the interval or set means, in words for the page and the report."""
    c = f"{coverage:.0%}"
    if kind == "binary":
        return (f"The {c} prediction set holds the patient's true outcome for at least {c} of "
                "new patients like the development cohort (split conformal on the out-of-fold "
                "predictions" + (f" of {n} patients" if n else "") + "). A set with both "
                "outcomes means the model cannot tell at this level; an empty set means the "
                "case is unlike the calibration patients.")
    return (f"Survival probabilities come from the model's risk score through a Cox / Breslow "
            "calibration (a restricted cubic spline of the score) on the development "
            f"patients' out-of-fold predictions; the {c} interval is the range of the case's "
            f"probability over {N_BOOT} bootstrap resamples of those patients, each "
            "recalibrated. It is meant to contain, for "
            f"{c} of cases, the true probability of survival of patients with the case's risk "
            "score in the development centres (checked on simulated cohorts); it is not a "
            "range for the patient's own survival time, and it does not cover differences "
            "between those centres and the patient's.")


def case_predictions(scores: pd.DataFrame, bases: Mapping[tuple[str, int], object],
                     coverage: float = DEFAULT_COVERAGE,
                     horizons: tuple[float, ...] = HORIZONS_MONTHS) -> tuple[CasePrediction, ...]:
    """One ``CasePrediction`` per row of ``score_cases``' output."""
    out = []
    for row in scores.to_dict("records"):
        task = TASKS.get(row["task"])
        score = row.get("score")
        version = int(row["model_version"])
        common = dict(patient_id=str(row["patient_id"]), task=row["task"],
                      model_id=row["model_id"], model_version=version, kind=row.get("kind", ""),
                      raw_score=float(score) if _finite(score) else float("nan"),
                      coverage=float(coverage))
        needed = tuple(row.get("needed") or ())
        sufficient = bool(row.get("sufficient", True))
        if not _finite(score) or not sufficient or task is None:
            headline = (f"{NOT_ENOUGH} — needed: {', '.join(needed)}" if needed
                        else (row.get("reason") or "no score"))
            out.append(CasePrediction(answered=False, headline=headline, interval_text="",
                                      calibration_text="", needed=needed, **common))
            continue
        basis = bases.get((row["model_id"], version))
        if task.is_binary:
            if isinstance(basis, BinaryBasis):
                p = float(score)
                chosen = basis.conformal.prediction_set(p, coverage)
                yes, no = outcome_words(row["task"])
                labels = tuple(yes if c else no for c in chosen)
                shown = ("both outcomes (the model cannot tell)" if len(labels) == 2 else
                         labels[0] if labels else "empty (unlike the calibration patients)")
                out.append(CasePrediction(
                    answered=True, headline=f"probability of response {_pct(p)}",
                    interval_text=f"{coverage:.0%} prediction set: {shown}",
                    calibration_text=basis.calibration_text(), needed=(), probability=p,
                    prediction_set=labels, **common))
            else:
                text = ("clinical score (not a probability)" if is_clinical_score(row.get("kind"))
                        else getattr(basis, "reason", "no calibration"))
                out.append(CasePrediction(
                    answered=True, headline=text, interval_text="",
                    calibration_text="", needed=(), **common))
            continue
        if isinstance(basis, SurvivalBasis):
            surv = basis.calibration.survival(float(score), horizons, coverage)
            out.append(CasePrediction(
                answered=True, headline=survival_text(surv),
                interval_text=f"{coverage:.0%} bootstrap intervals in brackets",
                calibration_text=_survival_calibration_text(basis.calibration),
                needed=(), survival=surv, **common))
        else:
            out.append(CasePrediction(
                answered=True, headline=getattr(basis, "reason", "no calibration"),
                interval_text="", calibration_text="", needed=(), **common))
    return tuple(out)


def headline_models(models: pd.DataFrame, bases: Mapping[tuple[str, int], object]
                    ) -> dict[str, str]:
    """Per task, the model whose answer heads the case's summary: the trained (not
    clinical) model with the best out-of-fold AUC or C-index whose scores can be
    turned into absolute answers."""
    best: dict[str, tuple[float, str]] = {}
    for rec in models.to_dict("records"):
        if is_clinical_score(rec["kind"]):
            continue
        basis = bases.get((rec["model_id"], int(rec["version"])))
        if basis is None or isinstance(basis, NoCalibration):
            continue
        oof = (rec.get("metrics") or {}).get("out_of_fold") or {}
        value = oof.get("auc", oof.get("c_index"))
        if not _finite(value):
            continue
        if rec["task"] not in best or float(value) > best[rec["task"]][0]:
            best[rec["task"]] = (float(value), rec["model_id"])
    return {task: model_id for task, (_, model_id) in best.items()}
