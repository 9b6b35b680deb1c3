"""Trajectory sections of the pages: the Cohort page's spaghetti plot and waterfall, and the
Survival page's landmark analysis by early CEA response. Cached on their arguments only
(figures and results as they are, shared and never modified: no copy per run)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from crlm import config, figures
from crlm.analysis import cea_landmark, cohort_trajectories as ct, trajectories as tr
from crlm.figures.trajectory import make_trajectory_figure, make_waterfall_figure
from crlm.models.kinds import trained_only
from crlm.ui import loaders
from crlm.ui.widgets import export_buttons, get_threshold, selected_model

GROUP_CHOICES = ("responder", "predicted responder", "ras_status", "biologic", "primary_side",
                 "none")
KIND_CHOICES = ("target_lesion_sum", "cea", "lesion_count", "liver_volume")


@st.cache_resource(show_spinner=False, max_entries=32)
def _trajectory_figure(snap, key: tuple, kind: str, by: str, model_id: str | None,
                       threshold: float | None):
    result = ct.cohort_trajectories(snap, key, kind, by, model_id, threshold)
    label = config.MEASUREMENT_KINDS[kind].label
    return result, make_trajectory_figure(result, y_label=tr.axis_label(kind),
                                          title=f"{label} over the first year")


@st.cache_resource(show_spinner=False, max_entries=32)
def _waterfall_figure(snap, key: tuple, by: str, model_id: str | None,
                      threshold: float | None):
    result = ct.cohort_waterfall(snap, key, by, model_id, threshold)
    return result, make_waterfall_figure(result, color_by="derived_response",
                                         title="Best change in target-lesion sum (waterfall)")


def trajectory_section(filt, cohort: pd.DataFrame, snap=None) -> None:
    """The Cohort page's 'Over time' section (``snap``: the page's snapshot, if it has one)."""
    st.subheader("Over time")
    snap = loaders.snapshot(filt.cohort) if snap is None else snap
    key = loaders.filter_key(filt)
    sampled = ct.sampled_measurements(snap, key)
    n_sampled, n_total = sampled.n_sampled, sampled.n_total
    if sampled.measurements.empty:
        st.info("No serial measurements in this cohort: import them with "
                "`python -m crlm import-measurements FILE --cohort "
                f"{filt.cohort}`.")
        return
    left, mid, right = st.columns(3)
    kinds = [k for k in KIND_CHOICES if k in sampled.kinds]
    kind = left.selectbox("Measurement", kinds, key="cohort_traj_kind",
                          format_func=lambda k: config.MEASUREMENT_KINDS[k].label)
    by = mid.selectbox("Colour by", GROUP_CHOICES, key="cohort_traj_by",
                       format_func=lambda c: config.COLUMNS_BY_NAME[c].label
                       if c in config.COLUMNS_BY_NAME else c)
    model_id = threshold = None
    if by == "predicted responder":
        models = loaders.load_models(filt.cohort, task="response")
        trained = trained_only(models)
        if trained.empty:
            st.info("No trained response model yet: coloured by responder instead.")
            by = "responder"
        else:
            model_id = selected_model("response", list(trained["model_id"]), container=right)
            threshold = float(get_threshold(
                model_id, trained.set_index("model_id").loc[model_id, "threshold"]))
    result, fig = _trajectory_figure(snap, key, kind, by, model_id, threshold)
    st.plotly_chart(fig, width="stretch", config=figures.plotly_config(f"trajectory_{kind}"),
                    key="cohort_trajectory")
    st.caption(f"Thin lines: up to {tr.SPAGHETTI_PER_GROUP} patients per group; thick line: "
               "median across patients with its 25th–75th percentile band (each series "
               "interpolated between its own visits, never beyond them; a point needs "
               f"{tr.MIN_AT_GRID} patients). Time from the start of first-line treatment."
               + (f" Trajectories and waterfall of a random {n_sampled:,} of the {n_total:,} "
                  "patients (drawn by a fixed keyed hash of each id, so the same patients every "
                  "time; the same sample for both)." if n_sampled < n_total else ""))
    export_buttons(fig, lambda: result.table, f"trajectory_{kind}_{by.replace(' ', '_')}",
                   n=int(sum(result.n_patients.values())))
    wf, wfig = _waterfall_figure(snap, key, by, model_id, threshold)
    if wf.n_patients == 0:
        st.info("No patient has a baseline and a follow-up target-lesion sum.")
        return
    st.plotly_chart(wfig, width="stretch", config=figures.plotly_config("waterfall"),
                    key="cohort_waterfall")
    counts = wf.table["derived_response"].value_counts()
    st.caption(f"{wf.n_patients:,} patients with a baseline and a follow-up target-lesion "
               "sum; RECIST 1.1 from the sums (PR ≤ −30 %, PD ≥ +20 % over the nadir and "
               "≥ 5 mm): " + ", ".join(f"{c} {int(counts.get(c, 0)):,}"
                                        for c in ("CR", "PR", "SD", "PD"))
               + ". Bars above +150 % are drawn at +150 %.")
    export_buttons(wfig, wf.table, "waterfall", n=wf.n_patients)


def landmark_section(filt, endpoint: str) -> None:
    """The Survival page's landmark analysis by early CEA response."""
    st.subheader("Landmark analysis: early CEA response")
    snap, key = loaders.snapshot(filt.cohort), loaders.filter_key(filt)
    if not cea_landmark.has_measurements(snap, key):
        st.info("No serial CEA in this cohort: import measurements with "
                f"`python -m crlm import-measurements FILE --cohort {filt.cohort}`.")
        return
    data, curves, test = cea_landmark.cea_landmark(snap, key, endpoint)
    landmark = data.landmark_months
    if len(curves) < 2:
        st.info("Too few patients on one side of the early CEA response for a comparison.")
        return
    title = (f"{endpoint} from the landmark ({config.RESTAGING_LANDMARK_DAYS} days = "
             f"{landmark:.1f} months) by early CEA response")
    p = test.p_value if test is not None else None
    fig = figures.make_km_figure(curves, risk_times=list(np.arange(0, 61, 12)), title=title,
                                 logrank_p=p, time_label="Months from the landmark")
    st.plotly_chart(fig, width="stretch", config=figures.plotly_config("landmark_cea"),
                    key="survival_landmark_cea")
    excluded = "; ".join(f"{k}: {v:,}" for k, v in data.excluded.items())
    st.caption(
        f"Landmark at {config.RESTAGING_LANDMARK_DAYS} days after the start of treatment "
        f"({landmark:.1f} months), the first restaging. Early CEA response: baseline CEA > "
        f"{tr.CEA_ELEVATED_NG_ML:g} ng/mL and a fall of at least 50 % at the visit nearest "
        f"day {tr.LANDMARK_DAY} (days {tr.LANDMARK_WINDOW_DAYS[0]}–"
        f"{tr.LANDMARK_WINDOW_DAYS[1]}). Only patients alive, {endpoint}-event-free and "
        "followed at the landmark are compared, and time runs from the landmark: comparing "
        "responders from the start of treatment would credit them with the time they had to "
        f"survive to be called responders (guarantee-time bias). Not in the analysis: {excluded}.")
    export_buttons(fig, data.frame, f"landmark_cea_{endpoint}", n=len(data.frame))
