"""Subgroups: does the model's separation of survival, and its discrimination, hold within
RAS/KRAS, tumour burden, sidedness, BRAF, MSI, Fong group and centre?"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from crlm import config, figures, stats, ui
from crlm.analysis import extras
from crlm.models import TASKS, kinds
from crlm.analysis.pages import SUBGROUP_COLUMNS
from crlm.analysis.pages import SUBGROUP_MIN_EVENTS as MIN_EVENTS
from crlm.analysis.pages import SUBGROUP_MIN_PATIENTS_AUC as MIN_PATIENTS_AUC
from crlm.analysis.pages import SUBGROUP_MIN_PATIENTS_KM as MIN_PATIENTS_KM
from crlm.analysis.pages import subgroup_levels
from crlm.reports.r_export.inputs import subgroups_export_from_predictions
from crlm.ui.widgets import r_export_button

RESPONSE_TASKS = ("response", "anti_egfr_benefit")
PREDICTION_SPLITS = ("out-of-fold", "external")
ENDPOINT_NAMES = config.ENDPOINT_LABELS
PREDICTED = ("Predicted non-responder", "Predicted responder")
PREDICTION = "predicted response"
# offered besides the default subgroups where the cohort records them (not drawn unasked)
MORE_SUBGROUP_COLUMNS = ["growth_pattern"]
ARM_SUBGROUP_COLUMNS = ["sex", *SUBGROUP_COLUMNS, *MORE_SUBGROUP_COLUMNS]


def _extra_variable(column: str):
    """The cohort's own variable ``extra:<name>`` (of the cohort in the sidebar)."""
    cohort = ui.current_filter().cohort
    return next(v for v in ui.loaders.load_extra_variables(cohort) if v.key == column)


def _label(column: str) -> str:
    if extras.is_extra(column):
        return _extra_variable(column).label
    return config.COLUMNS_BY_NAME[column].label


def _levels(series, column: str):
    """Subgroup levels per patient; the cohort's own numeric variables cut at the median."""
    if extras.is_extra(column):
        return extras.extra_groups(series, _extra_variable(column)).groups
    return subgroup_levels(series, column)


def _ordered(levels, column: str) -> list[str]:
    if extras.is_extra(column):
        return extras.order_groups(levels, _extra_variable(column))
    present = list(dict.fromkeys(levels))
    known = [lv for lv in config.COLUMNS_BY_NAME[column].levels if lv in present]
    return known + sorted(lv for lv in present if lv not in known)


def _by_auc(records: pd.DataFrame) -> list[str]:
    """Model ids, best out-of-fold AUC first (the default choice)."""
    auc = records["metrics"].map(lambda m: ((m or {}).get("out_of_fold") or {}).get("auc") or 0.0)
    return list(auc.sort_values(ascending=False, kind="stable").index)


def _data(filt, task: str, model_id: str, threshold: float, endpoint: str) -> pd.DataFrame:
    time_col, event_col = config.ENDPOINTS[endpoint]
    target = TASKS[task].target
    preds = ui.load_predictions(filt, task=task, model_id=model_id, split=list(PREDICTION_SPLITS),
                                columns=tuple(dict.fromkeys([time_col, event_col, target]
                                                            + SUBGROUP_COLUMNS
                                                            + MORE_SUBGROUP_COLUMNS)))
    preds = preds.drop_duplicates("patient_id")
    if ui.loaders.load_extra_variables(filt.cohort):
        own = ui.loaders.load_cohort_with_extras(filt, columns=["patient_id"])
        preds = preds.merge(own, on="patient_id", how="left")
    return preds.assign(predicted=(preds["score"].to_numpy(float) >= threshold).astype(int))


@st.cache_data(show_spinner="Fitting subgroup hazard ratios…", max_entries=32)
def _forest(fkey: tuple, task: str, model_id: str, threshold: float, endpoint: str,
            columns: tuple) -> pd.DataFrame:
    data = _data(ui.current_filter(), task, model_id, threshold, endpoint)
    time_col, event_col = config.ENDPOINTS[endpoint]
    data = data.dropna(subset=[time_col, event_col])
    results = {}
    for column in columns:
        if data.empty:
            break
        results[_label(column)] = stats.subgroup_effects(
            data[time_col].to_numpy(float), data[event_col].astype(bool).to_numpy(),
            data["predicted"].to_numpy(), _levels(data[column], column), min_events=MIN_EVENTS)
    if not results:
        return pd.DataFrame()
    rows = figures.forest_rows(results)
    rank = {}
    for column in columns:
        for k, level in enumerate(_ordered(_levels(data[column], column), column)):
            rank[(_label(column), level)] = k
    position = {_label(c): i for i, c in enumerate(columns)}
    rows = rows.assign(_variable=rows["variable"].map(position),
                       _level=[rank.get(key, 99) for key in zip(rows["variable"], rows["level"])])
    rows = rows.sort_values(["_variable", "_level"], kind="stable")
    rows = rows.drop(columns=["_variable", "_level"]).reset_index(drop=True)
    return rows


@st.cache_data(show_spinner="Computing subgroup AUCs…", max_entries=32)
def _auc(fkey: tuple, task: str, model_id: str, threshold: float, endpoint: str,
         columns: tuple) -> pd.DataFrame:
    data = _data(ui.current_filter(), task, model_id, threshold, endpoint)
    target = TASKS[task].target
    data = data.dropna(subset=[target, "score"])
    nested = {}
    for column in columns:
        levels = _levels(data[column], column)
        per_level = {}
        for level in _ordered(levels, column):
            part = data[levels == level]
            y = part[target].astype(bool).to_numpy()
            n, pos = len(part), int(y.sum())
            if n < MIN_PATIENTS_AUC:
                per_level[level] = {"n": n, "events": pos,
                                    "reason": f"fewer than {MIN_PATIENTS_AUC} patients"}
            elif pos == 0 or pos == n:
                per_level[level] = {"n": n, "events": pos,
                                    "reason": "no responders" if pos == 0 else "no non-responders"}
            else:
                per_level[level] = stats.roc(y, part["score"].to_numpy(float))
        nested[_label(column)] = per_level
    return figures.auc_rows(nested)


@st.cache_data(show_spinner=False, max_entries=32)
def _panels(fkey: tuple, task: str, model_id: str, threshold: float, endpoint: str,
            column: str) -> tuple[dict, dict]:
    data = _data(ui.current_filter(), task, model_id, threshold, endpoint)
    time_col, event_col = config.ENDPOINTS[endpoint]
    data = data.dropna(subset=[time_col, event_col])
    levels = _levels(data[column], column)
    panels, pvalues = {}, {}
    for level in _ordered(levels, column):
        part = data[levels == level]
        if len(part) < MIN_PATIENTS_KM:
            panels[f"{level} (n = {len(part)})"] = None
            continue
        t = part[time_col].to_numpy(float)
        e = part[event_col].astype(bool).to_numpy()
        g = np.asarray(PREDICTED)[part["predicted"].to_numpy()]
        panels[level] = {name: stats.kaplan_meier(t[g == name], e[g == name])
                         for name in PREDICTED if (g == name).any()}
        if len(panels[level]) == 2:
            pvalues[level] = stats.logrank(t, e, g).p_value
    return panels, pvalues


@st.cache_data(show_spinner="Fitting subgroup hazard ratios…", max_entries=32)
def _arm_forest(fkey: tuple, compare: str, reference: str, compared: str, endpoint: str,
                columns: tuple) -> pd.DataFrame:
    """Hazard ratio of one level of the cohort's own variable against another, per subgroup."""
    filt = ui.filter_from_key(fkey)
    variables = {v.key: v for v in ui.loaders.load_extra_variables(filt.cohort)}
    time_col, event_col = config.ENDPOINTS[endpoint]
    contract = [c for c in columns if not extras.is_extra(c)]
    data = ui.loaders.load_cohort_with_extras(filt, columns=[time_col, event_col, *contract])
    arm = _arm_groups(data[compare], variables[compare]).groups
    groupings = {}
    for column in columns:
        if extras.is_extra(column):
            groupings[variables[column].label] = extras.extra_groups(data[column],
                                                                     variables[column])
        else:
            levels = _levels(data[column], column)
            groupings[_label(column)] = extras.ExtraGroups(levels, tuple(_ordered(levels, column)))
    result = extras.compare_within_subgroups(
        data[time_col], data[event_col], arm, reference, compared, groupings,
        min_events=MIN_EVENTS)
    if not result.n:
        return pd.DataFrame()
    rows = figures.forest_rows(result.results)
    position = {label: i for i, label in enumerate(result.order)}
    rank = {(label, level): k for label, order in result.order.items()
            for k, level in enumerate(order)}
    rows = rows.assign(_variable=rows["variable"].map(position),
                       _level=[rank.get(key, 99) for key in zip(rows["variable"], rows["level"])])
    return rows.sort_values(["_variable", "_level"], kind="stable").drop(
        columns=["_variable", "_level"]).reset_index(drop=True)


def _arm_groups(values, variable) -> extras.ExtraGroups:
    """A compared variable's groups: a categorical one by level, a numeric one by its two
    values (0/1) or cut at its median over the filtered cohort."""
    if variable.categorical:
        return extras.ExtraGroups(values.astype(object).where(values.notna(), extras.UNKNOWN)
                                  .astype(str).to_numpy(), tuple(variable.levels))
    return extras.extra_groups(values, variable)


def _arm_section(filt, variable, extra_variables, recorded) -> None:
    """The cohort's own variable (a trial's arm, a yes/no or a cut numeric one) compared
    within subgroups."""
    if variable.categorical:
        levels = list(variable.levels)
    else:
        values = ui.loaders.load_cohort_with_extras(filt, columns=["patient_id"])[variable.key]
        levels = [g for g in extras.extra_groups(values, variable).order if g != extras.UNKNOWN]
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
                             format_func=lambda c: labels.get(c) or _label(c))
    if not columns:
        st.info("Choose at least one subgroup variable.")
        return
    rows = _arm_forest(ui.filter_key(filt), variable.key, reference, compared, endpoint,
                       tuple(columns))
    if rows.empty:
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
               f"likelihood-ratio test of {variable.label.lower()} × subgroup. Numeric "
               "variables are cut at their median.")


# -- page -------------------------------------------------------------------------
filt = ui.current_filter()
ui.require_role("browse")
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
model_id = ui.selected_model(task, _by_auc(records), container=c2)
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
                         format_func=lambda c: extra_labels.get(c) or _label(c))
st.caption(f"{records.loc[model_id, 'name']}: predicted responder when score ≥ {threshold:.3f} "
           "(set on the Models page); out-of-fold and external predictions. "
           f"Applies to: {TASKS[task].applies_to}.")
if not columns:
    st.info("Choose at least one subgroup variable.")
    st.stop()
key = (ui.filter_key(filt), task, model_id, threshold, endpoint)
model_name = records.loc[model_id, "name"]

st.subheader(f"{ENDPOINT_NAMES[endpoint]}: hazard ratio within subgroups")
rows = _forest(*key, tuple(columns))
if rows.empty:
    st.info("No patient with predictions and a known endpoint matches the current filter.")
    st.stop()
fig = figures.make_forest_figure(rows, title=f"{ENDPOINT_NAMES[endpoint]}: predicted responders "
                                             f"vs non-responders ({model_name})")
st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"forest_{endpoint}_{model_id}"),
                key="subgroups_forest")
ui.export_buttons(fig, rows, f"forest_{endpoint}_{model_id}", n=int(rows.groupby("variable")["n"].sum().max()))
r_export_button(lambda f=filt, k=key, c=tuple(x for x in columns if not extras.is_extra(x)):
                subgroups_export_from_predictions(  # on click; the contract's subgroups
    _data(f, *k[1:]), task=k[1], endpoint=k[4], columns=c), f"subgroups_{endpoint}_{model_id}")
st.caption(f"Cox model within each level (Efron ties); levels with fewer than {MIN_EVENTS} events "
           "or without both predicted groups are shown as not estimable. Interaction p: "
           "likelihood-ratio test of prediction × subgroup.")

st.subheader("Discrimination within subgroups")
auc = _auc(*key, tuple(columns))
fig = figures.make_auc_forest_figure(auc, title=f"AUC within subgroups: {model_name}")
st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"auc_subgroups_{model_id}"),
                key="subgroups_auc")
ui.export_buttons(fig, auc, f"auc_subgroups_{model_id}", n=int(auc.groupby("variable")["n"].sum().max()))

st.subheader("Kaplan–Meier curves per subgroup level")
km_by = st.selectbox("Panels by", columns, key="subgroups_km_by",
                     format_func=lambda c: extra_labels.get(c) or _label(c))
panels, pvalues = _panels(*key, km_by)
fig = figures.make_km_grid_figure(panels, logrank_p=pvalues,
                                  title=f"{ENDPOINT_NAMES[endpoint]} by predicted response, "
                                        f"per {_label(km_by)}",
                                  empty_text=f"fewer than {MIN_PATIENTS_KM} patients")
st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"km_grid_{km_by}_{model_id}"),
                key="subgroups_km_grid")
grid_data = pd.DataFrame([
    {"panel": panel, "group": name, "n": km.n, "events": km.n_events, "median_months": km.median,
     "logrank_p": pvalues.get(panel, np.nan)}
    for panel, curves in panels.items() if curves for name, km in curves.items()])
ui.export_buttons(fig, grid_data, f"km_grid_{km_by}_{model_id}",
                  n=int(grid_data["n"].sum()) if len(grid_data) else 0)
