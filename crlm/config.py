"""Paths, defaults and the column contract of the ``patients`` table.

Everything that names a column of the store's ``patients`` table takes the name
from here, so the generator, the importer, the models and the pages agree.
Units are part of the names: months for time, cm for diameters, ng/mL for CEA.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
DEFAULT_DB = DATA_DIR / "crlm.duckdb"
MODELS_DIR = DATA_DIR / "models"  # the default store's model artefacts; any other store
# keeps them beside it, in ``<store stem>_models`` (``crlm.models.training.default_artefact_dir``)
SAMPLES_DIR = DATA_DIR / "samples"
LOG_DIR = DATA_DIR / "logs"

DEFAULT_SEED = 20240601
DEFAULT_DEMO_PATIENTS = 1500
DEMO_COHORT = "demo"
SYNTHETIC_NOTICE = (
    "Synthetic demo cohort: every patient shown here is simulated. "
    "Research use only, not a medical device."
)


def db_path(override: str | os.PathLike | None = None) -> Path:
    """The store file: explicit argument, else ``CRLM_DB``, else the default."""
    if override:
        return Path(override)
    env = os.environ.get("CRLM_DB")
    return Path(env) if env else DEFAULT_DB


# -- decision time ----------------------------------------------------------------
# When a value becomes known, in the order of a patient's path through the service.
# A task reads only inputs known by its decision time (``crlm.models.decision``).
STAGING = "staging"              # diagnosis and staging: demographics, primary, molecular, CT
PLAN = "treatment plan"          # the planned systemic treatment (the board scores under a plan)
RESTAGING = "restaging"          # response to the first line, at the first restaging CT
SURGERY = "after surgery"        # resection and the pathology of the resected specimen
OUTCOME = "outcome"              # progression, death: never an input
UNKNOWN_TIME = "unknown"         # an imported variable whose mapping does not say
DECISION_TIMES: tuple[str, ...] = (STAGING, PLAN, RESTAGING, SURGERY, OUTCOME)
KNOWN_AT_LEVELS: tuple[str, ...] = DECISION_TIMES + (UNKNOWN_TIME,)


def known_by(known_at: str, decision_time: str) -> bool:
    """Whether a value known at ``known_at`` is known by ``decision_time``.

    An unknown time is never known by any decision time, and nothing is known
    by an outcome's time as an input (outcomes are targets, not inputs).
    """
    if known_at not in DECISION_TIMES or decision_time not in DECISION_TIMES:
        return False
    if known_at == OUTCOME:
        return False
    return DECISION_TIMES.index(known_at) <= DECISION_TIMES.index(decision_time)


# The one set of yes / no spellings every entry point accepts (form, upload, import, filters,
# scoring), compared after strip() and lower().
YES_TOKENS = frozenset({"yes", "y", "true", "t", "1", "1.0"})
NO_TOKENS = frozenset({"no", "n", "false", "f", "0", "0.0"})
# Cells that mean "not known" in every column.
MISSING_TOKENS = frozenset({"", "unknown", "na", "n/a", "nan", "none", "null", "<na>"})


def is_missing(value: Any) -> bool:
    """None, NaN, NA, NaT and the ``MISSING_TOKENS`` spellings."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() in MISSING_TOKENS
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # an array or a container is not one missing value
        return False


def _show_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


@dataclass(frozen=True)
class ParsedValue:
    """A contract value parsed by ``Column.parse``: the typed value (None when missing or
    bad) and the problem in one line (None when fine)."""

    value: Any
    problem: str | None = None


@dataclass(frozen=True)
class Column:
    """One column of the ``patients`` table.

    ``kind`` is one of ``text``, ``category``, ``bool``, ``int``, ``float``,
    ``date``. ``levels`` lists the allowed values of a category (NULL means
    unknown / not done and is always allowed unless ``required``).
    ``lo``/``hi`` bound numeric values (inclusive). ``known_at`` is when the
    value becomes known (one of ``DECISION_TIMES``); ``model_input`` is False
    for identifiers and for columns that only restate another one.
    """

    name: str
    kind: str
    label: str
    unit: str = ""
    levels: tuple[str, ...] = ()
    lo: float | None = None
    hi: float | None = None
    required: bool = False
    group: str = ""
    outcome: bool = False
    derived: bool = False
    known_at: str = STAGING
    model_input: bool = True

    def parse(self, value: Any) -> ParsedValue:
        """The one parser of this column's values for every entry point.

        Missing (None, NaN, "", "unknown", ...) gives ``ParsedValue(None)``. A category
        matches its levels case-insensitively and returns the contract's spelling; a
        yes/no takes ``YES_TOKENS`` / ``NO_TOKENS`` (and booleans, 0 and 1); a number
        must be finite, whole for ``int``, inside ``lo``..``hi``. Text and dates pass
        through as they are.
        """
        if self.kind == "category" and isinstance(value, str):  # a level may be spelt "unknown"
            for level in self.levels:
                if value.strip().lower() == level.lower():
                    return ParsedValue(level)
        if is_missing(value):
            return ParsedValue(None)
        if self.kind in ("text", "date"):
            return ParsedValue(value)
        if self.kind == "category":
            text = str(value).strip()
            for level in self.levels:
                if text.lower() == level.lower():
                    return ParsedValue(level)
            if not self.levels:
                return ParsedValue(text)
            return ParsedValue(None, f"{_show_value(value)!r} is not one of "
                                     f"{', '.join(self.levels)}")
        if self.kind == "bool":
            if isinstance(value, bool) or type(value).__name__ == "bool_":
                return ParsedValue(bool(value))
            text = str(value).strip().lower()
            if text in YES_TOKENS:
                return ParsedValue(True)
            if text in NO_TOKENS:
                return ParsedValue(False)
            return ParsedValue(None, f"{_show_value(value)!r} is not yes/no")
        try:
            number = float(str(value).strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            return ParsedValue(None, f"{_show_value(value)!r} is not a number")
        if not math.isfinite(number):
            return ParsedValue(None, f"{_show_value(value)!r} is not a finite number")
        if self.kind == "int" and number != round(number):
            return ParsedValue(None, f"{number:g} is not a whole number")
        if (self.lo is not None and number < self.lo) or (self.hi is not None and number > self.hi):
            unit = f" {self.unit}" if self.unit else ""
            return ParsedValue(None, f"{number:g} is outside the allowed range "
                                     f"{self.lo:g}–{self.hi:g}{unit}")
        return ParsedValue(int(round(number)) if self.kind == "int" else number)

    @property
    def sql_type(self) -> str:
        return {
            "text": "VARCHAR",
            "category": "VARCHAR",
            "bool": "BOOLEAN",
            "int": "INTEGER",
            "float": "DOUBLE",
            "date": "DATE",
        }[self.kind]


MUT = ("mutant", "wild-type")

PATIENT_COLUMNS: tuple[Column, ...] = (
    Column("patient_id", "text", "Patient id (store pseudonym)", required=True, group="id"),
    Column("center", "category", "Centre", required=True, group="id"),
    Column("cohort_split", "category", "Split", levels=("development", "external"),
           required=True, group="id"),
    Column("diagnosis_date", "date", "Date of CRLM diagnosis", group="id"),
    # demographics
    Column("age_years", "float", "Age", unit="years", lo=18, hi=100, group="demographics"),
    Column("sex", "category", "Sex", levels=("male", "female"), group="demographics"),
    # primary tumour
    Column("primary_side", "category", "Primary tumour side",
           levels=("right", "left", "rectum"), group="primary tumour"),
    Column("t_stage", "category", "T stage", levels=("T1", "T2", "T3", "T4"),
           group="primary tumour"),
    Column("node_positive", "bool", "Node-positive primary", group="primary tumour"),
    # N0 / N1 (1-3 regional nodes) / N2 (4 or more), AJCC 8th edition; node_positive is
    # N1 or N2. The models read node_positive (what the published scores read).
    Column("n_category", "category", "N category of the primary (AJCC 8th)",
           levels=("N0", "N1", "N2"), group="primary tumour", model_input=False),
    Column("grade", "category", "Grade", levels=("G1", "G2", "G3"), group="primary tumour"),
    # molecular
    Column("kras", "category", "KRAS", levels=MUT, group="molecular"),
    Column("nras", "category", "NRAS", levels=MUT, group="molecular"),
    Column("braf_v600e", "category", "BRAF V600E", levels=MUT, group="molecular"),
    Column("msi", "category", "MSI / MMR", levels=("MSI-H", "MSS"), group="molecular"),
    Column("her2", "category", "HER2", levels=("amplified", "not amplified"),
           group="molecular"),
    Column("ras_status", "category", "RAS status", levels=("mutant", "wild-type", "unknown"),
           group="molecular", derived=True),
    Column("ras_mutant", "bool", "RAS mutant (KRAS or NRAS)", group="molecular", derived=True,
           model_input=False),
    # metastatic disease
    Column("synchronous", "bool", "Synchronous metastases", group="liver disease"),
    Column("disease_free_interval_months", "float", "Disease-free interval", unit="months",
           lo=0, hi=240, group="liver disease"),
    Column("n_liver_lesions", "int", "Number of liver lesions", lo=1, hi=100,
           group="liver disease"),
    Column("max_diameter_cm", "float", "Largest lesion diameter", unit="cm", lo=0.1, hi=30,
           group="liver disease"),
    Column("bilobar", "bool", "Bilobar disease", group="liver disease"),
    Column("extrahepatic_disease", "bool", "Extrahepatic disease", group="liver disease"),
    # every CRLM patient is M1, stage IV: IVA when the liver is the only metastatic site
    # (M1a), IVB or IVC with extrahepatic disease (M1b: two or more sites; M1c: the
    # peritoneum, which the contract does not record apart)
    Column("ajcc_stage", "category", "AJCC stage group (8th edition)",
           levels=("IVA", "IVB or IVC"), group="liver disease", derived=True,
           model_input=False),
    Column("cea_ng_ml", "float", "CEA", unit="ng/mL", lo=0, hi=100000, group="labs"),
    # derived scores
    Column("tumour_burden_score", "float", "Tumour burden score (TBS)", lo=0, hi=200,
           group="scores", derived=True),
    Column("tbs_zone", "category", "TBS zone", levels=("low", "medium", "high"),
           group="scores", derived=True),
    Column("fong_score", "int", "Fong clinical risk score", lo=0, hi=5, group="scores",
           derived=True),
    Column("fong_group", "category", "Fong group", levels=("low", "high"), group="scores",
           derived=True),
    Column("game_score", "int", "GAME score", lo=0, hi=7, group="scores", derived=True),
    Column("game_group", "category", "GAME group", levels=("0-1", "2-3", "4-7"),
           group="scores", derived=True),
    Column("mcs_score", "int", "m-CS score", lo=0, hi=3, group="scores", derived=True),
    Column("nordlinger_score", "int", "Nordlinger score", lo=0, hi=7, group="scores",
           derived=True, known_at=SURGERY),
    Column("nordlinger_group", "category", "Nordlinger group", levels=("0-2", "3-4", "5-7"),
           group="scores", derived=True, known_at=SURGERY),
    # treatment
    Column("regimen", "category", "Chemotherapy backbone",
           levels=("FOLFOX", "FOLFIRI", "FOLFOXIRI", "CAPOX"), group="treatment plan",
           known_at=PLAN),
    Column("biologic", "category", "Biologic", levels=("anti-EGFR", "anti-VEGF", "none"),
           group="treatment plan", known_at=PLAN),
    # after surgery: the resection and the pathology of the resected specimen
    Column("hepatectomy", "bool", "Hepatectomy", group="surgery", known_at=SURGERY),
    Column("resection_margin_mm", "float", "Resection margin", unit="mm", lo=0, hi=100,
           group="surgery", known_at=SURGERY),
    Column("growth_pattern", "category", "Histopathological growth pattern",
           levels=("desmoplastic", "pushing", "replacement", "mixed"), group="pathology",
           known_at=SURGERY),
    Column("desmoplastic_growth", "bool", "Desmoplastic growth pattern", group="pathology",
           derived=True, known_at=SURGERY, model_input=False),
    Column("pathological_response_percent", "float",
           "Pathological response (non-viable share of the tumour)", unit="%", lo=0, hi=100,
           group="pathology", known_at=SURGERY),
    Column("major_pathological_response", "bool",
           "Major pathological response (< 50% viable tumour)", group="pathology",
           derived=True, known_at=SURGERY, model_input=False),
    # outcomes
    Column("best_response", "category", "Best RECIST response", levels=("CR", "PR", "SD", "PD"),
           group="outcome", outcome=True, known_at=RESTAGING),
    Column("responder", "bool", "Responder (CR/PR)", group="outcome", outcome=True,
           derived=True, known_at=RESTAGING, model_input=False),
    Column("os_months", "float", "Overall survival", unit="months", lo=0, hi=400,
           group="outcome", outcome=True, known_at=OUTCOME),
    Column("os_event", "bool", "Death", group="outcome", outcome=True, known_at=OUTCOME),
    Column("pfs_months", "float", "Progression-free survival", unit="months", lo=0, hi=400,
           group="outcome", outcome=True, known_at=OUTCOME),
    Column("pfs_event", "bool", "Progression or death", group="outcome", outcome=True,
           known_at=OUTCOME),
    # after a hepatectomy only, from the day of the resection
    Column("rfs_months", "float", "Recurrence-free survival after hepatectomy", unit="months",
           lo=0, hi=400, group="outcome", outcome=True, known_at=OUTCOME),
    Column("rfs_event", "bool", "Recurrence or death after hepatectomy", group="outcome",
           outcome=True, known_at=OUTCOME),
)

COLUMNS_BY_NAME: dict[str, Column] = {c.name: c for c in PATIENT_COLUMNS}
PATIENT_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in PATIENT_COLUMNS)
OUTCOME_COLUMNS: tuple[str, ...] = tuple(c.name for c in PATIENT_COLUMNS if c.outcome)
# Every column that can be a model input at some decision time (identifiers, split and
# dates never are). Which of them a task reads is decided by its decision time alone:
# ``crlm.models.decision.allowed_inputs``.
CANDIDATE_INPUT_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in PATIENT_COLUMNS
    if c.group != "id" and c.model_input and c.known_at != OUTCOME
)
# The inputs known before treatment starts (staging and the planned treatment): what the
# pre-treatment tasks and the Score a case form use.
INPUT_COLUMNS: tuple[str, ...] = tuple(
    c for c in CANDIDATE_INPUT_COLUMNS if known_by(COLUMNS_BY_NAME[c].known_at, PLAN)
)
# Lesion crops the CT models read (every cohort, the demo renderer and uploaded cases):
# CROP_SIZE_PX x CROP_SIZE_PX pixels over max(CROP_FOV_FACTOR x diameter, CROP_MIN_FOV_MM),
# CROP_SLICES planes min(CROP_MAX_PLANE_GAP_MM, CROP_PLANE_GAP_FRACTION x diameter) apart,
# int16 HU. One function cuts them from a CT volume, for a cohort import and for an uploaded
# case alike (crlm.ingest.crops.lesion_crop); the demo renderer draws on the same grid.
CROP_SIZE_PX = 64
CROP_SLICES = 3
CROP_FOV_FACTOR = 1.6
CROP_MIN_FOV_MM = 32.0
CROP_MAX_PLANE_GAP_MM = 5.0
CROP_PLANE_GAP_FRACTION = 0.25
BASELINE_CT = "baseline"         # the pre-treatment CT time point of the images table
# The demo renders baseline CT crops (about 25 kB a patient, 7 ms to render) up to this size;
# a registry-sized demo is built without images.
DEMO_IMAGING_MAX_PATIENTS = 20_000

# Serial measurements (the ``measurements`` table): kind -> (label, unit, lo, hi). Time is
# days from the start of first-line treatment (day 0 = the baseline, before the first cycle).
# A measurement's decision time follows from its day alone (``measurement_known_at``): the
# baseline is known at staging, values up to the first-restaging landmark at restaging, and
# later values only as follow-up (never a model input).
@dataclass(frozen=True)
class MeasurementKind:
    name: str
    label: str
    unit: str
    lo: float
    hi: float


MEASUREMENT_KINDS: dict[str, MeasurementKind] = {k.name: k for k in (
    MeasurementKind("cea", "CEA", "ng/mL", 0.0, 100_000.0),
    MeasurementKind("target_lesion_sum", "Sum of target-lesion diameters (RECIST)", "cm",
                    0.0, 100.0),
    MeasurementKind("lesion_count", "Liver lesions", "count", 0.0, 200.0),
    # total liver volume on CT volumetry (parenchyma and tumour), the context of the future
    # liver remnant; normal adult livers are about 1,200-1,800 mL (docs/data.md)
    MeasurementKind("liver_volume", "Total liver volume", "mL", 300.0, 10_000.0),
)}
DAYS_PER_MONTH = 365.25 / 12
RESTAGING_LANDMARK_DAYS = 70     # first restaging CT: planned at 8 weeks, visits +/- 2 weeks
BASELINE_WINDOW_DAYS = (-42, 0)  # a baseline value: within 6 weeks before treatment starts


def measurement_known_at(day: float) -> str:
    """When a measurement taken on ``day`` (from treatment start) becomes known."""
    if day <= 0:
        return STAGING
    if day <= RESTAGING_LANDMARK_DAYS:
        return RESTAGING
    return OUTCOME


# When each stored feature set becomes known; an import's ``extra`` features carry their
# own time from the mapping (``feature_info``), unknown unless the mapping says.
FEATURE_SET_KNOWN_AT = {"radiomic": STAGING, "genomic": STAGING, "imaging": STAGING}

# Survival endpoints: name -> (time column, event column). RFS: resected patients only,
# from the day of the resection (a page offers an endpoint where the cohort records it).
ENDPOINTS = {"OS": ("os_months", "os_event"), "PFS": ("pfs_months", "pfs_event"),
             "RFS": ("rfs_months", "rfs_event")}
ENDPOINT_LABELS = {"OS": "Overall survival", "PFS": "Progression-free survival",
                   "RFS": "Recurrence-free survival after hepatectomy"}

# Categorical columns the pages can split or filter by
GROUPING_COLUMNS = (
    "ras_status", "kras", "nras", "braf_v600e", "msi", "primary_side", "tbs_zone",
    "fong_group", "game_group", "biologic", "regimen", "hepatectomy", "growth_pattern",
    "center", "cohort_split", "sex",
)
