"""The synthetic demo cohort: a multi-centre CRLM series simulated from a causal story.

Every patient is drawn from one data-generating process (documented in
``docs/data.md``): centre and era -> primary tumour -> molecular profile (with
tests not done) -> liver disease burden -> a board's treatment choice ->
RECIST response (driven by biology and treatment) -> conversion to hepatectomy
-> progression and death under proportional hazards, with administrative
censoring at a data cut-off and loss to follow-up. Nothing downstream is
written in: the scores, hazard ratios and model performances the app shows are
what this process produces.

Two latent variables carry the anti-EGFR story:

* ``genomic_signal`` - EGFR-ligand dependence of the tumour. It raises EREG and
  AREG expression (and a few other genes) and favours response and longer
  progression-free survival under anti-EGFR only.
* ``imaging_signal`` - a morphological phenotype (rim enhancement, texture,
  sharp margins, desmoplastic growth) partly shared with the genomic signal.

The baseline CT's ``imaging_phenotype`` is drawn from pre-treatment biology only
(the imaging signal, RAS and HER2 status, sidedness), before any treatment is
chosen. It is stored with the cohort's baseline images (``images.metadata``) and
the radiomic features and the rendered lesion crops both come from it
(``crlm.ingest.demo_images``); it is returned in ``DemoChunk.latent`` with the
genomic signal, which is never stored. Every column follows the causal order
biology -> pre-treatment findings and images -> treatment -> response ->
surgery and pathology -> outcomes: nothing is drawn from a later step.

Generation is vectorised and streamed: patients are drawn in fixed blocks of
``BLOCK_SIZE`` from independent child seeds (``SeedSequence.spawn``), so the
cohort depends only on ``(n_patients, seed)`` and not on ``chunk_size``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from crlm import clinical, recist
from crlm.config import PATIENT_COLUMNS, PATIENT_COLUMN_NAMES
from crlm.ingest import trajectories

MIN_PATIENTS = 10
MAX_PATIENTS = 5_000_000
BLOCK_SIZE = 50_000

CENTRES = ("Centre A", "Centre B", "Centre C", "Centre D")
CENTRE_PROBABILITIES = (0.30, 0.25, 0.20, 0.25)
EXTERNAL_CENTRES = ("Centre D",)

FIRST_DIAGNOSIS = np.datetime64("2010-01-01")
LAST_DIAGNOSIS = np.datetime64("2023-12-31")
DATA_CUTOFF = np.datetime64("2024-12-31")
DAYS_PER_MONTH = 365.25 / 12
LOSS_TO_FOLLOW_UP_PER_MONTH = 0.0015

SIDES = ("right", "left", "rectum")
T_STAGES = ("T1", "T2", "T3", "T4")
GRADES = ("G1", "G2", "G3")
REGIMENS = ("FOLFOX", "FOLFIRI", "FOLFOXIRI", "CAPOX")
BIOLOGICS = ("anti-EGFR", "anti-VEGF", "none")
GROWTH_PATTERNS = ("desmoplastic", "replacement", "mixed")
RESPONSES = ("CR", "PR", "SD", "PD")

GENOMIC_EXPRESSION_GENES = (
    "EREG", "AREG", "EGFR", "ERBB2", "ERBB3", "MET", "DUSP6", "PHLDA1", "ETV5", "SPRY4",
    "CDX2", "SATB2", "HNF4A", "LGR5", "MYC", "CCND1", "TGFB1", "ZEB1", "VIM", "FN1",
    "CD8A", "GZMB", "MLH1", "KRT20",
)
GENOMIC_FLAGS = (
    "PIK3CA_mutation", "TP53_mutation", "APC_mutation", "SMAD4_mutation", "FBXW7_mutation",
    "ERBB2_amplification", "MET_amplification", "EGFR_amplification",
)
GENOMIC_FEATURES = tuple(f"{g}_expression_z" for g in GENOMIC_EXPRESSION_GENES) + GENOMIC_FLAGS
RADIOMIC_FEATURES = (
    "lesion_volume_cc", "lesion_max_diameter_mm", "hu_mean", "hu_sd", "firstorder_skewness",
    "firstorder_kurtosis", "glcm_entropy", "glcm_contrast", "glcm_homogeneity",
    "glcm_correlation", "glrlm_run_length_nonuniformity", "shape_sphericity",
    "shape_surface_volume_ratio", "rim_enhancement_ratio", "margin_sharpness",
    "necrosis_fraction", "wavelet_hhh_energy", "liver_parenchyma_hu_mean",
    "glszm_zone_entropy", "ngtdm_busyness", "gldm_dependence_variance",
)
FEATURE_SETS = ("radiomic", "genomic")

_DTYPES = {"text": "string", "category": "string", "bool": "boolean", "int": "Int64",
           "float": "float64", "date": "datetime64[ns]"}
PATIENT_DTYPES: dict[str, str] = {c.name: _DTYPES[c.kind] for c in PATIENT_COLUMNS}


@dataclass(frozen=True)
class DemoChunk:
    """One streamed piece of the demo cohort.

    ``patients`` has exactly ``config.PATIENT_COLUMN_NAMES`` with pandas nullable
    dtypes; ``features`` is long (patient_id, feature_set, feature, value) with
    categorical text columns; ``latent`` holds patient_id, imaging_phenotype (stored
    with the baseline images), imaging_signal and genomic_signal, the response latent
    (``z > 0`` for a responder), the nadir / baseline target-lesion sum it gives and the
    drawn (uncensored) progression time in months. ``measurements`` is long (patient_id
    categorical, day, kind, value, unit, source: ``crlm.ingest.trajectories``).
    """

    patients: pd.DataFrame
    features: pd.DataFrame
    latent: pd.DataFrame
    measurements: pd.DataFrame | None = None


# ------------------------------------------------------------------------ helpers
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _bernoulli(rng: np.random.Generator, p: np.ndarray | float, n: int) -> np.ndarray:
    return rng.random(n) < p


def _categorical(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One category index per row of an (n, k) probability matrix."""
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative[:, -1] = 1.0
    u = rng.random(len(probabilities))[:, None]
    return (u > cumulative).sum(axis=1)


def _text(levels: tuple[str, ...], codes: np.ndarray, missing: np.ndarray | None = None) -> pd.array:
    values = np.asarray(levels, dtype=object)[codes]
    if missing is not None:
        values[missing] = None
    return pd.array(values, dtype="string")


def _flag(values: np.ndarray, missing: np.ndarray | None = None) -> pd.array:
    arr = pd.array(values.astype(bool), dtype="boolean")
    if missing is not None:
        arr[missing] = pd.NA
    return arr


def _mutation(truth: np.ndarray, missing: np.ndarray) -> pd.array:
    return _text(("mutant", "wild-type"), np.where(truth, 0, 1), missing)


def _weibull_time(rng: np.random.Generator, scale: float, shape: float,
                  log_hazard_ratio: np.ndarray) -> np.ndarray:
    """Times with S(t) = exp(-(t/scale)**shape * exp(log_hazard_ratio))."""
    e = rng.standard_exponential(len(log_hazard_ratio))
    return scale * (e * np.exp(-log_hazard_ratio)) ** (1.0 / shape)


# ------------------------------------------------------------------- one block
def _simulate_block(rng: np.random.Generator, n: int, first_number: int) -> DemoChunk:
    numbers = np.arange(first_number + 1, first_number + n + 1)
    patient_id = np.char.add("DEMO-", np.char.zfill(numbers.astype(str), 6))

    # centre, era ------------------------------------------------------------
    centre = rng.choice(len(CENTRES), size=n, p=CENTRE_PROBABILITIES)
    external = np.isin(centre, [CENTRES.index(c) for c in EXTERNAL_CENTRES])
    n_days = int((LAST_DIAGNOSIS - FIRST_DIAGNOSIS).astype(int)) + 1
    diagnosis_date = FIRST_DIAGNOSIS + rng.integers(0, n_days, n).astype("timedelta64[D]")
    year = diagnosis_date.astype("datetime64[Y]").astype(int) + 1970
    early_era = year < 2014

    # demographics, primary ---------------------------------------------------
    age = np.clip(rng.normal(61.5 + 2.0 * external, 11.5, n), 18.0, 92.0).round(1)
    male = _bernoulli(rng, 0.60, n)
    side_p = np.where(external[:, None], [0.34, 0.40, 0.26], [0.29, 0.43, 0.28])
    side = _categorical(rng, side_p)
    right, left, rectum = side == 0, side == 1, side == 2
    t_stage = _categorical(rng, np.tile([0.04, 0.11, 0.60, 0.25], (n, 1)))
    node_positive = _bernoulli(rng, _sigmoid(0.2 + 0.5 * (t_stage == 3) - 0.8 * (t_stage <= 1)), n)
    p_g3 = 0.11 + 0.10 * right
    grade = _categorical(rng, np.column_stack([np.full(n, 0.10), 0.90 - p_g3, p_g3]))

    # molecular truth (RAS and BRAF mutually exclusive) ------------------------
    braf = _bernoulli(rng, np.select([right, left], [0.10, 0.025], 0.015), n)
    kras = ~braf & _bernoulli(rng, 0.41 + 0.08 * right, n)
    nras = ~braf & ~kras & _bernoulli(rng, 0.065, n)
    ras_mutant = kras | nras
    msi = _bernoulli(rng, 0.012 + 0.03 * right + 0.25 * braf, n)
    her2_amplified = _bernoulli(rng, np.where(ras_mutant | braf, 0.01, np.where(right, 0.03, 0.065)), n)
    pik3ca = _bernoulli(rng, 0.12 + 0.08 * kras, n)
    tp53 = _bernoulli(rng, 0.65 - 0.15 * right - 0.35 * msi, n)
    apc = _bernoulli(rng, 0.78 - 0.25 * braf, n)
    smad4 = _bernoulli(rng, 0.10 + 0.05 * ras_mutant, n)
    fbxw7 = _bernoulli(rng, 0.08, n)
    met_amplified = _bernoulli(rng, np.where(ras_mutant | braf, 0.005, 0.03), n)
    egfr_amplified = _bernoulli(rng, np.where(ras_mutant, 0.005, 0.015), n)

    # tests not done: unknown stays unknown
    ras_not_tested = _bernoulli(rng, 0.07, n)
    nras_not_tested = ras_not_tested | _bernoulli(rng, np.where(early_era, 0.18, 0.03), n)
    braf_not_tested = _bernoulli(rng, 0.10, n)
    msi_not_tested = _bernoulli(rng, 0.12, n)
    her2_not_tested = _bernoulli(rng, np.where(early_era, 0.16, 0.09), n)
    ras_wild_type_known = ~ras_not_tested & ~nras_not_tested & ~ras_mutant
    braf_known_mutant = braf & ~braf_not_tested

    # liver disease -----------------------------------------------------------
    synchronous = _bernoulli(rng, _sigmoid(-0.35 + 0.5 * node_positive), n)
    dfi = np.where(
        synchronous,
        np.where(_bernoulli(rng, 0.7, n), 0.0, rng.uniform(0.0, 6.0, n)),
        6.0 + np.exp(np.log(12.0) + 0.8 * rng.standard_normal(n)),
    )
    dfi = np.clip(dfi, 0.0, 240.0).round(1)
    burden = (rng.standard_normal(n) + 0.50 * synchronous + 0.20 * node_positive + 0.15 * external
              - 0.35)
    solitary = _bernoulli(rng, _sigmoid(-0.25 - 1.2 * burden), n)
    extra = rng.poisson(rng.gamma(1.2, np.exp(0.6 + 0.5 * burden) / 1.2))
    n_lesions = np.where(solitary, 1, np.minimum(2 + extra, 100))
    diameter = np.exp(np.log(3.8) + 0.30 * burden + 0.50 * rng.standard_normal(n))
    diameter = np.clip(diameter, 0.3, 22.0).round(1)
    bilobar = ~solitary & _bernoulli(rng, _sigmoid(-0.6 + 0.35 * (n_lesions - 2)), n)
    extrahepatic = _bernoulli(rng, _sigmoid(-2.1 + 0.5 * burden + 0.2 * right), n)
    cea = np.exp(np.log(19.0) + 0.60 * burden + 1.35 * rng.standard_normal(n))
    cea = np.clip(cea, 0.5, 99_999.0).round(1)

    # latent biology -----------------------------------------------------------
    genomic_signal = (0.15 * (left | rectum) - 0.35 * right - 0.35 * ras_mutant - 0.5 * braf
                      + rng.standard_normal(n))
    morphology = rng.standard_normal(n)
    imaging_signal = 0.85 * morphology + 0.35 * genomic_signal + 0.30 * rng.standard_normal(n)
    chemo_sensitivity = 0.5 * rng.standard_normal(n)
    frailty = 0.35 * rng.standard_normal(n)
    # what the baseline CT shows: pre-treatment biology only
    imaging_phenotype = (imaging_signal - 0.25 * ras_mutant - 0.20 * right
                         - 0.35 * her2_amplified)

    # the board's plan --------------------------------------------------------
    initially_resectable = _bernoulli(
        rng, _sigmoid(0.6 - 0.8 * burden - 1.8 * extrahepatic - 0.6 * bilobar - 0.02 * (age - 62)), n)
    triplet_candidate = (age < 65) & (right | braf | (burden > 1.0))
    p_triplet = np.where(triplet_candidate, 0.35, 0.05)
    p_capox = np.where(initially_resectable, 0.22, 0.12) * (1 - p_triplet)
    p_folfiri = 0.30 * (1 - p_triplet)
    p_folfox = 1.0 - p_triplet - p_capox - p_folfiri
    regimen = _categorical(rng, np.column_stack([p_folfox, p_folfiri, p_triplet, p_capox]))

    egfr_eligible = ras_wild_type_known
    p_egfr = np.where(egfr_eligible, np.where(right, 0.35, 0.62), 0.0)
    p_egfr = np.where(braf_known_mutant, 0.12 * egfr_eligible, p_egfr)
    p_vegf = np.where(egfr_eligible, np.where(right, 0.40, 0.18), 0.70)
    plan_scale = np.where(initially_resectable, 0.75, 1.0)  # perioperative chemo often alone
    p_egfr, p_vegf = p_egfr * plan_scale, p_vegf * plan_scale
    biologic = _categorical(rng, np.column_stack([p_egfr, p_vegf, 1.0 - p_egfr - p_vegf]))
    anti_egfr, anti_vegf = biologic == 0, biologic == 1

    # response ---------------------------------------------------------------
    common = (-0.50 + 0.60 * anti_vegf + 0.35 * (regimen == 2) - 1.00 * burden
              - 0.50 * (grade == 2) - 0.9 * braf - 0.4 * right - 0.4 * msi
              - 0.15 * np.log(cea / 20.0) + chemo_sensitivity)
    egfr_effect = (1.85 + 2.40 * genomic_signal + 1.20 * morphology - 0.6 * right
                   - 2.0 * her2_amplified - 1.5 * met_amplified - 0.4 * pik3ca)
    response_logit = common + np.where(anti_egfr, egfr_effect, 0.25 * morphology)
    # one latent response process: z = logit + logistic noise (z > 0 <=> the Bernoulli draw
    # u < sigmoid(logit)); the tumour's nadir size comes from z, the RECIST category from it
    u_response = rng.random(n)
    is_responder = u_response < _sigmoid(response_logit)
    u_clipped = np.clip(u_response, 1e-12, 1 - 1e-12)
    response_latent = response_logit - np.log(u_clipped / (1 - u_clipped))
    complete = _bernoulli(rng, 0.12, n)
    progressive = _bernoulli(rng, _sigmoid(-0.9 - 0.6 * (response_logit + 0.5)), n)
    best_size_ratio = trajectories.nadir_ratio(np.where(is_responder, np.maximum(
        response_latent, 1e-9), np.minimum(response_latent, -1e-9)), complete, progressive)
    response_code = recist.category_from_ratio(best_size_ratio)
    response_not_evaluable = _bernoulli(rng, 0.02, n)

    # surgery ------------------------------------------------------------------
    p_resection = np.where(initially_resectable, 0.88,
                           np.where(is_responder, _sigmoid(-0.6 - 0.5 * burden), 0.06))
    hepatectomy = _bernoulli(rng, p_resection, n)
    desmoplastic_logit = -0.9 + 0.9 * morphology + 0.4 * is_responder
    growth = _categorical(rng, np.column_stack([
        _sigmoid(desmoplastic_logit),
        (1 - _sigmoid(desmoplastic_logit)) * 0.45,
        (1 - _sigmoid(desmoplastic_logit)) * 0.55,
    ]))
    growth_missing = ~hepatectomy | _bernoulli(rng, 0.10, n)
    desmoplastic = hepatectomy & (growth == 0)

    # survival -------------------------------------------------------------------
    biology = (np.log(1.55) * ras_mutant + np.log(2.2) * braf + np.log(1.40) * right
               + np.log(1.60) * node_positive + 0.16 * np.log(cea / 20.0)
               + np.log(1.75) * extrahepatic + np.log(1.20) * (n_lesions > 1)
               + 0.15 * np.log(n_lesions) + 0.35 * np.log(diameter / 3.5)
               + np.log(1.25) * (dfi < 12) + np.log(1.35) * (grade == 2) + np.log(1.2) * msi
               + 0.02 * (age - 62) + frailty - 1.0)
    os_log_hr = (biology + np.log(0.75) * hepatectomy + np.log(0.65) * is_responder
                 + np.log(0.85) * (anti_egfr & ~right) + np.log(0.75) * desmoplastic)
    death_time = _weibull_time(rng, 40.0, 1.5, os_log_hr)
    progression_log_hr = (0.8 * biology + np.log(0.40) * hepatectomy + np.log(0.45) * is_responder
                          + np.log(0.75) * anti_egfr + np.log(0.85) * anti_vegf
                          - anti_egfr * (0.60 * genomic_signal + 0.30 * morphology)
                          + np.log(0.8) * desmoplastic)
    progression_time = _weibull_time(rng, 9.0, 1.1, progression_log_hr)
    pfs_time = np.minimum(progression_time, death_time)

    follow_up = (DATA_CUTOFF - diagnosis_date).astype(float) / DAYS_PER_MONTH
    lost = rng.standard_exponential(n) / LOSS_TO_FOLLOW_UP_PER_MONTH
    censor = np.minimum(follow_up, lost)
    os_event = death_time <= censor
    os_months = np.maximum(np.minimum(death_time, censor), 0.1).round(1)
    pfs_event = pfs_time <= censor
    pfs_months = np.minimum(np.maximum(np.minimum(pfs_time, censor), 0.1).round(1), os_months)

    # data-entry gaps ----------------------------------------------------------
    t_missing = _bernoulli(rng, 0.03, n)
    grade_missing = _bernoulli(rng, 0.06, n)
    node_missing = _bernoulli(rng, 0.02, n)
    cea_missing = _bernoulli(rng, 0.03, n)

    patients = pd.DataFrame({
        "patient_id": pd.array(patient_id.astype(object), dtype="string"),
        "center": _text(CENTRES, centre),
        "cohort_split": _text(("development", "external"), external.astype(int)),
        "diagnosis_date": diagnosis_date.astype("datetime64[ns]"),
        "age_years": age,
        "sex": _text(("male", "female"), np.where(male, 0, 1)),
        "primary_side": _text(SIDES, side),
        "t_stage": _text(T_STAGES, t_stage, t_missing),
        "node_positive": _flag(node_positive, node_missing),
        "grade": _text(GRADES, grade, grade_missing),
        "kras": _mutation(kras, ras_not_tested),
        "nras": _mutation(nras, nras_not_tested),
        "braf_v600e": _mutation(braf, braf_not_tested),
        "msi": _text(("MSI-H", "MSS"), np.where(msi, 0, 1), msi_not_tested),
        "her2": _text(("amplified", "not amplified"), np.where(her2_amplified, 0, 1),
                      her2_not_tested),
        "synchronous": _flag(synchronous),
        "disease_free_interval_months": dfi,
        "n_liver_lesions": pd.array(n_lesions, dtype="Int64"),
        "max_diameter_cm": diameter,
        "bilobar": _flag(bilobar),
        "extrahepatic_disease": _flag(extrahepatic),
        "cea_ng_ml": np.where(cea_missing, np.nan, cea),
        "regimen": _text(REGIMENS, regimen),
        "biologic": _text(BIOLOGICS, biologic),
        "hepatectomy": _flag(hepatectomy),
        "growth_pattern": _text(GROWTH_PATTERNS, growth, growth_missing),
        "best_response": _text(RESPONSES, response_code, response_not_evaluable),
        "os_months": os_months,
        "os_event": _flag(os_event),
        "pfs_months": pfs_months,
        "pfs_event": _flag(pfs_event),
    })
    patients = clinical.add_derived_columns(patients)
    patients = patients[list(PATIENT_COLUMN_NAMES)].astype(PATIENT_DTYPES)

    genomic = _genomic_matrix(rng, n, genomic_signal, right, braf, msi, ras_mutant, pik3ca, tp53,
                              apc, smad4, fbxw7, her2_amplified, met_amplified, egfr_amplified)
    radiomic = _radiomic_matrix(rng, n, imaging_phenotype, burden, diameter, n_lesions,
                                morphology)
    features = _long_features(patient_id, radiomic, genomic)
    latent = pd.DataFrame({
        "patient_id": pd.array(patient_id.astype(object), dtype="string"),
        "imaging_phenotype": imaging_phenotype,
        "imaging_signal": imaging_signal,
        "genomic_signal": genomic_signal,
        "response_latent": response_latent,
        "best_size_ratio": best_size_ratio,
        "progression_months": progression_time,
    })
    # serial measurements, drawn last so that every earlier value keeps its draws
    measurements = trajectories.simulate_measurements(
        rng, patient_id, response_latent=response_latent, complete=complete,
        progressive=progressive, response_evaluable=~response_not_evaluable,
        n_lesions=n_lesions, max_diameter_cm=diameter, cea_ng_ml=cea, cea_recorded=~cea_missing,
        progression_months=progression_time, followed_months=np.minimum(death_time, censor),
        hepatectomy=hepatectomy, initially_resectable=initially_resectable)
    return DemoChunk(patients=patients, features=features, latent=latent,
                     measurements=measurements)


def _genomic_matrix(rng, n, signal, right, braf, msi, ras_mutant, pik3ca, tp53, apc, smad4, fbxw7,
                    her2_amplified, met_amplified, egfr_amplified) -> np.ndarray:
    """(n, len(GENOMIC_FEATURES)) expression z-scores then 0/1 flags."""
    noise = rng.standard_normal((n, len(GENOMIC_EXPRESSION_GENES)))
    mapk = ras_mutant.astype(float) + braf
    loadings = {
        "EREG": 0.80 * signal, "AREG": 0.75 * signal, "EGFR": 0.30 * signal + 1.5 * egfr_amplified,
        "ERBB2": 2.5 * her2_amplified, "ERBB3": 0.20 * signal, "MET": 2.5 * met_amplified,
        "DUSP6": 0.9 * mapk + 0.25 * signal, "PHLDA1": 0.40 * signal, "ETV5": 0.7 * mapk,
        "SPRY4": 0.6 * mapk, "CDX2": -0.8 * right - 1.0 * braf, "SATB2": -0.6 * right,
        "HNF4A": 0.3 * ~right, "LGR5": 0.0, "MYC": 0.3 * ~right, "CCND1": 0.0,
        "TGFB1": 0.0, "ZEB1": 0.0, "VIM": 0.0, "FN1": 0.0,
        "CD8A": 1.2 * msi, "GZMB": 1.0 * msi, "MLH1": -2.0 * msi, "KRT20": -0.4 * braf,
    }
    expression = np.column_stack([loadings[g] + noise[:, i] * (0.45 if g in ("EREG", "AREG") else 1.0)
                                  for i, g in enumerate(GENOMIC_EXPRESSION_GENES)])
    flags = np.column_stack([pik3ca, tp53, apc, smad4, fbxw7, her2_amplified, met_amplified,
                             egfr_amplified]).astype(float)
    return np.column_stack([expression, flags])


def _radiomic_matrix(rng, n, signal, burden, diameter, n_lesions, morphology) -> np.ndarray:
    """(n, len(RADIOMIC_FEATURES)) features of the largest lesion on the baseline
    (pre-treatment) portal-venous CT: from the imaging phenotype and tumour burden only."""
    z = rng.standard_normal((n, len(RADIOMIC_FEATURES)))
    necrosis = _sigmoid(-2.0 + 0.5 * burden - 0.4 * signal + 0.5 * z[:, 15])
    volume = np.pi / 6 * diameter ** 3 * np.exp(0.15 * z[:, 0])
    columns = {
        "lesion_volume_cc": volume,
        "lesion_max_diameter_mm": diameter * 10 * np.exp(0.05 * z[:, 1]),
        "hu_mean": 62 - 25 * necrosis + 4 * signal + 8 * z[:, 2],
        "hu_sd": 18 - 2.5 * signal + 3 * z[:, 3],
        "firstorder_skewness": 0.2 - 0.15 * signal + 0.4 * z[:, 4],
        "firstorder_kurtosis": 3.2 + 0.4 * z[:, 5],
        "glcm_entropy": 4.6 + 0.30 * signal + 0.10 * burden + 0.35 * z[:, 6],
        "glcm_contrast": 35 + 4 * burden + 8 * z[:, 7],
        "glcm_homogeneity": 0.45 - 0.04 * signal + 0.06 * z[:, 8],
        "glcm_correlation": 0.6 + 0.08 * z[:, 9],
        "glrlm_run_length_nonuniformity": np.exp(5 + 0.4 * burden + 0.3 * z[:, 10]),
        "shape_sphericity": np.clip(0.78 - 0.04 * burden + 0.03 * signal + 0.05 * z[:, 11], 0.3, 1.0),
        "shape_surface_volume_ratio": 6.0 / diameter * np.exp(0.08 * z[:, 12]),
        "rim_enhancement_ratio": 1.10 + 0.10 * signal + 0.08 * z[:, 13],
        "margin_sharpness": 0.50 + 0.08 * signal + 0.03 * morphology + 0.10 * z[:, 14],
        "necrosis_fraction": necrosis,
        "wavelet_hhh_energy": np.exp(2 + 0.5 * z[:, 16]),
        "liver_parenchyma_hu_mean": 105 + 9 * z[:, 17] - 0.3 * n_lesions,
        "glszm_zone_entropy": 5.0 + 0.4 * z[:, 18],
        "ngtdm_busyness": np.exp(0.5 * z[:, 19]),
        "gldm_dependence_variance": 8 + 2 * z[:, 20],
    }
    return np.column_stack([columns[f] for f in RADIOMIC_FEATURES])


def _long_features(patient_id: np.ndarray, radiomic: np.ndarray, genomic: np.ndarray) -> pd.DataFrame:
    """Long frame ordered by patient, then radiomic before genomic features."""
    n = len(patient_id)
    names = RADIOMIC_FEATURES + GENOMIC_FEATURES
    k_rad, k = len(RADIOMIC_FEATURES), len(names)
    values = np.column_stack([radiomic, genomic]).astype("float64").ravel()
    feature_codes = np.tile(np.arange(k), n)
    return pd.DataFrame({
        "patient_id": pd.Categorical.from_codes(np.repeat(np.arange(n), k),
                                                categories=pd.Index(patient_id.astype(object))),
        "feature_set": pd.Categorical.from_codes((feature_codes >= k_rad).astype(np.int8),
                                                 categories=list(FEATURE_SETS)),
        "feature": pd.Categorical.from_codes(feature_codes, categories=list(names)),
        "value": values,
    })


# ---------------------------------------------------------------------- public
def _check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo:,} and {hi:,}" if hi is not None else f">= {lo:,}"
        raise ValueError(f"{name} must be {bound}, got {value:,}")
    return int(value)


def _concat(chunks: list[DemoChunk]) -> DemoChunk:
    if len(chunks) == 1:
        return chunks[0]
    return DemoChunk(
        patients=pd.concat([c.patients for c in chunks], ignore_index=True),
        features=_concat_features([c.features for c in chunks]),
        latent=pd.concat([c.latent for c in chunks], ignore_index=True),
        measurements=_concat_measurements([c.measurements for c in chunks]),
    )


def _concat_measurements(frames: list[pd.DataFrame | None]) -> pd.DataFrame | None:
    if any(f is None for f in frames):
        return None
    ids = pd.Index(np.concatenate([f["patient_id"].cat.categories.to_numpy() for f in frames]))
    offsets = np.cumsum([0] + [len(f["patient_id"].cat.categories) for f in frames[:-1]])
    codes = np.concatenate([f["patient_id"].cat.codes.to_numpy().astype(np.int64) + o
                            for f, o in zip(frames, offsets)])
    rest = pd.concat([f.drop(columns="patient_id") for f in frames], ignore_index=True)
    for column in ("kind", "unit", "source"):
        rest[column] = rest[column].astype("category")
    rest.insert(0, "patient_id", pd.Categorical.from_codes(codes, categories=ids))
    return rest


def _concat_features(frames: list[pd.DataFrame]) -> pd.DataFrame:
    ids = pd.Index(np.concatenate([f["patient_id"].cat.categories.to_numpy() for f in frames]))
    offsets = np.cumsum([0] + [len(f["patient_id"].cat.categories) for f in frames[:-1]])
    codes = np.concatenate([f["patient_id"].cat.codes.to_numpy().astype(np.int64) + o
                            for f, o in zip(frames, offsets)])
    return pd.DataFrame({
        "patient_id": pd.Categorical.from_codes(codes, categories=ids),
        "feature_set": pd.concat([f["feature_set"] for f in frames], ignore_index=True),
        "feature": pd.concat([f["feature"] for f in frames], ignore_index=True),
        "value": np.concatenate([f["value"].to_numpy() for f in frames]),
    })


def _slice(chunk: DemoChunk, start: int, stop: int) -> DemoChunk:
    k = len(RADIOMIC_FEATURES) + len(GENOMIC_FEATURES)
    patients = chunk.patients.iloc[start:stop].reset_index(drop=True)
    features = chunk.features.iloc[start * k:stop * k].reset_index(drop=True)
    ids = features["patient_id"]
    features["patient_id"] = pd.Categorical.from_codes(
        ids.cat.codes.to_numpy() - start,
        categories=ids.cat.categories[start:stop])
    latent = chunk.latent.iloc[start:stop].reset_index(drop=True)
    measurements = chunk.measurements
    if measurements is not None:
        m_codes = measurements["patient_id"].cat.codes.to_numpy()
        a, z = np.searchsorted(m_codes, [start, stop])
        measurements = measurements.iloc[a:z].reset_index(drop=True)
        measurements["patient_id"] = pd.Categorical.from_codes(
            m_codes[a:z] - start,
            categories=chunk.measurements["patient_id"].cat.categories[start:stop])
    return DemoChunk(patients=patients, features=features, latent=latent,
                     measurements=measurements)


def generate_cohort(n_patients: int, seed: int, chunk_size: int = 100_000) -> Iterator[DemoChunk]:
    """Stream the synthetic cohort of ``n_patients`` in chunks of at most ``chunk_size`` patients.

    Deterministic for ``(n_patients, seed)``: the same bytes whatever ``chunk_size``.
    """
    n_patients = _check_int("n_patients", n_patients, MIN_PATIENTS, MAX_PATIENTS)
    seed = _check_int("seed", seed, 0)
    chunk_size = _check_int("chunk_size", chunk_size, 1)
    n_blocks = -(-n_patients // BLOCK_SIZE)
    children = np.random.SeedSequence(seed).spawn(n_blocks)
    carry: DemoChunk | None = None
    for b, child in enumerate(children):
        first = b * BLOCK_SIZE
        block = _simulate_block(np.random.default_rng(child),
                                min(BLOCK_SIZE, n_patients - first), first)
        current = block if carry is None else _concat([carry, block])
        total = len(current.patients)
        start = 0
        while total - start >= chunk_size:
            yield current if (start == 0 and chunk_size == total) else _slice(
                current, start, start + chunk_size)
            start += chunk_size
        carry = None
        if start < total:
            carry = current if start == 0 else _slice(current, start, total)
    if carry is not None:
        yield carry


def generate_cohort_frames(n_patients: int, seed: int) -> DemoChunk:
    """The whole cohort as one ``DemoChunk`` (patients, features, latent)."""
    return _concat(list(generate_cohort(n_patients, seed, chunk_size=BLOCK_SIZE)))


__all__ = ["DemoChunk", "generate_cohort", "generate_cohort_frames", "PATIENT_DTYPES",
           "GENOMIC_FEATURES", "RADIOMIC_FEATURES", "CENTRES", "EXTERNAL_CENTRES"]
