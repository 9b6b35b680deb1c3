"""The entries of a case: what a clinician gives (every model input that is not
derived), grouped the way a clinician thinks, with labels, units and ranges from the
column contract (``crlm.config.PATIENT_COLUMNS``); checking a form's entries into a
patients-shaped frame and back; the clinical scores computed from the entries
(``crlm.clinical``).

"unknown" (or an empty cell) is always allowed for an entry: the models impute it
and flag it.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import pandas as pd

from crlm import clinical, config
from crlm.config import Column

UNKNOWN = "unknown"
YES, NO = "yes", "no"


# The order a clinician reads a case in; groups come from the column contract.
# The last two groups are known only after surgery: the pre-treatment models never read
# them (crlm.models.decision); only the post-resection prognosis models do.
ENTRY_GROUPS: tuple[str, ...] = (
    "demographics", "primary tumour", "molecular", "liver disease", "labs", "treatment plan",
    "surgery", "pathology",
)
ENTRY_COLUMNS: tuple[Column, ...] = tuple(
    c for g in ENTRY_GROUPS for c in config.PATIENT_COLUMNS
    if c.group == g and c.name in config.CANDIDATE_INPUT_COLUMNS and not c.derived
)
AFTER_TREATMENT_ENTRIES: tuple[str, ...] = tuple(
    c.name for c in ENTRY_COLUMNS if not config.known_by(c.known_at, config.PLAN))
ENTRY_NAMES: tuple[str, ...] = tuple(c.name for c in ENTRY_COLUMNS)
DERIVED_NAMES: tuple[str, ...] = tuple(
    c.name for c in config.PATIENT_COLUMNS if c.derived and not c.outcome)
CLINICAL_SCORE_LABELS = {
    "ras_status": "RAS status",
    "tumour_burden_score": "Tumour burden score (TBS)",
    "tbs_zone": "TBS zone",
    "fong_score": "Fong score",
    "fong_group": "Fong group",
    "game_score": "GAME score",
    "game_group": "GAME group",
    "mcs_score": "m-CS score",
}


class CaseInputError(ValueError):
    """Entries that cannot be scored; ``problems`` is the per-value problem table."""

    def __init__(self, message: str, problems: pd.DataFrame | None = None):
        super().__init__(message)
        self.problems = problems if problems is not None else pd.DataFrame(
            columns=["row", "column", "value", "problem"])


# ----------------------------------------------------------------- entries
def entry_groups() -> dict[str, list[Column]]:
    """Entry columns by clinical group, in reading order."""
    out: dict[str, list[Column]] = {}
    for col in ENTRY_COLUMNS:
        out.setdefault(col.group, []).append(col)
    return out


def entry_label(col: Column) -> str:
    """The label a form shows: the contract's label with its unit."""
    return f"{col.label} ({col.unit})" if col.unit else col.label


def entry_options(col: Column) -> list[str]:
    """Choices of a category or yes/no entry, "unknown" first."""
    if col.kind == "bool":
        return [UNKNOWN, YES, NO]
    return [UNKNOWN, *col.levels]


def _is_blank(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", UNKNOWN, "na", "n/a", "nan",
                                                                 "not done", "none")


def _show(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_value(col: Column, value: Any) -> tuple[Any, str | None]:
    """``(typed value, problem)`` for one entry; missing/unknown gives ``(None, None)``.
    The contract's one parser (``Column.parse``) decides."""
    parsed = col.parse(value)
    if parsed.problem and col.kind in ("category", "bool"):
        return None, f"{parsed.problem} (or unknown)"
    return parsed.value, parsed.problem


def _typed_frame(rows: list[dict], ids: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(ENTRY_NAMES))
    for col in ENTRY_COLUMNS:
        if col.kind in ("int", "float"):
            frame[col.name] = pd.to_numeric(frame[col.name], errors="coerce").astype(float)
        else:
            frame[col.name] = frame[col.name].astype(object).where(frame[col.name].notna(), None)
    frame.insert(0, "patient_id", ids)
    return frame


def case_from_form(values: Mapping[str, Any], case_id: str = "case-1") -> pd.DataFrame:
    """The one-row patients-shaped frame of a form's entries.

    ``values`` maps entry names to what the widgets hold ("unknown", None, numbers,
    "yes"/"no", levels). Raises ``CaseInputError`` listing every bad entry.
    """
    unknown = [k for k in values if k not in ENTRY_NAMES]
    if unknown:
        raise CaseInputError(f"not case entries: {', '.join(map(str, unknown))}")
    row: dict[str, Any] = {}
    problems = []
    for col in ENTRY_COLUMNS:
        typed, problem = check_value(col, values.get(col.name))
        if problem:
            problems.append({"row": 1, "column": col.name, "value": _show(values.get(col.name)),
                             "problem": f"{entry_label(col)}: {problem}"})
        row[col.name] = typed
    if problems:
        table = pd.DataFrame(problems)
        raise CaseInputError("; ".join(table["problem"]), table)
    return _typed_frame([row], [case_id])


def form_values(case: Mapping[str, Any]) -> dict[str, Any]:
    """Widget values for a case's entries (the inverse of ``case_from_form``)."""
    out: dict[str, Any] = {}
    for col in ENTRY_COLUMNS:
        value, problem = check_value(col, case.get(col.name))
        if problem:
            raise CaseInputError(f"{entry_label(col)}: {problem}")
        if value is None:
            out[col.name] = None if col.kind in ("int", "float") else UNKNOWN
        elif col.kind == "bool":
            out[col.name] = YES if bool(value) else NO
        elif col.kind == "int":
            out[col.name] = int(value)
        elif col.kind == "float":
            out[col.name] = float(value)
        else:
            out[col.name] = str(value)
    return out


# ----------------------------------------------------------------- clinical scores
def clinical_scores(case: pd.DataFrame) -> pd.DataFrame:
    """TBS, its zone, Fong, GAME, m-CS and RAS status of each row (``crlm.clinical``)."""
    frame = case.copy()
    for name in config.PATIENT_COLUMN_NAMES:
        if name not in frame.columns:
            frame[name] = None
    derived = clinical.add_derived_columns(frame)
    return derived[list(CLINICAL_SCORE_LABELS)].reset_index(drop=True)


def clinical_summary(case: pd.DataFrame) -> dict[str, str]:
    """The first row's clinical scores as display text ("–" where an input is unknown)."""
    row = clinical_scores(case.iloc[:1]).iloc[0]
    out = {}
    for name, label in CLINICAL_SCORE_LABELS.items():
        value = row[name]
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            out[label] = "–"
        elif name == "tumour_burden_score":
            out[label] = f"{float(value):.1f}"
        else:
            out[label] = str(value)
    return out



def missing_entries(case: pd.DataFrame) -> list[str]:
    """Labels of the first row's pre-treatment entries that are unknown."""
    row = case.iloc[0]
    out = []
    for col in ENTRY_COLUMNS:
        if col.name in AFTER_TREATMENT_ENTRIES:
            continue
        v = row.get(col.name)
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            out.append(col.label)
    return out
