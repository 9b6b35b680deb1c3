"""Scoring cases with every current model of a cohort.

The path is the one training used: the frame is checked against the column
contract, typed and its derived columns recomputed (``prepare_patients``),
then each model's saved pipeline scores it. Models are loaded once per
process (checked against their manifest) and kept while their artefact file
is unchanged.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crlm import config
from crlm import store as st
from crlm.models.artefacts import ModelError, artefact_path, load_artefact
from crlm.models.decision import plan_inputs
from crlm.models.families import FAMILIES
from crlm.models.tasks import BINARY, TASKS
from crlm.models.inputs import (
    INPUT_COLUMNS, model_matrix, one_hot_case_levels, one_hot_feature_times, validate_patients,
)
from crlm.models.kinds import FUSION, IMAGING, TRAINED, is_clinical_score, is_stacked, reads_images
from crlm.models.modelling_data import (
    default_artefact_dir, load_modelling_data, prepare_patients, task_frame, training_hash,
)
from crlm.models.registration import EXTERNAL, OUT_OF_FOLD
from crlm.models.requirements import NOT_ENOUGH, check_sufficiency, input_label, needs_of

# The inputs each clinical baseline is computed from (for the "missing inputs" reason).
CLINICAL_INPUTS: dict[str, tuple[str, ...]] = {
    "fong_score": ("node_positive", "disease_free_interval_months", "n_liver_lesions",
                   "cea_ng_ml", "max_diameter_cm"),
    "game_score": ("kras", "cea_ng_ml", "node_positive", "max_diameter_cm", "n_liver_lesions",
                   "extrahepatic_disease"),
    "mcs_score": ("kras", "nras", "node_positive", "max_diameter_cm"),
    "tumour_burden_score": ("max_diameter_cm", "n_liver_lesions"),
    "cea_ng_ml": ("cea_ng_ml",),
}

SCORE_COLUMNS = ("patient_id", "task", "model_id", "model_version", "kind", "family", "score",
                 "threshold", "predicted_class", "percentile", "imputed", "out_of_range",
                 "contributions", "contribution_method", "stale", "reason", "reason_group",
                 "sufficient", "needed")

_lock = threading.Lock()
_models: dict[tuple, object] = {}
_distributions: dict[tuple, dict] = {}
_hashes: dict[tuple, dict] = {}


def clear_caches() -> None:
    """Forget loaded models, score distributions and data hashes."""
    with _lock:
        _models.clear()
        _distributions.clear()
        _hashes.clear()


def load_model(model_id: str, version: int, artefact_dir=None, *, folder=None):
    """The fitted model ``model_id`` version ``version`` from its artefact folder
    (``<artefact_dir>/<model_id>/v<version>``, default ``config.MODELS_DIR``), after
    checking its hash and library versions; ``ModelError`` when it cannot be used."""
    folder = Path(folder) if folder is not None else artefact_path(model_id, version, artefact_dir)
    path = folder / "model.joblib"
    try:
        stat = path.stat()
    except OSError:
        raise ModelError(f"model {model_id} v{version}: no artefact at {folder}; "
                         "retrain the model") from None
    key = (str(folder.resolve()), stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _models.get(key)
    if cached is not None:
        return cached
    model, _ = load_artefact(folder, expect_model_id=model_id, expect_version=version)
    prepare = getattr(model, "prepare_explainer", None)
    if prepare is not None:
        prepare()
    with _lock:
        _models[key] = model
    return model


def _model_folder(row, store, artefact_dir) -> Path:
    if artefact_dir is not None:
        return artefact_path(row["model_id"], row["version"], artefact_dir)
    recorded = row.get("artefact_path")
    if recorded and Path(recorded).exists():
        return Path(recorded)
    return artefact_path(row["model_id"], row["version"], default_artefact_dir(store))


def _fingerprint(store, cohort: str) -> tuple:
    return (str(store.path.resolve()), cohort) + tuple(st.load_cohort_fingerprint(store, cohort))


def current_training_hashes(store, cohort: str) -> dict[str, str]:
    """Per task, the training hash the cohort's current data would give."""
    key = _fingerprint(store, cohort)
    with _lock:
        cached = _hashes.get(key)
    if cached is not None:
        return cached
    data = load_modelling_data(store, cohort)
    hashes = {name: training_hash(task_frame(data, task)) for name, task in TASKS.items()}
    with _lock:
        _hashes[key] = hashes
    return hashes


def available_models(store, cohort: str = config.DEMO_COHORT) -> pd.DataFrame:
    """Current models of the cohort with a ``stale`` flag (trained on other data)."""
    models = st.load_models(store, cohort=cohort)
    if models.empty:
        return models.assign(stale=pd.Series(dtype=bool))
    hashes = current_training_hashes(store, cohort)
    models["stale"] = [h != hashes.get(t) for h, t in zip(models["training_hash"], models["task"])]
    return models


def _distribution(store, cohort: str, models: pd.DataFrame) -> dict:
    ids = tuple(sorted(zip(models["model_id"], models["version"].astype(int))))
    key = _fingerprint(store, cohort) + ids
    with _lock:
        cached = _distributions.get(key)
    if cached is not None:
        return cached
    preds = st.load_predictions(store, st.CohortFilter(cohort=cohort),
                                split=[OUT_OF_FOLD, EXTERNAL])
    out = {(m, int(v)): np.sort(g["score"].to_numpy(dtype=float))
           for (m, v), g in preds.groupby(["model_id", "model_version"])}
    with _lock:
        _distributions[key] = out
    return out


def _percentile(sorted_scores, score: float) -> float:
    if sorted_scores is None or not len(sorted_scores) or np.isnan(score):
        return np.nan
    return float(100.0 * np.searchsorted(sorted_scores, score, side="right") / len(sorted_scores))


@dataclass(frozen=True)
class CaseScores:
    """What ``score_cases`` gives: one row per case × model (``table``, columns
    ``SCORE_COLUMNS``) and the columns of the input that it ignored, being neither
    contract columns nor known features (``unknown_columns``)."""

    table: pd.DataFrame
    unknown_columns: tuple[str, ...] = ()


def score_cases(frame: pd.DataFrame, *, store, cohort: str = config.DEMO_COHORT,
                artefact_dir=None, features: pd.DataFrame | None = None,
                explain: bool = True, crops=None) -> CaseScores:
    """Score each row of ``frame`` with every current model of ``cohort``.

    ``frame`` holds contract columns (any subset; missing ones are imputed by
    the models and flagged) and optionally feature columns by name; ``features``
    may add a wide feature frame keyed by ``patient_id``. Bad values raise one
    ``ValueError`` listing row, column and value. Columns that are neither
    contract columns nor known features are ignored and listed in
    ``result.unknown_columns``. ``crops`` maps a case's patient_id to its
    CT lesion crops ``[n_lesions, slices, H, W]`` (HU) for the imaging and fusion
    models; without them those models give a ``reason`` instead of a score.

    ``result.table``: one row per case × model (columns ``SCORE_COLUMNS``).
    ``sufficient`` says whether the case gives the model enough to answer
    (``crlm.models.requirements``); when it
    does not, ``needed`` lists what is missing, ``predicted_class`` is None and the raw
    ``score`` is kept for the data scientist only. ``reason_group`` is the reason in
    words shared by every case and model it applies to (for grouping). ``score`` is a
    probability for trained binary models, a risk score for survival models,
    and for clinical baselines the score itself (survival) or its negative
    (response tasks, so that higher means more likely to respond).
    """
    names = st.load_feature_names(store, cohort)
    known_features = list(names["feature"]) if len(names) else []
    feature_times = {str(f): config.FEATURE_SET_KNOWN_AT.get(str(fs), config.UNKNOWN_TIME)
                     for fs, f in zip(names["feature_set"], names["feature"])} if len(names) else {}
    info = st.load_feature_info(store, cohort)
    feature_times.update(zip(info["feature"].astype(str), info["known_at"].astype(str)))
    feature_times.update(one_hot_feature_times(info))  # a categorical extra's level columns
    known_features += list(one_hot_feature_times(info))
    cases = one_hot_case_levels(frame.copy(), info)
    if features is not None and len(features):
        if "patient_id" not in cases.columns or "patient_id" not in features.columns:
            raise ValueError("features can only be joined on a patient_id column in both frames")
        extra = features.loc[:, [c for c in features.columns if c not in cases.columns
                                 or c == "patient_id"]]
        cases = cases.merge(extra, on="patient_id", how="left")
    typed, unknown = validate_patients(cases.reset_index(drop=True), known_features)
    if "patient_id" not in typed.columns or typed["patient_id"].isna().any():
        typed["patient_id"] = [f"case-{i + 1}" for i in range(len(typed))]
    typed["patient_id"] = typed["patient_id"].astype(str)
    prepared = prepare_patients(typed).reset_index(drop=True)
    models = st.load_models(store, cohort=cohort)
    wanted = list(dict.fromkeys(
        [c for cols in models.get("feature_set", []) for c in cols] + list(INPUT_COLUMNS)))
    matrix = model_matrix(prepared, wanted)
    rows: list[dict] = []
    if not models.empty:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=1)
        hashes = current_training_hashes(store, cohort)
        dist = _distribution(store, cohort, models)
        order = {IMAGING: 1, FUSION: 2}
        records = sorted(models.to_dict("records"), key=lambda r: order.get(r["kind"], 0))
        scored: dict = {}
        gated: dict = {}
        try:
            for rec in records:
                got = _score_model(rec, prepared, matrix, store, artefact_dir, hashes, dist,
                                   explain, crops=crops, scored=scored,
                                   feature_times=feature_times, gated=gated)
                for row in got:
                    scored[(row["patient_id"], row["task"], row["family"])] = row["score"]
                    if not row["sufficient"] and row["needed"]:
                        gated[(row["patient_id"], row["task"], row["family"])] = row["needed"]
                rows.extend(got)
        finally:
            limits.restore_original_limits()
    return CaseScores(table=pd.DataFrame(rows, columns=list(SCORE_COLUMNS)),
                      unknown_columns=tuple(unknown))


def _score_model(rec: dict, cases: pd.DataFrame, matrix: pd.DataFrame, store, artefact_dir,
                 hashes, dist, explain: bool, crops=None, scored=None,
                 feature_times=None, gated=None) -> list[dict]:
    task = TASKS.get(rec["task"])
    family = FAMILIES.get(rec["family"])
    version = int(rec["version"])
    threshold = rec.get("threshold")
    threshold = None if threshold is None or pd.isna(threshold) else float(threshold)
    base = {"task": rec["task"], "model_id": rec["model_id"], "model_version": version,
            "kind": rec["kind"], "family": rec["family"], "threshold": threshold,
            "stale": bool(rec.get("training_hash") != hashes.get(rec["task"])),
            "contribution_method": "none"}

    def empty(i: int, reason: str, group: str = "") -> dict:
        return {**base, "patient_id": cases.at[i, "patient_id"], "score": np.nan,
                "predicted_class": None, "percentile": np.nan, "imputed": [],
                "out_of_range": [], "contributions": {}, "reason": reason,
                "reason_group": group or reason, "sufficient": False, "needed": []}

    if task is None or family is None:
        return [empty(i, f"model {rec['model_id']}: unknown task or family in this release",
                      "unknown task or family in this release")
                for i in range(len(cases))]
    if rec["kind"] == TRAINED:  # a stored model reading an input later than its task's
        refused = plan_inputs(task, rec.get("feature_set") or [], feature_times).refused
        if refused:               # decision time is never used, whatever trained it
            return [empty(i, f"not used: {refused[0].reason}; retrain the model",
                          "reads an input known after its decision time: retrain the model")
                    for i in range(len(cases))]
    applicable = task.applicable(cases).to_numpy()
    idx = np.flatnonzero(applicable)
    out = {i: empty(i, task.not_applicable_reason(cases.iloc[i]),
                    f"applies only to {task.applies_to}")
           for i in range(len(cases)) if not applicable[i]}
    if len(idx):
        sub = cases.iloc[idx]
        try:
            if is_clinical_score(rec["kind"]):
                results = _clinical_rows(family, task, sub)
            elif reads_images(rec["kind"]):
                model = None
                if crops is not None:
                    model = load_model(rec["model_id"], version,
                                       folder=_model_folder(rec, store, artefact_dir))
                results = _image_rows(model, rec, sub, crops, scored)
            else:
                model = load_model(rec["model_id"], version,
                                   folder=_model_folder(rec, store, artefact_dir))
                results = _trained_rows(model, matrix.iloc[idx], explain)
        except ModelError as exc:
            results = [{"score": np.nan, "reason": str(exc),
                        "reason_group": "the model cannot be loaded with this installation: "
                                        "retrain it"} for _ in idx]
        sorted_scores = dist.get((rec["model_id"], version))
        inputs = list(rec.get("feature_set") or [])
        needs = needs_of(rec["model_id"], rec["task"], inputs)
        for i, res in zip(idx, results):
            row = empty(i, "")
            row.update(res)
            s = row["score"]
            if np.isnan(s):
                row["reason_group"] = row.get("reason_group") or row["reason"] or "no score"
                out[i] = row
                continue
            row["percentile"] = _percentile(sorted_scores, s)
            row["reason_group"] = ""
            if rec["kind"] == TRAINED:
                verdict = check_sufficiency(needs, cases.iloc[i].to_dict(), inputs,
                                            row["imputed"])
                row["sufficient"], row["needed"] = verdict.sufficient, list(verdict.needed)
            elif is_stacked(rec["kind"]):
                parts = [(gated or {}).get((row["patient_id"], rec["task"], name))
                         for name in ("cnn", "genomic_rf")]
                needed = [n for p in parts if p for n in p]
                row["sufficient"], row["needed"] = not needed, needed
            else:
                row["sufficient"] = True
            if row["sufficient"]:
                row["predicted_class"] = None if threshold is None else bool(s >= threshold)
            else:
                row["reason"] = f"{NOT_ENOUGH} — needed: {', '.join(row['needed'])}"
                row["reason_group"] = row["reason"]
            out[i] = row
    return [out[i] for i in range(len(cases))]


def _image_rows(model, rec: dict, sub: pd.DataFrame, crops, scored) -> list[dict]:
    """CNN and fusion scores for cases that come with CT lesion crops."""
    rows = []
    for pid in sub["patient_id"]:
        case_crops = None if crops is None else crops.get(pid)
        if case_crops is None or not np.size(case_crops):
            rows.append({"score": np.nan, "reason": "needs CT lesion crops of this case "
                         "(upload a CT series with a lesion segmentation)",
                         "reason_group": "needs the CT lesion crops of the case (upload a CT "
                                         "series and mark the lesion)"})
            continue
        task = rec["task"]
        if rec["kind"] == IMAGING:
            case_crops = np.asarray(case_crops)
            if case_crops.ndim == 3:  # one lesion: [slices, H, W]
                case_crops = case_crops[None]
            value = model.patient_scores(case_crops, [pid] * len(case_crops))
            score = float(value.iloc[0])
        else:
            names = getattr(model, "parts", ("cnn", "genomic_rf"))  # the models it stacks
            parts = [scored.get((pid, task, name)) for name in names]
            if any(p is None or np.isnan(p) for p in parts):
                what = ("the CNN and the genomic random forest" if names == ("cnn", "genomic_rf")
                        else f"the {names[0]} and the {names[1]}")
                rows.append({"score": np.nan, "reason": f"needs both {what} scores of this case",
                             "reason_group": "needs both the CNN and the genomic random "
                                             "forest scores of the case"})
                continue
            score = float(model.combine([parts[0]], [parts[1]])[0])
        rows.append({"score": score, "reason": "", "contributions": {},
                     "contribution_method": "none"})
    return rows


def _clinical_rows(family, task, sub: pd.DataFrame) -> list[dict]:
    values = pd.to_numeric(sub[family.column], errors="coerce").astype(float).to_numpy()
    score = -values if task.kind == BINARY else values
    rows = []
    for (_, case), s in zip(sub.iterrows(), score):
        if np.isnan(s):
            missing = [c for c in CLINICAL_INPUTS.get(family.column, (family.column,))
                       if pd.isna(case.get(c))]
            rows.append({"score": np.nan, "reason": f"{family.column} cannot be computed: "
                         "missing required inputs: "
                         + (", ".join(input_label(c) for c in missing) or family.column),
                         "reason_group": "clinical score cannot be computed: an input it is "
                                         "built from is unknown"})
        else:
            rows.append({"score": float(s), "reason": "",
                         "contributions": {family.column: float(values[len(rows)])},
                         "contribution_method": "the clinical score itself"})
    return rows


def _trained_rows(model, X: pd.DataFrame, explain: bool) -> list[dict]:
    res = model.evaluate(X, explain=explain)
    method = model.contribution_method if explain else "none"
    return [{"score": float(sc), "imputed": imp, "out_of_range": rng, "contributions": con,
             "contribution_method": method, "reason": ""}
            for sc, imp, rng, con in zip(res["score"], res["imputed"], res["out_of_range"],
                                         res["contributions"])]
