"""Training: cross-validation on the development centres, refit on all of them
for the external centre, metrics, artefacts and registry rows.

For every task and family: the development patients with a known outcome are
split into ``folds`` stratified folds (on the binary target, or on the event
for survival); each fold is predicted by a model fitted on the others, so
every development patient gets exactly one out-of-fold prediction. The model
refitted on all development patients is saved and predicts the external
centre, which no training step ever sees.

The steps are modules of their own: ``modelling_data`` (the cohort as frames),
``cross_validation`` (folds and fits) and ``registration`` (metrics, model card,
artefact, registry row); their names are importable from here too.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from crlm import config
from crlm.models.artefacts import artefact_root
from crlm.models.cross_validation import (
    DEVELOPMENT, ExternalLeakError, TrainedModel, assign_folds, check_development_only,
    clinical_score, cross_validate, fit_model,
)
from crlm.models.decision import InputPlan, plan_inputs
from crlm.models.families import FAMILIES, Family, get_family
from crlm.models.kinds import is_clinical_score, is_stacked
from crlm.models.modelling_data import (
    ModellingData, comparison_frame, default_artefact_dir, load_modelling_data,
    prepare_patients, rows_of, task_frame, task_rows, training_hash,
)
from crlm.models.registration import COMPARISON, EXTERNAL, OUT_OF_FOLD, model_card, register
from crlm.models.tasks import TASKS, Task, get_task
from crlm.store.memory import release_memory

__all__ = [
    "COMPARISON", "DEVELOPMENT", "EXTERNAL", "ExternalLeakError", "ModellingData",
    "NUMERICAL_ERRORS", "OUT_OF_FOLD", "SkippedModel", "TrainedModel", "TrainingReport",
    "assign_folds", "check_development_only", "clinical_score", "comparison_frame",
    "cross_validate", "default_artefact_dir", "default_families", "fit_model",
    "load_modelling_data", "model_card", "prepare_patients", "register", "task_frame",
    "train", "training_hash",
]

def _heap_hands_back_large_arrays() -> None:
    """Arrays above 128 KiB each in their own mapping, handed back to the system when
    freed. glibc otherwise raises that threshold as such arrays are freed, and the
    column-sized arrays of the reads, the hash and the fits then stay in a fragmented heap
    (at 10^6 patients about a gigabyte). Nothing where the C library is not glibc."""
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, 128 * 1024)   # M_MMAP_THRESHOLD


# Numerical failures of a family's fit on a small or degenerate cohort: the family is
# skipped with the reason, the others train.
NUMERICAL_ERRORS = (ArithmeticError, np.linalg.LinAlgError)


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
    return 1 if is_clinical_score(family.kind) or is_stacked(family.kind) else folds + 1


def _train_family(store, cohort, task, family, data, dev, ext, fold_of, seed, fast,
                  previous, bar, comparison, planned=None) -> tuple[TrainedModel, InputPlan | None]:
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
    plan = planned if planned is not None else data.inputs_for(family, task)
    if isinstance(plan, ValueError):
        raise plan
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


def _input_plans(data: ModellingData, task: Task, families) -> dict:
    """Per trained family, the inputs it reads for ``task`` (``ModellingData.inputs_for``),
    or the ``ValueError`` that refuses them (raised when the family trains)."""
    plans: dict = {}
    for family in families:
        if family.is_clinical:
            continue
        try:
            plans[family.name] = data.inputs_for(family, task)
        except ValueError as exc:
            plans[family.name] = exc
    return plans


def _task_columns(data: ModellingData, task: Task, families, plans=None) -> list[str] | None:
    """The cohort's columns that ``families`` and the registration read for ``task``
    (inputs, clinical score, split, centre, outcome); ``None`` (all) when a family trains
    by a trainer of its own, which may read any column."""
    plans = _input_plans(data, task, families) if plans is None else plans
    keep = {"cohort_split", "center", *task.outcome_columns}
    for family in families:
        if family.trainer is not None:
            return None
        if family.is_clinical:
            keep.add(family.column)
        elif not isinstance(plans[family.name], ValueError):
            keep.update(plans[family.name].used)
    return [c for c in data.frame.columns if c in keep]


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
          fast: bool = False, on_unit=None, own_process: bool = False) -> TrainingReport:
    """Train, validate and register every requested family for every requested task.

    ``own_process``: the process is this training run's alone (the command line), so the
    memory it read can be handed back process-wide — DuckDB's cached blocks after the
    read (a moment of a tiny memory limit on the store's connection) and large freed arrays
    to the system. Not for a server process, whose other users' queries share both.

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
    ``ValueError``. ``on_unit(i, units)``, if given, is called as unit ``i`` of ``units``
    (the ``task.family`` names, in training order) starts, once per unit.
    """
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    task_list = [get_task(t) for t in (tasks or [n for n, t in TASKS.items() if t.default])]
    family_list = ([get_family(f) for f in families] if families
                   else default_families(store, cohort))
    seed, folds = int(seed), int(folds)
    root = artefact_root(artefact_dir if artefact_dir is not None else default_artefact_dir(store))
    if own_process:
        _heap_hands_back_large_arrays()
    data = load_modelling_data(store, cohort)
    if own_process:
        release_memory(store)   # DuckDB's cache of what was read: the fits need the memory
    plan = [(t, f) for t in task_list for f in family_list if f.serves(t)]
    if not plan:
        raise ValueError("no family serves the requested tasks")
    steps = sum(_fits(f, folds) for _, f in plan)
    units = [f"{t.name}.{f.name}" for t, f in plan]
    started = iter(range(len(units)))
    begin = (lambda: on_unit(next(started), units)) if on_unit else (lambda: None)
    rows = []
    skipped: list[SkippedModel] = []
    context: dict = {}
    last = [t for t, _ in plan][-1]
    # Small models fit fastest single-threaded, and do not fight other work for cores.
    with threadpool_limits(limits=1), tqdm(total=steps, desc="training", unit="fit",
                                           disable=not progress, leave=False) as bar:
        for task in task_list:
            todo = [f for t, f in plan if t is task]
            if not todo:
                continue
            # the task's rows are taken from the cohort, with only the columns its
            # families and its registration read; no copy of the whole task frame is made
            in_task = task_rows(data, task)
            split = data.frame["cohort_split"].astype("object")
            plans = _input_plans(data, task, todo)
            columns = _task_columns(data, task, todo, plans)
            dev = rows_of(data.frame, in_task & (split == DEVELOPMENT).to_numpy(), columns)
            ext = rows_of(data.frame, in_task & (split == EXTERNAL).to_numpy(), columns)
            del split
            try:
                if dev.empty:
                    raise ValueError("no development patients with a known outcome")
                fold_of = assign_folds(dev, task, folds, seed)
            except ValueError as exc:  # a cohort without this outcome: train the other tasks
                skipped.append(SkippedModel(task.name, None,
                                            str(exc).removeprefix(f"task {task.name}: ")))
                for _ in todo:
                    begin()
                bar.update(sum(_fits(f, folds) for f in todo))
                continue
            comparison = rows_of(data.frame, task.in_comparison(data.frame).to_numpy(), columns)
            train_hash = training_hash(data.frame, in_task)
            del in_task   # the fits read dev and ext only
            if task is last:   # no later task reads the cohort: its frame is let go
                data = replace(data, frame=data.frame.iloc[:0].copy())   # no view of it
            context[task.name] = {}
            for family in todo:
                begin()
                bar.set_postfix_str(f"{task.name}.{family.name}")
                try:
                    trained, inputs = _train_family(store, cohort, task, family, data, dev, ext,
                                                    fold_of, seed, fast, context[task.name], bar,
                                                    comparison, plans.get(family.name))
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
