"""One case or a batch of cases for the "Score a case" page, without any UI.

* ``entries``: the entries a clinician gives, grouped the way a clinician thinks, with
  labels, units and ranges from the column contract; checking a form's entries into a
  patients-shaped frame; the clinical scores computed from them;
* ``batch``: the downloadable template and checking an uploaded table row by row, with
  one problem row per bad value so that the good rows can still be scored;
* ``table``: the scores table shown on the page and in the report, the models that
  could not score with their reason, the flags, the board's answers and the one-line
  summary;
* ``record``: the de-identified record that ``store.save_case`` keeps, and reading it
  back;
* ``screening``: screening of the free-text case label and board notes;
* ``ct``: a CT series uploaded with a case and the image metadata a case may keep;
* ``results`` and ``report`` (imported by name): what the page computes around a case's
  scores (where it falls in the cohort, contributions, survival band) and what its
  one-page report shows.

The public names of the modules above ``results`` are importable from ``crlm.cases``.
"""
from __future__ import annotations

from crlm.cases.batch import MAX_BATCH_ROWS, BatchResult, batch_template, check_batch, read_batch
from crlm.cases.ct import (
    IMAGE_METADATA_KEYS, MAX_METADATA_TEXT_CHARS, CtUpload, image_metadata_record,
    lesion_feature_frame, lesion_inputs, read_ct_upload,
)
from crlm.cases.entries import (
    AFTER_TREATMENT_ENTRIES, CLINICAL_SCORE_LABELS, DERIVED_NAMES, ENTRY_COLUMNS, ENTRY_GROUPS,
    ENTRY_NAMES, NO, UNKNOWN, YES, CaseInputError, case_from_form, check_value, clinical_scores,
    clinical_summary, entry_groups, entry_label, entry_options, form_values, missing_entries,
)
from crlm.cases.record import (
    RESEARCH_NOTICE, case_from_record, case_record, saved_scores_table,
)
from crlm.cases.screening import MAX_LABEL_CHARS, MAX_NOTE_CHARS, screen_label, screen_note
from crlm.cases.table import (
    BOARD_COLUMNS, IMAGING_FAMILIES, SUMMARY_TASKS, SURVIVAL_TASKS, TASK_ORDER,
    ReasonGroup, batch_summary, board_table, case_flags, class_label, could_not_score,
    display_score, reason_groups, scores_table, summary_line, task_label,
)
from crlm.config import Column
from crlm.privacy import csv_bytes

__all__ = [
    "AFTER_TREATMENT_ENTRIES", "BOARD_COLUMNS", "CLINICAL_SCORE_LABELS", "DERIVED_NAMES",
    "ENTRY_COLUMNS", "ENTRY_GROUPS", "ENTRY_NAMES", "IMAGE_METADATA_KEYS", "IMAGING_FAMILIES",
    "MAX_BATCH_ROWS", "MAX_LABEL_CHARS", "MAX_METADATA_TEXT_CHARS", "MAX_NOTE_CHARS", "NO",
    "RESEARCH_NOTICE", "SUMMARY_TASKS", "SURVIVAL_TASKS", "TASK_ORDER",
    "UNKNOWN", "YES",
    "BatchResult", "CaseInputError", "Column", "CtUpload", "ReasonGroup",
    "batch_summary", "batch_template", "board_table", "case_flags", "case_from_form",
    "case_from_record", "case_record", "check_batch", "check_value", "class_label",
    "clinical_scores", "clinical_summary", "could_not_score", "csv_bytes", "display_score",
    "entry_groups", "entry_label", "entry_options", "form_values", "image_metadata_record",
    "lesion_feature_frame", "lesion_inputs", "missing_entries", "read_batch",
    "read_ct_upload", "saved_scores_table", "scores_table", "screen_label", "screen_note",
    "summary_line", "task_label",
]
