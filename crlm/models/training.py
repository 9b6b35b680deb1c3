"""Training: cross-validation on the development centres, refit on all of them
for the external centre, metrics, artefacts and registry rows.

For every task and family: the development patients with a known outcome are
split into ``folds`` stratified folds (on the binary target, or on the event
for survival); each fold is predicted by a model fitted on the others, so
every development patient gets exactly one out-of-fold prediction. The model
refitted on all development patients is saved and predicts the external
centre, which no training step ever sees.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from crlm import clinical, config
from crlm import store as st
from crlm.models.artefacts import artefact_root, save_artefact
from crlm.models.decision import InputPlan, candidate_columns, plan_inputs
from crlm.models.evaluation import metrics_for
from crlm.models.families import FAMILIES, Family, get_family
from crlm.models.fitted import FittedModel, build_pipeline
from crlm.models.inputs import canonical_patients, one_hot_categorical_features
from crlm.models.survival import survival_target
from crlm.models.tasks import BINARY, TASKS, Task, get_task

DEVELOPMENT = "development"
EXTERNAL = "external"
OUT_OF_FOLD = "out-of-fold"
COMPARISON = "comparison"
# Numerical failures of a family's fit on a small or degenerate cohort: the family is
# skipped with the reason, the others train.
NUMERICAL_ERRORS = (ArithmeticError, np.linalg.LinAlgError)


class ExternalLeakError(AssertionError):
    """A training step was about to see a patient of the external centre."""


def prepare_patients(patients: pd.DataFrame) -> pd.DataFrame:
    """Contract columns typed one way and the derived columns recomputed by
    ``crlm.clinical`` — the same for store rows and for uploaded cases."""
    frame = patients.copy()
    for name in config.PATIENT_COLUMN_NAMES:
        if name not in frame.columns:
            frame[name] = None
    frame = canonical_patients(frame)
    out = clinical.add_derived_columns(frame)
    # A source without a rule's inputs may carry the score itself (the TCIA table gives the
    # Fong score, not the disease-free interval): the stored value stands where the rule
    # has nothing to compute from.
    for name in clinical.DERIVED_COLUMNS:
        if name in patients.columns:
            out[name] = out[name].where(out[name].notna(), frame[name])
    return out


def default_artefact_dir(store) -> "Path":  # noqa: F821
    """``config.MODELS_DIR`` for the default store; ``<store stem>_models`` beside
    any other store file, so that two stores never share artefact folders."""
    path = store.path.resolve()
    if path == config.DEFAULT_DB.resolve():
        return config.MODELS_DIR
    return path.parent / f"{path.stem}_models"


@dataclass
class ModellingData:
    """A cohort ready for modelling: one row per patient (index patient_id).

    ``feature_times`` gives each stored feature's decision time (its set's, or for an
    import's extra features the time the mapping declared, else unknown)."""

    frame: pd.DataFrame
    feature_sets: dict[str, list[str]] = field(default_factory=dict)
    feature_times: dict[str, str] = field(default_factory=dict)

    def inputs_for(self, family: Family, task: Task) -> InputPlan:
        """The inputs ``family`` reads for ``task``: its feature sets (or its explicit
        ``inputs``), less everything not known by the task's decision time. A family
        that names an input explicitly and may not read it is refused (``ValueError``)."""
        candidates = (list(family.inputs) if family.inputs
                      else candidate_columns(family.feature_sets, self.feature_sets))
        plan = plan_inputs(task, candidates, self.feature_times)
        if family.inputs and plan.refused:
            raise ValueError("refused inputs: " + "; ".join(r.reason for r in plan.refused))
        return plan

    def columns_for(self, family: Family, task: Task) -> list[str]:
        return list(self.inputs_for(family, task).used)


def load_modelling_data(store, cohort: str) -> ModellingData:
    patients = st.load_cohort(store, st.CohortFilter(cohort=cohort))
    if patients.empty:
        raise ValueError(f"cohort {cohort!r} has no patients; build or import it first")
    frame = prepare_patients(patients)
    names = st.load_feature_names(store, cohort)
    sets: dict[str, list[str]] = {}
    times: dict[str, str] = {}
    for fs, feature in zip(names["feature_set"], names["feature"]):
        sets.setdefault(str(fs), []).append(str(feature))
        times[str(feature)] = config.FEATURE_SET_KNOWN_AT.get(str(fs), config.UNKNOWN_TIME)
    info = st.load_feature_info(store, cohort)
    for feature, known_at in zip(info["feature"], info["known_at"]):
        times[str(feature)] = str(known_at)
    wide, one_hot = one_hot_categorical_features(st.load_features(store, cohort), info)
    for feature, columns in one_hot.items():   # a categorical extra enters as its levels
        for fs, names_in_set in sets.items():
            if feature in names_in_set:
                at = names_in_set.index(feature)
                sets[fs] = names_in_set[:at] + columns + names_in_set[at + 1:]
        times.update({c: times.get(feature, config.UNKNOWN_TIME) for c in columns})
    if len(wide.columns) > 1:
        clash = [c for c in wide.columns if c != "patient_id" and c in frame.columns]
        if clash:
            raise ValueError(f"feature names clash with patient columns: {', '.join(clash)}")
        frame = frame.merge(wide, on="patient_id", how="left")
    frame = frame.set_index("patient_id", drop=False)
    frame.index.name = None
    return ModellingData(frame=frame, feature_sets=sets, feature_times=times)


def task_frame(data: ModellingData, task: Task) -> pd.DataFrame:
    """The task's patients with a known outcome (development and external)."""
    f = data.frame
    return f[task.applicable(f).to_numpy() & task.has_outcome(f).to_numpy()]


def comparison_frame(data: ModellingData, task: Task) -> pd.DataFrame:
    """The task's comparison population (never in training), whatever their outcome."""
    f = data.frame
    return f[task.in_comparison(f).to_numpy()]


def training_hash(frame: pd.DataFrame) -> str:
    """``store.data_hash`` of a task's training frame (inputs, features, outcome, split)."""
    cols = sorted(c for c in frame.columns if c not in ("center", "diagnosis_date"))
    return st.data_hash(frame.loc[:, cols].reset_index(drop=True).astype("object"))


def assign_folds(dev: pd.DataFrame, task: Task, folds: int, seed: int) -> np.ndarray:
    """The fold (0..folds-1) of each development patient, stratified and seeded."""
    strata = task.stratum(dev)
    smallest = int(np.bincount(strata, minlength=2).min())
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    if smallest < folds:
        raise ValueError(
            f"task {task.name}: only {smallest} development patients in the smaller outcome "
            f"class, too few for {folds}-fold cross-validation")
    out = np.empty(len(dev), dtype=int)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(seed))
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(dev)), strata)):
        out[test] = k
    return out


def check_development_only(frame: pd.DataFrame) -> None:
    """Refuse a training frame holding any external-centre patient."""
    split = frame["cohort_split"].astype("object")
    if (split != DEVELOPMENT).any():
        bad = frame.index[(split != DEVELOPMENT).to_numpy()][:3]
        raise ExternalLeakError(
            f"training frame holds non-development patients ({', '.join(map(str, bad))}); "
            "the external centre must never be used for training")


def _target(task: Task, frame: pd.DataFrame):
    if task.kind == BINARY:
        return task.outcome(frame)
    time, event = task.outcome(frame)
    return survival_target(time, event)


def fit_model(family: Family, task: Task, columns, frame: pd.DataFrame, seed: int,
              fast: bool) -> FittedModel:
    """One fit on development patients only."""
    check_development_only(frame)
    model = FittedModel(model_id=f"{task.name}.{family.name}", task=task.name,
                        family=family.name, explainer=family.explainer, columns=columns,
                        pipeline=build_pipeline(family, columns, seed, fast), seed=seed)
    return model.fit(frame, _target(task, frame))


def clinical_score(family: Family, task: Task, frame: pd.DataFrame) -> np.ndarray:
    """A clinical baseline's score: the column itself for survival risk (higher =
    worse); negated for a binary response task, so that a higher score means a
    higher chance of response and the ROC curve reads the usual way."""
    values = pd.to_numeric(frame[family.column], errors="coerce").astype(float).to_numpy()
    return -values if task.kind == BINARY else values


@dataclass(frozen=True)
class TrainedModel:
    """What one family produced for one task (before it is registered)."""

    oof: np.ndarray
    external: np.ndarray
    model: FittedModel | None
    columns: list[str]
    comparison: np.ndarray = field(default_factory=lambda: np.empty(0))

    def to_dict(self) -> dict:
        return {"oof": self.oof.tolist(), "external": self.external.tolist(),
                "comparison": self.comparison.tolist(), "columns": list(self.columns)}


def cross_validate(family: Family, task: Task, columns, dev: pd.DataFrame,
                   fold_of: np.ndarray, ext: pd.DataFrame, *, seed: int, fast: bool,
                   on_fold=None, comparison: pd.DataFrame | None = None) -> TrainedModel:
    """Out-of-fold scores for ``dev``, and the all-development refit's scores for ``ext``
    (and for the task's ``comparison`` population, which no fit sees either)."""
    oof = np.full(len(dev), np.nan)
    for k in range(int(fold_of.max()) + 1):
        test = fold_of == k
        model = fit_model(family, task, columns, dev[~test], seed, fast)
        oof[test] = model.predict_scores(dev[test])
        if on_fold:
            on_fold()
    final = fit_model(family, task, columns, dev, seed, fast)
    external = final.predict_scores(ext) if len(ext) else np.empty(0)
    compared = (final.predict_scores(comparison) if comparison is not None and len(comparison)
                else np.empty(0))
    if on_fold:
        on_fold()
    return TrainedModel(oof=oof, external=external, model=final, columns=list(columns),
                        comparison=np.asarray(compared, dtype=float))


def _threshold(task: Task, y_dev, oof: np.ndarray, oof_metrics: dict) -> float | None:
    ok = ~np.isnan(oof)
    if not ok.any():
        return None
    if task.kind == BINARY:
        return oof_metrics.get("youden_threshold")
    return float(np.median(oof[ok]))


def _subset(task: Task, y, mask):
    if task.kind == BINARY:
        return y[mask]
    return y[0][mask], y[1][mask]


def _next_version(store, model_id: str) -> int:
    models = st.load_models(store, current_only=False)
    if models.empty:
        return 1
    mine = models.loc[models["model_id"] == model_id, "version"]
    return int(mine.max()) + 1 if len(mine) else 1


def model_card(task: Task, family: Family, trained: TrainedModel, dev: pd.DataFrame,
               ext: pd.DataFrame, plan: InputPlan | None, feature_times) -> dict:
    """What a board needs to know to read a model's numbers: task, decision time, every
    input with the time it is known, the training rows, the external centre."""
    from crlm.models.decision import known_at_of
    from crlm.models.families_review import card_details_of

    if plan is not None:
        inputs = [{"name": n, "known_at": k} for n, k in zip(plan.used, plan.used_known_at)]
        refused = [r.to_dict() for r in plan.refused]
    else:  # clinical baselines and combinations of other models
        inputs = [{"name": c, "known_at": known_at_of(c, feature_times)}
                  for c in trained.columns]
        refused = []
    return {"task": task.name, "task_label": task.label, "decision_time": task.decision_time,
            "population": task.applies_to, "family": family.name, "family_label": family.label,
            "inputs": inputs, "refused_inputs": refused,
            "n_training": int(len(dev)), "n_external": int(len(ext)),
            "development_centres": sorted(map(str, dev["center"].dropna().unique())),
            "external_centres": sorted(map(str, ext["center"].dropna().unique())),
            "n_comparison": int(len(trained.comparison)),
            "comparison": task.comparison_label,
            "estimator": card_details_of(trained.model)}


def register(store, *, cohort: str, task: Task, family: Family, trained: TrainedModel,
             dev: pd.DataFrame, fold_of: np.ndarray, ext: pd.DataFrame, train_hash: str,
             seed: int, folds: int, fast: bool, artefact_dir,
             comparison: pd.DataFrame | None = None, card: dict | None = None
             ) -> tuple[int, dict]:
    """Metrics, artefact and registry row (with predictions) of one trained model."""
    model_id = f"{task.name}.{family.name}"
    y_dev, y_ext = task.outcome(dev), task.outcome(ext)
    probability = not family.is_clinical and task.kind == BINARY
    ok_dev, ok_ext = ~np.isnan(trained.oof), ~np.isnan(trained.external)
    oof_metrics = metrics_for(task, _subset(task, y_dev, ok_dev), trained.oof[ok_dev],
                              probability=probability)
    ext_metrics = metrics_for(task, _subset(task, y_ext, ok_ext), trained.external[ok_ext],
                              probability=probability)
    threshold = _threshold(task, y_dev, trained.oof, oof_metrics)
    metrics = {"out_of_fold": oof_metrics, "external": ext_metrics, "folds": int(folds),
               "seed": int(seed), "fast": bool(fast),
               "threshold_rule": "Youden J on out-of-fold scores" if task.kind == BINARY
               else "median out-of-fold risk score",
               "score_direction": ("negated clinical score (higher = more likely to respond)"
                                   if family.is_clinical and task.kind == BINARY
                                   else "probability of response" if task.kind == BINARY
                                   else "risk (higher = earlier events)"),
               "card": card or {}}
    version = _next_version(store, model_id)
    path = None
    if trained.model is not None:
        path = save_artefact(trained.model, model_id=model_id, version=version,
                             family=family.name, task=task.name, features=trained.columns,
                             artefact_dir=artefact_dir,
                             extra={"cohort": cohort, "training_hash": train_hash,
                                    "seed": int(seed)})
    preds = pd.concat([
        pd.DataFrame({"patient_id": dev.index[ok_dev].astype(str), "split": OUT_OF_FOLD,
                      "fold": fold_of[ok_dev], "score": trained.oof[ok_dev]}),
        pd.DataFrame({"patient_id": ext.index[ok_ext].astype(str), "split": EXTERNAL,
                      "fold": pd.array([None] * int(ok_ext.sum()), dtype="Int64"),
                      "score": trained.external[ok_ext]}),
    ], ignore_index=True)
    if comparison is not None and len(trained.comparison):
        ok_cmp = ~np.isnan(trained.comparison)
        preds = pd.concat([preds, pd.DataFrame({
            "patient_id": comparison.index[ok_cmp].astype(str), "split": COMPARISON,
            "fold": pd.array([None] * int(ok_cmp.sum()), dtype="Int64"),
            "score": trained.comparison[ok_cmp]})], ignore_index=True)
    record = {"model_id": model_id, "name": family.label, "family": family.name,
              "task": task.name, "cohort": cohort, "kind": family.kind,
              "feature_set": trained.columns, "training_hash": train_hash,
              "threshold": threshold, "metrics": metrics,
              "artefact_path": str(path.resolve()) if path is not None else None}
    saved = st.save_model(store, record, preds)
    if saved != version and path is not None:  # another writer took the version meanwhile
        target = path.parent / f"v{saved}"
        if target.exists():
            import shutil
            shutil.rmtree(target)
        path.rename(target)
        raise RuntimeError(f"{model_id}: registry gave version {saved}, expected {version}; "
                           "another process is training the same model, retrain afterwards")
    return saved, metrics


def _fmt_auc(m: dict) -> str:
    if m.get("auc") is None:
        return ""
    if m.get("auc_ci_lower") is None:
        return f"{m['auc']:.3f}"
    return f"{m['auc']:.3f} [{m['auc_ci_lower']:.3f}–{m['auc_ci_upper']:.3f}]"


def _row(model_id, task, family, version, metrics) -> dict:
    oof, ext = metrics["out_of_fold"], metrics["external"]
    return {
        "model": model_id, "task": task.name, "family": family.name, "kind": family.kind,
        "version": version, "n": oof.get("n"), "n_external": ext.get("n"),
        "AUC [95% CI]": _fmt_auc(oof), "AUC external": _fmt_auc(ext),
        "Brier": oof.get("brier"), "C-index": oof.get("c_index"),
        "C-index external": ext.get("c_index"),
    }


def _fits(family: Family, folds: int) -> int:
    """Progress-bar steps of one family: one per fold and the final fit, one if untrained."""
    return 1 if family.kind in ("clinical", "fusion") else folds + 1


def _train_family(store, cohort, task, family, data, dev, ext, fold_of, seed, fast,
                  previous, bar, comparison) -> tuple[TrainedModel, InputPlan | None]:
    """Out-of-fold and external predictions of one family on one task (and its final fit),
    with the inputs it read; ``ValueError`` when this cohort cannot support it."""
    if family.is_clinical:
        if family.column not in dev.columns or dev[family.column].isna().all():
            raise ValueError(f"this cohort has no {family.column}")
        refused = plan_inputs(task, [family.column], data.feature_times).refused
        if refused:
            raise ValueError(refused[0].reason)
        trained = TrainedModel(oof=clinical_score(family, task, dev),
                               external=clinical_score(family, task, ext),
                               model=None, columns=[family.column],
                               comparison=clinical_score(family, task, comparison))
        bar.update(1)
        return trained, None
    plan = data.inputs_for(family, task)
    columns = list(plan.used)
    if family.trainer is not None:
        return family.trainer(
            store=store, cohort=cohort, task=task, family=family, dev=dev, ext=ext,
            fold_of=fold_of, seed=seed, fast=fast, columns=columns, previous=previous,
            on_fold=lambda: bar.update(1), comparison=comparison), plan
    if not columns:
        raise ValueError("none of its inputs is in this cohort")
    return cross_validate(family, task, columns, dev, fold_of, ext, seed=seed, fast=fast,
                          on_fold=lambda: bar.update(1), comparison=comparison), plan


@dataclass(frozen=True)
class SkippedModel:
    """A task or a family that was not trained on this cohort, and why (one line)."""

    task: str
    family: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.task}.{self.family}" if self.family else f"task {self.task}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class TrainingReport:
    """What ``train`` did: one ``table`` row per registered model and the ``skipped`` ones."""

    table: pd.DataFrame
    skipped: tuple[SkippedModel, ...] = ()

    def __len__(self) -> int:
        return len(self.table)

    def skipped_lines(self) -> list[str]:
        return [str(s) for s in self.skipped]


def default_families(store, cohort: str) -> list[Family]:
    """What ``train`` fits when no family is named: every default family, and the CT
    families (``default_with_images``) when the cohort holds stored CT lesion crops."""
    from crlm.models.ct_models import has_stored_crops

    images = has_stored_crops(store, cohort)
    return [f for f in FAMILIES.values() if f.default or (images and f.default_with_images)]


def train(store, cohort: str = config.DEMO_COHORT, tasks=None, families=None, folds: int = 5,
          seed: int = config.DEFAULT_SEED, artefact_dir=None, progress: bool = True,
          fast: bool = False) -> TrainingReport:
    """Train, validate and register every requested family for every requested task.

    ``tasks=None`` means every default task (the landmark tasks at the first restaging,
    ``default=False``, are trained when named). ``families=None`` means every default family (all tabular families and
    clinical baselines) and, when the cohort holds stored CT lesion crops, the CT
    families of ``crlm.models.ct_models`` (``attention_mil``, ``cnn_cox``,
    ``ct_fusion``); the anti-EGFR ``cnn``, ``fusion`` and ``fusion_stacked`` are
    trained only when named.

    Returns a ``TrainingReport``: its ``table`` has one row per registered model
    (model, task, family, kind, version, n, n_external, AUC [95% CI]
    (out-of-fold), AUC external, Brier, C-index, C-index external). A task the
    cohort cannot support (no known outcome, too few patients in a class for the
    folds) and a family that cannot be fitted here (inputs the cohort lacks,
    inputs later than the task's decision time, a numerical failure on a small
    cohort) are listed in ``skipped`` with the reason; if nothing can be trained,
    ``ValueError``.
    """
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    task_list = [get_task(t) for t in (tasks or [n for n, t in TASKS.items() if t.default])]
    family_list = ([get_family(f) for f in families] if families
                   else default_families(store, cohort))
    seed, folds = int(seed), int(folds)
    root = artefact_root(artefact_dir if artefact_dir is not None else default_artefact_dir(store))
    data = load_modelling_data(store, cohort)
    plan = [(t, f) for t in task_list for f in family_list if f.serves(t)]
    if not plan:
        raise ValueError("no family serves the requested tasks")
    steps = sum(_fits(f, folds) for _, f in plan)
    rows = []
    skipped: list[SkippedModel] = []
    context: dict = {}
    # Small models fit fastest single-threaded, and do not fight other work for cores.
    with threadpool_limits(limits=1), tqdm(total=steps, desc="training", unit="fit",
                                           disable=not progress, leave=False) as bar:
        for task in task_list:
            todo = [f for t, f in plan if t is task]
            if not todo:
                continue
            frame = task_frame(data, task)
            split = frame["cohort_split"].astype("object")
            dev, ext = frame[(split == DEVELOPMENT).to_numpy()], frame[(split == EXTERNAL).to_numpy()]
            try:
                if dev.empty:
                    raise ValueError("no development patients with a known outcome")
                fold_of = assign_folds(dev, task, folds, seed)
            except ValueError as exc:  # a cohort without this outcome: train the other tasks
                skipped.append(SkippedModel(task.name, None,
                                            str(exc).removeprefix(f"task {task.name}: ")))
                bar.update(sum(_fits(f, folds) for f in todo))
                continue
            comparison = comparison_frame(data, task)
            train_hash = training_hash(frame)
            context[task.name] = {}
            for family in todo:
                bar.set_postfix_str(f"{task.name}.{family.name}")
                try:
                    trained, inputs = _train_family(store, cohort, task, family, data, dev, ext,
                                                    fold_of, seed, fast, context[task.name], bar,
                                                    comparison)
                except ValueError as exc:  # inputs this cohort lacks, a class too small, ...
                    skipped.append(SkippedModel(task.name, family.name, str(exc)))
                    bar.update(_fits(family, folds))
                    continue
                except NUMERICAL_ERRORS as exc:  # a fit that fails numerically on this cohort
                    skipped.append(SkippedModel(
                        task.name, family.name,
                        f"the fit failed numerically on this cohort ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})"))
                    bar.update(_fits(family, folds))
                    continue
                context[task.name][family.name] = trained
                card = model_card(task, family, trained, dev, ext, inputs, data.feature_times)
                version, metrics = register(
                    store, cohort=cohort, task=task, family=family, trained=trained, dev=dev,
                    fold_of=fold_of, ext=ext, train_hash=train_hash, seed=seed, folds=folds,
                    fast=fast, artefact_dir=root, comparison=comparison, card=card)
                rows.append(_row(f"{task.name}.{family.name}", task, family, version, metrics))
    if not rows:
        raise ValueError("nothing was trained: " + "; ".join(map(str, skipped)))
    return TrainingReport(table=pd.DataFrame(rows), skipped=tuple(skipped))
