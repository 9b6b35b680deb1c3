"""The geometry of a stack of CT slices: checked for one size, orientation and pixel
spacing, ordered along the slice normal, with its slice spacing (see :mod:`.reader` for the
conventions and tolerances)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crlm.ingest.dicom.ct_files import Slice
from crlm.ingest.dicom.errors import DicomError

SPACING_TOLERANCE_MM = 0.05
SPACING_TOLERANCE_FRACTION = 0.01
ORIENTATION_TOLERANCE = 1e-3
PIXEL_SPACING_TOLERANCE_MM = 1e-3


@dataclass
class StackGeometry:
    slices: list[Slice]  # sorted
    positions_mm: np.ndarray  # projected on the normal, sorted
    normal: np.ndarray
    slice_spacing_mm: float | None


def stack_geometry(slices: list[Slice], label: str) -> StackGeometry:
    if not slices:
        raise DicomError(f"{label}: no slices")
    for s in slices:
        for attr, name in (
            ("position", "Image Position (Patient)"),
            ("orientation", "Image Orientation (Patient)"),
            ("pixel_spacing", "Pixel Spacing"),
        ):
            if getattr(s, attr) is None:
                where = s.file.name + (f" frame {s.frame + 1}" if s.frame is not None else "")
                raise DicomError(f"{label}: {where} has no valid {name}")
    first = slices[0]
    for s in slices[1:]:
        if (s.rows, s.columns) != (first.rows, first.columns):
            raise DicomError(
                f"{label}: slices differ in size ({first.rows}x{first.columns} and "
                f"{s.rows}x{s.columns} in {s.file.name})"
            )
        if np.max(np.abs(s.orientation - first.orientation)) > ORIENTATION_TOLERANCE:
            raise DicomError(f"{label}: slices differ in orientation ({s.file.name})")
        if np.max(np.abs(s.pixel_spacing - first.pixel_spacing)) > PIXEL_SPACING_TOLERANCE_MM:
            raise DicomError(
                f"{label}: slices differ in pixel spacing ({first.pixel_spacing.tolist()} and "
                f"{s.pixel_spacing.tolist()} mm in {s.file.name})"
            )
    row, col = first.orientation[:3], first.orientation[3:]
    normal = np.cross(row, col)
    norm = np.linalg.norm(normal)
    if norm < 1e-6:
        raise DicomError(f"{label}: Image Orientation (Patient) rows and columns are parallel")
    normal = normal / norm
    proj = np.array([float(np.dot(s.position, normal)) for s in slices])
    order = np.argsort(proj, kind="stable")
    proj = proj[order]
    ordered = [slices[i] for i in order]
    spacing: float | None
    if len(ordered) > 1:
        gaps = np.diff(proj)
        if np.any(gaps < 1e-3):
            k = int(np.argmax(gaps < 1e-3))
            raise DicomError(
                f"{label}: two slices share the position {proj[k]:.2f} mm along the slice "
                f"normal ({ordered[k].file.name}, {ordered[k + 1].file.name}); more than one "
                "acquisition in this series?"
            )
        spacing = float(np.median(gaps))
        tol = max(SPACING_TOLERANCE_MM, SPACING_TOLERANCE_FRACTION * spacing)
        worst = float(np.max(np.abs(gaps - spacing)))
        if worst > tol:
            raise DicomError(
                f"{label}: inconsistent slice spacing: gaps from {gaps.min():.3f} to "
                f"{gaps.max():.3f} mm (median {spacing:.3f} mm, tolerance {tol:.3f} mm); "
                "missing slices or mixed acquisitions?"
            )
        in_plane = np.array([s.position - np.dot(s.position, normal) * normal for s in ordered])
        drift = float(np.max(np.linalg.norm(in_plane - in_plane[0], axis=1)))
        if drift > 0.5 * float(np.min(first.pixel_spacing)):
            raise DicomError(
                f"{label}: slices are not stacked along the slice normal (in-plane shift up to "
                f"{drift:.2f} mm; gantry tilt?); resampling is not supported"
            )
    else:
        spacing = first.spacing_between or first.thickness
    return StackGeometry(slices=ordered, positions_mm=proj, normal=normal, slice_spacing_mm=spacing)


# ---------------------------------------------------------------- listing
