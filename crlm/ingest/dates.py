"""The one rule for dates read from files and mappings: which forms are accepted, and
the window a date must fall in.

Accepted:

* text ``YYYY-MM-DD`` (ISO 8601 calendar date), optionally followed by a time of day
  (``2021-03-04 00:00:00``, ``2021-03-04T08:30``), which is dropped;
* cells that already are dates: Excel date cells, Parquet date and timestamp columns.

Refused, each with a message that names the form: ``2021/03/04`` (slashes),
``20210304`` (no separators), ``04/03/2021`` or ``04.03.2021`` (day or month first:
ambiguous), impossible calendar dates (``2021-02-30``) and anything else.

Window: from ``DATE_MIN`` (1950-01-01) to the day of reading. Earlier dates are typing
errors or "unknown" codes (``1900-01-01`` is a common one); later ones have not
happened yet.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd

DATE_MIN = dt.date(1950, 1, 1)
DATE_FORMAT = "YYYY-MM-DD"

_ISO = r"^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
_ISO_RE = re.compile(_ISO)
# (pattern, problem) for the refused forms a hospital export commonly holds
_REFUSED_FORMS = (
    (r"^\d{4}/\d{1,2}/\d{1,2}$", "not a date in the form YYYY-MM-DD (written with '/')"),
    (r"^\d{8}$", "not a date in the form YYYY-MM-DD (YYYYMMDD without separators)"),
    (r"^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$",
     "not a date in the form YYYY-MM-DD (day or month first, which is ambiguous)"),
)
NOT_A_DATE = "not a date (write YYYY-MM-DD)"
NOT_A_CALENDAR_DATE = "not a date: no such day in the calendar"


class DateError(ValueError):
    """A value that is not an accepted date, or one outside the window."""


def window_problem(early: bool, today: dt.date) -> str:
    word = "before" if early else "after"
    return (f"date {word} the plausible window {DATE_MIN.isoformat()} to {today.isoformat()} "
            "(today)")


def parse_date(value: Any, *, today: dt.date | None = None) -> dt.date:
    """One value as a date under the rule above; :class:`DateError` says why not."""
    today = today or dt.date.today()
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        date = value
    else:
        values, bad = parse_date_cells(pd.Series([str(value).strip()], dtype=object),
                                       today=today, window=False)
        for mask, problem in bad:
            if mask[0]:
                raise DateError(problem)
        date = values[0]
    if date < DATE_MIN or date > today:
        raise DateError(window_problem(date < DATE_MIN, today))
    return date


def parse_date_cells(text: pd.Series, *, today: dt.date | None = None, window: bool = True
                     ) -> tuple[np.ndarray, list[tuple[np.ndarray, str]]]:
    """Vectorised :func:`parse_date` over text cells (``None``/NA cells are skipped).

    Returns ``(values, bad)``: an object array of ``datetime.date`` (``None`` where not
    parsed) and ``(mask, problem)`` pairs, one per kind of problem.
    """
    today = today or dt.date.today()
    s = pd.Series(text, dtype=object).reset_index(drop=True)
    n = len(s)
    present = np.asarray(s.notna(), dtype=bool)
    # pyarrow strings: match, slice and strip run vectorised in C++
    strings = s.where(present, "").astype(str).astype("string[pyarrow]").str.strip()
    values = np.full(n, None, dtype=object)
    bad: list[tuple[np.ndarray, str]] = []
    iso = present & np.asarray(strings.str.match(_ISO).fillna(False), dtype=bool)
    if iso.any():
        def part(start: int, stop: int) -> np.ndarray:  # digits wherever ``iso`` holds
            return strings.str[start:stop].where(iso, "0").astype("int64").to_numpy()

        year, month, day = part(0, 4), part(5, 7), part(8, 10)
        with np.errstate(invalid="ignore"):
            key = year * 10000 + month * 100 + day
            lo = DATE_MIN.year * 10000 + DATE_MIN.month * 100 + DATE_MIN.day
            hi = today.year * 10000 + today.month * 100 + today.day
            valid_shape = iso & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
            early = valid_shape & (key < lo) if window else np.zeros(n, dtype=bool)
            late = valid_shape & (key > hi) if window else np.zeros(n, dtype=bool)
            inside = valid_shape & ~early & ~late
            # every year of the window is in pandas' timestamp range; outside it (with the
            # window off) dates are built one by one
            in_range = inside & (year >= 1678) & (year <= 2261)
        parsed = pd.to_datetime(strings.str[:10].where(in_range), format="%Y-%m-%d",
                                errors="coerce")
        ok = in_range & np.asarray(parsed.notna(), dtype=bool)
        if ok.any():
            values[ok] = parsed[ok].dt.date.to_numpy()
        for i in np.flatnonzero(inside & ~in_range):
            try:
                values[i] = dt.date(int(year[i]), int(month[i]), int(day[i]))
                ok[i] = True
            except ValueError:
                pass
        bad.append((iso & ~ok & ~early & ~late, NOT_A_CALENDAR_DATE))
        if window:
            bad.append((early, window_problem(True, today)))
            bad.append((late, window_problem(False, today)))
    other = present & ~iso
    where = np.flatnonzero(other)
    rest = strings[other].astype(object)
    for pattern, problem in _REFUSED_FORMS:
        hit = np.zeros(n, dtype=bool)
        hit[where] = np.asarray(rest.str.match(pattern), dtype=bool)
        hit &= other
        bad.append((hit, problem))
        other &= ~hit
    bad.append((other, NOT_A_DATE))
    return values, [(m, p) for m, p in bad if m.any()]


def check_date_window(values: np.ndarray, *, today: dt.date | None = None
                      ) -> list[tuple[np.ndarray, str]]:
    """``(mask, problem)`` pairs for dates (``datetime.date`` or ``None``) outside the window."""
    today = today or dt.date.today()
    present = np.array([v is not None for v in values], dtype=bool)
    early = present & np.array([v is not None and v < DATE_MIN for v in values], dtype=bool)
    late = present & np.array([v is not None and v > today for v in values], dtype=bool)
    return [(m, window_problem(e, today)) for m, e in ((early, True), (late, False)) if m.any()]


__all__ = ["DATE_FORMAT", "DATE_MIN", "DateError", "NOT_A_DATE", "check_date_window",
           "parse_date", "parse_date_cells"]
