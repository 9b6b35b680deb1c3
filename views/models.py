"""Models: how well each model of a task discriminates, how well it is calibrated, and
whether it helps decisions, next to the clinical scores the board uses today."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from crlm import figures, stats, ui
from crlm.models import TASKS, kinds
from crlm.models.cards import ModelCard
from crlm.privacy import csv_bytes
from crlm.reports.r_export.inputs import models_export_from_predictions
from crlm.ui.widgets import r_export_button
from crlm.ui import anti_egfr as anti_egfr_ui
from crlm.ui import survival_models as survival_ui
from crlm.ui.trajectory_models import trajectory_section
from crlm.ui.trees import tree_section

SPLITS = {"out-of-fold": "Out-of-fold (development centres)",
          "external": "External centre",
          "both": "Both, side by side"}
DEFAULT_BASELINES = ("fong_score", "tumour_burden_score", "cea_ng_ml")
DEFAULT_TRAINED_SHOWN = 4  # best out-of-fold AUC first; more can be added
NET_BENEFIT_THRESHOLDS = np.round(np.arange(0.01, 0.96, 0.01), 2)


def _by_auc(records: pd.DataFrame) -> list[str]:
    """Model ids, best out-of-fold AUC first (the default choice)."""
    auc = records["metrics"].map(lambda m: ((m or {}).get("out_of_fold") or {}).get("auc") or 0.0)
    return list(auc.sort_values(ascending=False, kind="stable").index)


def _predictions(filt, task: str, split: str) -> pd.DataFrame:
    target = TASKS[task].target if TASKS[task].kind == "binary" else None
    columns = (target,) if target else (TASKS[task].time_column, TASKS[task].event_column)
    return ui.load_predictions(filt, task=task, split=split, columns=columns)


@st.cache_data(show_spinner="Computing ROC curves…", max_entries=32)
def _roc_by_model(fkey: tuple, task: str, split: str) -> dict:
    """model_id -> (ROC result, outcome array, score array) for models with both classes."""
    preds = _predictions(ui.current_filter(), task, split)
    target = TASKS[task].target
    out = {}
    for model_id, part in preds.groupby("model_id", sort=False):
        part = part.dropna(subset=[target, "score"])
        y = part[target].astype(bool).to_numpy()
        s = part["score"].to_numpy(float)
        if 0 < y.sum() < len(y):
            out[model_id] = (stats.roc(y, s), y, s)
    return out


@st.cache_data(show_spinner=False, max_entries=64)
def _delong(fkey: tuple, task: str, split: str, reference: str) -> dict:
    """model_id -> paired DeLong p-value against ``reference`` (same patients)."""
    preds = _predictions(ui.current_filter(), task, split)
    target = TASKS[task].target
    wide = preds.pivot_table(index="patient_id", columns="model_id", values="score")
    outcome = preds.drop_duplicates("patient_id").set_index("patient_id")[target]
    out = {}
    if reference not in wide:
        return out
    for model_id in wide.columns:
        if model_id == reference:
            continue
        both = wide[[model_id, reference]].dropna().join(outcome).dropna()
        y = both[target].astype(bool).to_numpy()
        if y.sum() >= 2 and (~y).sum() >= 2:
            out[model_id] = stats.delong_test(y, both[model_id], both[reference]).p_value
    return out


def _model_table(results: dict, records: pd.DataFrame, delong: dict, reference: str) -> pd.DataFrame:
    rows = []
    for model_id, (r, y, s) in results.items():
        rec = records.loc[model_id]
        threshold = ui.get_threshold(model_id, rec["threshold"])
        m = stats.diagnostic_metrics(y, s, float(threshold))
        prob = kinds.shows_probability(rec["kind"], s)
        cal = stats.calibration(y, s) if prob else None
        rows.append({
            "model": rec["name"], "model_id": model_id, "kind": rec["kind"], "n": r.n,
            "responders": r.n_positive, "auc": r.auc, "auc_ci_lower": r.auc_ci[0],
            "auc_ci_upper": r.auc_ci[1], "threshold": float(threshold),
            "sensitivity": m.sensitivity, "specificity": m.specificity, "ppv": m.ppv,
            "npv": m.npv, "brier": cal.brier if cal else np.nan,
            "calibration_slope": cal.slope if cal else np.nan,
            f"delong_p_vs_{reference}": delong.get(model_id, np.nan),
        })
    return pd.DataFrame(rows)


def _shown_table(table: pd.DataFrame, reference: str) -> pd.DataFrame:
    pct = lambda v: "–" if pd.isna(v) else f"{100 * v:.0f}%"
    num = lambda v, d=2: "–" if pd.isna(v) else f"{v:.{d}f}"
    pcol = f"delong_p_vs_{reference}"
    return pd.DataFrame({
        "Model": table["model"], "Kind": table["kind"], "n": table["n"],
        "Responders": table["responders"],
        "AUC [95% CI]": [figures.format_estimate(a, lo, hi) for a, lo, hi in
                         zip(table["auc"], table["auc_ci_lower"], table["auc_ci_upper"])],
        "Threshold": table["threshold"].map(lambda v: num(v, 3)),
        "Sensitivity": table["sensitivity"].map(pct), "Specificity": table["specificity"].map(pct),
        "PPV": table["ppv"].map(pct), "NPV": table["npv"].map(pct),
        "Brier": table["brier"].map(lambda v: num(v, 3)),
        "Calibration slope": table["calibration_slope"].map(num),
        "DeLong p vs reference": table[pcol].map(
            lambda p: "reference" if pd.isna(p) else figures.format_p(p, prefix="").strip()),
    })


def _roc_panel(filt, task: str, split: str, records: pd.DataFrame, shown: list[str],
               chosen: str | None, reference: str) -> pd.DataFrame | None:
    results = _roc_by_model(ui.filter_key(filt), task, split)
    results = {m: v for m, v in results.items() if m in shown}
    if not results:
        st.info(f"No {SPLITS[split].lower()} predictions with both responders and "
                "non-responders under this filter.")
        return None
    name = lambda m: records.loc[m, "name"]
    curves = {name(m): v[0] for m, v in results.items()}
    baselines = [name(m) for m in results if kinds.is_clinical_score(records.loc[m, "kind"])]
    points = {}
    if chosen in results:
        r, y, s = results[chosen]
        m = stats.diagnostic_metrics(y, s, float(ui.get_threshold(chosen, records.loc[chosen, "threshold"])))
        points[name(chosen)] = (1 - m.specificity, m.sensitivity)
    n = max(v[0].n for v in results.values())
    fig = figures.make_roc_figure(curves, baselines=baselines, operating_points=points,
                                  title=f"{TASKS[task].label}: {SPLITS[split].lower()}")
    st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"roc_{task}_{split}"),
                    key=f"models_roc_{split}")
    data = pd.concat([pd.DataFrame({"model": name(m), "fpr": v[0].fpr, "tpr": v[0].tpr,
                                    "threshold": v[0].thresholds}) for m, v in results.items()])
    ui.export_buttons(fig, data, f"roc_{task}_{split}", n=n)
    choices = dict(task=task, split=split, model_ids=list(results), reference=reference, chosen=chosen,
                   thresholds={m: ui.get_threshold(m, records.loc[m, "threshold"]) for m in records.index})
    r_export_button(lambda f=filt, c=choices: models_export_from_predictions(  # on click, off-thread
        _predictions(f, task, split), records, **c), f"models_{task}_{split}")
    table = _model_table(results, records, _delong(ui.filter_key(filt), task, split, reference), reference)
    st.dataframe(_shown_table(table, reference), hide_index=True, width="stretch")
    st.download_button("Model table (CSV)", data=figures.figure_data_csv(table),
                       file_name=figures.safe_filename("models", task, split, filt.cohort) + ".csv",
                       mime="text/csv", key=f"models_table_csv_{split}", on_click="ignore")
    return table


def _calibration_panel(filt, task: str, splits: list[str], records: pd.DataFrame, chosen: str) -> None:
    cal, nb = {}, {}
    for split in splits:
        res = _roc_by_model(ui.filter_key(filt), task, split).get(chosen)
        if res is None:
            continue
        _, y, s = res
        if not kinds.shows_probability(records.loc[chosen, "kind"], s):
            st.info(f"{records.loc[chosen, 'name']} gives a score, not a probability: "
                    "calibration and net benefit apply to probability models only.")
            return
        cal[SPLITS[split].split(" (")[0]] = stats.calibration(y, s, bins=10)
        nb[SPLITS[split].split(" (")[0]] = stats.net_benefit(y, s, NET_BENEFIT_THRESHOLDS)
    if not cal:
        st.info("No predictions of this model under the current filter.")
        return
    left, right = st.columns(2)
    name = records.loc[chosen, "name"]
    with left:
        fig = figures.make_calibration_figure(cal, title=f"Calibration: {name}")
        st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"calibration_{chosen}"),
                        key="models_calibration")
        data = pd.concat([pd.DataFrame({"split": k, "mean_predicted": c.mean_predicted,
                                        "observed": c.observed, "ci_lower": c.observed_ci_lower,
                                        "ci_upper": c.observed_ci_upper, "n": c.count})
                          for k, c in cal.items()])
        ui.export_buttons(fig, data, f"calibration_{chosen}", n=int(sum(c.n for c in cal.values())))
    with right:
        fig = figures.make_decision_curve_figure(nb, title=f"Decision curve: {name}")
        st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"decision_{chosen}"),
                        key="models_decision")
        data = pd.concat([pd.DataFrame({"split": k, "threshold": r.thresholds, "net_benefit": r.model,
                                        "treat_all": r.treat_all}) for k, r in nb.items()])
        ui.export_buttons(fig, data, f"decision_curve_{chosen}", n=int(sum(r.n for r in nb.values())))


def _threshold_slider(filt, task: str, split: str, records: pd.DataFrame, chosen: str) -> None:
    rec = records.loc[chosen]
    stored = float(rec["threshold"]) if pd.notna(rec["threshold"]) else 0.5
    current = float(ui.get_threshold(chosen, stored))
    res = _roc_by_model(ui.filter_key(filt), task, split).get(chosen)
    if not kinds.is_clinical_score(rec["kind"]) and (res is None or kinds.is_probability(res[2])):
        lo, hi, step = 0.0, 1.0, 0.01
    else:
        scores = res[2] if res is not None else np.array([stored])
        lo, hi = float(min(scores.min(), stored)), float(max(scores.max(), stored))
        step = max((hi - lo) / 200, 1e-3)
    value = st.slider(f"Threshold for {rec['name']} (predicted responder when score ≥ threshold)",
                      min_value=lo, max_value=hi, value=min(max(current, lo), hi), step=step,
                      key=f"models_threshold_{chosen}",
                      help=f"Default: the stored Youden threshold {stored:.3f} from out-of-fold scores. "
                           "The Survival and Subgroups pages split patients at this threshold.")
    if value != current:
        ui.set_threshold(chosen, value)


def _model_cards(records: pd.DataFrame, task: str) -> None:
    """Each model's card: task, decision time, inputs with the time each is known."""
    with st.expander("Model cards: inputs, decision time, training data"):
        card_id = st.selectbox("Model", list(records.index), key=f"models_card_{task}",
                               format_func=lambda m: records.loc[m, "name"])
        card = ModelCard.from_record({**records.loc[card_id].to_dict(), "model_id": card_id})
        st.dataframe(card.summary(), hide_index=True, width="stretch")
        left_card, right_card = st.columns(2)
        left_card.dataframe(card.inputs_frame(), hide_index=True, width="stretch")
        if len(card.refused):
            right_card.dataframe(card.refused_frame(), hide_index=True, width="stretch")
        if len(card.details):  # the tree, the costs, the selected inputs, the search
            st.dataframe(card.details_frame(), hide_index=True, width="stretch")
        tree_section(records.loc[card_id], card_id)
        st.download_button("Model card (CSV)", key=f"models_card_csv_{card_id}",
                           data=lambda: csv_bytes(pd.concat(
                               [card.summary(), card.inputs_frame().rename(
                                   columns={"input": "item", "known at": "value"})])),
                           file_name=f"model_card_{card_id}.csv", mime="text/csv",
                           on_click="ignore")


# -- page -------------------------------------------------------------------------
filt = ui.current_filter()
ui.require_role("browse")
ui.page_header("Models", "Discrimination, calibration and net benefit of every model, "
                         "next to the clinical scores (dashed).")
models = ui.load_models(filt.cohort)
if models.empty:
    st.info("No models are trained on this cohort yet. Train them with `python -m crlm train` "
            "(the demo store is built and trained with `python -m crlm demo`).")
    st.stop()

tasks = [t for t in TASKS if t in set(models["task"])]
c1, c2, c3 = st.columns([1.2, 1, 1.2])
task = c1.selectbox("Task", tasks, key="models_task", format_func=lambda t: TASKS[t].label)
split_choice = c2.selectbox("Predictions", list(SPLITS), key="models_split",
                            format_func=SPLITS.get)
splits = ["out-of-fold", "external"] if split_choice == "both" else [split_choice]
records = models[models["task"] == task].set_index("model_id")
st.caption(f"Applies to: {TASKS[task].applies_to}. Decision time: "
           f"{TASKS[task].decision_time} (models read only what is known by then). "
           f"Filter: {filt.describe()}.")

if not TASKS[task].is_binary:
    survival_ui.survival_task(filt, task, splits, records)
    trajectory_section(filt, task, splits, records)  # landmark tasks only
    _model_cards(records, task)
    st.stop()

trained = list(kinds.trained_only(records).index)
clinical = list(kinds.clinical_only(records).index)
best_trained = [m for m in _by_auc(records) if m in trained][:DEFAULT_TRAINED_SHOWN]
default_shown = best_trained + [m for m in clinical if m.split(".", 1)[1] in DEFAULT_BASELINES]
shown = c3.multiselect("Models shown", list(records.index), default=default_shown,
                       key=f"models_shown_{task}", format_func=lambda m: records.loc[m, "name"])
options = [m for m in _by_auc(records) if m in trained] or list(records.index)
left, right = st.columns(2)
chosen = ui.selected_model(task, options, label="Model for threshold and calibration",
                           container=left)
fong = f"{task}.fong_score"
ref_options = list(records.index)
reference = right.selectbox("Reference for DeLong p-values", ref_options,
                            index=ref_options.index(fong) if fong in ref_options else 0,
                            key=f"models_reference_{task}",
                            format_func=lambda m: records.loc[m, "name"])
_threshold_slider(filt, task, splits[0], records, chosen)

st.subheader("Discrimination")
cols = st.columns(len(splits))
for col, split in zip(cols, splits):
    with col:
        _roc_panel(filt, task, split, records, shown or default_shown, chosen, reference)
st.caption("AUC with DeLong 95% CI; sensitivity, specificity, PPV and NPV at each model's "
           "threshold (the Youden threshold from out-of-fold scores unless changed above); "
           "DeLong p: paired test against the reference on the patients both models scored.")

st.subheader(f"Calibration and net benefit: {records.loc[chosen, 'name']}")
_calibration_panel(filt, task, splits, records, chosen)

if task == anti_egfr_ui.TASK and not kinds.is_clinical_score(records.loc[chosen, "kind"]) \
        and pd.notna(records.loc[chosen, "threshold"]):
    anti_egfr_ui.models_section(filt, chosen, records.loc[chosen, "name"],
                                float(ui.get_threshold(chosen, records.loc[chosen, "threshold"])),
                                records.loc[chosen, "threshold"])

_model_cards(records, task)
