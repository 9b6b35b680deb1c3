"""Survival: Kaplan–Meier curves of overall, progression-free or (resected patients)
recurrence-free survival, each where the cohort records it, split by a model's
predicted response (at the threshold set on the Models page), a survival model's predicted
risk group (tertiles) or a clinical group."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from crlm import config, figures, stats, ui
from crlm.analysis import extras
from crlm.analysis import survival_models as sm
from crlm.models import TASKS, kinds
from crlm.reports.r_export import survival_export
from crlm.ui.widgets import r_export_button
from crlm.ui import anti_egfr as anti_egfr_ui
from crlm.ui import trajectories as trajectories_ui

SPLIT_CHOICES = ["predicted responder", "ras_status", "primary_side", "tbs_zone", "fong_group",
                 "biologic", "center", "kras", "braf_v600e", "msi", "game_group", "hepatectomy",
                 "growth_pattern", "cohort_split", "sex", "none"]
RESPONSE_TASKS = ("response", "anti_egfr_benefit")
LANDMARKS = (12, 36, 60)
PREDICTED = ("Predicted non-responder", "Predicted responder")
PREDICTION_SPLITS = ("out-of-fold", "external")
RISK = "risk group:"   # a split by a survival model's predicted risk: RISK + model_id


def _extra(choice: str):
    """The cohort's own variable named by a split choice ``extra:<name>``."""
    cohort = ui.current_filter().cohort
    return next(v for v in ui.loaders.load_extra_variables(cohort) if v.key == choice)


def _label(choice: str) -> str:
    if choice.startswith(RISK):
        model_id = choice.removeprefix(RISK)
        names = ui.load_models(ui.current_filter().cohort).set_index("model_id")["name"]
        return f"Predicted risk: {names.get(model_id, model_id)} (tertiles)"
    if extras.is_extra(choice):
        return _extra(choice).label   # a numeric one: its two values (0/1) or its median
    return config.COLUMNS_BY_NAME[choice].label if choice in config.COLUMNS_BY_NAME else \
        ("No split (whole cohort)" if choice == "none" else "Predicted responder (model)")


def _by_auc(records: pd.DataFrame) -> list[str]:
    """Model ids, best out-of-fold AUC first (the default choice)."""
    auc = records["metrics"].map(lambda m: ((m or {}).get("out_of_fold") or {}).get("auc") or 0.0)
    return list(auc.sort_values(ascending=False, kind="stable").index)


def _groups(filt, split_by: str, task: str | None, model_id: str | None,
            threshold: float | None, endpoint: str) -> pd.DataFrame:
    """time, event and group of every patient with a known endpoint."""
    time_col, event_col = config.ENDPOINTS[endpoint]
    if split_by == "predicted responder":
        preds = ui.load_predictions(filt, task=task, model_id=model_id, split=list(PREDICTION_SPLITS),
                                    columns=(time_col, event_col))
        frame = preds.drop_duplicates("patient_id")
        group = np.where(frame["score"].to_numpy(float) >= float(threshold), PREDICTED[1], PREDICTED[0])
        frame = frame.assign(group=group)
    elif split_by.startswith(RISK):
        preds = ui.load_predictions(filt, model_id=split_by.removeprefix(RISK),
                                    split=list(PREDICTION_SPLITS), columns=(time_col, event_col))
        frame = preds.drop_duplicates("patient_id").dropna(subset=["score"])
        frame = frame.assign(group=sm.risk_groups(frame["score"]).groups if len(frame) else [])
    elif extras.is_extra(split_by):
        frame = ui.loaders.load_cohort_with_extras(filt, columns=[time_col, event_col])
        frame = frame.assign(group=extras.extra_groups(frame[split_by], _extra(split_by)).groups)
    else:
        cols = [time_col, event_col] + ([split_by] if split_by != "none" else [])
        frame = ui.load_cohort(filt, columns=cols)
        if split_by == "none":
            frame = frame.assign(group="All patients")
        else:
            raw = frame[split_by]
            if config.COLUMNS_BY_NAME[split_by].kind == "bool":
                raw = raw.map({True: "yes", False: "no"})
            frame = frame.assign(group=raw.astype(object).where(raw.notna(), "unknown").astype(str))
    frame = frame.dropna(subset=[time_col, event_col])
    return pd.DataFrame({"time": frame[time_col].to_numpy(float),
                         "event": frame[event_col].astype(bool).to_numpy(),
                         "group": frame["group"].to_numpy(str)})


def _order(levels, split_by: str) -> list[str]:
    levels = list(dict.fromkeys(levels))
    if split_by == "predicted responder":
        return [g for g in PREDICTED if g in levels]
    if split_by.startswith(RISK):
        return [g for g in sm.group_names(3) if g in levels]
    if extras.is_extra(split_by):
        return extras.order_groups(levels, _extra(split_by))
    col = config.COLUMNS_BY_NAME.get(split_by)
    known = list(col.levels) if col is not None and col.levels else sorted(levels)
    ordered = [lv for lv in known if lv in levels]
    return ordered + sorted(lv for lv in levels if lv not in ordered)


@st.cache_data(show_spinner="Fitting survival curves…", max_entries=64)
def _analysis(fkey: tuple, endpoint: str, split_by: str, task: str | None, model_id: str | None,
              threshold: float | None, horizon: float) -> dict:
    data = _groups(ui.current_filter(), split_by, task, model_id, threshold, endpoint)
    if data.empty:
        return {"n": 0}
    order = _order(data["group"], split_by)
    t, e, g = data["time"].to_numpy(), data["event"].to_numpy(), data["group"].to_numpy()
    curves = {level: stats.kaplan_meier(t[g == level], e[g == level]) for level in order}
    out = {"n": len(data), "order": order, "curves": curves, "logrank_p": np.nan,
           "hr": {}, "ph_p": np.nan, "ph_note": ""}
    if len(order) >= 2:
        out["logrank_p"] = stats.logrank(t, e, g).p_value
        design = pd.DataFrame({level: (g == level).astype(float) for level in order[1:]})
        try:
            fit = stats.cox(t, e, design)
            out["hr"] = {term.name: (term.hr, term.ci_lower, term.ci_upper, term.p_value)
                         for term in fit.terms}
            out["ph_p"] = fit.proportional_hazards_test().global_p_value
            if not fit.converged:
                out["ph_note"] = "the Cox model did not converge (a group with very few events)"
        except (ValueError, np.linalg.LinAlgError) as exc:
            out["ph_note"] = f"no hazard ratio: {exc}"
    rmst = stats.rmst(t, e, horizon, group=g) if len(data) else None
    out["rmst"] = {str(r.group): (r.rmst, r.ci_lower, r.ci_upper) for r in rmst.groups}
    return out


def _table(result: dict, reference: str, horizon: float) -> pd.DataFrame:
    rows = []
    for level, km in result["curves"].items():
        at = km.survival_at(LANDMARKS)
        row = {"group": level, "n": km.n, "events": km.n_events, "median_months": km.median,
               "median_ci_lower": km.median_ci[0], "median_ci_upper": km.median_ci[1]}
        for k, months in enumerate(LANDMARKS):
            row[f"survival_{months}m"] = at.survival[k]
            row[f"survival_{months}m_ci_lower"] = at.ci_lower[k]
            row[f"survival_{months}m_ci_upper"] = at.ci_upper[k]
        r = result["rmst"].get(level, (np.nan, np.nan, np.nan))
        row.update({f"rmst_{horizon:g}m": r[0], f"rmst_{horizon:g}m_ci_lower": r[1],
                    f"rmst_{horizon:g}m_ci_upper": r[2]})
        hr = result["hr"].get(level)
        row.update({"hr_vs_" + reference: hr[0] if hr else (1.0 if level == reference else np.nan),
                    "hr_ci_lower": hr[1] if hr else np.nan, "hr_ci_upper": hr[2] if hr else np.nan})
        rows.append(row)
    return pd.DataFrame(rows)


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
own = ui.loaders.load_extra_variables(filt.cohort)
extra_labels = {v.key: _label(v.key) for v in own}
all_models = kinds.trained_only(ui.load_models(filt.cohort))
has_response = len(all_models) > 0 and all_models["task"].isin(RESPONSE_TASKS).any()
task_of = dict(zip(all_models["model_id"], all_models["task"])) if len(all_models) else {}
survival_models = [m for m, t in task_of.items() if t in TASKS and not TASKS[t].is_binary]
risk_labels = {RISK + m: _label(RISK + m) for m in survival_models}
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
                        format_func=lambda c: extra_labels.get(c) or risk_labels.get(c) or _label(c))
task = model_id = threshold = None
if split_by == "predicted responder":
    trained = all_models[all_models["task"].isin(RESPONSE_TASKS)]
    tasks = [t for t in RESPONSE_TASKS if t in set(trained["task"])]
    task = c3.selectbox("Prediction task", tasks, key="survival_task",
                        format_func=lambda t: TASKS[t].label)
    records = trained[trained["task"] == task].set_index("model_id")
    model_id = ui.selected_model(task, _by_auc(records), container=c3)
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

result = _analysis(ui.filter_key(filt), endpoint, split_by, task, model_id, threshold, horizon)
if not result.get("n"):
    st.info("No patient with a known endpoint matches the current filter.")
    st.stop()
order = result["order"]
reference = order[0]
hr_text = None
if len(order) == 2 and order[1] in result["hr"]:
    hr, lo, hi, _ = result["hr"][order[1]]
    hr_text = f"HR {figures.format_estimate(hr, lo, hi).replace('[', '(').replace(']', ')')} " \
              f"({order[1].lower()} vs {order[0].lower()})"
endpoint_name = config.ENDPOINT_LABELS[endpoint]
title = f"{endpoint_name} by {_label(split_by).lower()}" if split_by != "none" else endpoint_name
fig = figures.make_km_figure(result["curves"], show_ci=show_ci, title=title,
                             logrank_p=result["logrank_p"] if len(order) > 1 else None,
                             hr_text=hr_text, y_label=f"{endpoint_name} probability")
st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"km_{endpoint}_{split_by}"),
                key="survival_km")
table = _table(result, reference, horizon)
ui.export_buttons(fig, table, f"km_{endpoint}_{split_by}", n=result["n"])
export_args = (filt, split_by, task, model_id, threshold, endpoint)  # built on click, off-thread
r_export_button(lambda a=export_args, o=order, h=horizon, t=title:
                survival_export(_groups(*a), order=o, horizon=h, title=t), f"km_{endpoint}_{split_by}")

if len(order) > 1 and np.isfinite(result["ph_p"]) and result["ph_p"] < 0.05:
    st.warning(f"The proportional-hazards assumption is in doubt (Schoenfeld residual test, "
               f"global p = {result['ph_p']:.3f}): the curves' hazard ratio changes over time, so "
               "read the hazard ratio as an average and prefer the RMST and landmark survival.",
               icon=":material/warning:")
if result["ph_note"]:
    st.caption(f"Hazard ratio: {result['ph_note']}.")
st.dataframe(_shown(table, reference, horizon), hide_index=True, width="stretch")
st.caption(f"Log-rank {figures.format_p(result['logrank_p'])}; hazard ratios from a Cox model "
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
