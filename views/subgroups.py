"""Subgroups: does the model's separation of survival, and its discrimination, hold within
RAS/KRAS, tumour burden, sidedness, BRAF, MSI, Fong group and centre?

The numbers come from ``crlm.analysis.subgroup_effects``; this page only draws them."""
from __future__ import annotations

import streamlit as st

from crlm import config, figures, ui
from crlm.analysis import extras, prefetch
from crlm.analysis import subgroup_arms as arms
from crlm.analysis import subgroup_effects as sg
from crlm.analysis import subgroup_panels
from crlm.analysis.model_comparison import models_by_auc
from crlm.analysis.pages import SUBGROUP_COLUMNS
from crlm.analysis.pages import SUBGROUP_MIN_EVENTS as MIN_EVENTS
from crlm.analysis.pages import SUBGROUP_MIN_PATIENTS_KM as MIN_PATIENTS_KM
from crlm.models import TASKS, kinds
from crlm.reports.r_export.inputs import subgroups_export_from_predictions
from crlm.ui.widgets import r_export_button

RESPONSE_TASKS = ("response", "anti_egfr_benefit")
ENDPOINT_NAMES = config.ENDPOINT_LABELS
PREDICTION = "predicted response"
MORE_SUBGROUP_COLUMNS = list(sg.MORE_SUBGROUP_COLUMNS)
ARM_SUBGROUP_COLUMNS = list(arms.ARM_SUBGROUP_COLUMNS)



def _arm_section(filt, variable, extra_variables, recorded) -> None:
    """The cohort's own variable (a trial's arm, a yes/no or a cut numeric one) compared
    within subgroups."""
    levels = list(arms.arm_levels(snap, fkey, variable.key))
    if len(levels) < 2:
        st.info(f"{variable.label} has fewer than two groups under the current filter.")
        return
    c1, c2, c3 = st.columns([1, 1, 0.8])
    reference = c1.selectbox("Reference level", levels, index=0, key="subgroups_arm_reference")
    others = [lv for lv in levels if lv != reference]
    compared = c2.selectbox("Compared level", others, index=len(others) - 1,
                            key="subgroups_arm_compared")
    endpoint = c3.selectbox("Endpoint", ui.endpoint_choices(filt.cohort, "subgroups_arm_endpoint"),
                            key="subgroups_arm_endpoint", format_func=ENDPOINT_NAMES.get)
    labels = {v.key: v.label for v in extra_variables}
    options = [c for c in ARM_SUBGROUP_COLUMNS if c in recorded] + [
        v.key for v in extra_variables if v.key != variable.key]
    columns = st.multiselect("Subgroup variables", options, default=options,
                             key="subgroups_arm_columns",
                             format_func=lambda c: labels.get(c) or sg.variable_label(snap, c))
    if not columns:
        st.info("Choose at least one subgroup variable.")
        return
    result = arms.arm_forest(snap, fkey, variable.key, reference, compared, endpoint,
                           tuple(columns))
    rows = result.rows
    if result.empty:
        st.info(f"No patient in {reference} or {compared} with a known endpoint matches the "
                "current filter.")
        return
    named = "" if variable.categorical else f"{variable.label} "
    st.subheader(f"{ENDPOINT_NAMES[endpoint]}: {named}{compared} vs {reference} within "
                 "subgroups")
    fig = figures.make_forest_figure(rows, title=f"{ENDPOINT_NAMES[endpoint]}: {variable.label} "
                                                 f"{compared} vs {reference}")
    name = f"forest_{endpoint}_{variable.name}"
    st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(name),
                    key="subgroups_arm_forest")
    ui.export_buttons(fig, rows, name, n=int(rows.groupby("variable")["n"].sum().max()))
    st.caption(f"Cox model within each level (Efron ties); levels with fewer than {MIN_EVENTS} "
               "events or without both arms are shown as not estimable. Interaction p: "
               f"likelihood-ratio test of {variable.label.lower()} × subgroup. A numeric "
               "subgroup variable is cut at the median of the patients compared.")


# -- page -------------------------------------------------------------------------
filt = ui.current_filter()
ui.require_role("browse")
snap, fkey = ui.snapshot(filt.cohort), ui.filter_key(filt)
ui.page_header("Subgroups", "Predicted responders vs non-responders within each subgroup: "
                            "hazard ratios with interaction tests, AUC per level, and curves.")
trained = kinds.trained_only(ui.load_models(filt.cohort))
trained = trained[trained["task"].isin(RESPONSE_TASKS)] if len(trained) else trained
recorded = set(ui.loaders.recorded_columns(filt.cohort, ARM_SUBGROUP_COLUMNS))
extra_variables = ui.loaders.load_extra_variables(filt.cohort)
spans = ui.loaders.extra_spans(filt.cohort)
arm_variables = {v.key: v for v in sorted(  # a treatment (known with the plan) first, then
    (v for v in extra_variables  # other levels, then yes/no, then numbers cut at the median
     if (len(v.levels) >= 2 if v.categorical else v.name in spans
         and spans[v.name][1] > spans[v.name][0])),
    key=lambda v: (not v.categorical, v.known_at != "treatment plan",
                   not (v.name in spans and spans[v.name][:2] == (0.0, 1.0))))}
if not arm_variables and trained.empty:
    st.info("Nothing to compare within subgroups yet: this cohort has no trained response "
            "model (it may record no response outcome) and none of its own variables has "
            "two groups. The Survival page compares survival by its recorded variables.")
    st.stop()
if arm_variables:
    compare = st.selectbox(
        "Compare", ([PREDICTION] if not trained.empty else []) + list(arm_variables),
        key="subgroups_compare", format_func=lambda c: "Predicted responders vs non-responders"
        if c == PREDICTION else f"{arm_variables[c].label} (this cohort's variable)")
    if compare != PREDICTION:
        _arm_section(filt, arm_variables[compare], extra_variables, recorded)
        st.stop()
c1, c2, c3 = st.columns([1.2, 1.4, 0.8])
tasks = [t for t in RESPONSE_TASKS if t in set(trained["task"])]
task = c1.selectbox("Prediction task", tasks, key="subgroups_task",
                    format_func=lambda t: TASKS[t].label)
records = trained[trained["task"] == task].set_index("model_id")
model_id = ui.selected_model(task, models_by_auc(records), container=c2)
endpoint = c3.selectbox("Endpoint", ui.endpoint_choices(filt.cohort, "subgroups_endpoint"),
                        key="subgroups_endpoint", format_func=ENDPOINT_NAMES.get)
threshold = float(ui.get_threshold(model_id, records.loc[model_id, "threshold"]))
extra_labels = {v.key: v.label for v in extra_variables}
contract_columns = [c for c in SUBGROUP_COLUMNS
                    if c in set(ui.loaders.recorded_columns(filt.cohort, SUBGROUP_COLUMNS))]
more_columns = [c for c in MORE_SUBGROUP_COLUMNS if c in recorded]
columns = st.multiselect("Subgroup variables",
                         contract_columns + more_columns + list(extra_labels),
                         default=contract_columns, key="subgroups_columns",
                         format_func=lambda c: extra_labels.get(c) or sg.variable_label(snap, c))
st.caption(f"{records.loc[model_id, 'name']}: predicted responder when score ≥ {threshold:.3f} "
           "(set on the Models page); out-of-fold and external predictions. "
           f"Applies to: {TASKS[task].applies_to}.")
if not columns:
    st.info("Choose at least one subgroup variable.")
    st.stop()
key = (snap, fkey, task, model_id, threshold, endpoint)
model_name = records.loc[model_id, "name"]

st.subheader(f"{ENDPOINT_NAMES[endpoint]}: hazard ratio within subgroups")
# the AUC per level and the panels' curves computed beside the forest plot
km_choice = st.session_state.get("subgroups_km_by")
prefetch.ahead(lambda: sg.auc_by_level(snap, fkey, task, model_id, tuple(columns)),
               lambda: subgroup_panels.km_panels(*key, km_choice if km_choice in columns else columns[0]))
result = sg.forest(*key, tuple(columns))
rows = result.rows
if result.empty:
    st.info("No patient with predictions and a known endpoint matches the current filter.")
    st.stop()
fig = figures.make_forest_figure(rows, title=f"{ENDPOINT_NAMES[endpoint]}: predicted responders "
                                             f"vs non-responders ({model_name})")
st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"forest_{endpoint}_{model_id}"),
                key="subgroups_forest")
ui.export_buttons(fig, rows, f"forest_{endpoint}_{model_id}", n=int(rows.groupby("variable")["n"].sum().max()))
r_export_button(lambda k=key, c=tuple(x for x in columns if not extras.is_extra(x)):
                subgroups_export_from_predictions(  # on click; the contract's subgroups
    sg.prediction_data(*k), task=k[2], endpoint=k[5], columns=c), f"subgroups_{endpoint}_{model_id}")
st.caption(f"Cox model within each level (Efron ties); levels with fewer than {MIN_EVENTS} events "
           "or without both predicted groups are shown as not estimable. Interaction p: "
           "likelihood-ratio test of prediction × subgroup.")

st.subheader("Discrimination within subgroups")
auc = sg.auc_by_level(snap, fkey, task, model_id, tuple(columns)).rows
fig = figures.make_auc_forest_figure(auc, title=f"AUC within subgroups: {model_name}")
st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"auc_subgroups_{model_id}"),
                key="subgroups_auc")
ui.export_buttons(fig, auc, f"auc_subgroups_{model_id}", n=int(auc.groupby("variable")["n"].sum().max()))

st.subheader("Kaplan–Meier curves per subgroup level")
km_by = st.selectbox("Panels by", columns, key="subgroups_km_by",
                     format_func=lambda c: extra_labels.get(c) or sg.variable_label(snap, c))
grid = subgroup_panels.km_panels(*key, km_by)
fig = figures.make_km_grid_figure(grid.panels, logrank_p=grid.logrank_p,
                                  title=f"{ENDPOINT_NAMES[endpoint]} by predicted response, "
                                        f"per {sg.variable_label(snap, km_by)}",
                                  empty_text=f"fewer than {MIN_PATIENTS_KM} patients")
st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"km_grid_{km_by}_{model_id}"),
                key="subgroups_km_grid")
grid_data = grid.table()
ui.export_buttons(fig, grid_data, f"km_grid_{km_by}_{model_id}",
                  n=int(grid_data["n"].sum()) if len(grid_data) else 0)
