"""Handcrafted lesion features and the crop of an uploaded case.

Images are HU arrays ``[z, y, x]`` (or ``[y, x]``), masks boolean of the same shape,
``spacing_mm`` = (z, y, x) (or (y, x)) in mm. :func:`lesion_features` is the one feature
function for cohort crops and for an uploaded case; :func:`case_crop` cuts an uploaded
case's lesion on the cohort crops' geometry. The lesion CNN that reads such crops is in
:mod:`crlm.models.cnn`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import ndimage, stats

GLCM_BIN_WIDTH_HU = 10.0
GLCM_RANGE_HU = (-200.0, 300.0)
ENTROPY_BIN_WIDTH_HU = 10.0

FEATURE_NAMES = (
    "n_voxels", "volume_ml", "max_area_cm2", "max_diameter_cm", "hu_mean", "hu_sd",
    "hu_skewness", "hu_kurtosis", "hu_p10", "hu_median", "hu_p90", "hu_entropy_bits",
    "glcm_contrast", "glcm_homogeneity", "glcm_energy", "glcm_correlation",
    "glcm_entropy_bits", "margin_gradient_hu_per_mm", "rim_minus_core_hu",
    "lesion_minus_surround_hu",
)


# ---------------------------------------------------------------- handcrafted features


def _as_3d(image: np.ndarray, mask: np.ndarray, spacing_mm: Sequence[float]):
    image = np.asarray(image)
    mask = np.asarray(mask, dtype=bool)
    if image.shape != mask.shape:
        raise ValueError(f"image shape {image.shape} and mask shape {mask.shape} differ")
    spacing = tuple(float(s) for s in spacing_mm)
    if image.ndim == 2:
        if len(spacing) != 2:
            raise ValueError(f"a 2-D image needs spacing_mm = (y, x), got {spacing}")
        return image[None], mask[None], (float("nan"),) + spacing
    if image.ndim != 3:
        raise ValueError(f"image must be 2-D or 3-D, got {image.ndim}-D")
    if len(spacing) != 3:
        raise ValueError(f"a 3-D image needs spacing_mm = (z, y, x), got {spacing}")
    if min(spacing[1:]) <= 0:
        raise ValueError(f"pixel spacing must be positive, got {spacing}")
    return image, mask, spacing


def _max_diameter_mm(mask2d: np.ndarray, dy: float, dx: float) -> float:
    from crlm.ingest.crops import max_diameter_mm

    return max_diameter_mm(mask2d, dy, dx)


def _entropy_bits(values: np.ndarray, width: float) -> float:
    lo = math.floor(values.min() / width) * width
    edges = np.arange(lo, values.max() + width + 1e-9, width)
    counts = np.histogram(values, bins=edges)[0] if edges.size > 1 else np.array([values.size])
    p = counts[counts > 0] / values.size
    return float(-(p * np.log2(p)).sum())


def _glcm(image: np.ndarray, mask: np.ndarray) -> dict:
    """In-plane grey-level co-occurrence, distance 1, 4 directions, symmetric, averaged."""
    lo, hi = GLCM_RANGE_HU
    levels = int(round((hi - lo) / GLCM_BIN_WIDTH_HU))
    q = np.clip(((image - lo) // GLCM_BIN_WIDTH_HU).astype(np.int64), 0, levels - 1)
    i_idx, j_idx = np.meshgrid(np.arange(levels), np.arange(levels), indexing="ij")
    out = {"glcm_contrast": [], "glcm_homogeneity": [], "glcm_energy": [],
           "glcm_correlation": [], "glcm_entropy_bits": []}
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        y0, y1 = (0, q.shape[1] - dy)
        x0, x1 = (max(0, -dx), q.shape[2] - max(0, dx))
        a = q[:, y0:y1, x0:x1]
        b = q[:, y0 + dy:y1 + dy, x0 + dx:x1 + dx]
        valid = mask[:, y0:y1, x0:x1] & mask[:, y0 + dy:y1 + dy, x0 + dx:x1 + dx]
        if not valid.any():
            continue
        codes = a[valid] * levels + b[valid]
        m = np.bincount(codes, minlength=levels * levels).reshape(levels, levels).astype(float)
        m = m + m.T
        p = m / m.sum()
        mu_i = (i_idx * p).sum()
        sd_i = math.sqrt(((i_idx - mu_i) ** 2 * p).sum())
        out["glcm_contrast"].append(float(((i_idx - j_idx) ** 2 * p).sum()))
        out["glcm_homogeneity"].append(float((p / (1.0 + (i_idx - j_idx) ** 2)).sum()))
        out["glcm_energy"].append(float((p**2).sum()))
        out["glcm_correlation"].append(
            float(((i_idx - mu_i) * (j_idx - mu_i) * p).sum() / sd_i**2) if sd_i > 0 else 1.0
        )
        nz = p[p > 0]
        out["glcm_entropy_bits"].append(float(-(nz * np.log2(nz)).sum()))
    return {k: (float(np.mean(v)) if v else float("nan")) for k, v in out.items()}


def lesion_features(hu_volume_or_crop: np.ndarray, mask: np.ndarray,
                    spacing_mm: Sequence[float]) -> dict:
    """Handcrafted features of one lesion: size, HU histogram, texture and margin.

    ``hu_volume_or_crop``: HU ``[z, y, x]`` or ``[y, x]``; ``mask``: the lesion
    region, same shape; ``spacing_mm``: (z, y, x) or (y, x). Keys are
    ``FEATURE_NAMES``: volume in mL (NaN for a 2-D image), largest section area
    in cm², largest in-plane (Feret) diameter in cm over the slices, HU mean /
    population sd / skewness / excess kurtosis / 10th, 50th, 90th percentiles /
    Shannon entropy (bits, bins of 10 HU); GLCM (in-plane, distance 1, four
    directions, symmetric, 10-HU bins on -200..300 HU) contrast, homogeneity
    (inverse difference moment), energy (angular second moment), correlation and
    entropy; mean in-plane HU gradient magnitude on the lesion's inner boundary
    (HU/mm, margin sharpness); mean HU of the 2-pixel inner rim minus the core;
    lesion mean minus the mean of a 3-pixel ring outside it.
    """
    image, mask, (dz, dy, dx) = _as_3d(hu_volume_or_crop, mask, spacing_mm)
    if not mask.any():
        raise ValueError("the lesion mask is empty")
    zs, ys, xs = np.nonzero(mask)
    pad = 4
    box = (slice(zs.min(), zs.max() + 1),
           slice(max(0, ys.min() - pad), ys.max() + pad + 1),
           slice(max(0, xs.min() - pad), xs.max() + pad + 1))
    img = image[box].astype(np.float64)
    msk = mask[box]
    values = img[msk]
    n = int(values.size)
    areas_px = msk.sum(axis=(1, 2))
    plane = np.zeros((1, 3, 3), dtype=bool)
    plane[0] = ndimage.generate_binary_structure(2, 1)
    eroded = ndimage.binary_erosion(msk, structure=plane, border_value=0)
    boundary = msk & ~eroded
    core = ndimage.binary_erosion(msk, structure=plane, iterations=2, border_value=0)
    rim = msk & ~core
    ring = ndimage.binary_dilation(msk, structure=plane, iterations=3) & ~msk
    gy = np.gradient(img, dy, axis=1)
    gx = np.gradient(img, dx, axis=2)
    grad = np.hypot(gy, gx)
    features = {
        "n_voxels": float(n),
        "volume_ml": float(n * dz * dy * dx / 1000.0) if np.isfinite(dz) else float("nan"),
        "max_area_cm2": float(areas_px.max() * dy * dx / 100.0),
        "max_diameter_cm": max(_max_diameter_mm(m, dy, dx) for m in msk if m.any()) / 10.0,
        "hu_mean": float(values.mean()),
        "hu_sd": float(values.std()),
        "hu_skewness": float(stats.skew(values)) if n > 2 and values.std() > 0 else 0.0,
        "hu_kurtosis": float(stats.kurtosis(values)) if n > 3 and values.std() > 0 else 0.0,
        "hu_p10": float(np.percentile(values, 10)),
        "hu_median": float(np.median(values)),
        "hu_p90": float(np.percentile(values, 90)),
        "hu_entropy_bits": _entropy_bits(values, ENTROPY_BIN_WIDTH_HU),
        **_glcm(img, msk),
        "margin_gradient_hu_per_mm": float(grad[boundary].mean()) if boundary.any() else float("nan"),
        "rim_minus_core_hu": (float(img[rim].mean() - img[core].mean())
                              if core.any() and rim.any() else float("nan")),
        "lesion_minus_surround_hu": float(values.mean() - img[ring].mean()) if ring.any() else float("nan"),
    }
    return {k: features[k] for k in FEATURE_NAMES}


def case_crop(hu_volume: np.ndarray, mask: np.ndarray, spacing_mm: Sequence[float],
              size: int = 64, slices: int = 3) -> np.ndarray:
    """A lesion crop of an uploaded case on the cohort crops' geometry (int16 HU):
    :func:`crlm.ingest.crops.lesion_crop`, the transform an imported cohort goes through
    too (a 2-D image counts as one slice of 1 mm)."""
    from crlm.ingest.crops import lesion_crop

    image, msk, spacing = _as_3d(hu_volume, mask, spacing_mm)
    return lesion_crop(image, msk, spacing, size=size, slices=slices)[0]
