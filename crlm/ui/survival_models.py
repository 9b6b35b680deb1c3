"""The Models page for a survival task: Harrell's C with its interval and the
time-dependent AUC per model, a paired comparison of two models, and for the chosen
model Kaplan–Meier by predicted risk group, time-dependent ROC curves and the
calibration of predicted against observed survival at a horizon.

The computations are ``crlm.analysis.survival_models`` (pure); here they are cached on
their arguments and drawn."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from crlm import config, figures
from crlm.analysis import survival_models as sm
from crlm.figures.survival_models import (
    horizon_label, make_survival_calibration_figure, make_td_roc_figure,
)
from crlm.models import TASKS, kinds
from crlm.reports.r_export import survival_export
from crlm.reports.r_export.inputs import models_export_from_predictions
from crlm.ui import loaders
from crlm.ui.widgets import export_buttons, r_export_button, selected_model

SPLIT_NAMES = {"out-of-fold": "Out-of-fold (development centres)", "external": "External centre"}
HORIZON_YEARS = tuple(range(1, 11))
DEFAULT_HORIZON_YEARS = (1, 3, 5)
TERTILES = "tertiles"
CUT = "a cut at a percentile"


def _predictions(fkey: tuple, task: str, split: str) -> pd.DataFrame:
    t = TASKS[task]
    return loaders.load_predictions(loaders.filter_from_key(fkey), task=task, split=split,
                                    columns=(t.time_column, t.event_column))


@st.cache_data(show_spinner="Computing concordance…", max_entries=64)
def _concordance(fkey: tuple, task: str, split: str, horizons: tuple) -> pd.DataFrame:
    t = TASKS[task]
    return sm.concordance_table(_predictions(fkey, task, split), t.time_column, t.event_column,
                                horizons)


@st.cache_data(show_spinner=False, max_entries=64)
def _paired(fkey: tuple, task: str, split: str, model_a: str, model_b: str):
    t = TASKS[task]
    try:
        return sm.paired_concordance(_predictions(fkey, task, split), model_a, model_b,
                                     t.time_column, t.event_column)
    except ValueError as exc:
        return str(exc)


@st.cache_data(show_spinner="Fitting survival by risk group…", max_entries=64)
def _outcomes(fkey: tuple, task: str, split: str, model_id: str):
    t = TASKS[task]
    return sm.model_outcomes(_predictions(fkey, task, split), model_id, t.time_column,
                             t.event_column)


@st.cache_data(show_spinner=False, max_entries=64)
def _risk_groups(fkey: tuple, task: str, split: str, model_id: str, quantiles: tuple):
    t, e, s = _outcomes(fkey, task, split, model_id)
    if len(t) < 2 or not e.any():
        return None
    return sm.risk_group_survival(t, e, s, quantiles)


@st.cache_data(show_spinner=False, max_entries=64)
def _td_roc(fkey: tuple, task: str, split: str, model_id: str, horizons: tuple) -> dict:
    t, e, s = _outcomes(fkey, task, split, model_id)
    return sm.td_roc_curves(t, e, s, horizons) if len(t) else {}


def _predicted_survival(cohort: str, records: pd.DataFrame, model_id: str, scores: np.ndarray,
                        horizon: float):
    """Each patient's predicted survival at ``horizon`` from the model's absolute
    survival (``crlm.models.absolute``), or the reason there is none."""
    from crlm.models import absolute

    rec = records.loc[[model_id]].reset_index()
    basis = absolute.load_bases(loaders.get_store(), cohort, rec).get(
        (model_id, int(rec.loc[0, "version"])))
    if not isinstance(basis, absolute.SurvivalBasis):
        return getattr(basis, "reason", "no absolute survival for this model")
    cal = basis.calibration
    if horizon > cal.max_time:
        return (f"{horizon_label(horizon)} lies beyond the development patients' follow-up "
                f"({cal.max_time:.0f} months)")
    return np.array([cal.curve(r, [horizon])[0] for r in scores])


def _horizons(task: str) -> tuple[float, ...]:
    years = st.multiselect("Horizons (years) for the time-dependent AUC and ROC",
                           HORIZON_YEARS, default=list(DEFAULT_HORIZON_YEARS),
                           key=f"models_horizons_{task}")
    return tuple(12.0 * y for y in sorted(years)) or tuple(12.0 * y for y in DEFAULT_HORIZON_YEARS)


def _by_c(records: pd.DataFrame) -> list[str]:
    """Model ids, best out-of-fold C-index first; trained models before clinical scores."""
    c = records["metrics"].map(lambda m: ((m or {}).get("out_of_fold") or {}).get("c_index") or 0.0)
    trained = set(kinds.trained_only(records).index)
    return sorted(records.index, key=lambda m: (m not in trained, -float(c[m])))


def concordance_section(filt, task: str, splits: list[str], records: pd.DataFrame,
                        horizons: tuple) -> None:
    st.subheader("Concordance (Harrell's C) and time-dependent AUC")
    fkey = loaders.filter_key(filt)
    for col, split in zip(st.columns(len(splits)), splits):
        with col:
            table = _concordance(fkey, task, split, horizons)
            if table.empty:
                st.info(f"No {SPLIT_NAMES[split].lower()} predictions under this filter.")
                continue
            table = table.assign(model=table["model_id"].map(records["name"]),
                                 kind=table["model_id"].map(records["kind"]),
                                 **{"C [95% CI]": [figures.format_estimate(c, lo, hi, 3) for
                                                   c, lo, hi in zip(table["harrell_c"],
                                                                    table["c_ci_lower"],
                                                                    table["c_ci_upper"])]})
            st.caption(SPLIT_NAMES[split])
            td_cols = [f"auc_{h:g}m" for h in horizons]
            st.dataframe(table[["model", "kind", "n", "events", "harrell_c", "C [95% CI]",
                                "c_se", *td_cols]].round(6), hide_index=True, width="stretch")
            r_export_button(lambda f=filt, s=split, ids=list(table["model_id"]):  # on click
                            models_export_from_predictions(
                                _predictions(loaders.filter_key(f), task, s), records,
                                task=task, split=s, model_ids=ids),
                            f"concordance_{task}_{split}")
    st.caption("Higher risk score = shorter survival. C: Harrell's concordance with its "
               "standard error (c_se) from the infinitesimal jackknife, as R's "
               "survival::concordance, and the Wald 95% interval. auc_<t>m: time-dependent "
               "(cumulative/dynamic) AUC at t months: events by then against patients still "
               "event-free, censoring weighted by inverse probability (empty where no patient "
               "is followed that long).")


def comparison_section(filt, task: str, splits: list[str], records: pd.DataFrame) -> None:
    st.subheader("Paired comparison of two models")
    order = _by_c(records)
    if len(order) < 2:
        st.info("One model only on this task: nothing to compare.")
        return
    name = lambda m: records.loc[m, "name"]
    left, right = st.columns(2)
    model_a = left.selectbox("Model A", order, key=f"models_compare_a_{task}", format_func=name)
    rest = [m for m in order if m != model_a]
    model_b = right.selectbox("Model B", rest, key=f"models_compare_b_{task}", format_func=name)
    rows = []
    for split in splits:
        res = _paired(loaders.filter_key(filt), task, split, model_a, model_b)
        if isinstance(res, str):
            st.info(f"{SPLIT_NAMES[split]}: {res}.")
            continue
        rows.append({"predictions": SPLIT_NAMES[split], "n": res.n, "events": res.events,
                     "c_a": res.concordance_a, "c_b": res.concordance_b,
                     "difference": res.difference, "se": res.se, "ci_lower": res.ci_lower,
                     "ci_upper": res.ci_upper, "p_value": res.p_value})
    if rows:
        table = pd.DataFrame(rows)
        shown = table.assign(**{
            "C A − C B [95% CI]": [figures.format_estimate(d, lo, hi, 3) for d, lo, hi in
                                   zip(table["difference"], table["ci_lower"], table["ci_upper"])],
            "p": table["p_value"].map(lambda p: figures.format_p(p, prefix="").strip())})
        st.dataframe(shown.round(6), hide_index=True, width="stretch")
        st.download_button("Comparison (CSV)", data=figures.figure_data_csv(table),
                           file_name=figures.safe_filename("c_comparison", task, filt.cohort)
                           + ".csv", mime="text/csv", key=f"models_compare_csv_{task}",
                           on_click="ignore")
    st.caption(f"{name(model_a)} against {name(model_b)} on the patients both scored: the "
               "difference of Harrell's C with its standard error from the two models' "
               "infinitesimal-jackknife influences (their covariance included, as R's "
               "concordance(fit_a, fit_b)), Wald interval and two-sided p-value.")


def _grouping(task: str, container) -> tuple[tuple[float, ...], str]:
    how = container.selectbox("Risk groups", [TERTILES, CUT], key=f"models_risk_groups_{task}")
    if how == TERTILES:
        return sm.TERTILES, "tertiles of the risk score"
    pct = container.slider("Cut at this percentile of the risk score", 10, 90, 50, step=5,
                           key=f"models_risk_cut_{task}")
    return (pct / 100.0,), f"a cut at the {pct}th percentile of the risk score"


def _km_panel(fkey, task: str, split: str, model_id: str, name: str, quantiles, how: str) -> None:
    res = _risk_groups(fkey, task, split, model_id, quantiles)
    if res is None:
        st.info(f"No {SPLIT_NAMES[split].lower()} predictions with an event under this filter.")
        return
    hr_text = None
    top = res.order[-1]
    if len(res.order) >= 2 and top in res.hr:
        hr, lo, hi, _ = res.hr[top]
        hr_text = f"HR {figures.format_estimate(hr, lo, hi)} ({top.lower()} vs {res.order[0].lower()})"
    fig = figures.make_km_figure(res.curves, title=f"{name}: {SPLIT_NAMES[split].lower()}",
                                 logrank_p=res.logrank_p if len(res.order) > 1 else None,
                                 hr_text=hr_text, y_label=f"{TASKS[task].label.removesuffix(' risk')}")
    st.plotly_chart(fig, width="stretch", theme=None, key=f"models_risk_km_{split}",
                    config=figures.plotly_config(f"km_risk_{model_id}_{split}"))
    table = res.table()
    export_buttons(fig, table, f"km_risk_{model_id}_{split}", n=res.n)
    r_export_button(lambda a=(fkey, task, split, model_id, tuple(quantiles)), o=res.order:
                    _risk_group_export(*a, order=o), f"km_risk_{model_id}_{split}")
    shown = pd.DataFrame({"Group": table["group"], "n": table["n"], "Events": table["events"]})
    for m in sm.HORIZONS_MONTHS:
        c = f"survival_{m:g}m"
        shown[f"{horizon_label(m)} (95% CI)"] = [
            figures.format_estimate(s, lo, hi) for s, lo, hi in
            zip(table[c], table[c + "_ci_lower"], table[c + "_ci_upper"])]
    shown[f"HR vs {res.order[0]} (95% CI)"] = [
        "reference" if g == res.order[0] else figures.format_estimate(h, lo, hi)
        for g, h, lo, hi in zip(table["group"], table["hr"], table["hr_ci_lower"],
                                table["hr_ci_upper"])]
    st.dataframe(shown, hide_index=True, width="stretch")
    st.caption(f"Groups: {how} (cuts {', '.join(f'{c:.3g}' for c in res.cuts)}). Log-rank "
               f"chi-square {res.logrank_chisq:.2f}, {figures.format_p(res.logrank_p)}; hazard "
               "ratios from a Cox model on the groups (Efron ties)"
               + (f"; {res.note}" if res.note else "") + ".")


def _endpoint_name(time_column: str) -> str:
    """The endpoint whose time column a survival task uses (OS, PFS, RFS)."""
    names = {t: e for e, (t, _) in config.ENDPOINTS.items()}
    return names.get(time_column, time_column)


def _risk_group_export(fkey: tuple, task: str, split: str, model_id: str, quantiles: tuple,
                       *, order):
    """The risk groups as the Survival page's data + R script (built on click)."""
    t, e, s = sm.model_outcomes(_predictions(fkey, task, split), model_id,
                                TASKS[task].time_column, TASKS[task].event_column)
    data = pd.DataFrame({"time": t, "event": e, "group": sm.risk_groups(s, quantiles).groups})
    return survival_export(data, order=order, horizon=36.0,
                           endpoint=_endpoint_name(TASKS[task].time_column),
                           title=f"{TASKS[task].label} by predicted risk group")


def _roc_panel(fkey, task: str, split: str, model_id: str, name: str, horizons) -> None:
    curves = _td_roc(fkey, task, split, model_id, horizons)
    if not curves:
        st.info("No horizon with both patients who had the event by then and patients "
                "still event-free after it.")
        return
    fig = make_td_roc_figure(curves, title=f"Time-dependent ROC: {name}, {SPLIT_NAMES[split].lower()}")
    st.plotly_chart(fig, width="stretch", theme=None, key=f"models_td_roc_{split}",
                    config=figures.plotly_config(f"td_roc_{model_id}_{split}"))
    data = pd.concat([pd.DataFrame({"horizon_months": h, "fpr": r.fpr, "tpr": r.tpr,
                                    "threshold": r.thresholds, "auc": r.auc})
                      for h, r in curves.items()])
    export_buttons(fig, data, f"td_roc_{model_id}_{split}",
                   n=int(max(r.n_cases + r.n_controls for r in curves.values())))


@st.cache_data(show_spinner="Calibrating predicted survival…", max_entries=64)
def _calibration(fkey: tuple, task: str, split: str, model_id: str, version: int,
                 quantiles: tuple, horizon: float):
    """The calibration at ``horizon`` of the model version's predicted survival, or why
    there is none."""
    t, e, s = _outcomes(fkey, task, split, model_id)
    if not len(t):
        return f"no {SPLIT_NAMES[split].lower()} predictions under this filter"
    cohort = loaders.filter_from_key(fkey).cohort
    records = loaders.load_models(cohort).set_index("model_id")
    predicted = _predicted_survival(cohort, records, model_id, s, horizon)
    if isinstance(predicted, str):
        return predicted
    return sm.survival_calibration(t, e, s, predicted, horizon, quantiles)


def _calibration_panel(filt, task: str, split: str, records: pd.DataFrame, model_id: str,
                       quantiles, horizon: float) -> None:
    cal = _calibration(loaders.filter_key(filt), task, split, model_id,
                       int(records.loc[model_id, "version"]), tuple(quantiles), horizon)
    if isinstance(cal, str):
        st.info(f"No calibration: {cal}.")
        return
    name = records.loc[model_id, "name"]
    fig = make_survival_calibration_figure(
        {SPLIT_NAMES[split].split(" (")[0]: cal},
        title=f"Calibration at {horizon_label(horizon)}: {name}")
    st.plotly_chart(fig, width="stretch", theme=None, key=f"models_survival_calibration_{split}",
                    config=figures.plotly_config(f"survival_calibration_{model_id}_{split}"))
    data = cal.frame()
    export_buttons(fig, data, f"survival_calibration_{model_id}_{split}", n=int(cal.n.sum()))
    st.dataframe(data.round(4), hide_index=True, width="stretch")


def model_section(filt, task: str, splits: list[str], records: pd.DataFrame,
                  horizons: tuple) -> str | None:
    """The chosen model's risk groups, time-dependent ROC and calibration."""
    order = _by_c(records)
    left, right = st.columns(2)
    model_id = selected_model(task, order, label="Model for risk groups, ROC and calibration",
                              container=left)
    if model_id is None:
        return None
    quantiles, how = _grouping(task, right)
    name = records.loc[model_id, "name"]
    fkey = loaders.filter_key(filt)
    st.subheader(f"Survival by predicted risk group: {name}")
    for col, split in zip(st.columns(len(splits)), splits):
        with col:
            _km_panel(fkey, task, split, model_id, name, quantiles, how)
    st.subheader(f"Time-dependent ROC: {name}")
    for col, split in zip(st.columns(len(splits)), splits):
        with col:
            _roc_panel(fkey, task, split, model_id, name, horizons)
    st.subheader(f"Calibration of predicted survival: {name}")
    horizon = st.selectbox("Horizon", horizons, index=min(1, len(horizons) - 1),
                           key=f"models_calibration_horizon_{task}", format_func=horizon_label)
    for col, split in zip(st.columns(len(splits)), splits):
        with col:
            _calibration_panel(filt, task, split, records, model_id, quantiles, float(horizon))
    st.caption("Predicted survival: the model's absolute survival (its risk score calibrated "
               "to survival by a Cox / Breslow fit on the out-of-fold predictions, as on the "
               "Score page), averaged over each risk group; observed: the group's Kaplan–Meier "
               "estimate with its log-log 95% interval. On out-of-fold predictions the "
               "calibration was fitted to the same patients, so the external centre is the "
               "honest check.")
    return model_id


def survival_task(filt, task: str, splits: list[str], records: pd.DataFrame) -> None:
    """The whole survival-task part of the Models page."""
    horizons = _horizons(task)
    concordance_section(filt, task, splits, records, horizons)
    comparison_section(filt, task, splits, records)
    model_section(filt, task, splits, records, horizons)


__all__ = ["comparison_section", "concordance_section", "model_section", "survival_task"]
