"""Widgets of the "Score a case" page: the case form, the clinical scores shown
live beside it, and the CT slice viewer used to mark a lesion region.

Widget keys start with ``score_in_`` (entries) and ``score_ct_`` (viewer).
Refilling the form (reopening a saved case) goes through ``request_fill``: the
values are applied at the start of the next run, before the widgets exist.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import streamlit as st

from crlm import cases, config
from crlm.ui import loaders
from crlm.ui.widgets import current_filter

PREFIX = "score_in_"
_PENDING = "score_pending_fill"
GROUP_TITLES = {
    "demographics": "Patient", "primary tumour": "Primary tumour", "molecular": "Molecular",
    "liver disease": "Liver disease", "labs": "Labs", "treatment plan": "Treatment plan",
    "surgery": "After surgery — read only by the post-resection prognosis models",
    "pathology": "Pathology of the resected specimen — post-resection prognosis only",
}


def key_of(name: str) -> str:
    return PREFIX + name


def _blank_values() -> dict[str, Any]:
    return cases.form_values({})


def request_fill(values: Mapping[str, Any]) -> None:
    """Refill the form with ``values`` (entry name -> widget value) on the next run."""
    st.session_state[_PENDING] = dict(values)


def _apply_pending() -> None:
    pending = st.session_state.pop(_PENDING, None)
    defaults = _blank_values()
    for name, value in defaults.items():
        if key_of(name) not in st.session_state:
            st.session_state[key_of(name)] = value
    if pending is not None:
        for name, value in defaults.items():
            st.session_state[key_of(name)] = pending.get(name, value)


def clear_form() -> None:
    request_fill(_blank_values())


def _widget(col: "cases.Column", where) -> None:
    label = cases.entry_label(col)
    key = key_of(col.name)
    help_text = "Leave empty when unknown: the models impute it and flag it."
    if col.kind in ("category", "bool"):
        where.selectbox(label, cases.entry_options(col), key=key)
    elif col.kind == "int":
        where.number_input(label, min_value=int(col.lo), max_value=int(col.hi), step=1,
                           format="%d", key=key, placeholder="unknown", help=help_text)
    else:
        where.number_input(label, min_value=float(col.lo), max_value=float(col.hi), step=0.1,
                           format="%.1f", key=key, placeholder="unknown", help=help_text)


def _unrecorded() -> list[str]:
    """Entry columns the sidebar's cohort does not record (no known value): no entry is
    drawn for them and they stay unknown, as they are for every patient the cohort's
    models learnt from."""
    names = [n for n in cases.ENTRY_NAMES if n in config.COLUMNS_BY_NAME]
    recorded = set(loaders.recorded_columns(current_filter().cohort, names))
    return [n for n in names if n not in recorded]


def case_form(columns_per_row: int = 4) -> dict[str, Any]:
    """Draw the entries grouped as a clinician reads a case; return their values. Only
    the entries the selected cohort records are drawn (one line names the others)."""
    _apply_pending()
    hidden = set(_unrecorded())
    blank = _blank_values() if hidden else {}
    for name in hidden:   # never a value left from another cohort's form
        st.session_state[key_of(name)] = blank[name]
    for group, cols in cases.entry_groups().items():
        cols = [c for c in cols if c.name not in hidden]
        if not cols:
            continue
        st.markdown(f"**{GROUP_TITLES.get(group, group.capitalize())}**")
        for start in range(0, len(cols), columns_per_row):
            row = st.columns(columns_per_row)
            for where, col in zip(row, cols[start:start + columns_per_row]):
                _widget(col, where)
    _own_variables_form(columns_per_row)
    if hidden:
        st.caption("Not recorded in this cohort, so not asked (unknown to its models): "
                   + ", ".join(config.COLUMNS_BY_NAME[n].label for n in cases.ENTRY_NAMES
                               if n in hidden) + ".")
    return {name: st.session_state.get(key_of(name)) for name in cases.ENTRY_NAMES}


_OWN = "score_in_extra_"


def _read_by_models() -> list:
    """The cohort's own variables that a current model reads (itself or, categorical,
    its one-hot level columns ``<name>=<level>``)."""
    cohort = current_filter().cohort
    models = loaders.load_models(cohort)
    inputs = {str(c) for cols in (models["feature_set"] if len(models) else []) for c in
              (cols if isinstance(cols, (list, tuple)) else [])}
    return [v for v in loaders.load_extra_variables(cohort)
            if v.name in inputs or any(c.startswith(f"{v.name}=") for c in inputs)]


def _own_variables_form(columns_per_row: int) -> None:
    variables = _read_by_models()
    if not variables:
        return
    st.markdown("**This cohort's own variables**")
    for start in range(0, len(variables), columns_per_row):
        row = st.columns(columns_per_row)
        for where, var in zip(row, variables[start:start + columns_per_row]):
            key = _OWN + var.name
            if var.categorical:
                where.selectbox(var.label, [cases.UNKNOWN, *var.levels], key=key)
            else:
                where.number_input(var.title, value=None, key=key, placeholder="unknown",
                                   help="Leave empty when unknown: the models impute it.")


def with_own_variables(case):
    """``case`` (the form's one-row frame) with the values given for the cohort's own
    variables on the form (a categorical one by level name); unknown ones are left out."""
    given = {}
    for var in _read_by_models():
        value = st.session_state.get(_OWN + var.name)
        if value is not None and value != cases.UNKNOWN:
            given[var.name] = value
    return case.assign(**given) if given else case


def clinical_scores_row(summary: Mapping[str, str]) -> None:
    """The clinical scores computed from the entries, as a row of metrics."""
    columns = {"RAS status": "ras_status", "Tumour burden score (TBS)": "tumour_burden_score",
               "TBS zone": "tbs_zone", "Fong score": "fong_score", "GAME score": "game_score",
               "m-CS score": "mcs_score"}
    recorded = set(loaders.recorded_columns(current_filter().cohort, list(columns.values())))
    shown = [name for name, column in columns.items() if column in recorded]
    for start in range(0, len(shown), 3):
        cols = st.columns(3)
        for where, name in zip(cols, shown[start:start + 3]):
            where.metric(name, summary.get(name, "–"))


def ct_region_picker(volume: np.ndarray, default: Mapping | None = None) -> dict:
    """Slice slider plus centre row/column and radius inputs; returns the region
    ``{"slice_index", "centre_yx", "radius_px"}`` (drawn by the page)."""
    nz, ny, nx = volume.shape
    default = default or {}
    if "score_ct_slice" not in st.session_state or st.session_state["score_ct_slice"] >= nz:
        st.session_state["score_ct_slice"] = int(default.get("slice_index", nz // 2))
        cy, cx = default.get("centre_yx", (ny // 2, nx // 2))
        st.session_state["score_ct_row"] = int(min(max(cy, 0), ny - 1))
        st.session_state["score_ct_col"] = int(min(max(cx, 0), nx - 1))
        st.session_state["score_ct_radius"] = float(default.get("radius_px", max(4, ny // 16)))
    if nz > 1:
        st.slider("Slice", 0, nz - 1, key="score_ct_slice")
    else:
        st.session_state["score_ct_slice"] = 0
    c1, c2, c3 = st.columns(3)
    c1.number_input("Centre row (y, pixels)", 0, ny - 1, step=1, key="score_ct_row")
    c2.number_input("Centre column (x, pixels)", 0, nx - 1, step=1, key="score_ct_col")
    c3.number_input("Radius (pixels)", 1.0, float(max(ny, nx)), step=1.0, key="score_ct_radius")
    return {"slice_index": int(st.session_state["score_ct_slice"]),
            "centre_yx": (int(st.session_state["score_ct_row"]),
                          int(st.session_state["score_ct_col"])),
            "radius_px": float(st.session_state["score_ct_radius"])}
