"""Cohort: headline numbers, baseline characteristics and distributions of the filtered cohort."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from crlm import config, figures, ui
from crlm.analysis import cohort_summary as cs
from crlm.analysis import cohort_trajectories as ct
from crlm.analysis import prefetch
from crlm.figures.distribution import make_binned_distribution_figure
from crlm.models import kinds
from crlm.ui.widgets import r_export_button
from crlm.ui import trajectories as trajectories_ui

filt = ui.current_filter()
ui.require_role("browse")
ui.page_header("Cohort", "Who is in the selected cohort, and how they compare across groups.")
snap, key = ui.snapshot(filt.cohort), ui.filter_key(filt)
info = ui.load_cohort_info(filt.cohort) or {}
avail = cs.availability(snap)
recorded, unavailable = avail.recorded, avail.unavailable
head = cs.headline(snap, key)

if head.n_patients == 0:
    st.info("No patient matches the current filter. Widen the filter in the sidebar.")
    st.stop()

# the trajectories' sample of measurements, read beside the sections above them
prefetch.ahead(lambda: ct.sampled_measurements(snap, key))

# -- headline numbers ---------------------------------------------------------
c1, c2, c3, c4 = st.columns(4)
c1.metric("Patients", f"{head.n_patients:,}")
c2.metric("Centres", f"{head.n_centres}")
c3.metric("Deaths (OS events)", f"{head.deaths:,}" if head.n_os_known else "–")
if head.follow_up is not None:
    fu = head.follow_up
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
extra_labels = {v.key: v.label for v in avail.extras if v.categorical}
splits = [c for c in cs.SPLIT_CHOICES if c == "none" or c in recorded
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
view = (by, model_id, threshold)
prefetch.ahead(lambda: cs.distributions(snap, key, *view))   # beside Table 1
table = cs.table_one(snap, key, *view).table
if unavailable:
    st.caption("Not recorded in this cohort, so not shown: "
               + ", ".join(avail.unavailable_labels) + ".")
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
r_export_button(lambda v=(snap, key, *view): cs.table_one_export(*v), f"table1_{by or 'overall'}")

# -- distributions ----------------------------------------------------------------
st.subheader("Distributions")
cols = st.columns(2)
for i, dist in enumerate(cs.distributions(snap, key, *view)):
    fig = make_binned_distribution_figure(dist.binned, title=dist.title)
    with cols[i % 2]:
        st.plotly_chart(fig, width="stretch",
                        config=figures.plotly_config(f"distribution_{dist.column}"),
                        key=f"cohort_dist_{dist.column}")
        ui.export_buttons(fig, lambda d=dist: d.data, f"distribution_{dist.column}", n=dist.n)

trajectories_ui.trajectory_section(filt, cs.page_frame(snap, key), snap)

st.subheader("Provenance")
if info.get("kind") == "synthetic":  # a cohort kind (crlm.store), not a model kind
    st.write(f"Synthetic cohort generated by this application: {info.get('description') or ''}.")
else:
    imports = ui.loaders.load_imports(filt.cohort)
    st.write(f"Imported cohort **{filt.cohort}**: {info.get('description') or ''}")
    if len(imports):
        st.dataframe(imports[["imported_at", "source_name", "source_hash", "mapping", "rows_read",
                              "rows_accepted", "imported_by"]], hide_index=True, width="stretch")
