"""Bring your own cohort: read a table, map it onto the ``patients`` contract, validate, store.

Nothing is written before the whole file has been validated. The policy:

* a row-level problem (a value of the wrong type, outside its range, an unknown
  code, an impossible combination such as an event without a time) rejects that
  row, and the report lists it by its data row number (the header is not counted);
* a file-level problem (no patient id column, duplicate patient ids, two source
  columns for one contract column, no row left) rejects the import.

Patient ids from the source are replaced by store pseudonyms before anything is
written (``<cohort>-<12 hex digits>``, a keyed SHA-256 of the id): the same file
imported again maps to the same pseudonyms, so a re-import replaces the cohort
with identical rows. The reports never contain a source patient id.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, TextIO

import numpy as np
import pandas as pd

from crlm import clinical
from crlm.ingest import dates
from crlm.config import (
    COLUMNS_BY_NAME,
    DEMO_COHORT,
    PATIENT_COLUMN_NAMES,
    PATIENT_COLUMNS,
    UNKNOWN_TIME,
    Column,
)
from crlm.ingest.mapping import (
    FALSE_TOKENS,
    TRUE_TOKENS,
    Mapping,
    MappingError,
    detect_mapping,
    identity_mapping,
    load_mapping,
    normalise_header,
    value_token,
)
from crlm.privacy import FORMULA_PREFIXES, NEUTRALISING_QUOTE

MAX_FILE_BYTES = 200 * 1024 * 1024
TABLE_TYPES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "csv",
               ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx"}
# A text cell starting with one of these is neutralised on export (prefixed with a quote)
# so that a spreadsheet does not run it as a formula; the reader strips that quote again.
COHORT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
EXTRA_FEATURE_SET = "extra"
PSEUDONYM_KEY_ENV = "CRLM_ID_KEY"
PSEUDONYM_HEX_DIGITS = 12
MAX_ID_LENGTH = 200
# columns whose source values never appear in a report (only row numbers do)
ID_COLUMNS = frozenset({"patient_id"})
TIME_TOLERANCE_MONTHS = 1e-6
SURVIVAL_PAIRS = (("os_months", "os_event"), ("pfs_months", "pfs_event"))
_PREVIEW_SCORES = ("fong_group", "tbs_zone", "game_group", "ras_status", "mcs_score",
                   "fong_score")
_VALUE_CHARS = 40


class TableReadError(ValueError):
    """A source file that cannot be read as a table; the message names the file and why."""


class ImportRefused(ValueError):
    """An import that cannot start (bad cohort name, unreadable mapping ...)."""


# ============================================================================ reading
def read_table(source: str | os.PathLike | bytes, name: str | None = None, *,
               max_bytes: int = MAX_FILE_BYTES) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet or Excel (.xlsx) table from a path or from bytes.

    ``name`` (needed with bytes) gives the file type by its suffix. CSV/TSV text is
    decoded as UTF-8 (with or without a byte-order mark), else Latin-1 with a warning;
    every CSV cell is read as text. Notes about the read are in ``frame.attrs["warnings"]``.
    Raises :class:`TableReadError` for an empty, too large, unknown or unreadable file.
    """
    data, name = _source_bytes(source, name, max_bytes)
    suffix = Path(name).suffix.lower()
    kind = TABLE_TYPES.get(suffix)
    if kind is None:
        if suffix == ".xls":
            raise TableReadError(f"{name}: old Excel .xls files are not read; save it as .xlsx")
        raise TableReadError(f"{name}: unknown file type {suffix or '(no suffix)'!r}; use "
                             f"{', '.join(sorted(set(TABLE_TYPES)))}")
    if not data:
        raise TableReadError(f"{name}: the file is empty")
    notes: list[str] = []
    if kind in ("csv", "tsv"):
        frame = _read_text_table(data, name, kind, notes)
    elif kind == "parquet":
        if not data.startswith(b"PAR1"):
            raise TableReadError(f"{name}: not a Parquet file")
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise TableReadError(f"{name}: cannot read Parquet ({_first_line(exc)})") from None
    else:
        if not data.startswith(b"PK"):
            raise TableReadError(f"{name}: not an Excel .xlsx file")
        try:
            sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, engine="openpyxl")
        except Exception as exc:  # openpyxl / zipfile errors on corrupt files
            raise TableReadError(f"{name}: cannot read Excel ({_first_line(exc)})") from None
        if not sheets:
            raise TableReadError(f"{name}: the workbook has no sheet")
        first = next(iter(sheets))
        if len(sheets) > 1:
            notes.append(f"{name}: the workbook has {len(sheets)} sheets; only the first "
                         f"({first!r}) was read")
        frame = sheets[first]
        _strip_neutralising_quote(frame, all_text=False)
        formulas = _uncached_formulas(data, first, frame)
        if formulas:
            notes.append(f"{name}: {len(formulas)} formula cell(s) have no saved result (the "
                         "workbook was not recalculated in Excel); their values are unknown "
                         "— open and save the file in Excel, or paste the values")
            frame.attrs["uncached_formulas"] = formulas
    if frame.shape[1] == 0:
        raise TableReadError(f"{name}: no columns found")
    if len(frame) == 0:
        raise TableReadError(f"{name}: has a header but no data rows")
    frame.columns = [str(c) for c in frame.columns]
    if "uncached_formulas" in frame.attrs:
        frame.attrs["uncached_formulas"] = [(row, frame.columns[col])
                                            for row, col in frame.attrs["uncached_formulas"]]
    frame.attrs["warnings"] = notes
    frame.attrs["source_name"] = name
    return frame


UNCACHED_FORMULA = ("formula without a saved result, so its value is unknown (open and save "
                    "the file in Excel, or paste the values)")


def _uncached_formulas(data: bytes, sheet: str, frame: pd.DataFrame) -> list[tuple[int, int]]:
    """``(data row from 0, column position)`` of the formula cells of ``sheet`` that have
    no saved result (openpyxl writes formulas so; pandas then reads them as empty)."""
    import zipfile

    import openpyxl

    def has_formula(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
        tail = b""
        with zf.open(info) as fh:
            while chunk := fh.read(1 << 20):
                if b"<f" in tail + chunk[:8] or b"<f" in chunk:
                    return True
                tail = chunk[-8:]
        return False

    try:  # cheap check first, streamed: does any worksheet hold a formula at all?
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if not any(has_formula(zf, i) for i in zf.infolist()
                       if i.filename.startswith("xl/worksheets/") and
                       i.filename.endswith(".xml")):
                return []
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # already read once by pandas; a second failure is not ours to report
        return []
    out = []
    try:
        n_rows, n_cols = frame.shape
        for row in workbook[sheet].iter_rows(min_row=2):
            for cell in row:
                if getattr(cell, "data_type", None) != "f":
                    continue
                r, c = cell.row - 2, cell.column - 1
                if 0 <= r < n_rows and 0 <= c < n_cols and pd.isna(frame.iat[r, c]):
                    out.append((r, c))
    finally:
        workbook.close()
    return out


def _source_bytes(source, name: str | None, max_bytes: int) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not name:
            raise TableReadError("a file given as bytes needs a name with its suffix (.csv ...)")
        data = bytes(source)
        if len(data) > max_bytes:
            raise TableReadError(f"{name}: {len(data) / 1e6:.1f} MB is over the import limit of "
                                 f"{max_bytes / 1e6:.0f} MB")
        return data, name
    path = Path(source)
    name = name or path.name
    if not path.exists():
        raise TableReadError(f"{path}: no such file")
    if not path.is_file():
        raise TableReadError(f"{path}: not a file")
    size = path.stat().st_size
    if size > max_bytes:
        raise TableReadError(f"{name}: {size / 1e6:.1f} MB is over the import limit of "
                             f"{max_bytes / 1e6:.0f} MB")
    try:
        return path.read_bytes(), name
    except OSError as exc:
        raise TableReadError(f"{path}: cannot be read ({exc.strerror})") from None


def _decode_text(data: bytes, name: str, notes: list[str]) -> str:
    """UTF-16 (Excel "Unicode text": a byte-order mark, or NULs between ASCII bytes),
    else UTF-8 with or without a byte-order mark, else Latin-1 with a note."""
    encoding = None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        head = data[:4096]
        even, odd = head[0::2], head[1::2]
        if len(head) >= 4 and odd.count(0) > 0.4 * len(odd) and even.count(0) == 0:
            encoding = "utf-16-le"
        elif len(head) >= 4 and even.count(0) > 0.4 * len(even) and odd.count(0) == 0:
            encoding = "utf-16-be"
    if encoding:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            raise TableReadError(f"{name}: looks like UTF-16 text but cannot be decoded as "
                                 "UTF-16; save it as CSV UTF-8") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        notes.append(f"{name}: not valid UTF-8; read as Latin-1 — check accented characters")
        return data.decode("latin-1")


def _read_text_table(data: bytes, name: str, kind: str, notes: list[str]) -> pd.DataFrame:
    text = _decode_text(data, name, notes)
    if not text.strip():
        raise TableReadError(f"{name}: the file is empty")
    if "\x00" in text[:4096]:
        raise TableReadError(f"{name}: looks like a binary file, not {kind.upper()} text")
    sep = "\t" if kind == "tsv" else _sniff_separator(text)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            na_filter=False, skipinitialspace=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise TableReadError(f"{name}: cannot read {kind.upper()} ({_first_line(exc)})") from None
    _strip_neutralising_quote(frame)
    if sep != ",":
        _read_decimal_commas(frame, name, sep, notes)
    return frame


_DECIMAL_COMMA = r"^\s*[+-]?\d+,\d+(?:[eE][+-]?\d+)?\s*$"
_DECIMAL_POINT = r"^\s*[+-]?\d*\.\d+(?:[eE][+-]?\d+)?\s*$"


def _read_decimal_commas(frame: pd.DataFrame, name: str, sep: str, notes: list[str]) -> None:
    """In a file not separated by ',', a column whose numbers have decimal commas
    (``1,5``) and none with a decimal point is read with decimal points (``1.5``), and
    the report says so; a column mixing both forms is left as is and named."""
    converted, mixed = [], []
    for col in frame.columns:
        s = frame[col]
        if s.dtype != object:
            continue
        comma = s.str.match(_DECIMAL_COMMA, na=False)
        if not comma.any():
            continue
        if s.str.match(_DECIMAL_POINT, na=False).any():
            mixed.append(str(col))
            continue
        frame.loc[comma, col] = s[comma].str.strip().str.replace(",", ".", regex=False)
        converted.append(str(col))
    shown = {"\t": "tab", ";": "';'", "|": "'|'"}.get(sep, repr(sep))
    if converted:
        notes.append(f"{name}: decimal commas read as decimal points ({shown}-separated file) "
                     f"in {len(converted)} column(s): {', '.join(converted)}")
    if mixed:
        notes.append(f"{name}: column(s) mixing decimal commas and decimal points: "
                     f"{', '.join(mixed)}; the values with a comma are not read as numbers")


def _sniff_separator(text: str) -> str:
    lines = text.splitlines()
    head = "\n".join(lines[:20])
    try:
        sep = csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","
    header = lines[0] if lines else ""
    if sep not in header:  # decimal commas can look like the separator; the header cannot
        counts = {d: header.count(d) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        if counts[best]:
            sep = best
    return sep


def _strip_neutralising_quote(frame: pd.DataFrame, all_text: bool = True) -> None:
    """Undo the export's formula neutralising: ``'=x`` -> ``=x`` (only that exact form)."""
    for col in frame.columns:
        s = frame[col]
        if s.dtype != object:
            continue
        text = s if all_text else s.where(s.map(type) == str)
        mask = text.str.startswith(NEUTRALISING_QUOTE, na=False)
        if not mask.any():
            continue
        mask &= text.str[1:2].isin(FORMULA_PREFIXES)
        if mask.any():
            frame.loc[mask, col] = text[mask].str[1:]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


# ============================================================================ report
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


# ============================================================================ validation
class _Problems:
    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, rows: np.ndarray, column: str, problem: str, values=None,
            severity: str = "error") -> None:
        rows = np.asarray(rows)
        if not len(rows):
            return
        if values is None or column in ID_COLUMNS:  # a source id is never echoed
            shown = [""] * len(rows)
        else:
            shown = [_shorten(v) for v in values]
        self.parts.append(pd.DataFrame({
            "row": rows.astype("int64") + 1, "column": column, "severity": severity,
            "problem": problem, "value": shown}))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else object)
                                 for c in _PROBLEM_COLUMNS})
        out = pd.concat(self.parts, ignore_index=True)
        return out.sort_values(["row", "column"], kind="stable").reset_index(drop=True)


def _shorten(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value)
    return text if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS - 1] + "…"


@dataclass
class _Parsed:
    values: pd.Series
    missing: np.ndarray
    bad: list[tuple[np.ndarray, str]] = field(default_factory=list)   # (mask, problem)
    coded_missing: int = 0


class _Cells:
    """One source column seen as text tokens and as numbers, each computed only when needed."""

    def __init__(self, raw: pd.Series) -> None:
        self.raw = raw
        self.n = len(raw)
        self._numeric: np.ndarray | None = None
        if pd.api.types.is_bool_dtype(raw.dtype) and raw.dtype != object:
            self._numeric = raw.astype("float64").to_numpy()
            self.na = np.asarray(raw.isna())
            self.text = None
        elif pd.api.types.is_numeric_dtype(raw.dtype):
            self._numeric = pd.to_numeric(raw, errors="coerce").astype("float64").to_numpy()
            self.na = np.isnan(self._numeric)
            self.text = None
        else:
            self.na = np.asarray(raw.isna())
            obj = raw.astype(object)
            if pd.api.types.infer_dtype(obj, skipna=True) not in ("string", "empty"):
                obj = obj.map(lambda v: v if isinstance(v, str) or v is None or v is pd.NA
                              or (isinstance(v, float) and np.isnan(v)) else value_token(v))
            self.text = pd.Series(obj, index=raw.index).astype(object).where(~self.na, None)
            # pyarrow-backed strings: strip / lower / isin run vectorised in C++
            self.stripped = self.text.astype("string[pyarrow]").str.strip()
            self.lower = self.stripped.str.lower()

    @property
    def numeric(self) -> np.ndarray:
        """Every cell as a number (NaN where it is not one)."""
        if self._numeric is None:
            self._numeric = pd.to_numeric(self.stripped, errors="coerce").astype(
                "float64").to_numpy()
        return self._numeric

    def numeric_where(self, mask: np.ndarray) -> np.ndarray:
        """Cells under ``mask`` as numbers, NaN elsewhere (parses only those cells)."""
        if self._numeric is not None:
            return np.where(mask, self._numeric, np.nan)
        out = np.full(self.n, np.nan)
        if mask.any():
            out[mask] = pd.to_numeric(self.stripped[mask], errors="coerce").astype(
                "float64").to_numpy()
        return out

    def missing_mask(self, tokens: frozenset[str], numeric_kind: bool = True) -> np.ndarray:
        """Empty cells and missing codes. Numeric codes match by value in numeric columns
        (``999.0`` is ``999``) and by their written form elsewhere."""
        numeric_tokens = [float(t) for t in tokens if _is_number(t) and
                          np.isfinite(float(t))]
        mask = self.na.copy()
        if self.text is not None:
            mask |= np.asarray(self.lower.isin(list(tokens)), dtype=bool)
        if numeric_tokens and (self.text is None or numeric_kind):
            mask |= np.isin(self.numeric, numeric_tokens)
        return mask

    def display(self, rows: np.ndarray) -> list:
        return list(self.raw.iloc[rows])

    def coded(self, codes: dict[str, Any]) -> tuple[pd.Series, np.ndarray]:
        """(code values, hit mask) for a column's code table."""
        out = pd.Series([None] * self.n, index=self.raw.index, dtype=object)
        hit = np.zeros(self.n, dtype=bool)
        if not codes:
            return out, hit
        if self.text is not None:
            h = np.asarray(self.lower.isin(list(codes)), dtype=bool)
            if h.any():
                out[h] = self.lower[h].map(codes).to_numpy()
                hit |= h
        numeric_codes = {float(k): v for k, v in codes.items() if _is_number(k)}
        if numeric_codes:
            keys = np.array(list(numeric_codes), dtype=float)
            numbers = self.numeric_where(~hit & ~self.na)
            h = np.isin(numbers, keys) & ~hit
            if h.any():
                out[h] = pd.Series(numbers[h]).map(numeric_codes).to_numpy()
                hit |= h
        return out, hit


def _is_number(token: str) -> bool:
    try:
        float(token)
    except (TypeError, ValueError):
        return False
    return True


def _parse_column(cells: _Cells, column: Column, mapping: Mapping) -> _Parsed:
    """Contract values for one column, its missing mask and its bad-value masks."""
    missing_tokens = mapping.missing_tokens(column.name)
    missing = cells.missing_mask(missing_tokens, numeric_kind=column.kind in ("int", "float"))
    coded_missing = int((missing & ~cells.na).sum())
    codes, hit = cells.coded(mapping.codes.get(column.name, {}))
    # a code mapping to None (null) makes the cell missing
    if hit.any():
        to_null = hit & codes.isna().to_numpy()
        missing |= to_null
        hit &= ~to_null
    todo = ~missing & ~hit
    bad: list[tuple[np.ndarray, str]] = []
    kind = column.kind
    n = cells.n
    if kind in ("int", "float"):
        values = np.full(n, np.nan)
        if hit.any():
            values[hit] = codes[hit].astype(float).to_numpy()
        parsed = cells.numeric * mapping.unit_factor(column.name)
        not_number = todo & np.isnan(parsed)
        comma = np.zeros(n, dtype=bool)
        if cells.text is not None and not_number.any():
            comma = not_number & np.asarray(
                cells.stripped.str.match(_DECIMAL_COMMA).fillna(False), dtype=bool)
        bad.append((comma, "decimal comma, not read as a number (write 1.5, or give a "
                           "';'-separated file whose numbers all use decimal commas)"))
        bad.append((not_number & ~comma, "not a number"))
        ok = todo & ~not_number
        values[ok] = parsed[ok]
        if not np.isfinite(values[ok]).all():
            infinite = ok & ~np.isfinite(values)
            bad.append((infinite, "not a finite number"))
            values[infinite] = np.nan
        valid = ~np.isnan(values)
        if kind == "int":
            frac = valid & (values != np.round(values))
            bad.append((frac, "not a whole number"))
            valid &= ~frac
        lo, hi = column.lo, column.hi
        unit = f" {column.unit}" if column.unit else ""
        if lo is not None:
            low = valid & (values < lo)
            word = "negative time" if column.unit == "months" and lo == 0 else "below the minimum"
            bad.append((low, f"{word} (allowed {lo:g}–{hi:g}{unit})"))
        if hi is not None:
            bad.append((valid & (values > hi), f"above the maximum (allowed {lo:g}–{hi:g}{unit})"))
        if kind == "int":
            series = pd.Series(pd.array(np.where(np.isnan(values), 0, np.round(values)).astype(
                "int64"), dtype="Int64"), index=cells.raw.index)
            series[np.isnan(values)] = pd.NA
        else:
            series = pd.Series(values, index=cells.raw.index)
    elif kind == "bool":
        values = np.full(n, None, dtype=object)
        if hit.any():
            values[hit] = codes[hit].map(bool).to_numpy()
        if cells.text is not None:
            is_true = np.asarray(cells.lower.isin(list(TRUE_TOKENS)), dtype=bool)
            is_false = np.asarray(cells.lower.isin(list(FALSE_TOKENS)), dtype=bool)
            numbers = cells.numeric_where(todo & ~is_true & ~is_false)
            is_true |= numbers == 1
            is_false |= numbers == 0
        else:
            is_true = cells.numeric == 1
            is_false = cells.numeric == 0
        values[todo & is_true] = True
        values[todo & is_false] = False
        bad.append((todo & ~is_true & ~is_false, "not yes/no (1/0, true/false)"))
        series = pd.Series(pd.array(values, dtype="boolean"), index=cells.raw.index)
        series[missing] = pd.NA
    elif kind == "category":
        values = np.full(n, None, dtype=object)
        if hit.any():
            values[hit] = codes[hit].astype(str).to_numpy()
        text = cells.stripped if cells.text is not None else pd.Series(
            [value_token(v) if not np.isnan(v) else None for v in cells.numeric],
            index=cells.raw.index, dtype=object)
        if column.levels:
            lookup = {lv.lower(): lv for lv in column.levels}
            canon = text.str.lower().map(lookup)
            known = np.asarray(canon.notna(), dtype=bool)
            values[todo & known] = canon[todo & known].to_numpy()
            bad.append((todo & ~known, f"not one of {', '.join(column.levels)}"))
            if hit.any():
                code_ok = pd.Series(values[hit]).isin(column.levels).to_numpy()
                wrong = np.zeros(n, dtype=bool)
                wrong[np.flatnonzero(hit)[~code_ok]] = True
                bad.append((wrong, f"code gives a value that is not one of "
                                   f"{', '.join(column.levels)}"))
        else:
            values[todo] = text[todo].to_numpy()
            long = todo & np.asarray(text.str.len().fillna(0) > MAX_ID_LENGTH, dtype=bool)
            bad.append((long, f"longer than {MAX_ID_LENGTH} characters"))
        series = pd.Series(values, index=cells.raw.index, dtype=object)
    elif kind == "text":
        text = cells.stripped if cells.text is not None else pd.Series(
            [value_token(v) if not np.isnan(v) else None for v in cells.numeric],
            index=cells.raw.index, dtype=object)
        values = np.full(n, None, dtype=object)
        values[todo] = text[todo].to_numpy()
        if hit.any():
            values[hit] = codes[hit].astype(str).to_numpy()
        long = todo & np.asarray(text.str.len().fillna(0) > MAX_ID_LENGTH, dtype=bool)
        what = "patient id too long" if column.name == "patient_id" else "text too long"
        bad.append((long, f"{what} (over {MAX_ID_LENGTH} characters)"))
        series = pd.Series(values, index=cells.raw.index, dtype=object)
    elif kind == "date":  # the one date rule: crlm.ingest.dates
        raw = cells.raw
        values = np.full(n, None, dtype=object)
        if pd.api.types.is_datetime64_any_dtype(raw.dtype):  # Excel / Parquet date cells
            parsed = pd.to_datetime(raw, errors="coerce")
            ok = todo & np.asarray(parsed.notna(), dtype=bool)
            values[ok] = [ts.date() for ts in parsed[ok]]
            bad.extend(dates.check_date_window(values))
            bad.append((todo & ~ok, dates.NOT_A_DATE))
        else:
            text = cells.stripped if cells.text is not None else pd.Series(
                [value_token(v) if not np.isnan(v) else None for v in cells.numeric],
                index=raw.index, dtype=object)
            parsed, problems = dates.parse_date_cells(
                pd.Series(text, dtype=object).where(todo, None))
            values[todo] = parsed[todo]
            bad.extend(problems)
        for mask, _problem in bad:
            values[mask] = None
        series = pd.Series(values, index=raw.index, dtype=object)
    else:  # pragma: no cover - the contract has no other kinds
        raise ValueError(f"{column.name}: unsupported column kind {kind!r}")
    bad = [(m, p) for m, p in bad if m.any()]
    return _Parsed(series, missing, bad, coded_missing)


def _default_series(column: Column, value: Any, n: int, index: pd.Index) -> pd.Series:
    if column.kind == "bool":
        return pd.Series(pd.array([value] * n, dtype="boolean"), index=index)
    if column.kind == "int":
        return pd.Series(pd.array([value] * n, dtype="Int64"), index=index)
    if column.kind == "float":
        return pd.Series(np.full(n, np.nan if value is None else float(value)), index=index)
    return pd.Series([value] * n, index=index, dtype=object)


def prepare_table(frame: pd.DataFrame, mapping: Mapping, *, source_name: str = "",
                  default_center: str = "imported") -> PreparedImport:
    """Validate ``frame`` against the contract under ``mapping``; nothing is written.

    The returned patients frame holds the accepted rows with every contract column
    (derived scores recomputed with :func:`crlm.clinical.add_derived_columns`) and still
    the source patient ids: pseudonymise them before storing (``import_file`` does).
    """
    source_name = source_name or frame.attrs.get("source_name", "") or "<table>"
    n = len(frame)
    index = pd.RangeIndex(n)
    frame = frame.reset_index(drop=True)
    problems = _Problems()
    file_problems: list[str] = list()
    warnings: list[str] = list(frame.attrs.get("warnings", []))

    # -- which source column goes where ----------------------------------------
    by_header: dict[str, str] = {}
    for original in frame.columns:
        key = normalise_header(original)
        if key in by_header:
            file_problems.append(f"columns {by_header[key]!r} and {original!r} are the same "
                                 "column once case, spaces, '-' and '_' are ignored")
        else:
            by_header[key] = original
    mapped_targets = set(mapping.columns.values())
    source_of: dict[str, str] = {}          # contract column -> normalised header
    extra, dropped, unknown, helpers = [], [], [], []
    helper_headers = {p.source for p in mapping.proxies.values()} | set(mapping.compare.values())
    for key in by_header:
        if key in mapping.columns:
            target = mapping.columns[key]
        elif key in COLUMNS_BY_NAME and key not in mapped_targets:
            target = key
        else:
            target = None
        if target is not None:
            if target in source_of:
                file_problems.append(f"two source columns for {target}: "
                                     f"{by_header[source_of[target]]!r} and {by_header[key]!r}")
            source_of[target] = key
        elif key in mapping.extra:
            extra.append(key)
        elif key in mapping.drop:
            dropped.append(by_header[key])
        elif key in helper_headers:
            helpers.append(key)
        else:
            unknown.append(by_header[key])
    absent_extra = [key for key in mapping.extra if key not in by_header]
    if absent_extra:
        warnings.append(f"{len(absent_extra)} extra column(s) named by the mapping are not in "
                        f"the file: {', '.join(absent_extra)}")
    if "patient_id" not in source_of:
        file_problems.append("no patient id column: name one 'patient_id' or map a column to "
                             "patient_id in the mapping")

    # -- parse every contract column -------------------------------------------
    formula_cells: dict[str, np.ndarray] = {}  # source header -> formula cells without result
    for row, header in frame.attrs.get("uncached_formulas", []):
        formula_cells.setdefault(header, np.zeros(n, dtype=bool))[row] = True
    out: dict[str, pd.Series] = {}
    missing_of: dict[str, np.ndarray] = {}
    summaries = []
    rejected = np.zeros(n, dtype=bool)
    derived_in_file: dict[str, pd.Series] = {}
    bad_cells: dict[str, np.ndarray] = {}
    for column in PATIENT_COLUMNS:
        key = source_of.get(column.name)
        if key is None:
            if column.derived:
                continue
            value = mapping.defaults.get(column.name)
            if value is None and column.name == "center":
                value = default_center
            if value is None and column.name == "cohort_split":
                value = "development"
            out[column.name] = _default_series(column, value, n, index)
            missing_of[column.name] = np.full(n, value is None)
            continue
        cells = _Cells(frame[by_header[key]])
        parsed = _parse_column(cells, column, mapping)
        if column.derived:
            derived_in_file[column.name] = parsed.values
            continue
        n_bad = 0
        bad_cells[column.name] = np.zeros(n, dtype=bool)
        unknown_formula = formula_cells.get(by_header[key])
        if unknown_formula is not None:
            parsed.bad.append((unknown_formula, UNCACHED_FORMULA))
        for mask, problem in parsed.bad:
            rows = np.flatnonzero(mask)
            problems.add(rows, column.name, problem, cells.display(rows))
            rejected |= mask
            bad_cells[column.name] |= mask
            n_bad += len(rows)
        out[column.name] = parsed.values
        missing_of[column.name] = parsed.missing
        if column.required or column.name == "patient_id":
            rows = np.flatnonzero(parsed.missing)
            problems.add(rows, column.name, "missing (required)")
            rejected[rows] = True
        summaries.append({
            "column": column.name, "source": by_header[key],
            "unit": (mapping.units.get(column.name) or column.unit),
            "missing": int(parsed.missing.sum()),
            "missing_pct": round(100.0 * parsed.missing.sum() / n, 1) if n else 0.0,
            "coded_missing": parsed.coded_missing, "problems": n_bad})

    # -- impossible combinations -----------------------------------------------
    def clean(*columns: str) -> np.ndarray:
        """Rows where none of these columns had a bad value (so a combination is meaningful)."""
        mask = np.ones(n, dtype=bool)
        for c in columns:
            mask &= ~bad_cells.get(c, np.zeros(n, dtype=bool))
        return mask

    for time_col, event_col in SURVIVAL_PAIRS:
        if time_col in out and event_col in out:
            t_missing = np.asarray(pd.isna(out[time_col]), dtype=bool)
            e_missing = np.asarray(pd.isna(out[event_col]), dtype=bool)
            both = clean(time_col, event_col)
            rows = np.flatnonzero(t_missing & ~e_missing & both)
            problems.add(rows, time_col, f"{event_col} given without a time")
            rejected[rows] = True
            rows = np.flatnonzero(~t_missing & e_missing & both)
            problems.add(rows, event_col, f"{time_col} given without an event status")
            rejected[rows] = True
    if "os_months" in out and "pfs_months" in out:
        os_t = out["os_months"].to_numpy(dtype=float)
        pfs_t = out["pfs_months"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            longer = (pfs_t > os_t + TIME_TOLERANCE_MONTHS) & clean("os_months", "pfs_months")
        rows = np.flatnonzero(longer)
        problems.add(rows, "pfs_months", "progression-free time longer than overall survival "
                     "(both from the same origin)",
                     [f"{p:g} > {o:g}" for p, o in zip(pfs_t[rows], os_t[rows])])
        rejected[rows] = True

    # -- duplicate patient ids (file level; row numbers only, never the ids) ----
    if "patient_id" in source_of:
        ids = out["patient_id"]
        dup = np.asarray(ids.duplicated(keep=False) & ids.notna(), dtype=bool)
        if dup.any():
            rows = np.flatnonzero(dup) + 1
            listed = ", ".join(map(str, rows[:20])) + (" …" if len(rows) > 20 else "")
            file_problems.append(f"duplicate patient ids in {len(rows)} rows ({listed}); every "
                                 "patient must appear once")

    accepted = ~rejected
    rows_accepted = int(accepted.sum()) if not file_problems else 0
    if not file_problems and n and not accepted.any():
        file_problems.append("no row passed validation; see the problems listed")

    # -- the accepted rows in contract form, with derived scores ---------------
    patients = pd.DataFrame(out, index=index).loc[accepted].reset_index(drop=True)
    for column in PATIENT_COLUMNS:
        if column.name not in patients.columns:
            patients[column.name] = _default_series(column, None, len(patients), patients.index)
    patients = clinical.add_derived_columns(patients)
    rows_kept = np.flatnonzero(accepted)
    if mapping.proxy_scores:
        patients = _apply_proxies(patients, frame, by_header, mapping, rows_kept, warnings)
    patients = _contract_dtypes(patients.loc[:, list(PATIENT_COLUMN_NAMES)])

    # -- recomputed vs published scores ----------------------------------------
    disagreements = []
    for derived, values in derived_in_file.items():
        mine = patients[derived].to_numpy(dtype=object)
        theirs = values.to_numpy(dtype=object)[rows_kept]
        for i in _differing(mine, theirs):
            disagreements.append({"row": int(rows_kept[i]) + 1, "column": derived,
                                  "published": _shorten(theirs[i]),
                                  "recomputed": _shorten(mine[i])})
    for derived, header in mapping.compare.items():
        if header not in by_header:
            continue
        cells = _Cells(frame[by_header[header]])
        published = np.where(cells.missing_mask(mapping.missing_tokens(derived)), np.nan,
                             cells.numeric)[rows_kept]
        mine = patients[derived].to_numpy(dtype=object)
        for i in _differing(mine, published):
            disagreements.append({"row": int(rows_kept[i]) + 1, "column": derived,
                                  "published": _shorten(_plain(published[i])),
                                  "recomputed": _shorten(_plain(mine[i]))})
    disagreements_frame = pd.DataFrame(disagreements,
                                       columns=["row", "column", "published", "recomputed"])
    if len(disagreements_frame):
        warnings.append(f"{len(disagreements_frame)} row(s) where a recomputed score differs "
                        "from the one in the file (the recomputed one is stored)")

    # -- extra features ----------------------------------------------------------
    feature_parts = []
    for key in extra:
        cells = _Cells(frame[by_header[key]])
        missing = cells.missing_mask(mapping.missing_tokens(""))
        values = cells.numeric.copy()
        if cells.text is not None:
            yes = np.asarray(cells.lower.isin(TRUE_TOKENS), dtype=bool)
            no = np.asarray(cells.lower.isin(FALSE_TOKENS), dtype=bool)
            values[np.isnan(values) & yes] = 1.0
            values[np.isnan(values) & no] = 0.0
        values[missing] = np.nan
        not_numeric = ~missing & np.isnan(values)
        if by_header[key] in formula_cells:
            rows = np.flatnonzero(formula_cells[by_header[key]]) + 1
            warnings.append(f"extra column {key!r}: {len(rows)} formula cell(s) without a saved "
                            f"result were left empty (rows {', '.join(map(str, rows[:20]))}"
                            f"{' …' if len(rows) > 20 else ''})")
        if not_numeric.any():
            warnings.append(f"extra column {key!r}: {int(not_numeric.sum())} value(s) are not "
                            "numbers and were left empty")
        summaries.append({"column": f"extra:{key}", "source": by_header[key], "unit": "",
                          "missing": int(missing.sum()),
                          "missing_pct": round(100.0 * missing.sum() / n, 1) if n else 0.0,
                          "coded_missing": int((missing & ~cells.na).sum()),
                          "problems": int(not_numeric.sum())})
        kept = values[accepted]
        present = ~np.isnan(kept)
        if present.any():
            feature_parts.append(pd.DataFrame({
                "patient_id": patients["patient_id"].to_numpy()[present],
                "feature_set": EXTRA_FEATURE_SET, "feature": key, "value": kept[present]}))
    features = (pd.concat(feature_parts, ignore_index=True) if feature_parts else
                pd.DataFrame({"patient_id": pd.Series(dtype=object),
                              "feature_set": pd.Series(dtype=object),
                              "feature": pd.Series(dtype=object),
                              "value": pd.Series(dtype=float)}))

    # -- what this source cannot provide -------------------------------------------
    unavailable = list(mapping.unavailable)
    if len(patients):
        for column in PATIENT_COLUMNS:
            if column.group != "id" and column.name not in unavailable and \
                    patients[column.name].isna().all():
                unavailable.append(column.name)

    report = ValidationReport(
        source_name=source_name, mapping_name=mapping.name, rows_read=n,
        rows_accepted=rows_accepted,
        rejected_rows=tuple(int(r) + 1 for r in np.flatnonzero(rejected)),
        file_problems=tuple(file_problems), warnings=tuple(warnings),
        problems=problems.frame(), columns=pd.DataFrame(
            summaries, columns=["column", "source", "unit", "missing", "missing_pct",
                                "coded_missing", "problems"]),
        unknown_columns=tuple(unknown), dropped_columns=tuple(dropped),
        extra_columns=tuple(extra),
        extra_known_at=tuple(mapping.known_at.get(k, UNKNOWN_TIME) for k in extra),
        unavailable_columns=tuple(
            c for c in PATIENT_COLUMN_NAMES if c in set(unavailable)),
        derived_preview=_derived_preview(patients),
        score_disagreements=disagreements_frame)
    return PreparedImport(report=report, mapping=mapping, patients=patients, features=features)


def _apply_proxies(patients: pd.DataFrame, frame: pd.DataFrame, by_header: dict[str, str],
                   mapping: Mapping, rows_kept: np.ndarray, warnings: list[str]) -> pd.DataFrame:
    """Recompute ``mapping.proxy_scores`` with the proxy values standing in for their columns."""
    stand_in = patients.copy()
    for target, proxy in mapping.proxies.items():
        if proxy.source not in by_header:
            warnings.append(f"proxy source column {proxy.source!r} is not in the file; "
                            f"{', '.join(mapping.proxy_scores)} stay as computed without it")
            return patients
        cells = _Cells(frame[by_header[proxy.source]])
        codes = {k: v for k, v in proxy.values.items()}
        values, hit = cells.coded(codes)
        numbers = np.where(hit, pd.to_numeric(values, errors="coerce"), np.nan)[rows_kept]
        known = patients[target].to_numpy(dtype=float, na_value=np.nan)
        stand_in[target] = np.where(np.isnan(known), numbers, known)
    recomputed = clinical.add_derived_columns(stand_in)
    out = patients.copy()
    for score in mapping.proxy_scores:
        out[score] = recomputed[score]
    return out


def _contract_dtypes(patients: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for column in PATIENT_COLUMNS:
        s = patients[column.name]
        if column.kind == "bool":
            out[column.name] = s.astype("boolean")
        elif column.kind == "int":
            out[column.name] = s.astype("Int64")
        elif column.kind == "float":
            out[column.name] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            values = s.astype(object)
            out[column.name] = values.where(values.notna(), None)
    return pd.DataFrame(out)


def _plain(value: Any) -> Any:
    if isinstance(value, (float, np.floating)) and not np.isnan(value) and value == int(value):
        return int(value)
    return value


def _differing(mine: np.ndarray, theirs: np.ndarray) -> list[int]:
    """Positions where two value arrays differ (missing equals missing; numbers by value)."""
    a = pd.Series(mine, dtype=object)
    b = pd.Series(theirs, dtype=object)
    a_na, b_na = a.isna().to_numpy(), b.isna().to_numpy()
    a_num = pd.to_numeric(a, errors="coerce").to_numpy(dtype=float)
    b_num = pd.to_numeric(b, errors="coerce").to_numpy(dtype=float)
    numeric = ~np.isnan(a_num) & ~np.isnan(b_num)
    with np.errstate(invalid="ignore"):
        same_number = np.abs(a_num - b_num) <= 1e-9 * np.maximum(1.0, np.abs(a_num))
    same_text = (a.astype(str) == b.astype(str)).to_numpy()
    same = np.where(numeric, same_number, same_text)
    differ = (a_na != b_na) | (~a_na & ~b_na & ~same)
    return np.flatnonzero(differ).tolist()


def _derived_preview(patients: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for score in _PREVIEW_SCORES:
        if score not in patients.columns or patients[score].isna().all():
            continue
        counts = patients[score].astype(object).where(patients[score].notna(), "missing")
        for level, count in counts.value_counts(sort=False).sort_index(key=lambda s: s.astype(
                str)).items():
            rows.append({"score": score, "level": str(level), "n": int(count)})
    return pd.DataFrame(rows, columns=["score", "level", "n"])


# ============================================================================ importing
def validate_cohort_name(cohort: str) -> str:
    """The cohort name if usable: lower-case letters, digits, '-', '_'; not the demo's."""
    if not isinstance(cohort, str) or not COHORT_NAME_RE.match(cohort):
        raise ImportRefused(f"cohort name {cohort!r}: use 1–63 lower-case letters, digits, "
                            "'-' or '_', starting with a letter or digit")
    if cohort == DEMO_COHORT:
        raise ImportRefused(f"cohort name {cohort!r} is reserved for the synthetic demo cohort")
    return cohort


def cohort_name_from_file(name: str) -> str:
    """A cohort name suggested by a file name (``TCIA CRLM.xlsx`` -> ``tcia-crlm``)."""
    stem = Path(name).stem.lower()
    slug = re.sub(r"[^a-z0-9_-]+", "-", stem).strip("-_")[:63] or "imported"
    if slug == DEMO_COHORT:
        slug = "demo-import"
    return slug


def resolve_mapping(mapping: str | os.PathLike | Mapping | None, headers) -> Mapping:
    """The mapping given (name, file or object), else one detected from the header, else none."""
    if mapping is not None and str(mapping) != "":
        return load_mapping(mapping)
    return detect_mapping(headers) or identity_mapping()


def pseudonym_key(store) -> bytes:
    """The store's secret key for patient pseudonyms (env ``CRLM_ID_KEY`` or a key file).

    The key file sits next to the store file (``<store>.id-key``), is created on first
    use and must be kept (and backed up) with the store: without it a re-import of the
    same file gives new pseudonyms.
    """
    env = os.environ.get(PSEUDONYM_KEY_ENV)
    if env:
        return env.encode()
    path = Path(str(store.path) + ".id-key")
    if path.exists():
        return path.read_bytes().strip()
    key = secrets.token_hex(32).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def pseudonymise_ids(ids: Sequence[str] | pd.Series, cohort: str, key: bytes) -> pd.Series:
    """Store pseudonyms ``<cohort>-<hex>``: keyed SHA-256 of cohort and id, deterministic."""
    prefix = key + b"\x00" + cohort.encode() + b"\x00"
    out = [f"{cohort}-{hashlib.sha256(prefix + str(i).encode()).hexdigest()[:PSEUDONYM_HEX_DIGITS]}"
           for i in ids]
    return pd.Series(out, index=ids.index if isinstance(ids, pd.Series) else None, dtype=object)


def import_file(store, source: str | os.PathLike | bytes, *, name: str | None = None,
                mapping: str | os.PathLike | Mapping | None = None, cohort: str | None = None,
                dry_run: bool = False, actor: str = "cli",
                max_bytes: int = MAX_FILE_BYTES) -> ImportResult:
    """Validate a file and, unless ``dry_run`` or refused, store it as one cohort.

    Everything lands in one transaction (cohort row, patients, extra features and the
    provenance row with the file's SHA-256, mapping, counts and time) or nothing does.
    The cohort is replaced as a whole, so re-importing the same file is idempotent.
    Raises :class:`TableReadError`, :class:`MappingError` or :class:`ImportRefused` when
    the file, the mapping or the cohort name cannot be used at all; validation problems
    come back in ``result.report`` with ``written=False``.
    """
    from crlm import store as store_api

    data, source_name = _source_bytes(source, name, max_bytes)
    source_name = Path(source_name).name
    source_hash = hashlib.sha256(data).hexdigest()
    frame = read_table(data, source_name, max_bytes=max_bytes)
    chosen = resolve_mapping(mapping, frame.columns)
    cohort = validate_cohort_name(cohort if cohort else cohort_name_from_file(source_name))
    prepared = prepare_table(frame, chosen, source_name=source_name, default_center=cohort)
    report = prepared.report
    import_id = hashlib.sha256(f"{cohort}\x00{source_hash}\x00{chosen.name}".encode()
                               ).hexdigest()[:16]
    result = dict(report=report, cohort=cohort, mapping_name=chosen.name,
                  source_name=source_name, source_sha256=source_hash, import_id=import_id,
                  dry_run=dry_run)
    if not report.ok or dry_run:
        return ImportResult(**result, written=False, n_patients=0, n_features=0)

    key = pseudonym_key(store)
    pseudonyms = pseudonymise_ids(prepared.patients["patient_id"], cohort, key)
    if pseudonyms.duplicated().any():  # pragma: no cover - 48-bit collision
        raise ImportRefused("two patient ids gave the same pseudonym; import refused")
    lookup = dict(zip(prepared.patients["patient_id"], pseudonyms))
    patients = prepared.patients.copy()
    patients["patient_id"] = pseudonyms.to_numpy()
    features = prepared.features.copy()
    if len(features):
        features["patient_id"] = features["patient_id"].map(lookup)
    description = f"imported from {source_name} ({chosen.name} mapping)"
    with store.transaction() as cur:
        store_api.begin_cohort(cur, cohort, kind="imported", description=description,
                               unavailable_columns=report.unavailable_columns)
        store_api.append_patients(cur, cohort, patients)
        if len(features):
            store_api.append_features(cur, cohort, features)
        if report.extra_columns:
            store_api.save_feature_info(cur, cohort, pd.DataFrame({
                "feature_set": EXTRA_FEATURE_SET, "feature": list(report.extra_columns),
                "known_at": list(report.extra_known_at)}))
        n_patients = store_api.finish_cohort(cur, cohort)
        store_api.record_import(
            cur, import_id=import_id, cohort=cohort, source_name=source_name,
            source_hash=source_hash, mapping=chosen.name, rows_read=report.rows_read,
            rows_accepted=report.rows_accepted, imported_by=actor, report=report.to_text())
    return ImportResult(**result, written=True, n_patients=n_patients, n_features=len(features))


def import_command(store, file: str, *, mapping: str | None = None, cohort: str | None = None,
                   dry_run: bool = False, actor: str = "cli", out: TextIO | None = None) -> int:
    """``python -m crlm import FILE [--mapping M] [--cohort C] [--dry-run]``.

    Prints the validation report and a last line saying what was written; returns the
    exit status: 0 imported (or dry run passed), 1 refused by validation, 2 unusable
    input (file, mapping or cohort name), with the reason on one line.
    """
    out = out or sys.stdout
    try:
        result = import_file(store, file, mapping=mapping, cohort=cohort, dry_run=dry_run,
                             actor=actor)
    except (TableReadError, MappingError, ImportRefused) as exc:
        print(f"error: {exc}", file=out)
        return 2
    print(result.report.to_text(), file=out)
    print(result.summary(), file=out)
    return 0 if result.ok else 1


__all__ = [
    "ImportRefused", "ImportResult", "MAX_FILE_BYTES", "PreparedImport", "TableReadError",
    "ValidationReport", "cohort_name_from_file", "import_command", "import_file",
    "prepare_table", "pseudonym_key", "pseudonymise_ids", "read_table", "resolve_mapping",
    "validate_cohort_name",
]
