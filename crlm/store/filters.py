"""The cohort filter and its translation into ONE parameterised SQL query.

Column names come only from a whitelist built from the column contract;
values are always bound parameters. A filter round-trips through URL query
parameters so that a copied link reproduces the view.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Mapping

from crlm.config import COLUMNS_BY_NAME, DEMO_COHORT

# Categorical columns that can be filtered by a set of levels.
CATEGORY_FILTERS: tuple[str, ...] = (
    "center", "cohort_split", "sex", "primary_side", "ras_status", "kras", "nras",
    "braf_v600e", "msi", "her2", "tbs_zone", "fong_group", "game_group", "biologic",
    "regimen", "hepatectomy",
)
# Numeric columns that can be filtered by an inclusive range.
RANGE_FILTERS: tuple[str, ...] = ("age_years", "tumour_burden_score", "cea_ng_ml", "fong_score")
UNKNOWN = "unknown"  # the level that selects NULL (test not done / not recorded)
# Every URL query parameter a filter reads (others are ignored, and the sidebar says so).
QUERY_KEYS: tuple[str, ...] = ("cohort", "from", "to", *CATEGORY_FILTERS, *RANGE_FILTERS)
# Diagnosis dates a filter may name (the sidebar's date pickers offer the same span).
DATE_MIN = dt.date(1990, 1, 1)
DATE_MAX = dt.date(2100, 1, 1)


class FilterError(ValueError):
    """A filter value that cannot be applied; the message names the field and the value."""


def _levels(column: str) -> tuple[str, ...] | None:
    col = COLUMNS_BY_NAME[column]
    if col.kind == "bool":
        return ("yes", "no")
    return col.levels or None  # free categories (centre) take any text


@dataclass(frozen=True)
class CohortFilter:
    """What the sidebar selects. Empty selections mean 'no restriction'."""

    cohort: str = DEMO_COHORT
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ranges: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.cohort, str) or not self.cohort.strip():
            raise FilterError("cohort: a cohort name is required")
        cats = {}
        for column, values in dict(self.categories).items():
            if column not in CATEGORY_FILTERS:
                raise FilterError(f"{column}: not a filterable column")
            values = tuple(dict.fromkeys(str(v) for v in values))
            allowed = _levels(column)
            for v in values:
                if allowed is not None and v not in allowed and v != UNKNOWN:
                    raise FilterError(
                        f"{column}: {v!r} is not one of {', '.join(allowed + (UNKNOWN,))}"
                    )
                if len(v) > 200:
                    raise FilterError(f"{column}: value too long")
            if values:
                cats[column] = tuple(sorted(values))
        rng = {}
        for column, bounds in dict(self.ranges).items():
            if column not in RANGE_FILTERS:
                raise FilterError(f"{column}: not a range-filterable column")
            lo, hi = (tuple(bounds) + (None, None))[:2]
            lo, hi = _number(column, lo), _number(column, hi)
            col = COLUMNS_BY_NAME[column]
            for v in (lo, hi):
                if v is not None and (
                    (col.lo is not None and v < col.lo) or (col.hi is not None and v > col.hi)
                ):
                    raise FilterError(
                        f"{column}: {v:g} is outside the allowed range {col.lo:g}–{col.hi:g}"
                    )
            if lo is not None and hi is not None and lo > hi:
                raise FilterError(f"{column}: lower bound {lo:g} is above upper bound {hi:g}")
            if lo is not None or hi is not None:
                rng[column] = (lo, hi)
        for name, day in (("from", self.date_from), ("to", self.date_to)):
            if day is not None and not DATE_MIN <= day <= DATE_MAX:
                raise FilterError(f"{name}: {day} is outside {DATE_MIN}–{DATE_MAX}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise FilterError(f"date range: {self.date_from} is after {self.date_to}")
        object.__setattr__(self, "categories", cats)
        object.__setattr__(self, "ranges", rng)

    # -- SQL -----------------------------------------------------------------
    def where(self) -> tuple[str, list]:
        """The WHERE clause (without the keyword) and its bound parameters."""
        clauses, params = ["cohort = ?"], [self.cohort]
        for column, values in sorted(self.categories.items()):
            ident = _ident(column)
            parts = []
            known = [v for v in values if v != UNKNOWN]
            if known:
                if COLUMNS_BY_NAME[column].kind == "bool":
                    parts.append(f"{ident} IN ({', '.join('?' for _ in known)})")
                    params.extend(v == "yes" for v in known)
                else:
                    parts.append(f"{ident} IN ({', '.join('?' for _ in known)})")
                    params.extend(known)
            if UNKNOWN in values:
                parts.append(f"{ident} IS NULL")
                if column == "ras_status":
                    parts.append(f"{ident} = ?")
                    params.append(UNKNOWN)
            clauses.append("(" + " OR ".join(parts) + ")")
        for column, (lo, hi) in sorted(self.ranges.items()):
            ident = _ident(column)
            if lo is not None:
                clauses.append(f"{ident} >= ?")
                params.append(lo)
            if hi is not None:
                clauses.append(f"{ident} <= ?")
                params.append(hi)
        if self.date_from:
            clauses.append("diagnosis_date >= ?")
            params.append(self.date_from)
        if self.date_to:
            clauses.append("diagnosis_date <= ?")
            params.append(self.date_to)
        return " AND ".join(clauses), params

    # -- words and links ----------------------------------------------------
    def describe(self) -> str:
        """The filter in words, for figure captions and exports."""
        parts = [f"cohort {self.cohort}"]
        for column, values in sorted(self.categories.items()):
            parts.append(f"{COLUMNS_BY_NAME[column].label}: {', '.join(values)}")
        for column, (lo, hi) in sorted(self.ranges.items()):
            col = COLUMNS_BY_NAME[column]
            unit = f" {col.unit}" if col.unit else ""
            lo_s = "" if lo is None else f"{lo:g}"
            hi_s = "" if hi is None else f"{hi:g}"
            parts.append(f"{col.label} {lo_s}–{hi_s}{unit}")
        if self.date_from or self.date_to:
            parts.append(f"diagnosed {self.date_from or ''}–{self.date_to or ''}")
        return "; ".join(parts) if len(parts) > 1 else parts[0] + " (all patients)"

    def to_query_params(self) -> dict[str, str]:
        out = {"cohort": self.cohort}
        for column, values in self.categories.items():
            out[column] = ",".join(values)
        for column, (lo, hi) in self.ranges.items():
            out[column] = f"{'' if lo is None else f'{lo:g}'}..{'' if hi is None else f'{hi:g}'}"
        if self.date_from:
            out["from"] = self.date_from.isoformat()
        if self.date_to:
            out["to"] = self.date_to.isoformat()
        return out

    @classmethod
    def from_query_params(cls, params: Mapping[str, str]) -> "CohortFilter":
        """Parse URL query parameters; unknown keys are ignored, bad values raise FilterError."""
        cats, rng = {}, {}
        for key, raw in params.items():
            if isinstance(raw, (list, tuple)):
                raw = raw[-1] if raw else ""
            raw = str(raw)
            if key in CATEGORY_FILTERS:
                cats[key] = tuple(v for v in raw.split(",") if v)
            elif key in RANGE_FILTERS:
                lo, sep, hi = raw.partition("..")
                if not sep:
                    raise FilterError(f"{key}: expected 'low..high', got {raw!r}")
                rng[key] = (lo or None, hi or None)
        return cls(
            cohort=str(params.get("cohort") or DEMO_COHORT),
            categories=cats,
            ranges=rng,
            date_from=_date("from", params.get("from")),
            date_to=_date("to", params.get("to")),
        )

    def with_cohort(self, cohort: str) -> "CohortFilter":
        return replace(self, cohort=cohort)


def _ident(column: str) -> str:
    # Whitelisted names only; quoting guards against a future name that is a keyword.
    if column not in COLUMNS_BY_NAME:
        raise FilterError(f"{column}: unknown column")
    return f'"{column}"'


def _number(column: str, value) -> float | None:
    if value is None or value == "":
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise FilterError(f"{column}: {value!r} is not a number") from None
    if math.isnan(x) or math.isinf(x):
        raise FilterError(f"{column}: {value!r} is not a finite number")
    return x


def _date(name: str, value) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (list, tuple)):
        value = value[-1]
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise FilterError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None
