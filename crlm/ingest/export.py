"""Export a cohort's patients table to CSV, Parquet or Excel, in contract column names.

The files import back unchanged (``crlm.ingest.importer``): a round trip through any
of the three formats gives the same patients table (with new pseudonyms).

Spreadsheet safety: a *text* cell that starts with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return is written with a leading ``'`` so that a spreadsheet shows it
as text instead of running it as a formula. Numbers are never touched (``-1.5``
stays a number). The importer strips exactly that quote again (only when it is
followed by one of those characters), so the round trip stays exact.

An existing file is never overwritten unless asked (``overwrite=True``, the CLI's
``--overwrite``): the file is written beside the target under a temporary name and
then linked into place, which fails if the target appeared meanwhile.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from crlm.config import PATIENT_COLUMN_NAMES, PATIENT_COLUMNS
from crlm.privacy import neutralise_formulas

EXPORT_FORMATS = {"csv": ".csv", "parquet": ".parquet", "xlsx": ".xlsx"}
_FORMAT_ALIASES = {"excel": "xlsx", "pq": "parquet", "xls": "xlsx"}
EXCEL_MAX_ROWS = 1_048_575


class ExportError(ValueError):
    """An export that cannot be written; the message names the cohort, format or path."""


@dataclass(frozen=True)
class ExportResult:
    cohort: str
    path: str
    fmt: str
    n_patients: int
    n_neutralised_cells: int

    def to_dict(self) -> dict:
        return {"cohort": self.cohort, "path": self.path, "fmt": self.fmt,
                "n_patients": self.n_patients, "n_neutralised_cells": self.n_neutralised_cells}


def export_format(path: str | Path, fmt: str | None = None) -> str:
    """The export format from ``fmt`` or else the path's suffix."""
    if fmt:
        name = _FORMAT_ALIASES.get(fmt.lower().lstrip("."), fmt.lower().lstrip("."))
    else:
        suffix = Path(path).suffix.lower().lstrip(".")
        name = _FORMAT_ALIASES.get(suffix, suffix)
    if name not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {fmt or Path(path).suffix!r}; use "
                          f"{', '.join(EXPORT_FORMATS)}")
    return name


def cohort_frame(store, cohort: str) -> pd.DataFrame:
    """The cohort's patients in contract columns and order (patient_id order)."""
    from crlm.store import CohortFilter, load_cohort, load_cohort_info

    if load_cohort_info(store, cohort) is None:
        raise ExportError(f"no cohort named {cohort!r} in the store")
    frame = load_cohort(store, CohortFilter(cohort=cohort))
    return frame.loc[:, list(PATIENT_COLUMN_NAMES)]


def write_frame(frame: pd.DataFrame, path: str | Path, fmt: str | None = None, *,
                overwrite: bool = False) -> tuple[str, int]:
    """Write a contract-shaped frame; returns (format, number of neutralised cells).

    Refuses (``ExportError``) a path that exists unless ``overwrite``; a failed write
    leaves no partial file behind."""
    fmt = export_format(path, fmt)
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise ExportError(f"{path} exists already; choose another name or pass --overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        result = _write(frame, tmp, fmt)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the file appeared since the check above
            except FileExistsError:
                raise ExportError(f"{path} exists already; choose another name or pass "
                                  "--overwrite") from None
            except OSError:  # a file system without hard links: check, then move
                if path.exists():
                    raise ExportError(f"{path} exists already; choose another name or pass "
                                      "--overwrite") from None
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return result


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> tuple[str, int]:
    frame = _plain_dates(frame)
    neutralised = 0
    if fmt == "csv":
        safe, neutralised = neutralise_formulas(frame)
        safe.to_csv(path, index=False, encoding="utf-8")
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        if len(frame) > EXCEL_MAX_ROWS:
            raise ExportError(f"{len(frame)} rows do not fit in one Excel sheet "
                              f"({EXCEL_MAX_ROWS}); export CSV or Parquet")
        safe, neutralised = neutralise_formulas(frame)
        safe.to_excel(path, index=False, sheet_name="patients", engine="openpyxl")
    return fmt, neutralised


def export_cohort(store, cohort: str, path: str | Path, fmt: str | None = None, *,
                  overwrite: bool = False) -> ExportResult:
    """Write cohort ``cohort`` to ``path`` as CSV, Parquet or Excel (``fmt`` or the suffix);
    an existing file is refused unless ``overwrite``."""
    fmt = export_format(path, fmt)
    if Path(path).exists() and not overwrite:  # refuse before reading the whole cohort
        raise ExportError(f"{path} exists already; choose another name or pass --overwrite")
    frame = cohort_frame(store, cohort)
    fmt, neutralised = write_frame(frame, path, fmt, overwrite=overwrite)
    return ExportResult(cohort=cohort, path=str(path), fmt=fmt, n_patients=len(frame),
                        n_neutralised_cells=neutralised)


def _plain_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Date columns as ISO dates (no time part) so every format reads back the same."""
    out = frame.copy()
    for column in PATIENT_COLUMNS:
        if column.kind == "date" and column.name in out.columns:
            values = pd.to_datetime(out[column.name], errors="coerce")
            out[column.name] = values.dt.strftime("%Y-%m-%d").where(values.notna(), None)
    return out


__all__ = ["EXPORT_FORMATS", "ExportError", "ExportResult", "cohort_frame", "export_cohort",
           "export_format", "neutralise_formulas", "write_frame"]
