"""Clusters: unsupervised prognosis groups of the filtered cohort (hierarchical or
k-means on chosen pre-treatment inputs), their profiles, their survival and how stable
they are under resampling."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from crlm import config, figures, ui
from crlm.analysis.clusters import CLUSTER_INPUTS, DEFAULT_INPUTS, compute_clusters
from crlm.figures.clusters import make_cluster_heatmap_figure, make_dendrogram_figure

METHODS = {"hierarchical": "Hierarchical (Ward)", "kmeans": "k-means"}
N_BOOTSTRAP = 10


def _label(column: str) -> str:
    return config.COLUMNS_BY_NAME[column].label if column in config.COLUMNS_BY_NAME else column


@st.cache_data(show_spinner="Clustering…", max_entries=16)
def _clusters(fkey: tuple, inputs: tuple, method: str, k: int | None, endpoint: str):
    patients = ui.load_cohort(ui.filter_from_key(fkey))
    return compute_clusters(patients, inputs, method, k, endpoint, n_bootstrap=N_BOOTSTRAP)


filt = ui.current_filter()
ui.require_role("browse")
ui.page_header("Clusters", "Prognosis groups found without the outcome: do they differ in "
                           "survival, and would a resample find them again?")

c1, c2, c3, c4 = st.columns([2.2, 1, 1, 0.8])
inputs = c1.multiselect("Cluster on", list(CLUSTER_INPUTS), default=list(DEFAULT_INPUTS),
                        key="clusters_inputs", format_func=_label)
method = c2.selectbox("Method", list(METHODS), key="clusters_method", format_func=METHODS.get)
k_choice = c3.selectbox("Number of clusters", ["best silhouette (2–6)", 2, 3, 4, 5, 6],
                        key="clusters_k")
endpoint = c4.selectbox("Endpoint", ui.endpoint_choices(filt.cohort, "clusters_endpoint"),
                        key="clusters_endpoint")
k = None if isinstance(k_choice, str) else int(k_choice)

if len(inputs) < 2:
    st.info("Choose at least two inputs to cluster on.")
    st.stop()
try:
    result = _clusters(ui.filter_key(filt), tuple(inputs), method, k, endpoint)
except ValueError as exc:
    ui.show_error(str(exc))
    st.stop()

cl = result.clustering
lo, hi = cl.stability_interval
st.caption(f"Filter: {filt.describe()}. {len(cl.labels):,} patients; inputs standardised "
           "(CEA as log(1 + CEA)), missing values set to the cohort median "
           + ", ".join(f"{_label(c)} {n}" for c, n in result.n_imputed.items() if n)
           + f". Number of clusters: {cl.k} ({cl.criterion}).")
m1, m2, m3 = st.columns(3)
m1.metric("Clusters", cl.k)
m2.metric("Stability (bootstrap adjusted Rand)", f"{cl.stability_mean:.2f}",
          help=f"{len(cl.stability_ari)} resamples, 2.5–97.5 %: {lo:.2f}–{hi:.2f}. 1 = the "
               "same partition every time, about 0 = no better than chance.")
m3.metric(f"Log-rank p ({endpoint})",
          figures.format_p(result.logrank.p_value, prefix="").strip()
          if result.logrank is not None else "–")
if cl.stability_mean < 0.6:
    st.warning(f"These clusters are unstable (mean adjusted Rand {cl.stability_mean:.2f} over "
               f"{len(cl.stability_ari)} bootstrap resamples): a resample of the same patients "
               "groups them differently. Read them as a description of this cohort, not as "
               "patient types.")

left, right = st.columns(2)
with left:
    st.subheader("Cluster profiles")
    profile = result.profile()
    fig = make_cluster_heatmap_figure(profile.to_numpy(), list(profile.index),
                                      [_label(c) for c in profile.columns],
                                      title="Cluster centres (SD from the cohort mean)")
    st.plotly_chart(fig, width="stretch", theme=None, key="clusters_heatmap",
                    config=figures.plotly_config("cluster_profiles"))
    sizes = pd.DataFrame({"cluster": profile.index, "patients": cl.sizes})
    ui.export_buttons(fig, profile.reset_index(names="cluster").merge(sizes, on="cluster"),
                      "cluster_profiles", n=len(cl.labels))
    st.dataframe(result.silhouette_frame().round(3), hide_index=True, width="stretch")
with right:
    st.subheader(f"{endpoint} by cluster")
    if len(result.km) >= 2:
        fig = figures.make_km_figure(
            result.km, title=f"{endpoint} by cluster",
            logrank_p=result.logrank.p_value if result.logrank is not None else None)
        st.plotly_chart(fig, width="stretch", theme=None, key="clusters_km",
                        config=figures.plotly_config(f"clusters_km_{endpoint}"))
        km_rows = pd.DataFrame([{"cluster": name, "n": km.n, "events": km.n_events,
                                 "median_months": km.median} for name, km in result.km.items()])
        ui.export_buttons(fig, km_rows, f"clusters_km_{endpoint}", n=int(km_rows["n"].sum()))
    else:
        st.info(f"Fewer than two clusters have a known {endpoint}.")

if cl.dendrogram:
    st.subheader("Dendrogram")
    fig = make_dendrogram_figure(cl.dendrogram, title="Ward tree: the last 30 merges")
    st.plotly_chart(fig, width="stretch", theme=None, key="clusters_dendrogram",
                    config=figures.plotly_config("clusters_dendrogram"))
    ui.export_buttons(fig, pd.DataFrame({"icoord": cl.dendrogram["icoord"],
                                         "dcoord": cl.dendrogram["dcoord"]}),
                      "clusters_dendrogram", n=cl.n_fit)

st.subheader("Table 1 by cluster")
table = result.table_one.table
st.dataframe(table.assign(p_value=table["p_value"].map(
    lambda p: "" if pd.isna(p) else figures.format_p(p, prefix="").strip())),
    hide_index=True, width="stretch")
st.download_button("Table 1 by cluster (CSV)", data=figures.figure_data_csv(table),
                   file_name=figures.safe_filename("clusters_table1", filt.cohort) + ".csv",
                   mime="text/csv", key="clusters_table_csv", on_click="ignore")
st.caption("Clusters are found on the inputs alone (no outcome), so the log-rank test is an "
           "honest check of their prognostic value; p-values in Table 1 compare clusters that "
           "were built to differ on the clustering inputs and are descriptive only. Wang et al. "
           "(review §4.2) clustered CT and clinical features into favourable and poor "
           f"prognosis groups. Bootstrap: {N_BOOTSTRAP} resamples; at most "
           f"{min(cl.n_fit, len(cl.labels)):,} patients enter the clustering, the others join "
           "the nearest centre.")
