"""The de-identified record that ``store.save_case`` keeps of a case, and reading it
back: entries only (no id, name or date), each model's score, the clinical scores, the
board's answers and the screened image metadata.
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from crlm.cases._values import _plain
from crlm.cases.ct import image_metadata_record
from crlm.cases.entries import (
    CLINICAL_SCORE_LABELS, ENTRY_NAMES, case_from_form, clinical_scores, form_values,
)
from crlm.cases.table import could_not_score, scores_table

RESEARCH_NOTICE = "Research use only, not a medical device."


def case_record(case: pd.DataFrame, scores: pd.DataFrame, *, cohort: str,
                thresholds: Mapping[str, float | None] | None = None,
                image_metadata: Mapping | None = None,
                answers: pd.DataFrame | None = None, summary: str = "") -> dict:
    """What ``store.save_case`` keeps: de-identified entries only (no id, name or
    date), each model's score, version, threshold and class, the clinical scores,
    the board's answers (``board_table`` rows) and the one-line ``summary`` when given,
    and the image metadata when a CT was read (``image_metadata_record``: allow-listed
    fields only, text screened)."""
    row = case.iloc[0]
    inputs = {name: _plain(row.get(name)) for name in ENTRY_NAMES}
    table = scores_table(scores, thresholds)
    models = [{k: _plain(r[k]) for k in ("task_id", "model_id", "version", "kind", "score",
                                         "shown_score", "threshold", "predicted_class",
                                         "percentile", "stale", "flags")}
              for r in table.to_dict("records")]
    missing = could_not_score(scores).to_dict("records")
    clin = clinical_scores(case.iloc[:1]).iloc[0]
    out = {
        "inputs": inputs,
        "scores": {"cohort": cohort, "models": models, "could_not_score": missing,
                   "clinical": {k: _plain(clin[k]) for k in CLINICAL_SCORE_LABELS},
                   "answers": [] if answers is None else [
                       {k: _plain(r[k]) for k in ("task_id", "model_id", "model", "answered",
                                                  "answer", "interval", "calibration")}
                       for r in answers.to_dict("records")],
                   "summary": summary},
        "image_metadata": image_metadata_record(image_metadata),
    }
    return out


def case_from_record(record: Mapping) -> pd.DataFrame:
    """The one-row frame of a saved case's entries."""
    inputs = record.get("inputs") or {}
    values = {name: inputs.get(name) for name in ENTRY_NAMES}
    return case_from_form(form_values(values), case_id=f"case-{record.get('case_id', 1)}")


def saved_scores_table(record: Mapping) -> pd.DataFrame:
    """The scores table as saved with a case."""
    models = (record.get("scores") or {}).get("models") or []
    return pd.DataFrame(models)
