"""Cohort: headline numbers, baseline characteristics and distributions of the filtered cohort."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from crlm import config, figures, stats, ui
from crlm.analysis.extras import table_one_variables
from crlm.analysis.pages import TABLE_ONE_VARIABLES
from crlm.models import kinds
from crlm.reports.r_export import table_one_export
from crlm.stats.baseline_table import baseline_table
from crlm.ui.widgets import r_export_button
from crlm.ui import trajectories as trajectories_ui

SPLIT_CHOICES = ["none", "predicted responder", "ras_status", "primary_side", "tbs_zone",
                 "fong_group", "biologic", "center", "cohort_split", "sex", "hepatectomy"]
DISTRIBUTIONS = [("age_years", "histogram"), ("max_diameter_cm", "histogram"),
                 ("n_liver_lesions", "bar"), ("cea_ng_ml", "histogram"),
                 ("tumour_burden_score", "histogram"), ("fong_score", "bar"),
                 ("ras_status", "bar"), ("primary_side", "bar")]


PREDICTED = "predicted_responder"


def _view(view: tuple) -> tuple[pd.DataFrame, str | None]:
    """The filtered cohort and its grouping column for a view ``(filter params, split,
    model id, threshold)``; the predicted-responder split is added from the predictions."""
    params, split, model_id, threshold = view
    filt = ui.filter_from_key(params)
    cohort = ui.loaders.load_cohort_with_extras(filt)
    if split is None or model_id is None:
        return cohort, split
    preds = ui.load_predictions(filt, task="response", model_id=model_id,
                                split=["out-of-fold", "external"])
    predicted = preds.set_index("patient_id")["score"] >= threshold
    label = predicted.map({True: "predicted responder", False: "predicted non-responder"})
    return cohort.assign(**{PREDICTED: cohort["patient_id"].map(label)}), PREDICTED


def _recorded(cohort_name: str) -> set[str]:
    """The contract columns this page may show that the cohort records (a known value)."""
    columns = ([c for c, _, _ in TABLE_ONE_VARIABLES] + [c for c, _ in DISTRIBUTIONS]
               + [c for c in SPLIT_CHOICES if c in config.COLUMNS_BY_NAME])
    return set(ui.loaders.recorded_columns(cohort_name, columns))


def _variables(view: tuple, cohort: pd.DataFrame, by: str | None) -> list:
    """Table 1's contract variables the cohort records and its own (extra) variables."""
    name = ui.filter_from_key(view[0]).cohort
    extras = table_one_variables(ui.loaders.load_extra_variables(name))
    recorded = _recorded(name)
    contract = [v for v in TABLE_ONE_VARIABLES if v[0] in recorded]
    return [v for v in contract + extras if v[0] in cohort.columns and v[0] != by]


@st.cache_data(show_spinner=False, max_entries=32)
def _table_one(view: tuple) -> pd.DataFrame:
    cohort, by = _view(view)
    return baseline_table(cohort, _variables(view, cohort, by), by=by).table


def _table_one_export(view: tuple):
    """Table 1 of a view as data + R script (built on click, off the script thread)."""
    cohort, by = _view(view)
    return table_one_export(cohort, _variables(view, cohort, by), by=by)


@st.cache_data(show_spinner=False, max_entries=128)
def _distribution(view: tuple, column: str, kind: str, title: str):
    """A distribution figure of the view and the data behind it."""
    cohort, by = _view(view)
    group_by = by if by in cohort.columns else None
    fig = figures.make_distribution_figure(
        cohort[column], kind=kind, group=cohort[group_by] if group_by else None, title=title)
    return fig, cohort[[column] + ([group_by] if group_by and group_by != column else [])]


@st.cache_data(show_spinner=False, max_entries=32)
def _follow_up(time: np.ndarray, event: np.ndarray):
    return stats.median_follow_up(time, event)


filt = ui.current_filter()
ui.require_role("browse")
ui.page_header("Cohort", "Who is in the selected cohort, and how they compare across groups.")
cohort = ui.load_cohort(filt)
info = ui.load_cohort_info(filt.cohort) or {}
recorded = _recorded(filt.cohort)
unavailable = set(info.get("unavailable_columns") or []) | {
    c for c in (*(v[0] for v in TABLE_ONE_VARIABLES), *(d[0] for d in DISTRIBUTIONS))
    if c not in recorded}

if cohort.empty:
    st.info("No patient matches the current filter. Widen the filter in the sidebar.")
    st.stop()

# -- headline numbers ---------------------------------------------------------
os_known = cohort["os_months"].notna() & cohort["os_event"].notna()
time = cohort.loc[os_known, "os_months"].to_numpy(float)
event = cohort.loc[os_known, "os_event"].astype(bool).to_numpy()
c1, c2, c3, c4 = st.columns(4)
c1.metric("Patients", f"{len(cohort):,}")
c2.metric("Centres", f"{cohort['center'].nunique()}")
c3.metric("Deaths (OS events)", f"{int(event.sum()):,}" if len(time) else "–")
if len(time) and (~event).any():
    fu = _follow_up(time, event)
    lo, hi = fu.median_ci
    c4.metric("Median follow-up (reverse KM)", f"{fu.median:.1f} mo",
              help=f"95% CI {lo:.1f}–{hi:.1f} months; reverse Kaplan–Meier (censoring as the event)")
else:
    c4.metric("Median follow-up (reverse KM)", "–")

# -- Table 1 --------------------------------------------------------------------
st.subheader("Baseline characteristics")
models = ui.load_models(filt.cohort, task="response")
trained = kinds.trained_only(models)
left, right = st.columns([1, 1])
extra_labels = {v.key: v.label for v in ui.loaders.load_extra_variables(filt.cohort)
                if v.categorical}
splits = [c for c in SPLIT_CHOICES if c == "none" or c in recorded
          or (c == "predicted responder" and not trained.empty)]
split = left.selectbox("Split by", splits + list(extra_labels), index=0,
                       key="cohort_split_by",
                       format_func=lambda c: config.COLUMNS_BY_NAME[c].label
                       if c in config.COLUMNS_BY_NAME else extra_labels.get(c, c))
by = None if split == "none" else split
model_id = threshold = None
if split == "predicted responder":
    if trained.empty:
        st.info("No trained response model yet: train with `python -m crlm train`.")
        by = None
    else:
        model_id = ui.selected_model("response", list(trained["model_id"]), container=right)
        row = trained.set_index("model_id").loc[model_id]
        threshold = float(ui.get_threshold(model_id, row["threshold"]))
        right.caption(f"Threshold {threshold:.3f} (set on the Models page); out-of-fold and "
                      "external predictions.")
view = (ui.filter_key(filt), by, model_id, threshold)
table = _table_one(view)
if unavailable:
    table = table[~table["variable"].isin(
        [label for col, label, _ in TABLE_ONE_VARIABLES if col in unavailable])]
    st.caption("Not recorded in this cohort, so not shown: " + ", ".join(
        config.COLUMNS_BY_NAME[c].label if c in config.COLUMNS_BY_NAME else c
        for c in sorted(unavailable)) + ".")
shown = table.assign(
    p_value=table["p_value"].map(lambda p: "" if pd.isna(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")),
    smd=table["smd"].map(lambda s: "" if pd.isna(s) else f"{s:.2f}"),
)
st.dataframe(shown, hide_index=True, width="stretch", height=min(36 * (len(shown) + 1), 720))
st.caption("n (%) of non-missing values; median [IQR]; p: chi-square (categorical) or "
           "Kruskal–Wallis (continuous); SMD: standardised mean difference (largest pairwise).")
st.download_button("Download table (CSV)", data=figures.figure_data_csv(table),
                   file_name=figures.safe_filename("table1", filt.cohort, by or "overall") + ".csv",
                   mime="text/csv", key="cohort_table_csv", on_click="ignore")
r_export_button(lambda v=view: _table_one_export(v), f"table1_{by or 'overall'}")

# -- distributions ----------------------------------------------------------------
st.subheader("Distributions")
cols = st.columns(2)
for i, (column, kind) in enumerate(d for d in DISTRIBUTIONS if d[0] not in unavailable):
    label = config.COLUMNS_BY_NAME[column].label
    unit = config.COLUMNS_BY_NAME[column].unit
    fig, data = _distribution(view, column, kind, f"{label}" + (f" ({unit})" if unit else ""))
    with cols[i % 2]:
        st.plotly_chart(fig, width="stretch", config=figures.plotly_config(f"distribution_{column}"),
                        key=f"cohort_dist_{column}")
        ui.export_buttons(fig, data, f"distribution_{column}", n=len(data))

trajectories_ui.trajectory_section(filt, cohort)

st.subheader("Provenance")
if info.get("kind") == "synthetic":  # a cohort kind (crlm.store), not a model kind
    st.write(f"Synthetic cohort generated by this application: {info.get('description') or ''}.")
else:
    imports = ui.loaders.load_imports(filt.cohort)
    st.write(f"Imported cohort **{filt.cohort}**: {info.get('description') or ''}")
    if len(imports):
        st.dataframe(imports[["imported_at", "source_name", "source_hash", "mapping", "rows_read",
                              "rows_accepted", "imported_by"]], hide_index=True, width="stretch")
