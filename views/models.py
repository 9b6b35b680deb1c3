"""Models: how well each model of a task discriminates, how well it is calibrated, and
whether it helps decisions, next to the clinical scores the board uses today."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from crlm import figures, ui
from crlm.analysis import model_comparison as mc
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


def _predictions(filt, task: str, split: str) -> pd.DataFrame:
    """The predictions behind the R export (read on click)."""
    target = TASKS[task].target if TASKS[task].kind == "binary" else None
    columns = (target,) if target else (TASKS[task].time_column, TASKS[task].event_column)
    return ui.load_predictions(filt, task=task, split=split, columns=columns)


def _thresholds(records: pd.DataFrame, model_ids) -> tuple:
    return tuple((m, float(ui.get_threshold(m, records.loc[m, "threshold"]))) for m in model_ids)


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


def _roc_panel(filt, snap, key: tuple, task: str, split: str, records: pd.DataFrame,
               shown: list[str], chosen: str | None, reference: str) -> pd.DataFrame | None:
    rocs = mc.model_rocs(snap, key, task, split)
    model_ids = [m for m in rocs.model_ids if m in shown]
    if not model_ids:
        st.info(f"No {SPLITS[split].lower()} predictions with both responders and "
                "non-responders under this filter.")
        return None
    result = mc.model_table(snap, key, task, split, reference, _thresholds(records, model_ids))
    name = lambda m: records.loc[m, "name"]
    curves = {name(m): rocs.get(m) for m in model_ids}
    baselines = [name(m) for m in model_ids if kinds.is_clinical_score(records.loc[m, "kind"])]
    row = result.row(chosen) if chosen else None
    points = {name(chosen): (1 - row.specificity, row.sensitivity)} if row else {}
    fig = figures.make_roc_figure(curves, baselines=baselines, operating_points=points,
                                  title=f"{TASKS[task].label}: {SPLITS[split].lower()}")
    st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"roc_{task}_{split}"),
                    key=f"models_roc_{split}")
    data = rocs.frame(dict(records["name"]), model_ids)
    ui.export_buttons(fig, data, f"roc_{task}_{split}", n=max(rocs.get(m).n for m in model_ids))
    choices = dict(task=task, split=split, model_ids=model_ids, reference=reference, chosen=chosen,
                   thresholds={m: ui.get_threshold(m, records.loc[m, "threshold"]) for m in records.index})
    r_export_button(lambda f=filt, c=choices: models_export_from_predictions(  # on click, off-thread
        _predictions(f, task, split), records, **c), f"models_{task}_{split}")
    table = result.frame()
    st.dataframe(_shown_table(table, reference), hide_index=True, width="stretch")
    st.download_button("Model table (CSV)", data=figures.figure_data_csv(table),
                       file_name=figures.safe_filename("models", task, split, filt.cohort) + ".csv",
                       mime="text/csv", key=f"models_table_csv_{split}", on_click="ignore")
    return table


def _calibration_panel(snap, key: tuple, task: str, splits: list[str], records: pd.DataFrame,
                       chosen: str) -> None:
    panel = mc.calibration_panel(snap, key, task, tuple(splits), chosen)
    if not panel.probability:
        st.info(f"{records.loc[chosen, 'name']} gives a score, not a probability: "
                "calibration and net benefit apply to probability models only.")
        return
    if not panel.splits:
        st.info("No predictions of this model under the current filter.")
        return
    labels = {s: SPLITS[s].split(" (")[0] for s in panel.splits}
    cal = {labels[s]: c for s, c in zip(panel.splits, panel.calibration)}
    nb = {labels[s]: r for s, r in zip(panel.splits, panel.net_benefit)}
    left, right = st.columns(2)
    name = records.loc[chosen, "name"]
    with left:
        fig = figures.make_calibration_figure(cal, title=f"Calibration: {name}")
        st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"calibration_{chosen}"),
                        key="models_calibration")
        ui.export_buttons(fig, panel.calibration_frame(labels), f"calibration_{chosen}",
                          n=int(sum(c.n for c in cal.values())))
    with right:
        fig = figures.make_decision_curve_figure(nb, title=f"Decision curve: {name}")
        st.plotly_chart(fig, width="stretch", theme=None, config=figures.plotly_config(f"decision_{chosen}"),
                        key="models_decision")
        ui.export_buttons(fig, panel.net_benefit_frame(labels), f"decision_curve_{chosen}",
                          n=int(sum(r.n for r in nb.values())))


def _threshold_slider(snap, key: tuple, task: str, split: str, records: pd.DataFrame,
                      chosen: str) -> None:
    rec = records.loc[chosen]
    stored = float(rec["threshold"]) if pd.notna(rec["threshold"]) else 0.5
    current = float(ui.get_threshold(chosen, stored))
    bounds = mc.threshold_range(snap, key, task, split, chosen, stored)
    lo, hi = bounds.low, bounds.high
    value = st.slider(f"Threshold for {rec['name']} (predicted responder when score ≥ threshold)",
                      min_value=lo, max_value=hi, value=min(max(current, lo), hi), step=bounds.step,
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
best_trained = [m for m in mc.models_by_auc(records) if m in trained][:DEFAULT_TRAINED_SHOWN]
default_shown = best_trained + [m for m in clinical if m.split(".", 1)[1] in DEFAULT_BASELINES]
shown = c3.multiselect("Models shown", list(records.index), default=default_shown,
                       key=f"models_shown_{task}", format_func=lambda m: records.loc[m, "name"])
options = [m for m in mc.models_by_auc(records) if m in trained] or list(records.index)
left, right = st.columns(2)
chosen = ui.selected_model(task, options, label="Model for threshold and calibration",
                           container=left)
fong = f"{task}.fong_score"
ref_options = list(records.index)
reference = right.selectbox("Reference for DeLong p-values", ref_options,
                            index=ref_options.index(fong) if fong in ref_options else 0,
                            key=f"models_reference_{task}",
                            format_func=lambda m: records.loc[m, "name"])
snap, key = ui.snapshot(filt.cohort), ui.filter_key(filt)
_threshold_slider(snap, key, task, splits[0], records, chosen)

st.subheader("Discrimination")
cols = st.columns(len(splits))
for col, split in zip(cols, splits):
    with col:
        _roc_panel(filt, snap, key, task, split, records, shown or default_shown, chosen, reference)
st.caption("AUC with DeLong 95% CI; sensitivity, specificity, PPV and NPV at each model's "
           "threshold (the Youden threshold from out-of-fold scores unless changed above); "
           "DeLong p: paired test against the reference on the patients both models scored.")

st.subheader(f"Calibration and net benefit: {records.loc[chosen, 'name']}")
_calibration_panel(snap, key, task, splits, records, chosen)

if task == anti_egfr_ui.TASK and not kinds.is_clinical_score(records.loc[chosen, "kind"]) \
        and pd.notna(records.loc[chosen, "threshold"]):
    anti_egfr_ui.models_section(filt, chosen, records.loc[chosen, "name"],
                                float(ui.get_threshold(chosen, records.loc[chosen, "threshold"])),
                                records.loc[chosen, "threshold"])

_model_cards(records, task)
