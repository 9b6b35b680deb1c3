"""The study design's vocabulary (arms, signature groups, biomarkers) and its frozen
results; see the package doc."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crlm import stats
from crlm.stats._result import ResultMixin

TREATED_SPLITS = ("out-of-fold", "external")
COMPARISON_SPLIT = "comparison"
TREATED_BIOLOGIC = "anti-EGFR"
CHEMO_ARMS = {"none": ("none",), "none+anti-VEGF": ("none", "anti-VEGF")}
CHEMO_ARM_LABELS = {"none": "chemotherapy alone",
                    "none+anti-VEGF": "chemotherapy alone or with anti-VEGF"}
ANTI_EGFR_ARM = "Anti-EGFR"
SIGNATURE_LOW, SIGNATURE_HIGH = "Signature-low", "Signature-high"
RESPONSE, PFS = "response", "PFS"
STUDY_COLUMNS = ("biologic", "ras_status", "responder", "pfs_months", "pfs_event",
                 "primary_side", "braf_v600e", "her2", "msi")
MIN_LEVEL = 5          # a biomarker enters the multivariable model with >= 5 patients per level
MIN_EVENTS = 5         # a Cox fit needs >= 5 events


def chemo_arm_label(chemo_arm: str) -> str:
    """The chemotherapy arm's display name: ``Chemotherapy alone`` / ``... or with anti-VEGF``."""
    label = CHEMO_ARM_LABELS[_check_chemo_arm(chemo_arm)]
    return label[0].upper() + label[1:]


def _check_chemo_arm(chemo_arm: str) -> str:
    if chemo_arm not in CHEMO_ARMS:
        raise ValueError(f"chemo_arm must be one of {', '.join(CHEMO_ARMS)}, got {chemo_arm!r}")
    return chemo_arm


@dataclass(frozen=True)
class Biomarker:
    """An established biomarker as a 0/1 covariate: 1 where ``column == positive``,
    0 for the column's other known values, missing where unknown."""

    name: str
    label: str
    column: str
    positive: str
    negatives: tuple[str, ...]

    def indicator(self, frame: pd.DataFrame) -> pd.Series:
        if self.column not in frame:
            return pd.Series(np.nan, index=frame.index)
        values = frame[self.column].astype("object").to_numpy()
        out = np.full(len(values), np.nan)
        out[values == self.positive] = 1.0
        out[pd.Series(values).isin(self.negatives).to_numpy()] = 0.0
        return pd.Series(out, index=frame.index)


BIOMARKERS = (
    Biomarker("right_sided", "Right-sided primary", "primary_side", "right", ("left", "rectum")),
    Biomarker("braf_v600e_mutant", "BRAF V600E mutant", "braf_v600e", "mutant", ("wild-type",)),
    Biomarker("her2_amplified", "HER2 amplified", "her2", "amplified", ("not amplified",)),
    Biomarker("msi_high", "MSI-high / dMMR", "msi", "MSI-H", ("MSS",)),
    Biomarker("ras_mutant", "RAS mutant", "ras_status", "mutant", ("wild-type",)),
)
SIGNATURE_TERM = "signature_high"
SIGNATURE_LABEL = "Signature-high (vs low)"


# -- results ---------------------------------------------------------------------
@dataclass(frozen=True)
class Effect(ResultMixin):
    """One ratio (odds or hazard) with its Wald CI and p-value, or the reason it is missing."""

    label: str
    estimate: float
    ci_lower: float
    ci_upper: float
    p_value: float
    n: int
    events: int
    estimable: bool
    reason: str = ""


def _missing_effect(label: str, n: int, events: int, reason: str) -> Effect:
    nan = float("nan")
    return Effect(label, nan, nan, nan, nan, int(n), int(events), False, reason)


@dataclass(frozen=True)
class ArmAUC(ResultMixin):
    """The signature's discrimination of responders within one arm."""

    arm: str
    n: int
    responders: int
    auc: float
    ci_lower: float
    ci_upper: float
    estimable: bool
    reason: str
    roc: stats.ROCResult | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AUCContrast(ResultMixin):
    """AUC in the anti-EGFR arm vs the chemotherapy arm, unpaired DeLong test."""

    treated: ArmAUC
    control: ArmAUC
    difference: float
    ci_lower: float
    ci_upper: float
    p_value: float


@dataclass(frozen=True)
class Cell(ResultMixin):
    """Patients and events (responders, or progressions) of one arm × signature group."""

    arm: str
    signature: str
    n: int
    events: int

    @property
    def rate(self) -> float:
        return self.events / self.n if self.n else float("nan")


@dataclass(frozen=True)
class Interaction(ResultMixin):
    """Signature × treatment interaction for one outcome (``response``: odds ratios,
    logistic; ``PFS``: hazard ratios, Cox).

    ``by_arm``: signature-high vs -low within the anti-EGFR arm, then the
    chemotherapy arm. ``ratio``: exp(interaction coefficient), the anti-EGFR
    arm's ratio divided by the chemotherapy arm's. ``p_value``: likelihood-ratio
    test of the interaction term.
    """

    outcome: str
    measure: str
    by_arm: tuple[Effect, Effect]
    ratio: Effect
    statistic: float
    df: int
    p_value: float
    n: int
    events: int
    cells: tuple[Cell, ...]
    estimable: bool
    reason: str = ""


@dataclass(frozen=True)
class ArmSurvival(ResultMixin):
    """PFS by signature group within one arm."""

    arm: str
    n: int
    events: int
    curves: dict              # signature group -> KMResult (low first)
    median_high: float
    median_high_ci: tuple[float, float]
    median_low: float
    median_low_ci: tuple[float, float]
    hazard_ratio: Effect      # signature-high vs -low
    logrank_p: float
    reason: str = ""


@dataclass(frozen=True)
class ExcludedTerm(ResultMixin):
    label: str
    reason: str


@dataclass(frozen=True)
class Multivariable(ResultMixin):
    """The signature next to the established biomarkers in the anti-EGFR arm."""

    outcome: str
    measure: str
    terms: tuple[Effect, ...]
    excluded: tuple[ExcludedTerm, ...]
    n: int
    events: int
    n_unknown: int            # anti-EGFR patients left out for an unknown entered biomarker
    converged: bool
    estimable: bool
    reason: str = ""


@dataclass(frozen=True)
class AntiEgfrStudy(ResultMixin):
    """Every contrast of the study's design for one model (see module doc)."""

    model_id: str
    threshold: float
    chemo_arm: str
    n_treated: int
    n_control: int
    discrimination: AUCContrast
    response_interaction: Interaction
    pfs_interaction: Interaction
    pfs_by_arm: tuple[ArmSurvival, ArmSurvival]
    response_multivariable: Multivariable
    pfs_multivariable: Multivariable

    @property
    def control_arm(self) -> str:
        """``Chemotherapy alone`` (or ``... or with anti-VEGF``), as a heading."""
        return chemo_arm_label(self.chemo_arm)

    @property
    def control_arm_phrase(self) -> str:
        """The same in running text: ``chemotherapy alone``."""
        return CHEMO_ARM_LABELS[self.chemo_arm]

    def table(self) -> pd.DataFrame:
        """Every number as one long table (the CSV export): section, arm, quantity,
        estimate, ci_lower, ci_upper, p_value, n, events, note. Computed on this cohort only."""
        from .tables import study_table

        return study_table(self)
