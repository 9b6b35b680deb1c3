"""Enough data, or no answer: the inputs a model cannot do without.

A model imputes what a case lacks (training medians and modes), which is fine for a
few entries and meaningless when most of the case is made up. Every model therefore
declares

* ``required``: inputs that must be known for its answer to mean anything — the
  tumour size and count for every model that reads them (the tumour burden score
  and the clinical risk scores are built on them), RAS status (KRAS and NRAS) and
  the planned biologic for anti-EGFR benefit;
* ``max_imputed_share``: the largest share of its inputs that may be imputed
  (``MAX_IMPUTED_SHARE``, one half). The share is taken over the model's clinical
  inputs (contract columns, derived scores included) when it reads any: the
  radiomic and genomic panels are supplements a form case rarely has, and the
  preprocessing's medians stand in for them as for an average patient. A model that
  reads only a feature panel (the genomic random forest) is judged on that panel.

A case that misses a required input or exceeds the share gets no class, no
probability and no interval: ``"not enough information — needed: …"``. Its raw
score is still computed, for the data scientist.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from crlm import config

MAX_IMPUTED_SHARE = 0.5
TUMOUR_BURDEN = ("max_diameter_cm", "n_liver_lesions")
TASK_REQUIRED: dict[str, tuple[str, ...]] = {
    "anti_egfr_benefit": ("kras", "nras", "biologic"),
}
NOT_ENOUGH = "not enough information"


@dataclass(frozen=True)
class ModelNeeds:
    """What one model cannot do without."""

    model_id: str
    required: tuple[str, ...]
    max_imputed_share: float = MAX_IMPUTED_SHARE


@dataclass(frozen=True)
class Sufficiency:
    """Whether a case gives a model enough to answer; ``needed`` names what is missing
    (labels), ``imputed_share`` the share of the model's inputs that were imputed."""

    sufficient: bool
    needed: tuple[str, ...]
    imputed_share: float
    n_inputs: int

    @property
    def message(self) -> str:
        if self.sufficient:
            return ""
        return f"{NOT_ENOUGH} — needed: {', '.join(self.needed)}"


def input_label(name: str) -> str:
    column = config.COLUMNS_BY_NAME.get(name)
    return column.label if column is not None else name


def needs_of(model_id: str, task: str, inputs: Sequence[str]) -> ModelNeeds:
    """The needs of a trained model reading ``inputs`` for ``task``."""
    names = set(inputs)
    required = [c for c in TUMOUR_BURDEN if c in names or "tumour_burden_score" in names]
    required += [c for c in TASK_REQUIRED.get(task, ()) if c not in required]
    return ModelNeeds(model_id=model_id, required=tuple(required))


def check_sufficiency(needs: ModelNeeds, case_values: dict, inputs: Sequence[str],
                      imputed: Sequence[str]) -> Sufficiency:
    """Judge one case: ``case_values`` maps entry names to the case's values (None or
    NaN when unknown), ``imputed`` lists the model inputs its preprocessing imputed."""
    def unknown(name: str) -> bool:
        v = case_values.get(name)
        return v is None or (isinstance(v, float) and v != v)

    needed = [input_label(c) for c in needs.required if unknown(c)]
    clinical = [c for c in inputs if c in config.COLUMNS_BY_NAME]
    judged = clinical or list(inputs)
    n = len(judged)
    share = len(set(imputed) & set(judged)) / n if n else 0.0
    if share > needs.max_imputed_share:
        what = "clinical inputs" if clinical else "inputs (a feature panel)"
        needed.append(f"at least {1 - needs.max_imputed_share:.0%} of the model's {n} {what} "
                      f"({share:.0%} imputed)")
    return Sufficiency(sufficient=not needed, needed=tuple(needed), imputed_share=share,
                       n_inputs=n)
