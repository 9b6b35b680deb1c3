"""Survival: Kaplan–Meier curves of overall, progression-free or (resected patients)
recurrence-free survival, each where the cohort records it, split by a model's
predicted response (at the threshold set on the Models page), a survival model's predicted
risk group (tertiles) or a clinical group."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from crlm import config, figures, ui
from crlm.analysis import cea_landmark
from crlm.analysis import survival_split as ss
from crlm.analysis.model_comparison import models_by_auc
from crlm.analysis.survival_split import LANDMARKS, RISK
from crlm.models import TASKS, kinds
from crlm.reports.r_export import survival_export
from crlm.ui.widgets import r_export_button
from crlm.ui import anti_egfr as anti_egfr_ui
from crlm.ui import trajectories as trajectories_ui

SPLIT_CHOICES = ["predicted responder", "ras_status", "primary_side", "tbs_zone", "fong_group",
                 "biologic", "center", "kras", "braf_v600e", "msi", "game_group", "hepatectomy",
                 "growth_pattern", "cohort_split", "sex", "none"]
RESPONSE_TASKS = ("response", "anti_egfr_benefit")



def _shown(table: pd.DataFrame, reference: str, horizon: float) -> pd.DataFrame:
    months = lambda v: "not reached" if pd.isna(v) else f"{v:.1f}"
    pct = lambda s, lo, hi: "–" if pd.isna(s) else f"{100 * s:.0f}% ({100 * lo:.0f}–{100 * hi:.0f})"
    out = pd.DataFrame({"Group": table["group"], "n": table["n"], "Events": table["events"]})
    out["Median, months (95% CI)"] = [
        f"{months(m)} ({months(lo)}–{months(hi)})" for m, lo, hi in
        zip(table["median_months"], table["median_ci_lower"], table["median_ci_upper"])]
    for months_at, label in zip(LANDMARKS, ("1-year", "3-year", "5-year")):
        c = f"survival_{months_at}m"
        out[f"{label} (95% CI)"] = [pct(s, lo, hi) for s, lo, hi in
                                    zip(table[c], table[c + "_ci_lower"], table[c + "_ci_upper"])]
    c = f"rmst_{horizon:g}m"
    out[f"RMST {horizon:g} mo (95% CI)"] = [
        figures.format_estimate(v, lo, hi, 1) for v, lo, hi in
        zip(table[c], table[c + "_ci_lower"], table[c + "_ci_upper"])]
    hr = table["hr_vs_" + reference]
    out[f"HR vs {reference} (95% CI)"] = [
        "reference" if g == reference else figures.format_estimate(h, lo, hi)
        for g, h, lo, hi in zip(table["group"], hr, table["hr_ci_lower"], table["hr_ci_upper"])]
    return out


# -- page -------------------------------------------------------------------------
filt = ui.current_filter()
ui.require_role("browse")
snap, fkey = ui.snapshot(filt.cohort), ui.filter_key(filt)
ui.page_header("Survival", "Kaplan–Meier curves with the number at risk, medians, landmark "
                           "survival, RMST and hazard ratios.")
c1, c2, c3 = st.columns([0.8, 1.4, 1.4])
contract_splits = [c for c in SPLIT_CHOICES if c in config.COLUMNS_BY_NAME]
recorded = set(ui.loaders.recorded_columns(
    filt.cohort, contract_splits + [c for pair in config.ENDPOINTS.values() for c in pair]))
endpoints = [e for e, (t, _) in config.ENDPOINTS.items() if t in recorded] or ["OS"]
if st.session_state.get("survival_endpoint") not in endpoints:  # another cohort's choice
    st.session_state.pop("survival_endpoint", None)
endpoint = c1.selectbox("Endpoint", endpoints, key="survival_endpoint",
                        format_func=config.ENDPOINT_LABELS.get)
if endpoint != "RFS":   # the landmark analysis at the foot of the page: its reads begun now
    cea_landmark.read_ahead(snap, endpoint)
own = ss.extra_variables(snap)
extra_labels = {v.key: ss.split_label(snap, v.key) for v in own}
all_models = kinds.trained_only(ui.load_models(filt.cohort))
has_response = len(all_models) > 0 and all_models["task"].isin(RESPONSE_TASKS).any()
task_of = dict(zip(all_models["model_id"], all_models["task"])) if len(all_models) else {}
survival_models = [m for m, t in task_of.items() if t in TASKS and not TASKS[t].is_binary]
risk_labels = {RISK + m: ss.split_label(snap, RISK + m) for m in survival_models}
choices = [c for c in SPLIT_CHOICES if (has_response or c != "predicted responder")
           and (c not in config.COLUMNS_BY_NAME or c in recorded)]
choices = choices[:-1] + list(risk_labels) + list(extra_labels) + choices[-1:]
default = "predicted responder"
if not has_response:
    # no response model (a survival-only cohort): its own treatment variable, if any,
    # else a survival model's risk groups
    arms = sorted((v for v in own if v.categorical), key=lambda v: v.known_at != "treatment plan")
    default = arms[0].key if arms else (next(iter(risk_labels), "none"))
split_by = c2.selectbox("Split by", choices, index=choices.index(default), key="survival_split_by",
                        format_func=lambda c: extra_labels.get(c) or risk_labels.get(c)
                        or ss.split_label(snap, c))
task = model_id = threshold = None
if split_by == "predicted responder":
    trained = all_models[all_models["task"].isin(RESPONSE_TASKS)]
    tasks = [t for t in RESPONSE_TASKS if t in set(trained["task"])]
    task = c3.selectbox("Prediction task", tasks, key="survival_task",
                        format_func=lambda t: TASKS[t].label)
    records = trained[trained["task"] == task].set_index("model_id")
    model_id = ui.selected_model(task, models_by_auc(records), container=c3)
    threshold = float(ui.get_threshold(model_id, records.loc[model_id, "threshold"]))
    st.caption(f"{records.loc[model_id, 'name']}: predicted responder when score ≥ "
               f"{threshold:.3f} (set on the Models page); out-of-fold and external predictions. "
               f"Applies to: {TASKS[task].applies_to}.")
elif split_by.startswith(RISK):
    risk_task = task_of[split_by.removeprefix(RISK)]
    st.caption(f"Tertiles of the model's risk score on its out-of-fold and external "
               f"predictions ({TASKS[risk_task].label}); Kaplan–Meier, log-rank and hazard "
               "ratios by predicted risk group, more on the Models page.")
o1, o2 = st.columns([1, 2])
show_ci = o1.checkbox("Show 95% confidence bands", value=True, key="survival_show_ci")
horizon = float(o2.slider("RMST horizon (months)", 12, 120, 36, step=6, key="survival_rmst_horizon"))

choice = (endpoint, split_by, task, model_id, threshold)
with st.spinner("Fitting survival curves…"):
    result = ss.survival_split(snap, fkey, *choice)
if not result.n:
    st.info("No patient with a known endpoint matches the current filter.")
    st.stop()
order = result.order
reference = result.reference
hr_text = None
if len(order) == 2 and result.hazard_ratio(order[1]):
    hr = result.hazard_ratio(order[1])
    estimate = figures.format_estimate(hr.hr, hr.ci_lower, hr.ci_upper)
    hr_text = f"HR {estimate.replace('[', '(').replace(']', ')')} " \
              f"({order[1].lower()} vs {order[0].lower()})"
endpoint_name = config.ENDPOINT_LABELS[endpoint]
title = endpoint_name if split_by == "none" else \
    f"{endpoint_name} by {ss.split_label(snap, split_by).lower()}"
fig = figures.make_km_figure(result.curves, show_ci=show_ci, title=title,
                             logrank_p=result.logrank_p if len(order) > 1 else None,
                             hr_text=hr_text, y_label=f"{endpoint_name} probability")
st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"km_{endpoint}_{split_by}"),
                key="survival_km")
table = ss.survival_table(result, ss.split_rmst(snap, fkey, *choice, horizon))
ui.export_buttons(fig, table, f"km_{endpoint}_{split_by}", n=result.n)
r_export_button(lambda a=(snap, fkey, *choice), o=list(order), h=horizon, t=title:  # on click
                survival_export(ss.split_data(*a).frame(), order=o, horizon=h, title=t),
                f"km_{endpoint}_{split_by}")

if len(order) > 1 and np.isfinite(result.ph_p) and result.ph_p < 0.05:
    st.warning(f"The proportional-hazards assumption is in doubt (Schoenfeld residual test, "
               f"global p = {result.ph_p:.3f}): the curves' hazard ratio changes over time, so "
               "read the hazard ratio as an average and prefer the RMST and landmark survival.",
               icon=":material/warning:")
if result.ph_note:
    st.caption(f"Hazard ratio: {result.ph_note}.")
st.dataframe(_shown(table, reference, horizon), hide_index=True, width="stretch")
st.caption(f"Log-rank {figures.format_p(result.logrank_p)}; hazard ratios from a Cox model "
           f"(Efron ties) against {reference}; confidence intervals for survival use the "
           "log-log transform; RMST: restricted mean survival time up to the horizon.")

if task == anti_egfr_ui.TASK:
    anti_egfr_ui.survival_section(filt, model_id, records.loc[model_id, "name"], threshold,
                                  records.loc[model_id, "threshold"])

if endpoint == "RFS":  # counted from the resection: no landmark from treatment start
    st.caption("Recurrence-free survival counts from the day of the resection (resected "
               "patients only); the early-CEA landmark analysis is drawn for OS and PFS.")
else:
    trajectories_ui.landmark_section(filt, endpoint)
