"""Parsing one source column into a contract column: codes, units, missing tokens,
ranges, yes/no, dates; each bad cell becomes a problem of its row."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crlm.config import (
    Column,
)
from crlm.ingest import dates
from crlm.ingest.mapping import (
    FALSE_TOKENS,
    TRUE_TOKENS,
    Mapping,
    value_token,
)
from crlm.ingest.import_report import _PROBLEM_COLUMNS
from crlm.ingest.table_read import _DECIMAL_COMMA

MAX_ID_LENGTH = 200
# columns whose source values never appear in a report (only row numbers do)
ID_COLUMNS = frozenset({"patient_id"})
_VALUE_CHARS = 40

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
