"""Sidebar filters on a cohort's own (extra) variables: a range slider for a numeric one,
a yes/no choice for a 0/1 one, a multiselect of its levels for a categorical one. Each is
carried in the URL as ``extra:<name>`` (``lo..hi``, ``1..1`` for yes, or ``level,level``);
a link value that the cohort cannot use is named as ignored, and never reaches the store."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from crlm.store import UNKNOWN
from crlm.store.filters import EXTRA_KEY_PREFIX, is_extra_range_text
from crlm.ui import loaders

_LINK_READ = "flt_extra_link_read"
YES_NO = ("yes", "no")   # the choice of a 0/1 variable: yes is 1, no is 0


def widget_key(name: str) -> str:
    return f"flt_extra_{name}"


def _variables(cohort: str):
    """The cohort's extra variables that hold at least two different values, with their
    span (numeric) or options (categorical)."""
    spans = loaders.extra_spans(cohort)
    n_patients = int((loaders.load_cohort_info(cohort) or {}).get("n_patients") or 0)
    out = []
    for var in loaders.load_extra_variables(cohort):
        span = spans.get(var.name)
        if span is None:
            continue
        lo, hi, whole, counted = span
        if var.categorical:
            options = list(var.levels)
            if counted < n_patients:
                options.append(UNKNOWN)
            out.append((var, options))
        elif whole and (lo, hi) == (0.0, 1.0):
            out.append((var, YES_NO))
        elif hi > lo:
            out.append((var, (int(lo), int(hi)) if whole else (lo, hi)))
    return out


def _is_yes_no(var, choice) -> bool:
    return not var.categorical and choice == YES_NO


def _yes_no_from_link(var, raw: str, note: Callable[[str], None]) -> list[str]:
    """A 0/1 variable's choice from a link: ``1..1`` (yes), ``0..0`` (no), ``0..1`` or
    ``yes``/``no`` by name."""
    text = raw.strip().casefold()
    if text in YES_NO:
        return [text]
    if is_extra_range_text(text):
        start, _, end = text.partition("..")
        try:
            bounds = (float(start) if start else 0.0, float(end) if end else 1.0)
        except ValueError:
            bounds = None
        if bounds == (1.0, 1.0):
            return ["yes"]
        if bounds == (0.0, 0.0):
            return ["no"]
        if bounds is not None and bounds[0] <= 0 and bounds[1] >= 1:
            return []
    note(f"Ignored the filter {var.label}: {raw!r} is not yes, no, 1..1 or 0..0.")
    return []


def _from_link(var, choice, note: Callable[[str], None]):
    """The widget's value from the URL (the link on a first run, else the filter it
    mirrors); values the cohort cannot use are named and dropped."""
    raw = st.query_params.get(EXTRA_KEY_PREFIX + var.name)
    if _is_yes_no(var, choice):
        return [] if raw is None else _yes_no_from_link(var, raw, note)
    if var.categorical:
        if raw is None:
            return []
        if is_extra_range_text(raw):
            note(f"Ignored the filter {var.label}: {raw!r} is a range, and it has levels.")
            return []
        chosen = [v for v in raw.split(",") if v]
        missing = [v for v in chosen if v not in choice]
        if missing:
            note(f"Ignored the filter {var.label}: {', '.join(map(repr, missing))} "
                 f"(not one of its levels).")
        return [v for v in chosen if v in choice]
    lo, hi = choice
    if raw is None:
        return (lo, hi)
    start, sep, end = raw.partition("..")
    try:
        if not sep:
            raise ValueError
        bounds = [None if not text else float(text) for text in (start, end)]
    except ValueError:
        note(f"Ignored the filter {var.label}: expected 'low..high', got {raw!r}.")
        return (lo, hi)
    a = lo if bounds[0] is None else min(max(bounds[0], lo), hi)
    b = hi if bounds[1] is None else min(max(bounds[1], lo), hi)
    if a > b:
        note(f"Ignored the filter {var.label}: lower bound {a:g} is above upper bound {b:g}.")
        return (lo, hi)
    kind = type(lo)
    return (kind(a), kind(b))


def _note_unusable_link_keys(cohort: str, names: set[str], note) -> None:
    """On a session's first run: name the link's ``extra:`` filters the cohort lacks."""
    if st.session_state.get(_LINK_READ):
        return
    st.session_state[_LINK_READ] = True
    for key in st.query_params.keys():
        if key.startswith(EXTRA_KEY_PREFIX) and key[len(EXTRA_KEY_PREFIX):] not in names:
            note(f"Ignored the link's filter {key[:60]!r}: not a variable of cohort {cohort!r} "
                 "with values to filter.")


def extra_filters(cohort: str, note: Callable[[str], None]
                  ) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[float, float]]]:
    """Draw the cohort's own variables as filters in the sidebar; return the chosen levels
    (categorical) and the restricted ranges (numeric), by variable name."""
    shown = _variables(cohort)
    _note_unusable_link_keys(cohort, {var.name for var, _ in shown}, note)
    if not shown:
        return {}, {}
    for var, choice in shown:
        if widget_key(var.name) not in st.session_state:
            st.session_state[widget_key(var.name)] = _from_link(var, choice, note)
    levels, ranges = {}, {}
    active = any(st.session_state[widget_key(var.name)]
                 != ([] if var.categorical or _is_yes_no(var, choice) else choice)
                 for var, choice in shown)
    with st.sidebar.expander("This cohort's own variables", expanded=active):
        for var, choice in shown:
            key = widget_key(var.name)
            if _is_yes_no(var, choice):   # yes (1) or no (0); both or none: everyone
                picked = st.multiselect(var.label, choice, key=key, placeholder="all")
                if len(picked) == 1:
                    value = 1 if picked[0] == "yes" else 0
                    ranges[var.name] = (value, value)
            elif var.categorical:
                picked = st.multiselect(var.label, choice, key=key, placeholder="all")
                if picked:
                    levels[var.name] = tuple(picked)
            else:
                lo, hi = choice
                unit = f" ({var.unit})" if var.unit else ""
                a, b = st.slider(f"{var.label}{unit}", lo, hi, key=key)
                if (a, b) != (lo, hi):
                    ranges[var.name] = (a, b)
    return levels, ranges
