"""The one crop transform: a lesion-centred crop cut from a CT volume and its mask.

Used for every CT that comes in as a volume: an imported cohort
(``crlm.ingest.images``) and an uploaded case on the Score a case page
(``crlm.models.imaging.case_crop`` calls it). The synthetic demo renders straight onto
the same grid (``crlm.ingest.synthetic_ct.lesion_crops``) with the same constants.

Geometry (``crlm.config``): the centre is the in-plane centroid of the mask on its
largest section; the field of view is ``max(CROP_FOV_FACTOR x largest diameter,
CROP_MIN_FOV_MM)`` across ``CROP_SIZE_PX`` pixels; ``CROP_SLICES`` planes
``min(CROP_MAX_PLANE_GAP_MM, CROP_PLANE_GAP_FRACTION x diameter)`` apart, centred on
the largest section; linear interpolation, edges repeated; int16 HU. The largest
diameter is the in-plane Feret diameter over the slices (mm), plus half a pixel.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from crlm import config


def max_diameter_mm(mask2d: np.ndarray, dy: float, dx: float) -> float:
    """Largest in-plane (Feret) diameter of a 2-D mask in mm (0 when empty)."""
    ys, xs = np.nonzero(mask2d)
    if ys.size == 0:
        return 0.0
    pts = np.column_stack([ys * dy, xs * dx])
    if pts.shape[0] > 3:
        try:
            from scipy.spatial import ConvexHull, QhullError

            pts = pts[ConvexHull(pts).vertices]
        except (QhullError, ValueError):  # collinear points: keep them all
            pass
    if pts.shape[0] > 3000:
        pts = pts[:: int(math.ceil(pts.shape[0] / 3000))]
    diff = pts[:, None, :] - pts[None, :, :]
    return float(np.sqrt((diff**2).sum(-1)).max()) + 0.5 * (dy + dx)


def crop_geometry(diameter_mm: float, size: int = config.CROP_SIZE_PX) -> tuple[float, float]:
    """``(pixel_spacing_mm, plane_gap_mm)`` of the crop of a lesion of this diameter."""
    fov = max(config.CROP_FOV_FACTOR * float(diameter_mm), config.CROP_MIN_FOV_MM)
    gap = min(config.CROP_MAX_PLANE_GAP_MM, config.CROP_PLANE_GAP_FRACTION * float(diameter_mm))
    return fov / size, gap


def lesion_crop(hu_volume: np.ndarray, mask: np.ndarray, spacing_mm: Sequence[float],
                size: int = config.CROP_SIZE_PX, slices: int = config.CROP_SLICES
                ) -> tuple[np.ndarray, dict]:
    """``(crop, info)``: the int16 HU crop ``[slices, size, size]`` of one lesion and its
    geometry (``diameter_cm``, ``pixel_spacing_mm`` and ``slice_spacing_mm`` of the crop,
    ``centre_zyx`` in voxels of the volume, ``n_voxels``, ``volume_ml``).

    ``hu_volume``, ``mask``: ``[z, y, x]`` of one shape; ``spacing_mm`` = (z, y, x).
    """
    image = np.asarray(hu_volume)
    msk = np.asarray(mask, dtype=bool)
    if image.ndim != 3 or image.shape != msk.shape:
        raise ValueError(f"volume {image.shape} and mask {msk.shape} must be 3-D of one shape")
    if len(spacing_mm) != 3:
        raise ValueError(f"spacing_mm must be (z, y, x), got {tuple(spacing_mm)}")
    dz, dy, dx = (float(v) for v in spacing_mm)
    if not np.isfinite(dz) or dz <= 0:
        dz = 1.0
    if min(dy, dx) <= 0:
        raise ValueError(f"pixel spacing must be positive, got {tuple(spacing_mm)}")
    if not msk.any():
        raise ValueError("the lesion mask is empty")
    areas = msk.sum(axis=(1, 2))
    k = int(np.argmax(areas))
    ys, xs = np.nonzero(msk[k])
    cy, cx = float(ys.mean()), float(xs.mean())
    diameter_mm = max(max_diameter_mm(m, dy, dx) for m in msk if m.any())
    step, gap = crop_geometry(diameter_mm, size)
    offsets = (np.arange(size) - (size - 1) / 2.0) * step
    plane_offsets = (np.arange(slices) - (slices - 1) / 2.0) * gap
    zz = k + plane_offsets[:, None, None] / dz
    yy = cy + offsets[None, :, None] / dy
    xx = cx + offsets[None, None, :] / dx
    coords = np.broadcast_arrays(zz, yy, xx)
    out = ndimage.map_coordinates(image.astype(np.float32, copy=False), coords, order=1,
                                  mode="nearest")
    crop = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
    n_voxels = int(msk.sum())
    info = {"diameter_cm": round(diameter_mm / 10.0, 3), "pixel_spacing_mm": step,
            "slice_spacing_mm": gap, "centre_zyx": [k, round(cy, 2), round(cx, 2)],
            "n_voxels": n_voxels, "volume_ml": round(n_voxels * dz * dy * dx / 1000.0, 3),
            "radius_px": diameter_mm / 2.0 / step}
    return crop, info


def split_lesions(mask: np.ndarray, min_voxels: int = 8) -> list[np.ndarray]:
    """The separate lesions of a region mask ``[z, y, x]``: its 3-D connected components
    (26-connectivity) of at least ``min_voxels`` voxels, largest first."""
    msk = np.asarray(mask, dtype=bool)
    labels, n = ndimage.label(msk, structure=np.ones((3,) * msk.ndim, dtype=bool))
    if n == 0:
        return []
    sizes = np.bincount(labels.ravel())[1:]
    order = [k + 1 for k in np.argsort(-sizes, kind="stable") if sizes[k] >= min_voxels]
    return [labels == k for k in order]
