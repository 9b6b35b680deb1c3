"""The prediction tasks: what is predicted, for whom, from which outcome columns."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BINARY = "binary"
SURVIVAL = "survival"


@dataclass(frozen=True)
class Task:
    """One prediction task.

    ``kind`` is ``binary`` (target column ``target``) or ``survival``
    (``time_column`` in months and ``event_column``). ``applies_to`` names the
    population in words; ``applicable`` returns the boolean mask of the rows of
    a patients frame that belong to it (before requiring a known outcome).
    """

    name: str
    kind: str
    label: str
    target: str | None = None
    time_column: str | None = None
    event_column: str | None = None
    applies_to: str = "all patients"

    @property
    def outcome_columns(self) -> tuple[str, ...]:
        if self.kind == BINARY:
            return (self.target,)
        return (self.time_column, self.event_column)

    def applicable(self, frame: pd.DataFrame) -> pd.Series:
        """Rows of ``frame`` this task scores (treatment plan and biomarkers, no outcome)."""
        if self.name == "anti_egfr_benefit":
            ras = frame["ras_status"] if "ras_status" in frame else pd.Series(None, index=frame.index)
            bio = frame["biologic"] if "biologic" in frame else pd.Series(None, index=frame.index)
            return (ras.astype("object") == "wild-type") & (bio.astype("object") == "anti-EGFR")
        return pd.Series(True, index=frame.index)

    def not_applicable_reason(self, row: pd.Series) -> str:
        if self.name == "anti_egfr_benefit":
            return ("task applies only to RAS wild-type patients with anti-EGFR planned "
                    f"(ras_status={row.get('ras_status')!s}, biologic={row.get('biologic')!s})")
        return "task not applicable"

    def has_outcome(self, frame: pd.DataFrame) -> pd.Series:
        """Rows whose outcome for this task is known."""
        known = pd.Series(True, index=frame.index)
        for col in self.outcome_columns:
            known &= frame[col].notna()
        if self.kind == SURVIVAL:
            known &= pd.to_numeric(frame[self.time_column], errors="coerce") > 0
        return known

    def outcome(self, frame: pd.DataFrame):
        """The outcome of ``frame``'s rows: a 0/1 int array, or (time, event) arrays."""
        if self.kind == BINARY:
            return frame[self.target].astype(bool).astype(int).to_numpy()
        time = frame[self.time_column].astype(float).to_numpy()
        event = frame[self.event_column].astype(bool).to_numpy()
        return time, event

    def stratum(self, frame: pd.DataFrame) -> np.ndarray:
        """The variable cross-validation folds are stratified on."""
        column = self.target if self.kind == BINARY else self.event_column
        return frame[column].astype(bool).astype(int).to_numpy()


TASKS: dict[str, Task] = {
    "response": Task("response", BINARY, "Objective response (RECIST CR/PR)", target="responder"),
    "anti_egfr_benefit": Task(
        "anti_egfr_benefit", BINARY, "Response to anti-EGFR therapy (RAS wild-type)",
        target="responder", applies_to="RAS wild-type patients with anti-EGFR planned",
    ),
    "os_risk": Task("os_risk", SURVIVAL, "Overall survival risk", time_column="os_months",
                    event_column="os_event"),
    "pfs_risk": Task("pfs_risk", SURVIVAL, "Progression-free survival risk",
                     time_column="pfs_months", event_column="pfs_event"),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"task {name!r} is not one of {', '.join(TASKS)}") from None
