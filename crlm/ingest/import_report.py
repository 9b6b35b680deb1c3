"""What an import's validation found, and what an import did: typed results.

``ValidationReport`` (problems by row and column, warnings, per-column summary,
what the source cannot provide), ``PreparedImport`` (the validated rows, not yet
pseudonymised) and ``ImportResult`` (what was written). Reports never hold a
source patient id: a problem in an id names the row only.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from crlm.config import (
    UNKNOWN_TIME,
)
from crlm.ingest.mapping import (
    Mapping,
)
@dataclass(frozen=True)
class ExtraColumn:
    """An extra column as it will be stored: decision time, kind, level names, label, unit."""

    name: str
    known_at: str = UNKNOWN_TIME
    kind: str = "numeric"                   # 'numeric' or 'categorical'
    levels: tuple[str, ...] = ()
    label: str = ""
    unit: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "known_at": self.known_at, "kind": self.kind,
                "levels": list(self.levels), "label": self.label, "unit": self.unit}


@dataclass(frozen=True, eq=False)
class ValidationReport:
    """What validation found, before anything is written.

    ``problems`` has one row per finding: ``row`` (data row, from 1; 0 for the whole
    file), ``column``, ``severity`` (``error`` rejects the row or, for row 0, the
    import; ``warning`` does not), ``problem`` and ``value`` (the offending cell,
    shortened; never a patient id).
    """

    source_name: str
    mapping_name: str
    rows_read: int
    rows_accepted: int
    rejected_rows: tuple[int, ...]
    file_problems: tuple[str, ...]
    warnings: tuple[str, ...]
    problems: pd.DataFrame
    columns: pd.DataFrame
    unknown_columns: tuple[str, ...]
    dropped_columns: tuple[str, ...]
    extra_columns: tuple[str, ...]
    unavailable_columns: tuple[str, ...]
    derived_preview: pd.DataFrame
    score_disagreements: pd.DataFrame
    extra_known_at: tuple[str, ...] = ()  # decision time of each extra column, same order
    extra_details: tuple[ExtraColumn, ...] = ()  # kind, levels, label, unit, same order

    @property
    def ok(self) -> bool:
        """True when the import may go ahead (no file-level problem)."""
        return not self.file_problems

    def to_dict(self) -> dict:
        return {
            "source_name": self.source_name, "mapping_name": self.mapping_name,
            "rows_read": self.rows_read, "rows_accepted": self.rows_accepted,
            "rejected_rows": list(self.rejected_rows), "ok": self.ok,
            "file_problems": list(self.file_problems), "warnings": list(self.warnings),
            "problems": self.problems.to_dict(orient="records"),
            "columns": self.columns.to_dict(orient="records"),
            "unknown_columns": list(self.unknown_columns),
            "dropped_columns": list(self.dropped_columns),
            "extra_columns": list(self.extra_columns),
            "extra_known_at": list(self.extra_known_at),
            "extra_details": [e.to_dict() for e in self.extra_details],
            "unavailable_columns": list(self.unavailable_columns),
            "derived_preview": self.derived_preview.to_dict(orient="records"),
            "score_disagreements": self.score_disagreements.to_dict(orient="records"),
        }

    def to_frame(self) -> pd.DataFrame:
        """Every finding as one table: file-level problems and warnings first, then rows."""
        head = [{"row": 0, "column": "", "severity": "error", "problem": p, "value": ""}
                for p in self.file_problems]
        head += [{"row": 0, "column": "", "severity": "warning", "problem": w, "value": ""}
                 for w in self.warnings]
        frame = pd.concat([pd.DataFrame(head, columns=_PROBLEM_COLUMNS), self.problems],
                          ignore_index=True) if head else self.problems.copy()
        frame["row"] = frame["row"].astype("int64")
        return frame.reset_index(drop=True)

    def to_text(self, max_rows_listed: int = 10) -> str:
        """A plain-text report (printed by the CLI and stored with the import's provenance)."""
        verdict = "OK" if self.ok else "REFUSED"
        lines = [
            f"import of {self.source_name} with mapping {self.mapping_name}: {verdict}",
            f"rows read: {self.rows_read}; rows accepted: {self.rows_accepted}; "
            f"rows rejected: {len(self.rejected_rows)}",
        ]
        for p in self.file_problems:
            lines.append(f"FILE PROBLEM: {p}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        if len(self.problems):
            lines.append("problems (row numbers count data rows from 1):")
            grouped = self.problems.groupby(["column", "severity", "problem"], sort=True)
            for (column, severity, problem), rows in grouped:
                listed = ", ".join(str(r) for r in rows["row"].head(max_rows_listed))
                more = f" and {len(rows) - max_rows_listed} more" if len(rows) > max_rows_listed \
                    else ""
                values = ", ".join(sorted({repr(v) for v in rows["value"].head(5) if v != ""}))
                shown = f" (values {values})" if values else ""
                lines.append(f"  {severity} {column}: {problem}{shown} — {len(rows)} row(s): "
                             f"{listed}{more}")
        if self.unknown_columns:
            lines.append(f"unknown columns, not stored: {', '.join(self.unknown_columns)}")
        if self.dropped_columns:
            lines.append(f"free-text columns dropped, never stored: "
                         f"{', '.join(self.dropped_columns)}")
        if self.extra_columns:
            times = self.extra_known_at or (UNKNOWN_TIME,) * len(self.extra_columns)
            lines.append("kept as extra features (known at): " + ", ".join(
                f"{c} ({t})" for c, t in zip(self.extra_columns, times)))
            categorical = [e for e in self.extra_details if e.kind == "categorical"]
            if categorical:
                lines.append("categorical extra variables (levels): " + "; ".join(
                    f"{e.name} ({', '.join(e.levels)})" for e in categorical))
            unknown_time = [c for c, t in zip(self.extra_columns, times) if t == UNKNOWN_TIME]
            if unknown_time:
                lines.append("no model reads these until the mapping says when they are known "
                             f"(known_at): {', '.join(unknown_time)}")
        if self.unavailable_columns:
            lines.append(f"not available from this source: {', '.join(self.unavailable_columns)}")
        if len(self.score_disagreements):
            rows = self.score_disagreements
            lines.append(f"recomputed score differs from the published one in {len(rows)} "
                         f"row(s): " + ", ".join(
                             f"row {r.row} {r.column} {r.published}→{r.recomputed}"
                             for r in rows.head(max_rows_listed).itertuples()))
        if len(self.derived_preview):
            parts = [f"{r.score}={r.level}: {r.n}" for r in self.derived_preview.itertuples()]
            lines.append("derived scores of accepted rows: " + "; ".join(parts))
        return "\n".join(lines)


_PROBLEM_COLUMNS = ["row", "column", "severity", "problem", "value"]


@dataclass(frozen=True, eq=False)
class PreparedImport:
    """A validated table in contract form; holds source ids, so it is never stored as is."""

    report: ValidationReport
    mapping: Mapping
    patients: pd.DataFrame          # accepted rows, contract columns, source patient ids
    features: pd.DataFrame          # long extra features, source patient ids


@dataclass(frozen=True, eq=False)
class ImportResult:
    """The outcome of :func:`import_file`; ``written`` says whether the store changed."""

    report: ValidationReport
    cohort: str
    mapping_name: str
    source_name: str
    source_sha256: str
    import_id: str
    dry_run: bool
    written: bool
    n_patients: int
    n_features: int

    @property
    def ok(self) -> bool:
        return self.report.ok

    def to_dict(self) -> dict:
        return {
            "cohort": self.cohort, "mapping_name": self.mapping_name,
            "source_name": self.source_name, "source_sha256": self.source_sha256,
            "import_id": self.import_id, "dry_run": self.dry_run, "written": self.written,
            "n_patients": self.n_patients, "n_features": self.n_features, "ok": self.ok,
            "report": self.report.to_dict(),
        }

    def summary(self) -> str:
        if not self.ok:
            return f"import refused: nothing written to cohort {self.cohort!r}"
        if self.dry_run:
            return (f"dry run: {self.report.rows_accepted} of {self.report.rows_read} rows would "
                    f"be imported into cohort {self.cohort!r}; nothing written")
        return (f"imported {self.n_patients} patients and {self.n_features} extra feature values "
                f"into cohort {self.cohort!r} (import {self.import_id})")
