"""The cohort filter and its translation into ONE parameterised SQL query.

Column names come only from a whitelist built from the column contract;
values are always bound parameters. A filter round-trips through URL query
parameters so that a copied link reproduces the view.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field, replace
from typing import Mapping

from crlm.config import COLUMNS_BY_NAME, DEMO_COHORT

# Categorical columns that can be filtered by a set of levels.
CATEGORY_FILTERS: tuple[str, ...] = (
    "center", "cohort_split", "sex", "primary_side", "ras_status", "kras", "nras",
    "braf_v600e", "msi", "her2", "tbs_zone", "fong_group", "game_group", "biologic",
    "regimen", "hepatectomy", "growth_pattern",
)
# Numeric columns that can be filtered by an inclusive range.
RANGE_FILTERS: tuple[str, ...] = ("age_years", "tumour_burden_score", "cea_ng_ml", "fong_score")
UNKNOWN = "unknown"  # the level that selects NULL (test not done / not recorded)
# Every URL query parameter a filter reads (others are ignored, and the sidebar says so),
# besides ``extra:<name>``: a cohort's own variable (levels ``a,b`` or a range ``lo..hi``).
QUERY_KEYS: tuple[str, ...] = ("cohort", "from", "to", *CATEGORY_FILTERS, *RANGE_FILTERS)
EXTRA_KEY_PREFIX = "extra:"
_RANGE_TEXT = re.compile(r"^[-+0-9.eE]*\.\.[-+0-9.eE]*$")
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
    # The cohort's own (extra) variables by name: chosen level names of a categorical one
    # (``unknown`` selects a missing value), an inclusive range of a numeric one.
    extra_levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    extra_ranges: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    # Their labels from the import mapping (``feature_info``), for ``describe`` only: not part
    # of what the filter selects, so not compared and not carried in a link.
    extra_labels: Mapping[str, str] = field(default_factory=dict, compare=False)

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
        self._check_extras()

    def _check_extras(self) -> None:
        levels, ranges = {}, {}
        for name, values in dict(self.extra_levels).items():
            _extra_name(name)
            values = tuple(dict.fromkeys(str(v) for v in values))
            if any(len(v) > 200 for v in values):
                raise FilterError(f"{EXTRA_KEY_PREFIX}{name}: value too long")
            if values:
                levels[name] = tuple(sorted(values))
        for name, bounds in dict(self.extra_ranges).items():
            _extra_name(name)
            if name in levels:
                raise FilterError(f"{EXTRA_KEY_PREFIX}{name}: both levels and a range")
            key = f"{EXTRA_KEY_PREFIX}{name}"
            lo, hi = (tuple(bounds) + (None, None))[:2]
            lo, hi = _number(key, lo), _number(key, hi)
            if lo is not None and hi is not None and lo > hi:
                raise FilterError(f"{key}: lower bound {lo:g} is above upper bound {hi:g}")
            if lo is not None or hi is not None:
                ranges[name] = (lo, hi)
        object.__setattr__(self, "extra_levels", levels)
        object.__setattr__(self, "extra_ranges", ranges)
        labels = {}
        for name, text in dict(self.extra_labels or {}).items():
            text = " ".join(str(text).split())
            if isinstance(name, str) and text and name in {*levels, *ranges}:
                labels[name] = text[:200]
        object.__setattr__(self, "extra_labels", labels)

    def _extra_label(self, name: str) -> str:
        return self.extra_labels.get(name, name)

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
        for name, values in sorted(self.extra_levels.items()):
            parts = []
            known = [v for v in values if v != UNKNOWN]
            if known:  # a stored level code, read as its level name through feature_info
                parts.append(
                    "patient_id IN (SELECT f.patient_id FROM features f JOIN feature_info i "
                    "ON i.cohort = f.cohort AND i.feature_set = f.feature_set "
                    "AND i.feature = f.feature WHERE f.cohort = ? AND f.feature_set = ? "
                    "AND f.feature = ? AND f.value IS NOT NULL AND list_extract(from_json("
                    "i.levels, '[\"VARCHAR\"]'), CAST(f.value AS BIGINT) + 1) IN ("
                    + ", ".join("?" for _ in known) + "))")
                params.extend([self.cohort, _EXTRA_SET, name, *known])
            if UNKNOWN in values:
                parts.append(_NO_EXTRA)
                params.extend([self.cohort, _EXTRA_SET, name])
            clauses.append("(" + " OR ".join(parts) + ")")
        for name, (lo, hi) in sorted(self.extra_ranges.items()):
            bounds = "".join(f" AND f.value {op} ?" for op, v in ((">=", lo), ("<=", hi))
                             if v is not None)
            clauses.append(_HAS_EXTRA[:-1] + bounds + ")")
            params.extend([self.cohort, _EXTRA_SET, name,
                           *(v for v in (lo, hi) if v is not None)])
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
        for name, values in sorted(self.extra_levels.items()):
            parts.append(f"{self._extra_label(name)}: {', '.join(values)}")
        for name, (lo, hi) in sorted(self.extra_ranges.items()):
            if lo is not None and lo == hi:   # one value (a 0/1 variable's yes or no)
                parts.append(f"{self._extra_label(name)} = {lo:g}")
                continue
            parts.append(f"{self._extra_label(name)} {'' if lo is None else f'{lo:g}'}–"
                         f"{'' if hi is None else f'{hi:g}'}")
        return "; ".join(parts) if len(parts) > 1 else parts[0] + " (all patients)"

    def to_query_params(self) -> dict[str, str]:
        """The filter as link parameters: levels joined by commas (a comma or backslash in
        a level written with a backslash before it), a range as ``lo..hi`` with each bound
        written so that it reads back as the same number."""
        out = {"cohort": self.cohort}
        for column, values in self.categories.items():
            out[column] = _join_levels(values)
        for column, (lo, hi) in self.ranges.items():
            out[column] = f"{_bound_text(lo)}..{_bound_text(hi)}"
        if self.date_from:
            out["from"] = self.date_from.isoformat()
        if self.date_to:
            out["to"] = self.date_to.isoformat()
        for name, values in self.extra_levels.items():
            out[EXTRA_KEY_PREFIX + name] = _join_levels(values)
        for name, (lo, hi) in self.extra_ranges.items():
            out[EXTRA_KEY_PREFIX + name] = f"{_bound_text(lo)}..{_bound_text(hi)}"
        return out

    @classmethod
    def from_query_params(cls, params: Mapping[str, str]) -> "CohortFilter":
        """Parse URL query parameters; unknown keys are ignored, bad values raise FilterError."""
        cats, rng, extra_levels, extra_ranges = {}, {}, {}, {}
        for key, raw in params.items():
            if isinstance(raw, (list, tuple)):
                raw = raw[-1] if raw else ""
            raw = str(raw)
            if key in CATEGORY_FILTERS:
                cats[key] = _split_levels(raw)
            elif key in RANGE_FILTERS:
                lo, sep, hi = raw.partition("..")
                if not sep:
                    raise FilterError(f"{key}: expected 'low..high', got {raw!r}")
                rng[key] = (lo or None, hi or None)
            elif isinstance(key, str) and key.startswith(EXTRA_KEY_PREFIX):
                name = key[len(EXTRA_KEY_PREFIX):]
                if is_extra_range_text(raw):
                    lo, _, hi = raw.partition("..")
                    extra_ranges[name] = (lo or None, hi or None)
                else:
                    extra_levels[name] = _split_levels(raw)
        return cls(
            cohort=str(params.get("cohort") or DEMO_COHORT),
            categories=cats,
            ranges=rng,
            date_from=_date("from", params.get("from")),
            date_to=_date("to", params.get("to")),
            extra_levels=extra_levels,
            extra_ranges=extra_ranges,
        )

    def with_cohort(self, cohort: str) -> "CohortFilter":
        return replace(self, cohort=cohort)


_EXTRA_SET = "extra"  # the feature set of an import's own variables
_HAS_EXTRA = ("patient_id IN (SELECT f.patient_id FROM features f WHERE f.cohort = ? "
              "AND f.feature_set = ? AND f.feature = ? AND f.value IS NOT NULL)")
_NO_EXTRA = "patient_id NOT IN" + _HAS_EXTRA[len("patient_id IN"):]


def _bound_text(value: float | None) -> str:
    """A range bound in a link: short where that is exact (45, 2.5), all its digits
    otherwise."""
    if value is None:
        return ""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def _join_levels(values) -> str:
    """Levels as one link value; one that would read as a range (an own level "1..2") is
    written with a backslash first."""
    text = ",".join(v.replace("\\", "\\\\").replace(",", "\\,") for v in values)
    return "\\" + text if _RANGE_TEXT.match(text) else text


def _split_levels(raw: str) -> tuple[str, ...]:
    """``_join_levels`` read back: split at the commas without a backslash before them;
    empty pieces are dropped."""
    out, piece, escaped = [], [], False
    for ch in raw:
        if escaped:
            piece.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            out.append("".join(piece))
            piece = []
        else:
            piece.append(ch)
    out.append("".join(piece))
    return tuple(v for v in out if v)


def is_extra_range_text(raw: str) -> bool:
    """True for a link value that reads as a range ``lo..hi`` (either end may be empty)."""
    return bool(_RANGE_TEXT.match(str(raw)))


def _extra_name(name) -> None:
    if (not isinstance(name, str) or not name.strip() or len(name) > 120
            or any(ord(ch) < 32 for ch in name)):
        raise FilterError(f"{EXTRA_KEY_PREFIX}{str(name)[:40]!r}: not a variable name")


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
