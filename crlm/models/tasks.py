"""The prediction tasks: what is predicted, for whom, from which outcome columns, and
when the decision is made.

A task's ``decision_time`` (one of ``config.DECISION_TIMES``) bounds what its models
may read: only inputs known by then (``crlm.models.decision``). The pre-treatment
tasks decide at the treatment plan (the board scores a case under a planned
treatment); the post-resection prognosis tasks decide after surgery, where the
resection and its pathology (growth pattern) are legitimately known.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crlm import config

BINARY = "binary"
SURVIVAL = "survival"


@dataclass(frozen=True)
class Task:
    """One prediction task.

    ``kind`` is ``binary`` (target column ``target``) or ``survival``
    (``time_column`` in months and ``event_column``). ``applies_to`` names the
    population in words; ``population`` is the same as (column, value) pairs
    that a row must all match; ``applicable`` returns the boolean mask of the
    rows of a patients frame that belong to it (before requiring a known
    outcome). ``comparison`` is a second population the task's final models
    also score, for a contrast (the anti-EGFR signature in patients not given
    anti-EGFR); its pairs are matched like ``population``, a value starting
    with ``!`` meaning "any known value but this one". ``input_sets``, when not empty,
    names the only inputs the task's models may read: stored feature sets (``radiomic``),
    ``ct_lesion_crops`` and, for the contract columns, ``clinical``
    (``crlm.models.decision``). ``short_label`` names the task in tables (the Score page,
    the board's answers, the case report).
    """

    name: str
    kind: str
    label: str
    target: str | None = None
    time_column: str | None = None
    event_column: str | None = None
    applies_to: str = "all patients"
    decision_time: str = config.PLAN
    population: tuple[tuple[str, object], ...] = ()
    comparison: tuple[tuple[str, object], ...] = ()
    comparison_label: str = ""
    landmark_days: int = 0
    default: bool = True
    input_sets: tuple[str, ...] = ()
    short_label: str = ""

    @property
    def landmark_months(self) -> float:
        """A landmark task's patients are event-free and followed at the landmark, and
        their time runs from it (0 for every other task)."""
        return self.landmark_days / config.DAYS_PER_MONTH

    @property
    def is_binary(self) -> bool:
        return self.kind == BINARY

    @property
    def population_columns(self) -> tuple[str, ...]:
        return tuple(col for col, _ in self.population)

    @property
    def outcome_columns(self) -> tuple[str, ...]:
        if self.kind == BINARY:
            return (self.target,)
        return (self.time_column, self.event_column)

    @staticmethod
    def _matches(frame: pd.DataFrame, pairs) -> pd.Series:
        mask = pd.Series(True, index=frame.index)
        for column, value in pairs:
            values = (frame[column] if column in frame
                      else pd.Series(None, index=frame.index)).astype("object")
            if isinstance(value, str) and value.startswith("!"):
                mask &= values.notna().to_numpy() & (values != value[1:]).to_numpy()
            else:
                mask &= values.eq(value).fillna(False).astype(bool).to_numpy()
        return mask

    def applicable(self, frame: pd.DataFrame) -> pd.Series:
        """Rows of ``frame`` this task scores (treatment plan and biomarkers, no outcome)."""
        return self._matches(frame, self.population)

    def in_comparison(self, frame: pd.DataFrame) -> pd.Series:
        """Rows of the task's comparison population (all False without one)."""
        if not self.comparison:
            return pd.Series(False, index=frame.index)
        return self._matches(frame, self.comparison)

    def not_applicable_reason(self, row: pd.Series) -> str:
        if not self.population:
            return "task not applicable"
        found = ", ".join(f"{col}={row.get(col)!s}" for col in self.population_columns)
        return f"task applies only to {self.applies_to} ({found})"

    def has_outcome(self, frame: pd.DataFrame) -> pd.Series:
        """Rows whose outcome for this task is known."""
        known = pd.Series(True, index=frame.index)
        for col in self.outcome_columns:
            known &= frame[col].notna()
        if self.kind == SURVIVAL:
            known &= pd.to_numeric(frame[self.time_column], errors="coerce") > self.landmark_months
        return known

    def outcome(self, frame: pd.DataFrame):
        """The outcome of ``frame``'s rows: a 0/1 int array, or (time, event) arrays."""
        if self.kind == BINARY:
            return frame[self.target].astype(bool).astype(int).to_numpy()
        time = frame[self.time_column].astype(float).to_numpy() - self.landmark_months
        event = frame[self.event_column].astype(bool).to_numpy()
        return time, event

    def stratum(self, frame: pd.DataFrame) -> np.ndarray:
        """The variable cross-validation folds are stratified on."""
        column = self.target if self.kind == BINARY else self.event_column
        return frame[column].astype(bool).astype(int).to_numpy()


RESECTED = (("hepatectomy", True),)
# pre-treatment imaging only: the radiomic features and the CT lesion crops of the baseline CT
PRE_TREATMENT_IMAGING = ("radiomic", "ct_lesion_crops")

TASKS: dict[str, Task] = {
    "response": Task("response", BINARY, "Objective response (RECIST CR/PR)", target="responder",
                     short_label="Response (RECIST CR/PR)"),
    "anti_egfr_benefit": Task(
        "anti_egfr_benefit", BINARY, "Response to anti-EGFR therapy (RAS wild-type)",
        target="responder", applies_to="RAS wild-type patients with anti-EGFR planned",
        population=(("ras_status", "wild-type"), ("biologic", "anti-EGFR")),
        comparison=(("ras_status", "wild-type"), ("biologic", "!anti-EGFR")),
        comparison_label="RAS wild-type patients without anti-EGFR (chemotherapy alone or "
                         "with anti-VEGF)",
        short_label="Anti-EGFR benefit (RAS wild-type, anti-EGFR planned)",
    ),
    "os_risk": Task("os_risk", SURVIVAL, "Overall survival risk", time_column="os_months",
                    event_column="os_event", short_label="Overall survival risk"),
    "pfs_risk": Task("pfs_risk", SURVIVAL, "Progression-free survival risk",
                     time_column="pfs_months", event_column="pfs_event",
                     short_label="Progression-free survival risk"),
    "os_after_resection": Task(
        "os_after_resection", SURVIVAL, "Overall survival after hepatectomy",
        time_column="os_months", event_column="os_event", applies_to="patients who had a "
        "hepatectomy", decision_time=config.SURGERY, population=RESECTED,
        short_label="Overall survival after hepatectomy"),
    "recurrence_after_resection": Task(
        "recurrence_after_resection", SURVIVAL,
        "Progression or recurrence after hepatectomy", time_column="pfs_months",
        event_column="pfs_event", applies_to="patients who had a hepatectomy",
        decision_time=config.SURGERY, population=RESECTED,
        short_label="Recurrence after hepatectomy"),
    # landmark at the first restaging: what is still unknown there (not the RECIST response,
    # which the restaging measures); trained when named (python -m crlm train --task ...)
    "pfs_after_restaging": Task(
        "pfs_after_restaging", SURVIVAL, "Progression-free survival after the first restaging",
        time_column="pfs_months", event_column="pfs_event",
        applies_to="patients alive and progression-free at the first restaging (landmark "
                   f"{config.RESTAGING_LANDMARK_DAYS} days after the start of treatment)",
        decision_time=config.RESTAGING, landmark_days=config.RESTAGING_LANDMARK_DAYS,
        default=False,
        short_label="Progression-free survival after restaging"),
    "os_after_restaging": Task(
        "os_after_restaging", SURVIVAL, "Overall survival after the first restaging",
        time_column="os_months", event_column="os_event",
        applies_to="patients alive at the first restaging (landmark "
                   f"{config.RESTAGING_LANDMARK_DAYS} days after the start of treatment)",
        decision_time=config.RESTAGING, landmark_days=config.RESTAGING_LANDMARK_DAYS,
        default=False,
        short_label="Overall survival after restaging"),
    # the review's further targets; trained when named (python -m crlm train --task ...)
    "rfs_risk": Task(
        "rfs_risk", SURVIVAL, "Recurrence-free survival after hepatectomy",
        time_column="rfs_months", event_column="rfs_event",
        applies_to="patients who had a hepatectomy (time from the resection)",
        decision_time=config.SURGERY, population=RESECTED, default=False,
        short_label="Recurrence-free survival after hepatectomy"),
    "pathological_response": Task(
        "pathological_response", BINARY,
        "Major pathological response of the resected metastases (< 50% viable tumour)",
        target="major_pathological_response", applies_to="patients who had a hepatectomy",
        decision_time=config.PLAN, population=RESECTED, default=False,
        short_label="Major pathological response"),
    "ras_from_ct": Task(
        "ras_from_ct", BINARY, "RAS mutation from the pre-treatment CT", target="ras_mutant",
        applies_to="patients with a known RAS status", decision_time=config.STAGING,
        input_sets=PRE_TREATMENT_IMAGING, default=False,
        short_label="RAS mutation from CT"),
    "desmoplastic_from_ct": Task(
        "desmoplastic_from_ct", BINARY, "Desmoplastic growth pattern from the pre-treatment CT",
        target="desmoplastic_growth", applies_to="patients who had a hepatectomy (the growth "
        "pattern is read on the resected specimen)", decision_time=config.STAGING,
        population=RESECTED, input_sets=PRE_TREATMENT_IMAGING, default=False,
        short_label="Desmoplastic growth from CT"),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"task {name!r} is not one of {', '.join(TASKS)}") from None
