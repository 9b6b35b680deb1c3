"""An uploaded table's columns for a cohort's own (extra) variables that a current model
reads: checked row by row like the entries (a categorical one by level name, a numeric
one as a number) and kept with the good rows, so that an uploaded case is scored like a
form case. A row with a bad value is listed as a problem and not scored."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import pandas as pd

from crlm.cases.batch import BatchResult
from crlm.cases.entries import _is_blank, _show

IGNORED_NOTE = "ignored (not columns of the patients table): "


def check_own_value(name: str, levels: Sequence[str] | None, value) -> tuple[object, str | None]:
    """The value as the models read it (the level's own spelling, or a float; None when
    blank) and a problem in words, or None."""
    if _is_blank(value):
        return None, None
    if levels:
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        by_text = {str(lv).strip().casefold(): str(lv) for lv in levels}
        level = by_text.get(text.strip().casefold())
        if level is None:
            return None, f"not one of the levels of {name} ({', '.join(map(str, levels))})"
        return level, None
    try:
        number = float(str(value).strip().replace(",", ".")) if isinstance(value, str) \
            else float(value)
    except (TypeError, ValueError):
        return None, f"{name} must be a number"
    if not math.isfinite(number):
        return None, f"{name} must be a finite number"
    return number, None


def with_own_columns(result: BatchResult, frame: pd.DataFrame,
                     own: Mapping[str, Sequence[str] | None],
                     first_row_number: int = 2) -> BatchResult:
    """``result`` (``check_batch`` of ``frame``) with ``frame``'s columns named in ``own``
    (variable name -> its levels, None for a numeric one) checked and added to the cases;
    a row with a bad value moves to the problems."""
    columns = [str(c).strip() for c in frame.columns]
    given = [c for c in dict.fromkeys(columns) if c in own]
    if not given:
        return result
    frame = frame.copy()
    frame.columns = columns
    values: dict[str, dict[str, object]] = {}
    problems = []
    for i, record in enumerate(frame[given].to_dict("records")):
        number = i + first_row_number
        row = {}
        for name in given:
            typed, problem = check_own_value(name, own[name], record[name])
            if problem:
                problems.append({"row": number, "column": name,
                                 "value": _show(record[name]), "problem": problem})
            row[name] = typed
        values[f"row-{number}"] = row
    bad = {f"row-{p['row']}" for p in problems}
    cases = result.cases[~result.cases["patient_id"].isin(bad)].reset_index(drop=True)
    for name in given:
        typed = [values.get(pid, {}).get(name) for pid in cases["patient_id"]]
        cases[name] = (pd.Series(typed, dtype=object) if own[name]
                       else pd.to_numeric(pd.Series(typed, dtype=object), errors="coerce"))
    extra = pd.DataFrame(problems, columns=list(result.problems.columns))
    problem_frame = (pd.concat([result.problems, extra], ignore_index=True)
                     .sort_values("row", kind="stable").reset_index(drop=True)
                     if len(extra) else result.problems)
    notes = []
    for note in result.notes:
        if note.startswith(IGNORED_NOTE):
            rest = [c.strip() for c in note[len(IGNORED_NOTE):].split(",")
                    if c.strip() not in given]
            note = IGNORED_NOTE + ", ".join(rest) if rest else ""
        if note:
            notes.append(note)
    notes.append("this cohort's own variables, read by its models: " + ", ".join(given))
    return BatchResult(cases=cases, problems=problem_frame, n_rows=result.n_rows, notes=notes)
