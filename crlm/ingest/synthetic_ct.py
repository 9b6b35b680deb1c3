"""Synthetic contrast-enhanced CT of colorectal liver metastases (demo only).

Two products, both deterministic for a seed:

* :func:`lesion_crops` - small lesion-centred crops for every patient of a
  cohort, the input of the lesion CNN and of the handcrafted lesion features;
* :func:`make_sample_cases` - a few whole ~30-slice CT series with a DICOM SEG
  of the lesion, zipped, to try the "Score a case" upload.

How biology shows in the image (a synthetic encoding, not a published model):
a per-patient *phenotype* ``p`` drives every lesion of the patient, plus
lesion-level noise (sd ``LESION_PHENOTYPE_SD``). ``p`` is the stored
``imaging_phenotype`` of the patient's baseline CT (``images.metadata``), which the
demo generator draws from pre-treatment biology only (about standard normal).
Rendering reads nothing else of a patient but the lesion count and the largest
diameter (``RENDER_COLUMNS``): no treatment, no response, no outcome. Higher
``p`` (the responder-like phenotype) gives sharper margins, a thinner and
brighter enhancing rim, less central necrosis, less internal heterogeneity and
less lobulation. Liver parenchyma is 55 ± 6 HU with a smooth texture; lesions
are hypodense (35-45 HU); white noise of about 10 HU is added.

Crop geometry: that of :func:`crlm.ingest.crops.lesion_crop`, which cuts imported and
uploaded CTs (constants in ``crlm.config``): field of view ``max(1.6 × diameter, 32 mm)``
across ``size`` pixels (so pixel spacing depends on the lesion), ``slices`` axial
slices through the lesion centre ``min(5 mm, diameter / 4)`` apart. The lesion is centred at
pixel ``((size - 1) / 2, (size - 1) / 2)``; its nominal region (a disc of the
sphere's section) is given by :func:`lesion_masks`.
"""
from __future__ import annotations

import io
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from crlm import config

LESION_PHENOTYPE_SD = 0.45
MAX_LESIONS_PER_PATIENT = 3
NOISE_HU = 10.0
_CHUNK = 256


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x)))


def _column(patients: pd.DataFrame, name: str, default) -> pd.Series:
    if name in patients.columns:
        return patients[name]
    return pd.Series([default] * len(patients), index=patients.index)


PHENOTYPE_COLUMN = "imaging_phenotype"
RENDER_COLUMNS = ("patient_id", PHENOTYPE_COLUMN, "n_liver_lesions", "max_diameter_cm")


def patient_phenotype(patients: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """The per-patient imaging phenotype ``p``: the stored ``imaging_phenotype`` column."""
    if PHENOTYPE_COLUMN not in patients.columns:
        raise ValueError("no stored imaging phenotype: crops are rendered only from the "
                         f"{PHENOTYPE_COLUMN!r} stored with the cohort's images")
    base = pd.to_numeric(patients[PHENOTYPE_COLUMN], errors="coerce").astype(float).to_numpy()
    rng.standard_normal(len(patients))  # keeps the random stream of earlier releases
    return np.where(np.isfinite(base), base, 0.0)


@dataclass(frozen=True)
class _LesionParams:
    """Per-lesion rendering parameters (arrays of length n, mm and HU)."""

    radius_mm: np.ndarray
    edge_mm: np.ndarray
    lesion_hu: np.ndarray
    liver_hu: np.ndarray
    rim_hu: np.ndarray
    rim_width_mm: np.ndarray
    necrosis_fraction: np.ndarray
    heterogeneity_hu: np.ndarray
    lobulation: np.ndarray
    lobes: np.ndarray
    lobe_phase: np.ndarray
    noise_hu: np.ndarray


def _lesion_params(rng: np.random.Generator, phenotype: np.ndarray, diameter_cm: np.ndarray,
                   liver_hu: np.ndarray) -> _LesionParams:
    n = len(phenotype)
    p = phenotype + LESION_PHENOTYPE_SD * rng.standard_normal(n)
    return _LesionParams(
        radius_mm=5.0 * diameter_cm,
        edge_mm=0.5 + 2.5 * _sigmoid(-1.3 * p),
        lesion_hu=np.clip(40.0 + 2.5 * rng.standard_normal(n), 33.0, 47.0),
        liver_hu=liver_hu,
        rim_hu=10.0 + 14.0 * _sigmoid(1.2 * p),
        rim_width_mm=1.0 + 2.0 * _sigmoid(-p),
        necrosis_fraction=0.65 * _sigmoid(-1.5 * p - 0.5),
        heterogeneity_hu=3.0 + 9.0 * _sigmoid(-1.2 * p),
        lobulation=0.03 + 0.15 * _sigmoid(-1.2 * p),
        lobes=rng.integers(3, 7, n).astype(np.float64),
        lobe_phase=rng.uniform(0.0, 2 * np.pi, n),
        noise_hu=NOISE_HU * rng.uniform(0.9, 1.1, n),
    )


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_px: np.ndarray) -> np.ndarray:
    """Unit-variance Gaussian-smoothed noise over the last two axes (per-item sigma)."""
    white = rng.standard_normal(shape, dtype=np.float32)
    ky = np.fft.fftfreq(shape[-2])[:, None]
    kx = np.fft.rfftfreq(shape[-1])[None, :]
    k2 = (ky**2 + kx**2).astype(np.float32)
    sig = np.asarray(sigma_px, dtype=np.float32).reshape((-1,) + (1,) * (len(shape) - 1))
    transfer = np.exp(-2.0 * (np.pi**2) * k2 * sig**2)
    field = np.fft.irfft2(np.fft.rfft2(white) * transfer, s=shape[-2:]).astype(np.float32)
    field /= field.std(axis=(-2, -1), keepdims=True) + 1e-6
    return field


def _render(rng: np.random.Generator, params: _LesionParams, rho_mm: np.ndarray,
            theta: np.ndarray, z_mm: np.ndarray, px_mm: np.ndarray,
            shape: tuple[int, ...]) -> np.ndarray:
    """HU image of lesions inside liver parenchyma.

    Arrays broadcast against ``shape`` = (n, ..., rows, columns); per-lesion
    parameters are reshaped to the leading axis; ``z_mm`` is the offset of
    each plane from the lesion centre.
    """
    nd = len(shape)

    def col(a):
        return np.asarray(a, dtype=np.float32).reshape((-1,) + (1,) * (nd - 1))

    radius = col(params.radius_mm)
    section = np.sqrt(np.clip(radius**2 - z_mm**2, 0.0, None))
    boundary = section * (1.0 + col(params.lobulation) * np.sin(col(params.lobes) * theta
                                                                  + col(params.lobe_phase)))
    signed = rho_mm - boundary  # < 0 inside the lesion
    inside = _sigmoid(-signed / col(params.edge_mm))
    tumour_tex = _smooth_noise(rng, shape, col(1.2 / px_mm).ravel())
    liver_tex = _smooth_noise(rng, shape, col(2.5 / px_mm).ravel())
    core = _sigmoid(-(rho_mm - col(params.necrosis_fraction) * section) / 1.0)
    core = core * (col(params.necrosis_fraction) > 0.02)
    rim = np.exp(-(((signed + col(params.rim_width_mm)) / col(params.rim_width_mm)) ** 2))
    lesion = (col(params.lesion_hu) + col(params.heterogeneity_hu) * tumour_tex
              - 22.0 * core + col(params.rim_hu) * rim * (section > 0))
    liver = col(params.liver_hu) + 5.0 * liver_tex
    image = liver * (1.0 - inside) + lesion * inside
    image += col(params.noise_hu) * rng.standard_normal(shape, dtype=np.float32)
    return image


def lesion_crops(
    patients: pd.DataFrame, seed: int, size: int = 64, slices: int = 3
) -> tuple[np.ndarray, pd.DataFrame]:
    """Lesion crops ``[n_crops, slices, size, size]`` (int16 HU) and their index.

    ``patients`` needs ``patient_id`` and ``imaging_phenotype``; only
    ``RENDER_COLUMNS`` are read. Per patient ``min(n_liver_lesions, 3)`` lesions
    (at least one): the first has ``max_diameter_cm``, the others a random
    35-90 % of it. The index has one row
    per crop: ``patient_id, lesion_index, diameter_cm, pixel_spacing_mm,
    slice_spacing_mm, radius_px`` (in-plane radius of the lesion at the centre
    slice). Deterministic for ``(patients, seed, size, slices)``.
    """
    if size < 16 or slices < 1:
        raise ValueError(f"size must be >= 16 and slices >= 1 (got {size}, {slices})")
    if "patient_id" not in patients.columns:
        raise ValueError("patients needs a patient_id column")
    patients = patients.loc[:, [c for c in RENDER_COLUMNS if c in patients.columns]]
    rng = np.random.default_rng(seed)
    n_pat = len(patients)
    phenotype = patient_phenotype(patients, rng)
    n_les = pd.to_numeric(_column(patients, "n_liver_lesions", 1), errors="coerce").to_numpy(float)
    n_les = np.clip(np.where(np.isfinite(n_les), n_les, 1), 1, MAX_LESIONS_PER_PATIENT).astype(int)
    largest = pd.to_numeric(_column(patients, "max_diameter_cm", 3.0), errors="coerce").to_numpy(float)
    largest = np.clip(np.where(np.isfinite(largest), largest, 3.0), 0.3, 25.0)
    liver_hu = 55.0 + 6.0 * rng.standard_normal(n_pat)

    owner = np.repeat(np.arange(n_pat), n_les)
    lesion_index = np.concatenate([np.arange(k) for k in n_les]) if n_pat else np.zeros(0, int)
    fraction = np.where(lesion_index == 0, 1.0, rng.uniform(0.35, 0.9, len(owner)))
    diameter = np.round(np.maximum(largest[owner] * fraction, 0.3), 2)
    params = _lesion_params(rng, phenotype[owner], diameter, liver_hu[owner])
    # the geometry of crlm.ingest.crops.lesion_crop (constants in crlm.config)
    fov_mm = np.maximum(config.CROP_FOV_FACTOR * diameter * 10.0, config.CROP_MIN_FOV_MM)
    px_mm = fov_mm / size
    dz_mm = np.minimum(config.CROP_MAX_PLANE_GAP_MM,
                       config.CROP_PLANE_GAP_FRACTION * diameter * 10.0)

    n = len(owner)
    crops = np.empty((n, slices, size, size), dtype=np.int16)
    centre = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - centre
    rho_px = np.hypot(yy, xx)[None, None]
    theta = np.arctan2(yy, xx)[None, None]
    offsets = (np.arange(slices, dtype=np.float32) - (slices - 1) / 2.0)[None, :, None, None]
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        sl = slice(start, stop)
        chunk_params = _LesionParams(**{k: v[sl] for k, v in asdict(params).items()})
        px = px_mm[sl].astype(np.float32)[:, None, None, None]
        z = offsets * dz_mm[sl].astype(np.float32)[:, None, None, None]
        image = _render(rng, chunk_params, rho_px * px, theta, z, px_mm[sl],
                        (stop - start, slices, size, size))
        crops[sl] = np.clip(np.rint(image), -1024, 3071).astype(np.int16)
    index = pd.DataFrame({
        "patient_id": patients["patient_id"].to_numpy()[owner],
        "lesion_index": lesion_index.astype(int),
        "diameter_cm": diameter,
        "pixel_spacing_mm": px_mm,
        "slice_spacing_mm": dz_mm,
        "radius_px": 5.0 * diameter / px_mm,
    })
    return crops, index


def lesion_masks(index: pd.DataFrame, size: int = 64, slices: int = 3) -> np.ndarray:
    """The nominal lesion region of each crop of :func:`lesion_crops` (bool, same shape)."""
    centre = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size] - centre
    rho = np.hypot(yy, xx)[None, None]
    offsets = (np.arange(slices) - (slices - 1) / 2.0)[None, :, None, None]
    radius_mm = 5.0 * index["diameter_cm"].to_numpy(float)[:, None, None, None]
    px = index["pixel_spacing_mm"].to_numpy(float)[:, None, None, None]
    z = offsets * index["slice_spacing_mm"].to_numpy(float)[:, None, None, None]
    section_px = np.sqrt(np.clip(radius_mm**2 - z**2, 0.0, None)) / px
    return rho <= section_px


# ---------------------------------------------------------------- whole series


def write_series(out_dir: str | os.PathLike, hu_volume: np.ndarray, spacing_mm: Sequence[float],
                 thickness_mm: float, seed: int, patient_label: str) -> list[Path]:
    """Write ``hu_volume[z, y, x]`` as a synthetic CT series (CT Image Storage); the file paths.

    ``spacing_mm`` = (slice spacing, row spacing, column spacing). Identifiers
    are obviously synthetic (patient name ``SYNTHETIC^DEMO``).
    """
    from crlm.ingest.dicom import write_ct_series

    return write_ct_series(out_dir, hu_volume, spacing_mm, thickness_mm, seed, patient_label)


def write_seg(out_path: str | os.PathLike, ct_paths: Sequence[str | os.PathLike], mask: np.ndarray,
              seed: int, patient_label: str) -> Path:
    """Write the lesion ``mask[z, y, x]`` as a binary DICOM SEG over ``ct_paths``."""
    from crlm.ingest.dicom import write_seg_file

    return write_seg_file(out_path, ct_paths, mask, seed, patient_label)


@dataclass(frozen=True)
class SampleCase:
    """One sample upload written by :func:`make_sample_cases`."""

    path: str
    patient_label: str
    phenotype: float
    diameter_cm: float
    lesion_slice_index: int
    centre_yx: tuple[int, int]
    radius_px: float
    shape_zyx: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]

    def to_dict(self) -> dict:
        return asdict(self)


def synthetic_volume(seed: int, phenotype: float, diameter_cm: float, n_slices: int = 30,
                     size: int = 256, pixel_mm: float = 1.4, slice_mm: float = 5.0
                     ) -> tuple[np.ndarray, np.ndarray, dict]:
    """An abdominal CT volume ``[z, y, x]`` (float32 HU) with one liver lesion, its mask, geometry."""
    rng = np.random.default_rng(seed)
    shape = (n_slices, size, size)
    z = (np.arange(n_slices) * slice_mm)[:, None, None]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    y_mm, x_mm = (yy - size / 2) * pixel_mm, (xx - size / 2) * pixel_mm
    body = (x_mm / 165.0) ** 2 + (y_mm / 120.0) ** 2 <= 1.0
    fat_ring = (x_mm / 150.0) ** 2 + (y_mm / 107.0) ** 2 > 1.0
    z_centre = (n_slices - 1) * slice_mm / 2.0
    liver_zone = ((x_mm + 45.0) / 95.0) ** 2 + ((y_mm + 10.0) / 80.0) ** 2 + \
        ((z - z_centre) / (0.75 * n_slices * slice_mm)) ** 2 <= 1.0
    radius_mm = 5.0 * diameter_cm
    centre_y_mm, centre_x_mm = -10.0, -50.0
    lesion_slice = n_slices // 2
    zc = lesion_slice * slice_mm
    dy, dx = y_mm - centre_y_mm, x_mm - centre_x_mm
    rho = np.broadcast_to(np.hypot(dy, dx)[None], shape)
    theta = np.broadcast_to(np.arctan2(dy, dx)[None], shape)
    params = _lesion_params(rng, np.array([phenotype]), np.array([diameter_cm]), np.array([58.0]))
    liver_image = _render(rng, params, rho[None], theta[None], (z - zc)[None], np.array([pixel_mm]),
                          (1,) + shape)[0]
    volume = np.full(shape, -1000.0, dtype=np.float32)
    soft = 40.0 + 8.0 * _smooth_noise(rng, shape, np.full(n_slices, 3.0))
    volume = np.where(body[None], soft, volume)
    volume = np.where(body[None] & fat_ring[None], -100.0 + 10.0 * soft / 40.0, volume)
    volume = np.where(liver_zone, liver_image, volume)
    volume = volume + np.where(body[None], 0.0, NOISE_HU * rng.standard_normal(shape, dtype=np.float32))
    mask = (np.hypot(dy, dx)[None] <= np.sqrt(np.clip(radius_mm**2 - (z - zc) ** 2, 0, None))) & liver_zone
    geometry = {
        "lesion_slice_index": lesion_slice,
        "centre_yx": (int(round(centre_y_mm / pixel_mm + size / 2)), int(round(centre_x_mm / pixel_mm + size / 2))),
        "radius_px": radius_mm / pixel_mm,
        "spacing_mm": (slice_mm, pixel_mm, pixel_mm),
    }
    return volume.astype(np.float32), mask, geometry


def make_sample_cases(out_dir: str | os.PathLike, n: int = 3, seed: int = 20240601) -> list[SampleCase]:
    """Write ``n`` zipped sample cases (CT series + DICOM SEG of the lesion) into ``out_dir``.

    Each ``case_XX.zip`` holds ``CT/CT0001.dcm ...`` (30 slices of 256 × 256,
    1.4 mm pixels, 5 mm slices) and ``SEG/lesion_seg.dcm``. Phenotypes go from
    non-responder-like to responder-like across the cases.
    """
    import tempfile

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    phenotypes = np.linspace(-1.5, 1.5, n) if n > 1 else np.array([0.0])
    cases = []
    for i in range(n):
        label = f"SAMPLE-{i + 1:02d}"
        diameter = float(np.round(rng.uniform(2.5, 5.5), 1))
        volume, mask, geo = synthetic_volume(seed + i, float(phenotypes[i]), diameter)
        with tempfile.TemporaryDirectory() as tmp:
            ct_paths = write_series(Path(tmp) / "CT", volume, geo["spacing_mm"], geo["spacing_mm"][0],
                                    seed + i, label)
            seg_path = write_seg(Path(tmp) / "SEG" / "lesion_seg.dcm", ct_paths, mask, seed + i, label)
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, p in [(f"CT/{p.name}", p) for p in ct_paths] + [("SEG/lesion_seg.dcm", seg_path)]:
                    info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, Path(p).read_bytes())
        target = out / f"case_{i + 1:02d}.zip"
        target.write_bytes(buf.getvalue())
        cases.append(SampleCase(
            path=str(target), patient_label=label, phenotype=float(phenotypes[i]),
            diameter_cm=diameter, lesion_slice_index=geo["lesion_slice_index"],
            centre_yx=geo["centre_yx"], radius_px=float(geo["radius_px"]),
            shape_zyx=tuple(int(v) for v in volume.shape), spacing_mm=geo["spacing_mm"],
        ))
    return cases
