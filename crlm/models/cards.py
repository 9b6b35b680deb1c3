"""Model cards: what a board needs to read a model's numbers, from its registry row.

Task and decision time, population, family, version, when it was trained, on how
many development patients in which centres with how many folds, which centre is
the external validation, the training data hash, and every input with the time it
becomes known (plus the inputs the task may not read and why).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pandas as pd

from crlm.models.decision import known_at_of
from crlm.models.tasks import TASKS


@dataclass(frozen=True)
class ModelCard:
    model_id: str
    name: str
    family: str
    kind: str
    version: int
    task: str
    task_label: str
    decision_time: str
    population: str
    trained_at: str
    n_training: int | None
    n_external: int | None
    folds: int | None
    development_centres: tuple[str, ...]
    external_centres: tuple[str, ...]
    training_hash: str
    inputs: tuple[tuple[str, str], ...]
    refused: tuple[tuple[str, str], ...]
    details: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_record(cls, record: Mapping) -> "ModelCard":
        metrics = record.get("metrics") or {}
        card = metrics.get("card") or {}
        task = TASKS.get(record["task"])
        inputs = card.get("inputs") or [{"name": c, "known_at": known_at_of(c)}
                                        for c in record.get("feature_set") or []]
        return cls(
            model_id=str(record["model_id"]), name=str(record["name"]),
            family=str(record["family"]), kind=str(record["kind"]),
            version=int(record["version"]), task=str(record["task"]),
            task_label=card.get("task_label") or (task.label if task else record["task"]),
            decision_time=card.get("decision_time") or (task.decision_time if task else "?"),
            population=card.get("population") or (task.applies_to if task else "?"),
            trained_at=str(record.get("trained_at") or ""),
            n_training=card.get("n_training"), n_external=card.get("n_external"),
            folds=metrics.get("folds"),
            development_centres=tuple(card.get("development_centres") or ()),
            external_centres=tuple(card.get("external_centres") or ()),
            training_hash=str(record.get("training_hash") or ""),
            inputs=tuple((i["name"], i["known_at"]) for i in inputs),
            refused=tuple((r["name"], r["reason"]) for r in card.get("refused_inputs") or ()),
            details=tuple((str(k), str(v)) for k, v in (card.get("estimator") or {}).items()))

    def summary(self) -> pd.DataFrame:
        """The card's facts as (item, value) rows."""
        def n(v):
            return "–" if v is None else f"{int(v):,}"
        rows = [
            ("Model", f"{self.name} ({self.model_id}, version {self.version})"),
            ("Task", f"{self.task_label} ({self.task})"),
            ("Decision time", self.decision_time),
            ("Population", self.population),
            ("Inputs", f"{len(self.inputs)}, each known by the decision time"),
            ("Training", f"{n(self.n_training)} development patients"
                         + (f" ({', '.join(self.development_centres)})"
                            if self.development_centres else "")
                         + (f", {self.folds}-fold cross-validation" if self.folds else "")),
            ("External validation", f"{n(self.n_external)} patients"
                                    + (f" ({', '.join(self.external_centres)})"
                                       if self.external_centres else "")),
            ("Trained at", self.trained_at),
            ("Training data hash", self.training_hash),
        ]
        return pd.DataFrame(rows, columns=["item", "value"])

    def inputs_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.inputs), columns=["input", "known at"])

    def details_frame(self) -> pd.DataFrame:
        """What the estimator says about itself: tree splits, costs, selected inputs,
        hyper-parameter search space and chosen values."""
        return pd.DataFrame(list(self.details), columns=["item", "value"])

    def refused_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.refused), columns=["not used", "why"])
