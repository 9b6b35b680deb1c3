"""The demo cohort's radiomic and genomic features: their names, their values drawn from
the latent signals and pre-treatment findings, and the long feature frame."""
from __future__ import annotations

import numpy as np
import pandas as pd

from crlm.ingest.demo_draws import sigmoid

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


def genomic_matrix(rng, n, signal, right, braf, msi, ras_mutant, pik3ca, tp53, apc, smad4, fbxw7,
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


def radiomic_matrix(rng, n, signal, burden, diameter, n_lesions, morphology) -> np.ndarray:
    """(n, len(RADIOMIC_FEATURES)) features of the largest lesion on the baseline
    (pre-treatment) portal-venous CT: from the imaging phenotype and tumour burden only."""
    z = rng.standard_normal((n, len(RADIOMIC_FEATURES)))
    necrosis = sigmoid(-2.0 + 0.5 * burden - 0.4 * signal + 0.5 * z[:, 15])
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


def long_features(patient_id: np.ndarray, radiomic: np.ndarray, genomic: np.ndarray) -> pd.DataFrame:
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
