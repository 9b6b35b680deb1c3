"""A synthetic imaging cohort laid out as the public TCIA "Colorectal-Liver-Metastases"
download: one folder per patient, named by the patient id of the clinical table, holding
a study folder with a portal-venous CT series and a DICOM SEG with the liver, the liver
remnant, the hepatic and portal veins and one segment per tumour.

``<root>/<patient id>/01-01-2000-NA-CT ABDOMEN-<n>/2.000000-PORTAL VENOUS-<n>/1-001.dcm ...``
``<root>/<patient id>/01-01-2000-NA-CT ABDOMEN-<n>/100.000000-Segmentation-<n>/1-1.dcm``
(or ``.../1.000000-RTSTRUCT-<n>/1-1.dcm``, an RT structure set instead of the SEG)

Used by the tests (a few tiny patients, with the broken cases an import must report) and
by the import benchmark. Every file is obviously synthetic (``crlm.ingest.dicom.writer``).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TreePatient:
    """One patient folder to write. ``seg``: ``"coded"`` (tumours coded as neoplasm),
    ``"named"`` (tumours recognised by their label only), ``"none"`` (no SEG),
    ``"mismatched"`` (a SEG drawn on another CT grid), ``"rtstruct"`` (an RT structure set
    with the same regions as contours, tumours as GTV ROIs, instead of a SEG) or
    ``"rtstruct-other-frame"`` (that structure set in another frame of reference). ``compression``: ``None`` or
    ``"jpeg-ls"`` (lossless JPEG-LS pixel data)."""

    patient_id: str
    n_tumours: int = 2
    phenotype: float = 0.0
    seg: str = "coded"
    compression: str | None = None
    n_slices: int = 20
    size_px: int = 80
    pixel_mm: float = 3.0
    slice_mm: float = 5.0


def _volume(p: TreePatient, seed: int):
    """HU volume [z, y, x] and the masks of liver, veins and tumours (deterministic)."""
    rng = np.random.default_rng(seed)
    nz, n = p.n_slices, p.size_px
    z = (np.arange(nz) * p.slice_mm)[:, None, None]
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    y_mm, x_mm = (yy - n / 2) * p.pixel_mm, (xx - n / 2) * p.pixel_mm
    zc = (nz - 1) * p.slice_mm / 2.0
    half_fov = n * p.pixel_mm / 2.0
    body = ((x_mm / (0.92 * half_fov)) ** 2 + (y_mm / (0.7 * half_fov)) ** 2 <= 1.0)[None]
    liver = (((x_mm + 0.25 * half_fov) / (0.55 * half_fov)) ** 2
             + ((y_mm + 0.05 * half_fov) / (0.45 * half_fov)) ** 2
             + ((z - zc) / (0.6 * nz * p.slice_mm)) ** 2) <= 1.0
    liver = liver & body
    hepatic = liver & (np.hypot(x_mm + 0.05 * half_fov, y_mm + 0.3 * half_fov) <= 6.0)[None]
    portal = liver & (np.hypot(x_mm + 0.3 * half_fov, y_mm - 0.05 * half_fov) <= 7.0)[None]
    volume = np.full((nz, n, n), -1000.0, dtype=np.float32)
    volume = np.where(body, 40.0, volume)
    volume = np.where(liver, 58.0, volume)
    tumours = []
    centres = [(-0.35, -0.2), (-0.1, 0.15), (-0.45, 0.2), (-0.2, -0.05)]
    edge = 0.5 + 2.5 / (1.0 + np.exp(1.3 * p.phenotype))
    for t in range(p.n_tumours):
        cx, cy = centres[t % len(centres)]
        radius = float(rng.uniform(9.0, 16.0))
        tz = zc + float(rng.uniform(-0.2, 0.2)) * nz * p.slice_mm
        dist = np.sqrt((x_mm - cx * half_fov) ** 2 + (y_mm - cy * half_fov) ** 2 + (z - tz) ** 2)
        mask = (dist <= radius) & liver
        inside = 1.0 / (1.0 + np.exp((dist - radius) / edge))
        rim = np.exp(-(((dist - radius + 2.0) / 2.0) ** 2)) * (12.0 + 8.0 * np.tanh(p.phenotype))
        volume = np.where(liver, volume * (1 - inside) + (38.0 + rim) * inside, volume)
        tumours.append(mask)
    volume = np.where(hepatic | portal, 160.0, volume)
    volume = volume + np.where(body, rng.normal(0.0, 10.0, volume.shape), 0.0)
    remnant = liver.copy()
    remnant[:, :, : n // 2] = False
    return volume.astype(np.float32), liver, remnant, hepatic, portal, tumours


def _compress(paths: Sequence[Path]) -> None:
    import pydicom
    from pydicom.uid import JPEGLSLossless

    for path in paths:
        ds = pydicom.dcmread(path)
        ds.compress(JPEGLSLossless, encoding_plugin="pyjpegls")
        ds.save_as(path, enforce_file_format=True)


def write_patient(root: str | os.PathLike, p: TreePatient, seed: int = 0) -> Path:
    """Write one patient folder of the TCIA layout; its path."""
    from crlm.ingest.dicom.writer import write_ct_series, write_segmentation_file

    folder = Path(root) / p.patient_id
    study = folder / f"01-01-2000-NA-CT ABDOMEN-{seed % 100000:05d}"
    volume, liver, remnant, hepatic, portal, tumours = _volume(p, seed)
    spacing = (p.slice_mm, p.pixel_mm, p.pixel_mm)
    ct_paths = write_ct_series(study / f"2.000000-PORTAL VENOUS-{seed % 9973:04d}", volume,
                               spacing, p.slice_mm, seed, p.patient_id)
    for k, path in enumerate(ct_paths):  # the file names of an NBIA download
        path.rename(path.with_name(f"1-{k + 1:03d}.dcm"))
    ct_paths = [path.with_name(f"1-{k + 1:03d}.dcm") for k, path in enumerate(ct_paths)]
    if p.compression == "jpeg-ls":
        _compress(ct_paths)
    if p.seg == "none":
        return folder
    if p.seg.startswith("rtstruct"):
        from crlm.ingest.dicom.writer import synthetic_uid, write_rtstruct_file

        rois = [("Liver", "ORGAN", liver), ("Liver_Remnant", "ORGAN", remnant),
                ("Hepatic", "ORGAN", hepatic), ("Portal", "ORGAN", portal)]
        rois += [(f"Tumor_{k + 1}", "GTV", m) for k, m in enumerate(tumours) if m.any()]
        other = (synthetic_uid(seed, p.patient_id, "other-frame-of-reference")
                 if p.seg == "rtstruct-other-frame" else None)
        write_rtstruct_file(study / f"1.000000-RTSTRUCT-{seed % 7919:04d}" / "1-1.dcm",
                            ct_paths, rois, seed, p.patient_id, frame_of_reference_uid=other)
        return folder
    seg_dir = study / f"100.000000-Segmentation-{seed % 7919:04d}"
    tumour_kind = "neoplasm" if p.seg in ("coded", "mismatched") else "tissue"
    segments = [("Liver", "liver", liver), ("Liver_Remnant", "liver", remnant),
                ("Hepatic", "hepatic vein", hepatic), ("Portal", "portal vein", portal)]
    segments += [(f"Tumor_{k + 1}", tumour_kind, m) for k, m in enumerate(tumours) if m.any()]
    source = ct_paths
    if p.seg == "mismatched":  # drawn on another CT of the patient: shifted slices
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            other = write_ct_series(Path(tmp) / "other", volume, spacing, p.slice_mm, seed + 1,
                                    p.patient_id + "-other",
                                    origin_mm=(-(p.size_px - 1) * p.pixel_mm / 2.0,
                                               -(p.size_px - 1) * p.pixel_mm / 2.0,
                                               0.5 * p.slice_mm))
            write_segmentation_file(seg_dir / "1-1.dcm", other, segments, seed, p.patient_id)
        return folder
    write_segmentation_file(seg_dir / "1-1.dcm", source, segments, seed, p.patient_id)
    return folder


def write_tree(root: str | os.PathLike, patients: Sequence[TreePatient], seed: int = 0) -> Path:
    """Write every patient folder under ``root``; ``root``."""
    out = Path(root)
    out.mkdir(parents=True, exist_ok=True)
    for k, p in enumerate(patients):
        write_patient(out, p, seed=seed * 1000 + k)
    return out
