"""A case entered on the Score page, scored by the landmark tasks' sequence models.

The board enters a case's serial values (CEA, target-lesion sums, lesion counts by day
from the start of treatment); each current ``gru_sequence``, ``gru_baseline`` and
``change_rule`` model of the cohort reads them exactly as it read its training patients'
(:func:`crlm.models.sequence.build_sequences`, from the baseline window up to the model's
cut-off: the first-restaging landmark, or day 0 for the baseline-only GRU) and gives its
risk score; later values are left out and counted, never read.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from crlm import config
from crlm.models.decision import measurement_cutoff_day
from crlm.models.sequence import DEMO_FAMILIES, LANDMARK_TASKS, build_sequences
from crlm.models.tasks import TASKS

SCORED_FAMILIES = DEMO_FAMILIES
HORIZONS_MONTHS = (12.0, 24.0, 36.0)   # from the start of treatment


@dataclass(frozen=True)
class CaseSequenceScore:
    """A sequence model's score of one entered case: ``risk`` (the model's log relative
    hazard, or the % change for the rule; NaN with ``reason`` when it gives none), the
    visits it read and the entered values it left out (later than its cut-off or before
    the baseline window), counted."""

    risk: float
    visits: int
    cutoff_day: int
    left_out: int
    reason: str = ""


def case_measurements(entries: pd.DataFrame) -> pd.DataFrame:
    """A case's entered values (columns ``day``, ``kind``, ``value``) checked: kinds of
    ``config.MEASUREMENT_KINDS``, numbers in each kind's range, a baseline value (day 0
    or before) of CEA or the target-lesion sum. ``ValueError`` lists every problem."""
    if not {"day", "kind", "value"} <= set(entries.columns):
        raise ValueError("the serial values need the columns day, kind and value")
    frame = entries[["day", "kind", "value"]].copy()
    frame["kind"] = frame["kind"].astype(str).str.strip().str.lower()
    frame["day"] = pd.to_numeric(frame["day"], errors="coerce")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    problems = []
    for i, row in enumerate(frame.itertuples(index=False), start=1):
        spec = config.MEASUREMENT_KINDS.get(row.kind)
        if spec is None:
            problems.append(f"row {i}: kind must be one of {', '.join(config.MEASUREMENT_KINDS)}")
            continue
        if not np.isfinite(row.day) or not -365 <= row.day <= 3650:
            problems.append(f"row {i}: day must be a number from -365 to 3,650")
        if not np.isfinite(row.value) or not spec.lo <= row.value <= spec.hi:
            problems.append(f"row {i}: {spec.label} must be a number from {spec.lo:g} to "
                            f"{spec.hi:g} {spec.unit}")
    if not problems and not (frame["day"].le(0) & frame["kind"].isin(
            ["cea", "target_lesion_sum"])).any():
        problems.append("a baseline value (day 0 or before) of CEA or of the target-lesion "
                        "sum is needed")
    if problems:
        raise ValueError("; ".join(problems))
    return frame.assign(day=frame["day"].round().astype(int)).sort_values("day", kind="stable")


def score_sequence(model, entries: pd.DataFrame, cutoff_day: int) -> CaseSequenceScore:
    """Score one case's serial values (:func:`case_measurements`) with a fitted
    ``SequenceCox`` or ``ChangeRule``, reading only the values from the baseline window
    (``config.BASELINE_WINDOW_DAYS``) up to ``cutoff_day`` (the landmark for
    ``gru_sequence`` and the rule, day 0 for ``gru_baseline``), as in training."""
    frame = case_measurements(entries)
    keep = frame["day"].between(config.BASELINE_WINDOW_DAYS[0], int(cutoff_day))
    used = frame[keep].assign(patient_id="case")
    X, lengths = build_sequences(used, ["case"], int(cutoff_day))
    risk = float(model.predict_risk(X, lengths)[0])
    reason = "" if np.isfinite(risk) else (
        "no target-lesion sum after the baseline up to the landmark (the rule needs one)")
    return CaseSequenceScore(risk=risk, visits=int(lengths[0]), cutoff_day=int(cutoff_day),
                             left_out=int((~keep).sum()), reason=reason)


def family_cutoff_day(family: str, task: str) -> int:
    """The last day a landmark task's sequence family reads (day 0 for ``gru_baseline``)."""
    return 0 if family == "gru_baseline" else measurement_cutoff_day(TASKS[task].decision_time)


def landmark_case_scores(entries: pd.DataFrame, *, store, registry: pd.DataFrame,
                         artefact_dir=None) -> pd.DataFrame:
    """One row per current landmark sequence model of ``registry`` (the cohort's models):
    ``task, model_id, model_version, family, kind, score, visits, cutoff_day, left_out,
    reason`` (the columns ``crlm.models.absolute.case_predictions`` reads, with
    ``patient_id`` "case"). ``ValueError`` when the entries are not valid."""
    from crlm.models.artefacts import artefact_path
    from crlm.models.scoring import load_model
    from crlm.models.training import default_artefact_dir

    frame = case_measurements(entries)
    rows = []
    chosen = registry[registry["task"].isin(LANDMARK_TASKS)
                      & registry["family"].isin(SCORED_FAMILIES)]
    for rec in chosen.to_dict("records"):
        version = int(rec["version"])
        recorded = rec.get("artefact_path")
        folder = (Path(recorded) if artefact_dir is None and recorded and Path(recorded).exists()
                  else artefact_path(rec["model_id"], version,
                                     artefact_dir or default_artefact_dir(store)))
        model = load_model(rec["model_id"], version, folder=folder)
        res = score_sequence(model, frame, family_cutoff_day(rec["family"], rec["task"]))
        rows.append({"patient_id": "case", "task": rec["task"], "model_id": rec["model_id"],
                     "model_version": version, "family": rec["family"], "kind": rec["kind"],
                     "score": res.risk, "visits": res.visits, "cutoff_day": res.cutoff_day,
                     "left_out": res.left_out, "reason": res.reason})
    return pd.DataFrame(rows, columns=["patient_id", "task", "model_id", "model_version",
                                       "family", "kind", "score", "visits", "cutoff_day",
                                       "left_out", "reason"])


def landmark_answers(scores: pd.DataFrame, bases: Mapping, *,
                     horizons: tuple[float, ...] = HORIZONS_MONTHS,
                     coverage: float = 0.9) -> pd.DataFrame:
    """Per row of :func:`landmark_case_scores`: the case's percentile among the model's
    out-of-fold development scores and, where ``crlm.models.absolute.load_bases`` gave the
    model a survival calibration (``bases``), its predicted survival at ``horizons``
    (months from the start of treatment, for a patient event-free at the landmark, as
    every patient of the task is) with the bootstrap interval; ``note`` says why not."""
    from crlm.models.absolute import SurvivalBasis

    rows = []
    for rec in scores.to_dict("records"):
        row = {"task": rec["task"], "model_id": rec["model_id"], "family": rec["family"],
               "score": rec["score"], "percentile": np.nan, "note": rec.get("reason") or ""}
        for h in horizons:
            row.update({f"survival_{h:g}m": np.nan, f"survival_{h:g}m_lower": np.nan,
                        f"survival_{h:g}m_upper": np.nan})
        basis = bases.get((rec["model_id"], int(rec["model_version"])))
        if np.isfinite(rec["score"]):
            if isinstance(basis, SurvivalBasis):
                row["percentile"] = float(100.0 * np.mean(basis.risk <= rec["score"]))
                surv = basis.calibration.survival(float(rec["score"]), horizons, coverage)
                for k, h in enumerate(horizons):
                    row.update({f"survival_{h:g}m": float(surv.survival[k]),
                                f"survival_{h:g}m_lower": float(surv.lower[k]),
                                f"survival_{h:g}m_upper": float(surv.upper[k])})
            else:
                row["note"] = getattr(basis, "reason", "no absolute survival for this model")
        rows.append(row)
    return pd.DataFrame(rows)
