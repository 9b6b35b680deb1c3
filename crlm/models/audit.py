"""The leakage audit: ``python -m crlm audit --cohort NAME``.

Per task, on the development patients with a known outcome:

* every candidate input (contract columns, stored features, an import's extras) with
  the time it becomes known, whether the task's models may read it
  (``crlm.models.decision.plan_inputs``) and, if not, why;
* each input's single-variable out-of-fold discrimination (AUC for a binary task,
  Harrell's C for a survival task), on the task's own stratified folds: numbers
  and yes/no are oriented on the training folds (median fill for missing), and
  categories scored by their training-fold outcome rate (events per month for
  survival). An input reaching ``SUSPICIOUS_AUC`` / ``SUSPICIOUS_C`` on its own is
  flagged: no single pre-treatment marker in CRLM comes near that (published
  single markers and clinical scores reach about 0.55-0.70), so it is more likely
  measured after the decision or derived from the outcome;
* duplicated columns (the same partition of the patients under other names or
  codes) and label-derived columns (a column that is the outcome recoded).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crlm import config, stats
from crlm.models.decision import candidate_columns, plan_inputs
from crlm.models.tasks import BINARY, TASKS, Task, get_task
from crlm.models.training import DEVELOPMENT, assign_folds, load_modelling_data, task_frame

SUSPICIOUS_AUC = 0.80   # single-variable out-of-fold AUC (either direction)
SUSPICIOUS_C = 0.75     # single-variable out-of-fold Harrell's C (either direction)
MIN_PATIENTS = 20


@dataclass(frozen=True)
class InputAudit:
    """One candidate input of one task."""

    name: str
    known_at: str
    used: bool
    reason: str
    single_oof: float | None
    suspicious: bool

    def to_dict(self) -> dict:
        return {"name": self.name, "known_at": self.known_at, "used": self.used,
                "reason": self.reason, "single_oof": self.single_oof,
                "suspicious": self.suspicious}


@dataclass(frozen=True)
class TaskAudit:
    task: str
    label: str
    decision_time: str
    population: str
    n_patients: int
    metric: str
    inputs: tuple[InputAudit, ...] = ()
    duplicates: tuple[tuple[str, str], ...] = ()
    label_derived: tuple[str, ...] = ()
    skipped: str = ""

    @property
    def used(self) -> tuple[InputAudit, ...]:
        return tuple(i for i in self.inputs if i.used)

    @property
    def refused(self) -> tuple[InputAudit, ...]:
        return tuple(i for i in self.inputs if not i.used)

    @property
    def suspicious(self) -> tuple[InputAudit, ...]:
        return tuple(i for i in self.inputs if i.used and i.suspicious)

    def to_dict(self) -> dict:
        return {"task": self.task, "label": self.label, "decision_time": self.decision_time,
                "population": self.population, "n_patients": self.n_patients,
                "metric": self.metric, "inputs": [i.to_dict() for i in self.inputs],
                "duplicates": [list(p) for p in self.duplicates],
                "label_derived": list(self.label_derived), "skipped": self.skipped}


@dataclass(frozen=True)
class AuditReport:
    cohort: str
    tasks: tuple[TaskAudit, ...]
    suspicious_auc: float = SUSPICIOUS_AUC
    suspicious_c: float = SUSPICIOUS_C

    @property
    def ok(self) -> bool:
        """No used input is suspicious, duplicated or label-derived."""
        for t in self.tasks:
            used = {i.name for i in t.used}
            if t.suspicious or set(t.label_derived) & used:
                return False
            if any(a in used and b in used for a, b in t.duplicates):
                return False
        return True

    def to_dict(self) -> dict:
        return {"cohort": self.cohort, "ok": self.ok, "suspicious_auc": self.suspicious_auc,
                "suspicious_c": self.suspicious_c, "tasks": [t.to_dict() for t in self.tasks]}

    def to_text(self) -> str:
        lines = [f"Leakage audit of cohort {self.cohort!r}: suspicious when one input alone "
                 f"reaches an out-of-fold AUC >= {self.suspicious_auc:.2f} or Harrell's C >= "
                 f"{self.suspicious_c:.2f} (either direction)."]
        for t in self.tasks:
            lines.append("")
            lines.append(f"task {t.task} — {t.label}; decision time: {t.decision_time}; "
                         f"population: {t.population}")
            if t.skipped:
                lines.append(f"  skipped: {t.skipped}")
                continue
            lines.append(f"  {t.n_patients} development patients with a known outcome; "
                         f"single-variable out-of-fold {t.metric}")
            lines.append(f"  inputs used ({len(t.used)}):")
            lines.extend(_rows(t.used))
            lines.append(f"  not used ({len(t.refused)}):")
            lines.extend(_rows(t.refused, reasons=True))
            flagged = ", ".join(f"{i.name} ({i.single_oof:.3f})" for i in t.suspicious)
            lines.append(f"  suspiciously predictive inputs: {flagged or 'none'}")
            used = {i.name for i in t.used}
            dups = [f"{a} = {b}" for a, b in t.duplicates]
            shown = ", ".join(dups[:30]) + (f" (and {len(dups) - 30} more)" if len(dups) > 30
                                            else "")
            lines.append(f"  duplicated columns: {shown or 'none'}")
            derived = [f"{n}{'' if n in used else ' (not used)'}" for n in t.label_derived]
            lines.append(f"  label-derived columns: {', '.join(derived) or 'none'}")
        lines.append("")
        lines.append("verdict: " + ("no used input is suspicious, duplicated or label-derived"
                                    if self.ok else "CHECK the flagged inputs above"))
        return "\n".join(lines)


def _rows(items, reasons: bool = False) -> list[str]:
    out = []
    for i in items:
        value = "  –  " if i.single_oof is None else f"{i.single_oof:.3f}"
        flag = "  SUSPICIOUS" if i.suspicious else ""
        tail = f"  {i.reason}" if reasons and i.reason else ""
        out.append(f"    {i.name:<36} {i.known_at:<15} {value}{flag}{tail}")
    return out


# -- single-variable out-of-fold discrimination ---------------------------------------
def _outcome_rate(task: Task, y) -> tuple[np.ndarray, np.ndarray]:
    """Per-row (numerator, denominator) whose ratio is the task's outcome rate."""
    if task.kind == BINARY:
        return np.asarray(y, float), np.ones(len(y))
    time, event = y
    return np.asarray(event, float), np.asarray(time, float)


def _single_oof(values: pd.Series, task: Task, y, fold_of: np.ndarray) -> np.ndarray:
    num, den = _outcome_rate(task, y)
    numeric = pd.to_numeric(values, errors="coerce") if values.dtype != object else None
    if numeric is not None and numeric.notna().any():
        x = numeric.to_numpy(float)
        categorical = False
    else:
        codes = pd.Series(values.astype("object").where(values.notna(), "__missing__")
                          ).astype(str).to_numpy()
        categorical = True
    out = np.full(len(values), np.nan)
    for k in np.unique(fold_of):
        train, test = fold_of != k, fold_of == k
        base = num[train].sum() / max(den[train].sum(), 1e-12)
        if categorical:
            frame = pd.DataFrame({"c": codes[train], "n": num[train], "d": den[train]})
            sums = frame.groupby("c")[["n", "d"]].sum()
            rate = (sums["n"] / sums["d"].where(sums["d"] > 0)).to_dict()
            out[test] = [rate.get(c, base) if np.isfinite(rate.get(c, base)) else base
                         for c in codes[test]]
        else:
            median = np.nanmedian(x[train]) if np.isfinite(x[train]).any() else 0.0
            filled = np.where(np.isfinite(x), x, median)
            high = filled[train] > np.median(filled[train])
            rate_high = num[train][high].sum() / max(den[train][high].sum(), 1e-12)
            rate_low = num[train][~high].sum() / max(den[train][~high].sum(), 1e-12)
            out[test] = filled[test] * (1.0 if rate_high >= rate_low else -1.0)
    return out


def _discrimination(task: Task, y, score: np.ndarray) -> float | None:
    ok = np.isfinite(score)
    if ok.sum() < MIN_PATIENTS or np.ptp(score[ok]) == 0:
        return 0.5 if ok.sum() >= MIN_PATIENTS else None
    if task.kind == BINARY:
        yy = np.asarray(y)[ok]
        if yy.min() == yy.max():
            return None
        return float(stats.roc(yy, score[ok]).auc)
    time, event = y
    return float(stats.concordance_index(time[ok], event[ok], score[ok]).concordance)


def _partition(values: pd.Series) -> np.ndarray:
    """Codes of the column's values (missing as one more value); a column with many
    distinct numbers is coded by the rank of its values, so that a monotone rescaling
    (mm for cm, a log) codes the same."""
    numeric = pd.to_numeric(values, errors="coerce") if values.dtype != object else None
    if numeric is not None and numeric.nunique() > max(20, len(values) // 10):
        ranks = numeric.rank(method="dense").fillna(0).astype(int).to_numpy()
        return ranks
    return pd.factorize(values.astype("object").where(values.notna(), "__missing__")
                        .astype(str))[0]


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """The two columns carry the same information: one is a relabelling of the other
    (for ranked numbers: the same order, or the reversed one)."""
    if len(np.unique(a)) != len(np.unique(b)):
        return False
    pairs = len(set(zip(a.tolist(), b.tolist())))
    if pairs != len(np.unique(a)):
        return False
    if len(np.unique(a)) > 20:  # ranked numbers: the relabelling must keep or reverse order
        order = np.argsort(a, kind="stable")
        step = np.diff(b[order])
        return bool((step >= 0).all() or (step <= 0).all())
    return True


def audit_task(data, task: Task, folds: int = 5, seed: int = config.DEFAULT_SEED) -> TaskAudit:
    frame = task_frame(data, task)
    dev = frame[(frame["cohort_split"].astype("object") == DEVELOPMENT).to_numpy()]
    metric = "AUC" if task.kind == BINARY else "Harrell's C"
    head = dict(task=task.name, label=task.label, decision_time=task.decision_time,
                population=task.applies_to, n_patients=len(dev), metric=metric)
    try:
        if len(dev) < MIN_PATIENTS:
            raise ValueError(f"only {len(dev)} development patients with a known outcome")
        fold_of = assign_folds(dev, task, folds, seed)
    except ValueError as exc:
        return TaskAudit(**head, skipped=str(exc).removeprefix(f"task {task.name}: "))
    candidates = candidate_columns(("clinical", "radiomic", "genomic"), data.feature_sets)
    candidates += [c for c in config.PATIENT_COLUMN_NAMES
                   if config.COLUMNS_BY_NAME[c].group == "outcome" and c not in candidates]
    candidates = [c for c in dict.fromkeys(candidates)
                  if c in dev.columns and c not in task.outcome_columns]
    plan = plan_inputs(task, candidates, data.feature_times, data.feature_sets,
                       data.not_recorded(candidates))
    y = task.outcome(dev)
    threshold = SUSPICIOUS_AUC if task.kind == BINARY else SUSPICIOUS_C
    used = set(plan.used)
    inputs = []
    for name in candidates:
        refused = plan.refusal_of(name)
        value = _discrimination(task, y, _single_oof(dev[name], task, y, fold_of))
        oriented = None if value is None else max(value, 1.0 - value)
        inputs.append(InputAudit(
            name=name, known_at=refused.known_at if refused else
            plan.used_known_at[plan.used.index(name)], used=name in used,
            reason=refused.reason if refused else "", single_oof=oriented,
            suspicious=name in used and oriented is not None and oriented >= threshold))
    parts = {name: _partition(dev[name]) for name in candidates}
    names = [n for n in candidates if len(np.unique(parts[n])) > 1]
    duplicates = tuple((a, b) for i, a in enumerate(names) for b in names[i + 1:]
                       if _same_partition(parts[a], parts[b]))
    label = _partition(pd.Series(y if task.kind == BINARY else y[1], index=dev.index))
    derived = tuple(n for n in names if _same_partition(parts[n], label)
                    or _determines(parts[n], label))
    return TaskAudit(**head, inputs=tuple(inputs), duplicates=duplicates,
                     label_derived=derived)


def _determines(codes: np.ndarray, label: np.ndarray) -> bool:
    """Every level of the column holds one outcome only, with levels of both outcomes
    present, and none is a single patient's own level (an identifier)."""
    frame = pd.DataFrame({"c": codes, "y": label})
    per_level = frame.groupby("c")["y"].agg(["nunique", "size"])
    return bool((per_level["nunique"] == 1).all() and frame["y"].nunique() > 1
                and (per_level["size"] > 1).all())


def audit_cohort(store, cohort: str, tasks=None, folds: int = 5,
                 seed: int = config.DEFAULT_SEED) -> AuditReport:
    """The leakage audit of every (or the named) task of ``cohort``."""
    data = load_modelling_data(store, cohort)
    chosen = [get_task(t) for t in (tasks or list(TASKS))]
    return AuditReport(cohort=cohort, tasks=tuple(audit_task(data, t, folds, seed)
                                                  for t in chosen))
