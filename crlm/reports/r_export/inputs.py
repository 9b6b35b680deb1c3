"""The analysis inputs of the Survival, Models, Cohort (Table 1) and Subgroups pages, from
the store for ``crlm export-analysis`` and from the pages' own frames for their buttons:
the same rows, groups, thresholds and model choices the pages use by default."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from crlm import config
from crlm.analysis.pages import (
    PREDICTED, SUBGROUP_COLUMNS, SUBGROUP_MIN_EVENTS, SUBGROUP_MIN_PATIENTS_AUC, SUBGROUP_MIN_PATIENTS_KM,
    TABLE_ONE_VARIABLES, subgroup_levels,
)
from crlm.models import TASKS
from crlm.models.kinds import is_clinical_score, shows_probability, trained_only
from crlm.reports.r_export._common import ExportInputError
from crlm.reports.r_export.models import ModelScores, models_export
from crlm.store import CohortFilter, load_cohort, load_models, load_predictions

PREDICTION_SPLITS = ("out-of-fold", "external")
RESPONSE_TASKS = ("response", "anti_egfr_benefit")


@dataclass(frozen=True)
class SurvivalInputs:
    data: pd.DataFrame  # time, event, group
    order: list[str]
    title: str


@dataclass(frozen=True)
class ModelsInputs:
    outcome: np.ndarray
    models: list[ModelScores]
    reference: str | None
    chosen: str | None
    title: str


def _best_by_auc(records: pd.DataFrame) -> list[str]:
    """Model ids (the ``model_id`` column), best stored out-of-fold AUC first, as the
    pages order them."""
    from crlm.analysis.model_comparison import models_by_auc
    return models_by_auc(records.set_index("model_id"))


def _order(levels, split_by: str) -> list[str]:
    levels = list(dict.fromkeys(levels))
    if split_by == "predicted responder":
        return [g for g in PREDICTED if g in levels]
    col = config.COLUMNS_BY_NAME.get(split_by)
    known = list(col.levels) if col is not None and col.levels else sorted(levels)
    ordered = [lv for lv in known if lv in levels]
    return ordered + sorted(lv for lv in levels if lv not in ordered)


def survival_inputs(store, filt: CohortFilter, *, endpoint: str = "OS", split_by: str = "none",
                    task: str | None = None, model_id: str | None = None,
                    threshold: float | None = None) -> SurvivalInputs:
    """time, event and group of every patient with a known endpoint, as the Survival page
    builds them; ``split_by="predicted responder"`` splits at the model's threshold (its
    stored Youden threshold unless given), with the best out-of-fold model by default."""
    if endpoint not in config.ENDPOINTS:
        raise ExportInputError(f"endpoint must be one of {', '.join(config.ENDPOINTS)}, got {endpoint!r}")
    time_col, event_col = config.ENDPOINTS[endpoint]
    if split_by == "predicted responder":
        task, model_id, threshold, name = _response_model(store, filt, task, model_id, threshold)
        preds = load_predictions(store, filt, task=task, model_id=model_id,
                                 split=list(PREDICTION_SPLITS), columns=(time_col, event_col))
        frame = preds.drop_duplicates("patient_id")
        group = np.where(frame["score"].to_numpy(float) >= threshold, PREDICTED[1], PREDICTED[0])
        frame = frame.assign(group=group)
        title = f"{endpoint} by predicted response ({name}, score >= {threshold:.3f})"
    else:
        if split_by != "none" and split_by not in config.COLUMNS_BY_NAME:
            raise ExportInputError(f"split_by: no column {split_by!r}")
        cols = [time_col, event_col] + ([split_by] if split_by != "none" else [])
        frame = load_cohort(store, filt, columns=cols)
        if split_by == "none":
            frame = frame.assign(group="All patients")
        else:
            raw = frame[split_by]
            if config.COLUMNS_BY_NAME[split_by].kind == "bool":
                raw = raw.map({True: "yes", False: "no"})
            frame = frame.assign(group=raw.astype(object).where(raw.notna(), "unknown").astype(str))
        title = f"{endpoint} by {split_by}" if split_by != "none" else endpoint
    frame = frame.dropna(subset=[time_col, event_col])
    if frame.empty:
        raise ExportInputError("no patient with a known endpoint matches the filter")
    data = pd.DataFrame({"time": frame[time_col].to_numpy(float),
                         "event": frame[event_col].astype(bool).to_numpy(),
                         "group": frame["group"].to_numpy(str)})
    return SurvivalInputs(data, _order(data["group"], split_by), title)


def models_inputs(store, filt: CohortFilter, *, task: str = "response", split: str = "out-of-fold",
                  model_ids: Sequence[str] | None = None, reference: str | None = None,
                  chosen: str | None = None) -> ModelsInputs:
    """Outcome and every model's scores of one prediction split, as the Models page uses
    them: each model's stored threshold, the Fong score as the DeLong reference and the
    best out-of-fold model as the chosen one unless given. Models are named by their
    display names."""
    if task not in TASKS or TASKS[task].kind != "binary":
        binary = [t for t in TASKS if TASKS[t].kind == "binary"]
        raise ExportInputError(f"task must be one of {', '.join(binary)} (survival tasks: "
                               f"concordance_export_from_predictions), got {task!r}")
    records = load_models(store, cohort=filt.cohort, task=task)
    if records.empty:
        raise ExportInputError(f"no model for task {task} in cohort {filt.cohort!r}")
    records = records.set_index("model_id", drop=False)
    ids = list(model_ids) if model_ids else list(records.index)
    unknown = [m for m in ids if m not in records.index]
    if unknown:
        raise ExportInputError(f"no current model {unknown[0]!r} for task {task}")
    fong = f"{task}.fong_score"
    reference = reference or (fong if fong in ids else None)
    trained = [m for m in _best_by_auc(records.loc[ids])
               if not is_clinical_score(records.loc[m, "kind"])]
    chosen = chosen or (trained[0] if trained else None)
    for what, m in (("reference", reference), ("chosen", chosen)):
        if m is not None and m not in ids:
            raise ExportInputError(f"the {what} model {m!r} is not among the exported models")
    target = TASKS[task].target
    preds = load_predictions(store, filt, task=task, split=split, columns=(target,))
    return models_from_predictions(preds, records, task=task, split=split, model_ids=ids,
                                   reference=reference, chosen=chosen)


def models_from_predictions(preds: pd.DataFrame, records: pd.DataFrame, *, task: str, split: str,
                            model_ids: Sequence[str], thresholds: dict | None = None,
                            reference: str | None = None, chosen: str | None = None) -> ModelsInputs:
    """The Models page's inputs from its predictions frame (patient_id, model_id, score and
    the task's target) and model records (indexed by model_id: name, kind, threshold).
    ``thresholds`` overrides the stored thresholds per model id; the reference and the
    chosen model are added to ``model_ids`` when missing."""
    target = TASKS[task].target
    ids = list(dict.fromkeys([*model_ids, *(m for m in (reference, chosen) if m is not None)]))
    preds = preds[preds["model_id"].isin(ids)]
    if preds.empty:
        raise ExportInputError(f"no {split} predictions of task {task} under the filter")
    wide = preds.pivot_table(index="patient_id", columns="model_id", values="score")
    outcome = preds.drop_duplicates("patient_id").set_index("patient_id")[target].reindex(wide.index)
    names = {m: str(records.loc[m, "name"]) for m in ids}
    if len(set(names.values())) != len(ids):
        names = {m: m for m in ids}
    thresholds = thresholds or {}
    models = []
    for m in ids:
        s = wide[m].to_numpy(float) if m in wide else np.full(len(wide), np.nan)
        thr = thresholds.get(m, records.loc[m, "threshold"])
        models.append(ModelScores(names[m], s, None if thr is None or pd.isna(thr) else float(thr),
                                  shows_probability(records.loc[m, "kind"], s)))
    y = outcome.map(lambda v: np.nan if pd.isna(v) else float(bool(v))).to_numpy(float)
    return ModelsInputs(y, models, names[reference] if reference else None,
                        names[chosen] if chosen else None, f"{TASKS[task].label}: {split} predictions")


def concordance_export_from_predictions(preds: pd.DataFrame, records: pd.DataFrame, *, task: str,
                                        split: str, model_ids: Sequence[str] | None = None):
    """The Models page's survival-task table (Harrell's C, time-dependent AUC) as an R export,
    from its predictions frame (patient_id, model_id, score, the task's time and event)."""
    from crlm.reports.r_export.concordance import concordance_export

    time_col, event_col = TASKS[task].time_column, TASKS[task].event_column
    ids = list(model_ids) if model_ids is not None else list(dict.fromkeys(preds["model_id"]))
    preds = preds[preds["model_id"].isin(ids)]
    if preds.empty:
        raise ExportInputError(f"no {split} predictions of task {task} under the filter")
    wide = preds.pivot_table(index="patient_id", columns="model_id", values="score")
    first = preds.drop_duplicates("patient_id").set_index("patient_id").reindex(wide.index)
    names = {m: str(records.loc[m, "name"]) if m in records.index else m for m in ids}
    if len(set(names.values())) != len(ids):
        names = {m: m for m in ids}
    models = [ModelScores(names[m], wide[m].to_numpy(float) if m in wide else
                          np.full(len(wide), np.nan)) for m in ids]
    event = first[event_col].map(lambda v: np.nan if pd.isna(v) else float(bool(v))).to_numpy(float)
    return concordance_export(pd.to_numeric(first[time_col], errors="coerce").to_numpy(float), event,
                              models, title=f"{TASKS[task].label}: {split} predictions")


def models_export_from_predictions(preds: pd.DataFrame, records: pd.DataFrame, **choices):
    """:func:`models_from_predictions` then :func:`models_export` (the Models page's button);
    for a survival task :func:`concordance_export_from_predictions`."""
    task = choices["task"]
    if TASKS[task].kind != "binary":
        return concordance_export_from_predictions(
            preds, records, task=task, split=choices["split"], model_ids=choices.get("model_ids"))
    inputs = models_from_predictions(preds, records, **choices)
    return models_export(inputs.outcome, inputs.models, reference=inputs.reference,
                         chosen=inputs.chosen, title=inputs.title)


def _response_model(store, filt: CohortFilter, task: str | None, model_id: str | None,
                    threshold: float | None) -> tuple[str, str, float, str]:
    """(task, model id, threshold, model name): the best out-of-fold response model and its
    stored threshold unless chosen."""
    task = task or "response"
    if task not in RESPONSE_TASKS:
        raise ExportInputError(f"task must be one of {', '.join(RESPONSE_TASKS)}, got {task!r}")
    records = load_models(store, cohort=filt.cohort, task=task)
    records = trained_only(records)
    if records.empty:
        raise ExportInputError(f"no trained {task} model in cohort {filt.cohort!r}")
    model_id = model_id or _best_by_auc(records)[0]
    if model_id not in set(records["model_id"]):
        raise ExportInputError(f"no current model {model_id!r} for task {task}")
    rec = records.set_index("model_id").loc[model_id]
    return task, model_id, float(rec["threshold"] if threshold is None else threshold), str(rec["name"])


def table_one_inputs(store, filt: CohortFilter, *, split_by: str = "none", task: str | None = None,
                     model_id: str | None = None, threshold: float | None = None):
    """(cohort frame, variables, grouping column) as the Cohort page builds Table 1."""
    cohort = load_cohort(store, filt)
    if cohort.empty:
        raise ExportInputError("no patient matches the filter")
    by = None if split_by == "none" else split_by
    if split_by == "predicted responder":
        task, model_id, threshold, _ = _response_model(store, filt, task, model_id, threshold)
        preds = load_predictions(store, filt, task=task, model_id=model_id,
                                 split=list(PREDICTION_SPLITS))
        predicted = preds.drop_duplicates("patient_id").set_index("patient_id")["score"] >= threshold
        label = predicted.map({True: "predicted responder", False: "predicted non-responder"})
        by = "predicted_responder"
        cohort = cohort.assign(**{by: cohort["patient_id"].map(label)})
    elif by is not None and by not in cohort.columns:
        raise ExportInputError(f"split_by: no column {split_by!r}")
    variables = [v for v in TABLE_ONE_VARIABLES if v[0] in cohort.columns and v[0] != by]
    return cohort, variables, by


def subgroups_from_predictions(preds: pd.DataFrame, *, task: str, endpoint: str,
                               columns: Sequence[str]):
    """(data, subgroups) for :func:`subgroups_export` from the Subgroups page's frame
    (predictions with ``predicted``, the endpoint, the task's target and the subgroup columns)."""
    time_col, event_col = config.ENDPOINTS[endpoint]
    target = TASKS[task].target
    data = pd.DataFrame({
        "time": pd.to_numeric(preds[time_col], errors="coerce").astype(float),
        "event": preds[event_col].map(lambda v: np.nan if pd.isna(v) else float(bool(v))),
        "predicted": preds["predicted"].astype(int),
        "score": preds["score"].astype(float),
        "outcome": preds[target].map(lambda v: np.nan if pd.isna(v) else float(bool(v))),
    })
    for column in columns:
        data[column] = subgroup_levels(preds[column], column)
    return data, [(c, config.COLUMNS_BY_NAME[c].label) for c in columns]


def subgroups_export_from_predictions(preds: pd.DataFrame, *, task: str, endpoint: str,
                                      columns: Sequence[str]):
    """:func:`subgroups_from_predictions` then :func:`subgroups_export` (the page's button)."""
    from crlm.reports.r_export.subgroups import subgroups_export

    data, subgroups = subgroups_from_predictions(preds, task=task, endpoint=endpoint, columns=columns)
    return subgroups_export(data, subgroups, min_events=SUBGROUP_MIN_EVENTS,
                            min_patients_auc=SUBGROUP_MIN_PATIENTS_AUC,
                            min_patients_km=SUBGROUP_MIN_PATIENTS_KM,
                            title=f"{endpoint} and {TASKS[task].label} within subgroups")


def subgroups_predictions(store, filt: CohortFilter, *, task: str, model_id: str, threshold: float,
                          endpoint: str) -> pd.DataFrame:
    """The Subgroups page's frame: one prediction per patient with ``predicted``."""
    time_col, event_col = config.ENDPOINTS[endpoint]
    target = TASKS[task].target
    preds = load_predictions(store, filt, task=task, model_id=model_id, split=list(PREDICTION_SPLITS),
                             columns=tuple(dict.fromkeys([time_col, event_col, target]
                                                         + SUBGROUP_COLUMNS)))
    preds = preds.drop_duplicates("patient_id")
    if preds.empty:
        raise ExportInputError("no patient with predictions matches the filter")
    return preds.assign(predicted=(preds["score"].to_numpy(float) >= threshold).astype(int))


PAGES = ("survival", "models", "table1", "subgroups")


def export_from_store(store, page: str, filt: CohortFilter, *, endpoint: str = "OS",
                      split_by: str | None = None, task: str | None = None,
                      model_id: str | None = None, threshold: float | None = None,
                      horizon: float = 36.0, prediction_split: str = "out-of-fold",
                      model_ids: Sequence[str] | None = None, reference: str | None = None,
                      chosen: str | None = None, columns: Sequence[str] | None = None):
    """``page`` (one of :data:`PAGES`) exported with the page's defaults unless chosen
    otherwise (``crlm export-analysis``). ``split_by`` defaults to the page's: predicted
    responder on the Survival page, none for Table 1."""
    from crlm.reports.r_export.survival import survival_export
    from crlm.reports.r_export.table_one import table_one_export

    if endpoint not in config.ENDPOINTS:
        raise ExportInputError(f"endpoint must be one of {', '.join(config.ENDPOINTS)}, got {endpoint!r}")
    if page == "survival":
        inputs = survival_inputs(store, filt, endpoint=endpoint,
                                 split_by=split_by or "predicted responder", task=task,
                                 model_id=model_id, threshold=threshold)
        return survival_export(inputs.data, order=inputs.order, horizon=horizon, endpoint=endpoint,
                               title=inputs.title)
    if page == "models" and (task or "response") in TASKS and TASKS[task or "response"].kind != "binary":
        records = load_models(store, cohort=filt.cohort, task=task)
        if records.empty:
            raise ExportInputError(f"no model for task {task} in cohort {filt.cohort!r}")
        t = TASKS[task]
        preds = load_predictions(store, filt, task=task, split=prediction_split,
                                 columns=(t.time_column, t.event_column))
        return concordance_export_from_predictions(preds, records.set_index("model_id", drop=False),
                                                   task=task, split=prediction_split,
                                                   model_ids=model_ids)
    if page == "models":
        inputs = models_inputs(store, filt, task=task or "response", split=prediction_split,
                               model_ids=model_ids, reference=reference, chosen=chosen)
        return models_export(inputs.outcome, inputs.models, reference=inputs.reference,
                             chosen=inputs.chosen, title=inputs.title)
    if page == "table1":
        cohort, variables, by = table_one_inputs(store, filt, split_by=split_by or "none", task=task,
                                                 model_id=model_id, threshold=threshold)
        return table_one_export(cohort, variables, by=by,
                                title="Table 1" + (f" by {by}" if by else ""))
    if page == "subgroups":
        columns = list(columns or SUBGROUP_COLUMNS)
        unknown = [c for c in columns if c not in SUBGROUP_COLUMNS]
        if unknown:
            raise ExportInputError(f"subgroup column {unknown[0]!r} is not one of "
                                   f"{', '.join(SUBGROUP_COLUMNS)}")
        task, model_id, threshold, _ = _response_model(store, filt, task, model_id, threshold)
        preds = subgroups_predictions(store, filt, task=task, model_id=model_id,
                                      threshold=threshold, endpoint=endpoint)
        return subgroups_export_from_predictions(preds, task=task, endpoint=endpoint, columns=columns)
    raise ExportInputError(f"page must be one of {', '.join(PAGES)}, got {page!r}")
