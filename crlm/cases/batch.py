"""A table of cases: the downloadable template, and checking an uploaded table row by
row into a patients-shaped frame with one problem row per bad value (row, column, value,
problem), so that the good rows of a batch can still be scored. Cases are identified by
their row number only: an uploaded table's own ids, names or dates are never kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crlm import config
from crlm.cases.entries import (
    AFTER_TREATMENT_ENTRIES, ENTRY_NAMES, CaseInputError, _is_blank, _show, _typed_frame,
    check_value,
)
from crlm.privacy import csv_bytes

MAX_BATCH_ROWS = 1000


def batch_template() -> bytes:
    """CSV template: the entry columns with two example rows (one with unknowns)."""
    example = {
        "age_years": 63, "sex": "male", "primary_side": "left", "t_stage": "T3",
        "node_positive": "yes", "grade": "G2", "kras": "wild-type", "nras": "wild-type",
        "braf_v600e": "wild-type", "msi": "MSS", "her2": "not amplified", "synchronous": "yes",
        "disease_free_interval_months": 0, "n_liver_lesions": 3, "max_diameter_cm": 4.2,
        "bilobar": "no", "extrahepatic_disease": "no", "cea_ng_ml": 35.0, "regimen": "FOLFOX",
        "biologic": "anti-EGFR", "hepatectomy": "no", "growth_pattern": "",
    }
    second = dict(example, sex="female", primary_side="right", kras="mutant", nras="",
                  braf_v600e="", her2="", node_positive="", cea_ng_ml="", biologic="anti-VEGF",
                  max_diameter_cm=6.5, n_liver_lesions=1, age_years=71)
    frame = pd.DataFrame([example, second], columns=list(ENTRY_NAMES))
    return csv_bytes(frame)


@dataclass
class BatchResult:
    """A checked batch: ``cases`` (good rows, ids ``row-<n>``), ``problems`` (row,
    column, value, problem) and ``notes`` (ignored columns and such)."""

    cases: pd.DataFrame
    problems: pd.DataFrame
    n_rows: int
    notes: list[str] = field(default_factory=list)

    @property
    def bad_rows(self) -> list[int]:
        return sorted(set(int(r) for r in self.problems["row"])) if len(self.problems) else []


def check_batch(frame: pd.DataFrame, *, first_row_number: int = 2) -> BatchResult:
    """Check an uploaded table row by row.

    Columns must be the patients table's names. Entry columns are checked; derived
    and outcome columns are ignored (the scores are recomputed; outcomes are not
    inputs); ``patient_id`` and other identifying columns are dropped (cases are
    named by their row in the file, ``first_row_number`` being the first data row,
    2 for a CSV with a header). Raises ``CaseInputError`` when no column is an entry
    column or the table is too long.
    """
    columns = [str(c).strip() for c in frame.columns]
    frame = frame.copy()
    frame.columns = columns
    entries = [c for c in columns if c in ENTRY_NAMES]
    if not entries:
        shown = ", ".join(columns[:8]) + (" ..." if len(columns) > 8 else "")
        raise CaseInputError(
            f"none of the file's columns ({shown}) is a case entry; use the patients table's "
            f"column names, e.g. {', '.join(ENTRY_NAMES[:5])} (download the template)")
    if len(frame) > MAX_BATCH_ROWS:
        raise CaseInputError(f"the file has {len(frame)} rows; at most {MAX_BATCH_ROWS} cases "
                             "are scored at once")
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise CaseInputError(f"column(s) given twice: {', '.join(dup)}")
    notes = []
    ignored_known = [c for c in columns if c in config.COLUMNS_BY_NAME and c not in ENTRY_NAMES]
    unknown = [c for c in columns if c not in config.COLUMNS_BY_NAME]
    later = [c for c in entries if c in AFTER_TREATMENT_ENTRIES]
    if later:
        notes.append("known only after surgery, so not used by any pre-treatment model "
                     "(read only by the post-resection prognosis models): " + ", ".join(later))
    if ignored_known:
        notes.append("ignored (recomputed, identifying or outcome columns): "
                     + ", ".join(ignored_known))
    if unknown:
        notes.append("ignored (not columns of the patients table): " + ", ".join(unknown))
    absent = [c for c in ENTRY_NAMES if c not in columns]
    if absent:
        notes.append("not in the file, so unknown for every case: " + ", ".join(absent))
    rows, ids, problems = [], [], []
    records = frame[entries].to_dict("records")
    for i, record in enumerate(records):
        number = i + first_row_number
        row: dict[str, Any] = {}
        bad = False
        if all(_is_blank(record[name]) for name in entries):
            problems.append({"row": number, "column": "", "value": "",
                             "problem": "the row has no entry"})
            continue
        for name in entries:
            col = config.COLUMNS_BY_NAME[name]
            typed, problem = check_value(col, record[name])
            if problem:
                problems.append({"row": number, "column": name, "value": _show(record[name]),
                                 "problem": problem})
                bad = True
            row[name] = typed
        if not bad:
            rows.append(row)
            ids.append(f"row-{number}")
    problem_frame = pd.DataFrame(problems, columns=["row", "column", "value", "problem"])
    return BatchResult(cases=_typed_frame(rows, ids), problems=problem_frame,
                       n_rows=len(records), notes=notes)


def read_batch(data: bytes, name: str, own: dict | None = None) -> BatchResult:
    """Read a CSV / TSV / Excel upload (``crlm.ingest.importer.read_table``) and check it;
    ``own``: the cohort's own variables a current model reads (name -> levels, None for a
    numeric one), kept with the cases (``crlm.cases.batch_own``)."""
    from crlm.cases.batch_own import with_own_columns
    from crlm.ingest.importer import TableReadError, read_table

    suffix = name.lower().rsplit(".", 1)[-1] if "." in name else ""
    if suffix not in ("csv", "tsv", "txt", "xlsx"):
        raise CaseInputError(f"{name}: cases are read from .csv, .tsv or .xlsx files, "
                             f"not {('.' + suffix) if suffix else 'a file without a suffix'}")
    if not data:
        raise CaseInputError(f"{name}: the file is empty")
    try:
        frame = read_table(bytes(data), name if suffix != "txt" else name[:-4] + ".csv")
    except TableReadError as exc:
        raise CaseInputError(str(exc)) from None
    result = with_own_columns(check_batch(frame), frame, own or {})
    result.notes = list(frame.attrs.get("warnings") or []) + result.notes
    return result
