"""One block of demo patients drawn along the causal story of :mod:`crlm.ingest.demo`:
centre and era, primary, molecular profile, liver disease, treatment, response, surgery,
outcomes."""
from __future__ import annotations

import numpy as np
import pandas as pd

from crlm import clinical, recist
from crlm.config import PATIENT_COLUMN_NAMES
from crlm.ingest import trajectories
from crlm.ingest.demo_chunks import PATIENT_DTYPES, DemoChunk
from crlm.ingest.demo_draws import (
    bernoulli,
    categorical,
    flag_array,
    mutation_array,
    sigmoid,
    text_array,
    weibull_time,
)
from crlm.ingest.demo_features import genomic_matrix, long_features, radiomic_matrix
from crlm.ingest.demo_resection import simulate_resection

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
RESPONSES = ("CR", "PR", "SD", "PD")


def simulate_block(rng: np.random.Generator, n: int, first_number: int,
                   later_rng: np.random.Generator) -> DemoChunk:
    """One block of ``n`` patients numbered from ``first_number + 1``: every column from
    ``rng``, except the later contract columns (``crlm.ingest.demo_resection``), drawn
    from ``later_rng`` so that adding them changed no earlier value."""
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
    male = bernoulli(rng, 0.60, n)
    side_p = np.where(external[:, None], [0.34, 0.40, 0.26], [0.29, 0.43, 0.28])
    side = categorical(rng, side_p)
    right, left, rectum = side == 0, side == 1, side == 2
    t_stage = categorical(rng, np.tile([0.04, 0.11, 0.60, 0.25], (n, 1)))
    node_positive = bernoulli(rng, sigmoid(0.2 + 0.5 * (t_stage == 3) - 0.8 * (t_stage <= 1)), n)
    p_g3 = 0.11 + 0.10 * right
    grade = categorical(rng, np.column_stack([np.full(n, 0.10), 0.90 - p_g3, p_g3]))

    # molecular truth (RAS and BRAF mutually exclusive) ------------------------
    braf = bernoulli(rng, np.select([right, left], [0.10, 0.025], 0.015), n)
    kras = ~braf & bernoulli(rng, 0.41 + 0.08 * right, n)
    nras = ~braf & ~kras & bernoulli(rng, 0.065, n)
    ras_mutant = kras | nras
    msi = bernoulli(rng, 0.012 + 0.03 * right + 0.25 * braf, n)
    her2_amplified = bernoulli(rng, np.where(ras_mutant | braf, 0.01, np.where(right, 0.03, 0.065)), n)
    pik3ca = bernoulli(rng, 0.12 + 0.08 * kras, n)
    tp53 = bernoulli(rng, 0.65 - 0.15 * right - 0.35 * msi, n)
    apc = bernoulli(rng, 0.78 - 0.25 * braf, n)
    smad4 = bernoulli(rng, 0.10 + 0.05 * ras_mutant, n)
    fbxw7 = bernoulli(rng, 0.08, n)
    met_amplified = bernoulli(rng, np.where(ras_mutant | braf, 0.005, 0.03), n)
    egfr_amplified = bernoulli(rng, np.where(ras_mutant, 0.005, 0.015), n)

    # tests not done: unknown stays unknown
    ras_not_tested = bernoulli(rng, 0.07, n)
    nras_not_tested = ras_not_tested | bernoulli(rng, np.where(early_era, 0.18, 0.03), n)
    braf_not_tested = bernoulli(rng, 0.10, n)
    msi_not_tested = bernoulli(rng, 0.12, n)
    her2_not_tested = bernoulli(rng, np.where(early_era, 0.16, 0.09), n)
    ras_wild_type_known = ~ras_not_tested & ~nras_not_tested & ~ras_mutant
    braf_known_mutant = braf & ~braf_not_tested

    # liver disease -----------------------------------------------------------
    synchronous = bernoulli(rng, sigmoid(-0.35 + 0.5 * node_positive), n)
    dfi = np.where(
        synchronous,
        np.where(bernoulli(rng, 0.7, n), 0.0, rng.uniform(0.0, 6.0, n)),
        6.0 + np.exp(np.log(12.0) + 0.8 * rng.standard_normal(n)),
    )
    dfi = np.clip(dfi, 0.0, 240.0).round(1)
    burden = (rng.standard_normal(n) + 0.50 * synchronous + 0.20 * node_positive + 0.15 * external
              - 0.35)
    solitary = bernoulli(rng, sigmoid(-0.25 - 1.2 * burden), n)
    extra = rng.poisson(rng.gamma(1.2, np.exp(0.6 + 0.5 * burden) / 1.2))
    n_lesions = np.where(solitary, 1, np.minimum(2 + extra, 100))
    diameter = np.exp(np.log(3.8) + 0.30 * burden + 0.50 * rng.standard_normal(n))
    diameter = np.clip(diameter, 0.3, 22.0).round(1)
    bilobar = ~solitary & bernoulli(rng, sigmoid(-0.6 + 0.35 * (n_lesions - 2)), n)
    extrahepatic = bernoulli(rng, sigmoid(-2.1 + 0.5 * burden + 0.2 * right), n)
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
    initially_resectable = bernoulli(
        rng, sigmoid(0.6 - 0.8 * burden - 1.8 * extrahepatic - 0.6 * bilobar - 0.02 * (age - 62)), n)
    triplet_candidate = (age < 65) & (right | braf | (burden > 1.0))
    p_triplet = np.where(triplet_candidate, 0.35, 0.05)
    p_capox = np.where(initially_resectable, 0.22, 0.12) * (1 - p_triplet)
    p_folfiri = 0.30 * (1 - p_triplet)
    p_folfox = 1.0 - p_triplet - p_capox - p_folfiri
    regimen = categorical(rng, np.column_stack([p_folfox, p_folfiri, p_triplet, p_capox]))

    egfr_eligible = ras_wild_type_known
    p_egfr = np.where(egfr_eligible, np.where(right, 0.35, 0.62), 0.0)
    p_egfr = np.where(braf_known_mutant, 0.12 * egfr_eligible, p_egfr)
    p_vegf = np.where(egfr_eligible, np.where(right, 0.40, 0.18), 0.70)
    plan_scale = np.where(initially_resectable, 0.75, 1.0)  # perioperative chemo often alone
    p_egfr, p_vegf = p_egfr * plan_scale, p_vegf * plan_scale
    biologic = categorical(rng, np.column_stack([p_egfr, p_vegf, 1.0 - p_egfr - p_vegf]))
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
    is_responder = u_response < sigmoid(response_logit)
    u_clipped = np.clip(u_response, 1e-12, 1 - 1e-12)
    response_latent = response_logit - np.log(u_clipped / (1 - u_clipped))
    complete = bernoulli(rng, 0.12, n)
    progressive = bernoulli(rng, sigmoid(-0.9 - 0.6 * (response_logit + 0.5)), n)
    best_size_ratio = trajectories.nadir_ratio(np.where(is_responder, np.maximum(
        response_latent, 1e-9), np.minimum(response_latent, -1e-9)), complete, progressive)
    response_code = recist.category_from_ratio(best_size_ratio)
    response_not_evaluable = bernoulli(rng, 0.02, n)

    # surgery ------------------------------------------------------------------
    p_resection = np.where(initially_resectable, 0.88,
                           np.where(is_responder, sigmoid(-0.6 - 0.5 * burden), 0.06))
    hepatectomy = bernoulli(rng, p_resection, n)
    desmoplastic_logit = -0.9 + 0.9 * morphology + 0.4 * is_responder
    growth = categorical(rng, np.column_stack([
        sigmoid(desmoplastic_logit),
        (1 - sigmoid(desmoplastic_logit)) * 0.45,
        (1 - sigmoid(desmoplastic_logit)) * 0.55,
    ]))
    growth_missing = ~hepatectomy | bernoulli(rng, 0.10, n)
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
    death_time = weibull_time(rng, 40.0, 1.5, os_log_hr)
    progression_log_hr = (0.8 * biology + np.log(0.40) * hepatectomy + np.log(0.45) * is_responder
                          + np.log(0.75) * anti_egfr + np.log(0.85) * anti_vegf
                          - anti_egfr * (0.60 * genomic_signal + 0.30 * morphology)
                          + np.log(0.8) * desmoplastic)
    progression_time = weibull_time(rng, 9.0, 1.1, progression_log_hr)
    pfs_time = np.minimum(progression_time, death_time)

    follow_up = (DATA_CUTOFF - diagnosis_date).astype(float) / DAYS_PER_MONTH
    lost = rng.standard_exponential(n) / LOSS_TO_FOLLOW_UP_PER_MONTH
    censor = np.minimum(follow_up, lost)
    os_event = death_time <= censor
    os_months = np.maximum(np.minimum(death_time, censor), 0.1).round(1)
    pfs_event = pfs_time <= censor
    pfs_months = np.minimum(np.maximum(np.minimum(pfs_time, censor), 0.1).round(1), os_months)

    # data-entry gaps ----------------------------------------------------------
    t_missing = bernoulli(rng, 0.03, n)
    grade_missing = bernoulli(rng, 0.06, n)
    node_missing = bernoulli(rng, 0.02, n)
    cea_missing = bernoulli(rng, 0.03, n)

    patients = pd.DataFrame({
        "patient_id": pd.array(patient_id.astype(object), dtype="string"),
        "center": text_array(CENTRES, centre),
        "cohort_split": text_array(("development", "external"), external.astype(int)),
        "diagnosis_date": diagnosis_date.astype("datetime64[ns]"),
        "age_years": age,
        "sex": text_array(("male", "female"), np.where(male, 0, 1)),
        "primary_side": text_array(SIDES, side),
        "t_stage": text_array(T_STAGES, t_stage, t_missing),
        "node_positive": flag_array(node_positive, node_missing),
        "grade": text_array(GRADES, grade, grade_missing),
        "kras": mutation_array(kras, ras_not_tested),
        "nras": mutation_array(nras, nras_not_tested),
        "braf_v600e": mutation_array(braf, braf_not_tested),
        "msi": text_array(("MSI-H", "MSS"), np.where(msi, 0, 1), msi_not_tested),
        "her2": text_array(("amplified", "not amplified"), np.where(her2_amplified, 0, 1),
                           her2_not_tested),
        "synchronous": flag_array(synchronous),
        "disease_free_interval_months": dfi,
        "n_liver_lesions": pd.array(n_lesions, dtype="Int64"),
        "max_diameter_cm": diameter,
        "bilobar": flag_array(bilobar),
        "extrahepatic_disease": flag_array(extrahepatic),
        "cea_ng_ml": np.where(cea_missing, np.nan, cea),
        "regimen": text_array(REGIMENS, regimen),
        "biologic": text_array(BIOLOGICS, biologic),
        "hepatectomy": flag_array(hepatectomy),
        "best_response": text_array(RESPONSES, response_code, response_not_evaluable),
        "os_months": os_months,
        "os_event": flag_array(os_event),
        "pfs_months": pfs_months,
        "pfs_event": flag_array(pfs_event),
        **simulate_resection(
            later_rng, t_stage=t_stage, node_positive=node_positive, node_missing=node_missing,
            burden=burden, n_lesions=n_lesions, bilobar=bilobar, anti_vegf=anti_vegf,
            initially_resectable=initially_resectable, response_latent=response_latent,
            is_responder=is_responder, complete=complete, hepatectomy=hepatectomy,
            pfs_months=pfs_months, pfs_event=pfs_event, growth=growth,
            growth_missing=growth_missing),
    })
    patients = clinical.add_derived_columns(patients)
    patients = patients[list(PATIENT_COLUMN_NAMES)].astype(PATIENT_DTYPES)

    genomic = genomic_matrix(rng, n, genomic_signal, right, braf, msi, ras_mutant, pik3ca, tp53,
                             apc, smad4, fbxw7, her2_amplified, met_amplified, egfr_amplified)
    radiomic = radiomic_matrix(rng, n, imaging_phenotype, burden, diameter, n_lesions,
                               morphology)
    features = long_features(patient_id, radiomic, genomic)
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

