"""Decision time: the one place that decides which inputs a task's models may read.

Every contract column declares when it becomes known (``config.Column.known_at``);
every stored feature set too (``config.FEATURE_SET_KNOWN_AT``), and an imported
cohort's extra features carry the time their mapping gives them (``feature_info``,
``unknown`` when the mapping is silent). A task reads an input only if it is known
by the task's decision time (``config.known_by``); outcomes never, an unknown time
never, the task's own outcome columns never, and the columns that define the
task's population (constant inside it) are left out too, and so is a column the
training cohort never records (no value in any patient: it would enter as imputed
constants only).

Training (``ModellingData.inputs_for``), scoring an uploaded case and the leakage
audit all ask :func:`plan_inputs`, so no family, import mapping or uploaded table
can slip a later column in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from crlm import config

IMAGING_INPUT = "ct_lesion_crops"
# serial measurements as a whole input of the sequence models: up to the first-restaging
# landmark, or the baseline visit only (the cut-off: ``measurement_cutoff_day``)
SERIAL_INPUTS = {"serial_measurements": config.RESTAGING,
                 "serial_measurements_baseline": config.STAGING,
                 "serial_ct_lesion_crops": config.RESTAGING}


def known_at_of(name: str, feature_times: Mapping[str, str] | None = None) -> str:
    """When ``name`` (a contract column, a stored feature or the CT crops) is known."""
    column = config.COLUMNS_BY_NAME.get(name)
    if column is not None:
        if column.group == "id" or not column.model_input:
            return config.UNKNOWN_TIME
        return column.known_at
    if name == IMAGING_INPUT:
        return config.FEATURE_SET_KNOWN_AT["imaging"]
    if name in SERIAL_INPUTS:
        return SERIAL_INPUTS[name]
    if feature_times and name in feature_times:
        return feature_times[name]
    return config.UNKNOWN_TIME


def measurement_cutoff_day(decision_time: str) -> int | None:
    """The last day (from treatment start) of serial measurements a task deciding at
    ``decision_time`` may read: the baseline (day 0) at staging and with the plan, up to the
    first-restaging landmark at restaging and after surgery (later values are follow-up,
    never an input: ``config.measurement_known_at``); None (no measurement) otherwise."""
    if decision_time in (config.STAGING, config.PLAN):
        return 0
    if decision_time in (config.RESTAGING, config.SURGERY):
        return config.RESTAGING_LANDMARK_DAYS
    return None


@dataclass(frozen=True)
class RefusedInput:
    """An input a task may not read, and why (one line)."""

    name: str
    known_at: str
    reason: str

    def to_dict(self) -> dict:
        return {"name": self.name, "known_at": self.known_at, "reason": self.reason}


@dataclass(frozen=True)
class InputPlan:
    """What one task may read: ``used`` in order, each with its decision time, and the
    ``refused`` ones with their reason."""

    task: str
    decision_time: str
    used: tuple[str, ...]
    used_known_at: tuple[str, ...]
    refused: tuple[RefusedInput, ...]

    def to_dict(self) -> dict:
        return {"task": self.task, "decision_time": self.decision_time,
                "inputs": [{"name": n, "known_at": k}
                           for n, k in zip(self.used, self.used_known_at)],
                "refused": [r.to_dict() for r in self.refused]}

    def refusal_of(self, name: str) -> RefusedInput | None:
        return next((r for r in self.refused if r.name == name), None)


WHEN = {config.STAGING: "at staging", config.PLAN: "with the treatment plan",
        config.RESTAGING: "at restaging", config.SURGERY: "after surgery",
        config.OUTCOME: "as an outcome", config.UNKNOWN_TIME: "at an undeclared time"}


def _input_set(name: str, feature_sets: Mapping[str, Iterable[str]] | None) -> str | None:
    """The input set ``name`` belongs to: ``clinical`` for a contract column, the CT crops'
    own name, ``serial``, or the stored feature set holding it (None when not known)."""
    if name in config.COLUMNS_BY_NAME:
        return "clinical"
    if name == IMAGING_INPUT:
        return IMAGING_INPUT
    if name in SERIAL_INPUTS:
        return "serial"
    return next((s for s, names in (feature_sets or {}).items() if name in names), None)


NOT_RECORDED = "not recorded by this cohort"


def _reason(name: str, known_at: str, task,
            feature_sets: Mapping[str, Iterable[str]] | None = None,
            not_recorded: frozenset[str] = frozenset()) -> str | None:
    if name in task.outcome_columns:
        return f"{name} is the outcome of task {task.name}"
    allowed = getattr(task, "input_sets", ())
    if allowed:  # a task that reads named input sets only (the CT tasks: imaging only)
        where = _input_set(name, feature_sets)
        if (where not in allowed) and (where is not None or feature_sets is not None):
            return (f"{name} is not one of the inputs of task {task.name} "
                    f"({', '.join(allowed)} only)")
    if known_at == config.UNKNOWN_TIME:
        return (f"{name}: when it becomes known is not declared (set known_at in the "
                "import mapping)")
    if known_at == config.OUTCOME:
        return f"{name} is an outcome, never an input"
    if not config.known_by(known_at, task.decision_time):
        return (f"{name} is known {WHEN[known_at]}, later than the decision time of task "
                f"{task.name} ({task.decision_time})")
    if name in task.population_columns:
        return f"{name} defines the task's population (the same value for every patient)"
    if name in not_recorded:
        return f"{name} is {NOT_RECORDED} (no patient has a value)"
    return None


def plan_inputs(task, candidates: Iterable[str],
                feature_times: Mapping[str, str] | None = None,
                feature_sets: Mapping[str, Iterable[str]] | None = None,
               not_recorded: Iterable[str] = ()) -> InputPlan:
    """Split ``candidates`` into the inputs ``task`` may read and the refused ones.

    ``feature_sets`` (set name -> its stored features) lets a task that reads named input
    sets only (``Task.input_sets``) refuse a stored feature of another set; without it
    only contract columns and serial inputs are told apart. ``not_recorded``: the columns
    the training cohort holds no value of (``ModellingData.not_recorded``)."""
    used, times, refused = [], [], []
    missing = frozenset(not_recorded)
    for name in dict.fromkeys(candidates):
        known_at = known_at_of(name, feature_times)
        reason = _reason(name, known_at, task, feature_sets, missing)
        if reason is None:
            used.append(name)
            times.append(known_at)
        else:
            refused.append(RefusedInput(name, known_at, reason))
    return InputPlan(task=task.name, decision_time=task.decision_time, used=tuple(used),
                     used_known_at=tuple(times), refused=tuple(refused))


def candidate_columns(feature_sets: Iterable[str],
                      features_by_set: Mapping[str, list[str]]) -> list[str]:
    """Every column a family's feature sets name, before the decision-time check:
    contract columns for ``clinical`` (with an import's extra features), the stored
    features of each other set."""
    cols: list[str] = []
    sets = tuple(feature_sets)
    for name in sets:
        if name == "clinical":
            cols.extend(config.CANDIDATE_INPUT_COLUMNS)
        else:
            cols.extend(features_by_set.get(name, []))
    if "clinical" in sets:
        cols.extend(features_by_set.get("extra", []))
    return list(dict.fromkeys(cols))
