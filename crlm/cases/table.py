"""The scores of a case as a table: one row per model that scored, with threshold,
class, cohort percentile and flags; the models that gave no answer with their reason;
the flags of the case (imputed, out of range, stale); the board's answers in words and
the case in one line.
"""
from __future__ import annotations

from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd

from crlm.cases._values import _finite
from crlm.cases.entries import ENTRY_NAMES

HEADLINE_TASKS = ("response", "anti_egfr_benefit", "os_risk", "pfs_risk", "os_after_resection",
                  "recurrence_after_resection")


class TaskOrder(SequenceABC):
    """The task names in the order the Score page and the report show them: the headline
    tasks first, in their order, then every other task of the registry
    (``crlm.models.tasks.TASKS``) in its own order, so that a newly registered task always
    has a place; ``kind`` keeps the tasks of that kind only (``"survival"``). The registry
    is read on use: importing ``crlm.cases`` does not load the model libraries."""

    def __init__(self, first: Sequence[str], kind: str | None = None) -> None:
        self._first = tuple(first)
        self._kind = kind

    def _names(self) -> tuple[str, ...]:
        from crlm.models.tasks import TASKS

        names = [t for t in self._first if t in TASKS]
        names += [t for t in TASKS if t not in self._first]
        return tuple(t for t in names if self._kind is None or TASKS[t].kind == self._kind)

    def __getitem__(self, index):
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return f"TaskOrder{self._names()!r}"


TASK_ORDER = TaskOrder(HEADLINE_TASKS)
SURVIVAL_TASKS = TaskOrder(HEADLINE_TASKS, kind="survival")
IMAGING_FAMILIES = {
    "cnn": "Lesion CNN (ResNet-18 on CT crops)",
    "fusion": "Radiomic + genomic fusion (3 : 7)",
}


def task_label(task: str) -> str:
    """A task's name in tables (``crlm.models.tasks.Task.short_label``); an unknown
    task's own name."""
    # imported on use: importing crlm.models loads the model libraries
    from crlm.models.tasks import TASKS

    found = TASKS.get(task)
    return found.short_label or found.label if found is not None else task


def _is_clinical(kind) -> bool:
    # imported on use: importing crlm.models loads the model libraries
    from crlm.models.kinds import is_clinical_score

    return is_clinical_score(kind)


# the two classes of the yes/no tasks whose outcome is not a response to treatment
BINARY_CLASSES = {"ras_from_ct": ("RAS mutant", "RAS wild-type"),
                  "desmoplastic_from_ct": ("desmoplastic", "not desmoplastic"),
                  "pathological_response": ("major pathological response",
                                            "no major pathological response")}


def class_label(task: str, predicted: bool | None) -> str:
    if predicted is None:
        return "–"
    if task in SURVIVAL_TASKS:
        return "high risk" if predicted else "low risk"
    yes, no = BINARY_CLASSES.get(task, ("responder", "non-responder"))
    return yes if predicted else no


def display_score(row: Mapping) -> float:
    """A clinical baseline's own value (response tasks store its negative); else the score."""
    if _is_clinical(row.get("kind")) and isinstance(row.get("contributions"), Mapping) \
            and row["contributions"]:
        return float(next(iter(row["contributions"].values())))
    return float(row["score"])


def scores_table(scores: pd.DataFrame, thresholds: Mapping[str, float | None] | None = None,
                 model_labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per scored model: task, model, version, kind, score, threshold,
    predicted class at the threshold (``thresholds`` overrides the stored one, e.g.
    the threshold set on the Models page), cohort percentile and flags.
    A model the case does not give enough to answer keeps its raw score but its class
    reads "not enough information — needed: …" (``crlm.models.requirements``).
    Rows without a score are left out (see ``could_not_score``)."""
    thresholds = dict(thresholds or {})
    labels = dict(model_labels or {})
    out = []
    for row in scores.to_dict("records"):
        if not _finite(row.get("score")):
            continue
        threshold = thresholds.get(row["model_id"], row.get("threshold"))
        threshold = float(threshold) if _finite(threshold) else None
        predicted = None if threshold is None else bool(float(row["score"]) >= threshold)
        sufficient = bool(row.get("sufficient", True))
        shown_class = class_label(row["task"], predicted) if sufficient else (
            "not enough information — needed: " + ", ".join(row.get("needed") or ()))
        flags = []
        imputed = list(row.get("imputed") or [])
        entries = [c for c in imputed if c in ENTRY_NAMES]
        if entries:
            flags.append(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} imputed")
        if len(imputed) > len(entries):
            n = len(imputed) - len(entries)
            flags.append(f"{n} feature{'' if n == 1 else 's'} imputed")
        if row.get("out_of_range"):
            flags.append(f"outside training range: {', '.join(row['out_of_range'])}")
        if row.get("stale"):
            flags.append("trained on a different cohort version")
        out.append({
            "case": row["patient_id"],
            "task": task_label(row["task"]),
            "task_id": row["task"],
            "model_id": row["model_id"],
            "model": labels.get(row["model_id"], row["model_id"]),
            "version": int(row["model_version"]),
            "kind": row.get("kind", ""),
            "score": float(row["score"]),
            "shown_score": display_score(row),
            "threshold": threshold,
            "predicted_class": shown_class,
            "sufficient": sufficient,
            "percentile": float(row["percentile"]) if _finite(row.get("percentile")) else None,
            "n_imputed": len(row.get("imputed") or []),
            "stale": bool(row.get("stale")),
            "flags": "; ".join(flags),
        })
    table = pd.DataFrame(out, columns=[
        "case", "task", "task_id", "model_id", "model", "version", "kind", "score",
        "shown_score", "threshold", "predicted_class", "sufficient", "percentile", "n_imputed",
        "stale", "flags"])
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    table["_order"] = table["task_id"].map(order).fillna(len(order))
    table["_kind"] = table["kind"].map(_is_clinical).astype(int)
    return table.sort_values(["case", "_order", "_kind", "model_id"], kind="stable") \
        .drop(columns=["_order", "_kind"]).reset_index(drop=True)


def could_not_score(scores: pd.DataFrame, registry: pd.DataFrame | None = None,
                    imaging_given: bool = False) -> pd.DataFrame:
    """Models that gave no score, with the reason; with an image, the imaging
    families missing from the registry are listed too."""
    rows = [{"case": r["patient_id"], "task": task_label(r["task"]),
             "model_id": r["model_id"], "reason": r.get("reason") or "no score"}
            for r in scores.to_dict("records") if not _finite(r.get("score"))]
    if imaging_given:
        families = set(registry["family"]) if registry is not None and len(registry) else set()
        for family, label in IMAGING_FAMILIES.items():
            if family not in families:
                rows.append({"case": "all", "task": "response", "model_id": family,
                             "reason": f"{label}: no trained model of this family in the "
                                       "registry for this cohort"})
    return pd.DataFrame(rows, columns=["case", "task", "model_id", "reason"])


@dataclass(frozen=True)
class ReasonGroup:
    """Models without an answer for the same reason: ``reason`` in words, the models
    (``model_id``) and one detail line per model (its own reason)."""

    reason: str
    models: tuple[str, ...]
    details: tuple[str, ...]

    @property
    def title(self) -> str:
        n = len(self.models)
        return f"{self.reason}: {n} model{'' if n == 1 else 's'}"


def reason_groups(scores: pd.DataFrame) -> tuple[ReasonGroup, ...]:
    """The models of ``score_cases``' output that give no answer — no score, or not
    enough information — grouped by their shared reason (``reason_group``), largest
    group first."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for r in scores.to_dict("records"):
        answered = _finite(r.get("score")) and bool(r.get("sufficient", True))
        if answered:
            continue
        key = r.get("reason_group") or r.get("reason") or "no score"
        groups.setdefault(key, []).append((r["model_id"], r.get("reason") or key))
    out = [ReasonGroup(reason=k, models=tuple(m for m, _ in v),
                       details=tuple(f"{m}: {d}" for m, d in v)) for k, v in groups.items()]
    return tuple(sorted(out, key=lambda g: -len(g.models)))


def case_flags(scores: pd.DataFrame) -> dict[str, list[str]]:
    """Inputs imputed and outside the training range (by any model), stale models."""
    imputed: set[str] = set()
    out_of_range: set[str] = set()
    stale: list[str] = []
    for row in scores.to_dict("records"):
        if not _finite(row.get("score")):
            continue
        imputed.update(row.get("imputed") or [])
        out_of_range.update(row.get("out_of_range") or [])
        if row.get("stale"):
            stale.append(f"{row['model_id']} v{int(row['model_version'])}")
    entry = set(ENTRY_NAMES)
    return {"imputed_inputs": sorted(imputed & entry),
            "imputed_features": sorted(imputed - entry),
            "out_of_range": sorted(out_of_range),
            "stale_models": sorted(set(stale))}


def batch_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Wide view of a batch: one row per case, one column per trained model's score."""
    from crlm.models.kinds import trained_only

    trained = trained_only(table)
    if trained.empty:
        return pd.DataFrame({"case": table["case"].unique()})
    wide = trained.pivot_table(index="case", columns="model_id", values="score", aggfunc="first")
    wide = wide.reset_index()
    wide.columns.name = None
    order = {c: int(str(c).rsplit("-", 1)[-1]) if str(c).rsplit("-", 1)[-1].isdigit() else 0
             for c in wide["case"]}
    return wide.sort_values("case", key=lambda s: s.map(order)).reset_index(drop=True)


# ----------------------------------------------------------------- board answers
BOARD_COLUMNS = ["case", "task_id", "task", "model_id", "model", "kind", "answered", "answer",
                 "interval", "calibration", "raw_score"]


def board_table(predictions: Sequence, model_labels: Mapping[str, str] | None = None
                ) -> pd.DataFrame:
    """What a board reads, one row per model that gave a score: the answer in words
    (probability or survival at 1, 3 and 5 years, or "not enough information —
    needed: …"), its interval or prediction set, the calibration it rests on, and the
    raw score for the data scientist. ``predictions``: ``crlm.models.absolute``
    ``CasePrediction`` items. Models without a score are left out (``reason_groups``)."""
    labels = dict(model_labels or {})
    rows = []
    for p in predictions:
        if not _finite(p.raw_score):
            continue
        rows.append({"case": p.patient_id, "task_id": p.task,
                     "task": task_label(p.task), "model_id": p.model_id,
                     "model": labels.get(p.model_id, p.model_id), "kind": p.kind,
                     "answered": bool(p.answered and not p.needed), "answer": p.headline,
                     "interval": p.interval_text, "calibration": p.calibration_text,
                     "raw_score": float(p.raw_score)})
    table = pd.DataFrame(rows, columns=BOARD_COLUMNS)
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    table["_order"] = table["task_id"].map(order).fillna(len(order))
    table["_kind"] = table["kind"].map(_is_clinical).astype(int)
    return table.sort_values(["case", "_order", "_kind", "model_id"], kind="stable") \
        .drop(columns=["_order", "_kind"]).reset_index(drop=True)


SUMMARY_TASKS = {"response": "Response", "anti_egfr_benefit": "Anti-EGFR benefit",
                 "os_risk": "OS", "pfs_risk": "PFS", "os_after_resection": "OS after resection",
                 "recurrence_after_resection": "Recurrence-free after resection"}


def summary_line(board: pd.DataFrame, headline_models: Mapping[str, str],
                 missing: Sequence[str] = ()) -> str:
    """The case in one line: per task, the answer of its headline model (the model the
    cohort ranks best, ``crlm.models.absolute.headline_models``) with its interval or
    set, then what is missing."""
    parts = []
    for task, name in SUMMARY_TASKS.items():
        model_id = headline_models.get(task)
        row = board[board["model_id"] == model_id] if model_id else board.iloc[0:0]
        if row.empty:
            continue
        r = row.iloc[0]
        if not r["answered"]:
            parts.append(f"{name}: no answer")
        elif task in SURVIVAL_TASKS:
            first = str(r["answer"]).split("; ")
            parts.append(f"{name}: " + "; ".join(first[1:2] + first[-1:]))
        else:
            interval = str(r["interval"]).replace(
                " prediction set: both outcomes (the model cannot tell)", " set: both") \
                .replace(" prediction set:", " set:")
            parts.append(f"{name}: {r['answer'].replace('probability of response ', '')}"
                         + (f" ({interval})" if interval else ""))
    if missing:
        parts.append("missing: " + ", ".join(missing))
    return " · ".join(parts) if parts else "no model answered"
