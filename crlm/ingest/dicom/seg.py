"""Lesion regions: from a DICOM SEG, or drawn by the user (a disc or a box).

No automatic segmentation is done anywhere in this package.

A SEG frame is mapped to the CT slice whose projected position along the slice
normal is nearest, within a quarter of the slice spacing; its in-plane origin
must match the slice's within half a pixel and its orientation, rows, columns
and pixel spacing must equal the CT's (resampling is not supported).
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from crlm.ingest.dicom.deid import default_key, remap_uid
from crlm.ingest.dicom.errors import DicomError
from crlm.ingest.dicom.reader import SEGMENTATION_STORAGE, _functional_group
from crlm.ingest.dicom.sources import collect_members, describe_source


def _find_segs(source: Any) -> list[tuple[str, Dataset]]:
    if isinstance(source, Dataset):
        return [("dataset", source)]
    found = []
    for member in collect_members(source):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with member.open() as fh:
                    ds = pydicom.dcmread(fh, force=False)
        except Exception:
            continue
        if str(ds.get("SOPClassUID", "")) == SEGMENTATION_STORAGE:
            found.append((member.name, ds))
    return found


def _referenced_series(ds: Dataset) -> set[str]:
    out = set()
    for item in ds.get("ReferencedSeriesSequence", []) or []:
        if "SeriesInstanceUID" in item:
            out.add(str(item.SeriesInstanceUID))
    return out


def read_seg(
    path_or_dataset: Any,
    reference_meta: dict,
    segment_number: int | None = None,
    key: bytes | str | None = None,
) -> np.ndarray:
    """A boolean lesion mask ``[z, y, x]`` on the grid of ``reference_meta``.

    ``path_or_dataset``: a SEG file, a folder or zip holding one (the CT may be
    beside it), bytes or a file-like upload, or a pydicom Dataset.
    ``reference_meta``: the ``meta`` returned by :func:`read_series`.
    ``segment_number``: keep only that segment (default: union of all segments).
    Binary SEGs are read as is; fractional ones are thresholded at half the
    maximum fractional value.
    """
    label = "dataset" if isinstance(path_or_dataset, Dataset) else describe_source(path_or_dataset)
    segs = _find_segs(path_or_dataset)
    if not segs:
        raise DicomError(f"{label}: no DICOM SEG (Segmentation Storage) object found")
    if len(segs) > 1:
        key_b = default_key() if key is None else key
        wanted = reference_meta.get("series_uid")
        matching = [
            (n, d) for n, d in segs
            if wanted in {remap_uid(u, key_b) for u in _referenced_series(d)} | _referenced_series(d)
        ]
        if len(matching) != 1:
            raise DicomError(
                f"{label}: {len(segs)} SEG objects found and {len(matching)} of them reference "
                "the chosen series; upload one SEG"
            )
        segs = matching
    name, ds = segs[0]
    where = f"{label}: {name}" if name not in label else label
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise DicomError(f"{where}: SEG without Rows/Columns/Number of Frames") from exc
    if (rows, cols) != (int(reference_meta["rows"]), int(reference_meta["columns"])):
        raise DicomError(
            f"{where}: SEG frames are {rows}x{cols}, the CT is "
            f"{reference_meta['rows']}x{reference_meta['columns']} (resampling not supported)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frames = ds.pixel_array
    except Exception as exc:
        raise DicomError(f"{where}: cannot decode the SEG pixels ({exc})") from exc
    frames = frames.reshape(n_frames, rows, cols)
    seg_type = str(ds.get("SegmentationType", "BINARY")).upper()
    if seg_type == "FRACTIONAL":
        threshold = float(ds.get("MaximumFractionalValue", 255)) / 2.0
        frames = frames >= threshold
    else:
        frames = frames > 0
    orientation = np.asarray(reference_meta["orientation"], float)
    normal = np.asarray(reference_meta["slice_normal"], float)
    row_dir, col_dir = orientation[:3], orientation[3:]
    slice_positions = np.asarray(reference_meta["slice_positions_mm"], float)
    image_positions = np.asarray(reference_meta["image_positions_mm"], float)
    pixel_spacing = np.asarray(reference_meta["pixel_spacing_mm"], float)
    spacing = reference_meta.get("slice_spacing_mm") or reference_meta.get("slice_thickness_mm") or 1.0
    mask = np.zeros((len(slice_positions), rows, cols), dtype=bool)
    for i in range(n_frames):
        per = _functional_group(ds, i, "SegmentIdentificationSequence")
        seg_no = int(per.ReferencedSegmentNumber) if per is not None else 1
        if segment_number is not None and seg_no != segment_number:
            continue
        pos_item = _functional_group(ds, i, "PlanePositionSequence")
        ori_item = _functional_group(ds, i, "PlaneOrientationSequence")
        meas = _functional_group(ds, i, "PixelMeasuresSequence")
        if pos_item is None or "ImagePositionPatient" not in pos_item:
            raise DicomError(f"{where}: frame {i + 1} has no plane position")
        position = np.asarray([float(v) for v in pos_item.ImagePositionPatient])
        if ori_item is not None and "ImageOrientationPatient" in ori_item:
            frame_ori = np.asarray([float(v) for v in ori_item.ImageOrientationPatient])
            if np.max(np.abs(frame_ori - orientation)) > 1e-3:
                raise DicomError(f"{where}: SEG orientation differs from the CT's")
        if meas is not None and "PixelSpacing" in meas:
            frame_ps = np.asarray([float(v) for v in meas.PixelSpacing])
            if np.max(np.abs(frame_ps - pixel_spacing)) > 1e-3:
                raise DicomError(
                    f"{where}: SEG pixel spacing {frame_ps.tolist()} differs from the CT's "
                    f"{pixel_spacing.tolist()} mm"
                )
        d = float(np.dot(position, normal))
        k = int(np.argmin(np.abs(slice_positions - d)))
        if abs(slice_positions[k] - d) > 0.25 * float(spacing):
            raise DicomError(
                f"{where}: SEG frame {i + 1} at {d:.2f} mm along the normal matches no CT slice"
            )
        offset = position - image_positions[k]
        shift = np.array([np.dot(offset, row_dir), np.dot(offset, col_dir)])
        if np.any(np.abs(shift) > 0.5 * pixel_spacing.min()):
            raise DicomError(
                f"{where}: SEG frame {i + 1} is shifted in-plane by {shift.round(2).tolist()} mm "
                "from the CT grid (resampling not supported)"
            )
        mask[k] |= frames[i]
    if not mask.any():
        raise DicomError(f"{where}: the SEG holds no lesion pixels"
                         + (f" for segment {segment_number}" if segment_number else ""))
    return mask


def region_mask(
    shape: Sequence[int],
    slice_index: int,
    centre_yx: Sequence[float] | None = None,
    radius_px: float | None = None,
    box: Sequence[int] | None = None,
    half_depth_slices: int = 0,
) -> np.ndarray:
    """A user-drawn lesion region as a boolean mask ``[z, y, x]``.

    Either a disc (``centre_yx`` = (row, column) in pixels, ``radius_px``) or a
    box (``box`` = (row0, column0, row1, column1), end-exclusive), drawn on
    ``slice_index`` and copied to ``half_depth_slices`` slices on each side.
    """
    if len(shape) != 3:
        raise ValueError(f"shape must be (z, y, x), got {tuple(shape)}")
    nz, ny, nx = (int(v) for v in shape)
    if not 0 <= int(slice_index) < nz:
        raise ValueError(f"slice_index {slice_index} is outside 0..{nz - 1}")
    if half_depth_slices < 0:
        raise ValueError("half_depth_slices must be >= 0")
    plane = np.zeros((ny, nx), dtype=bool)
    if box is not None:
        if len(box) != 4:
            raise ValueError("box must be (row0, column0, row1, column1)")
        r0, c0, r1, c1 = (int(v) for v in box)
        r0, r1 = max(0, min(r0, r1)), min(ny, max(r0, r1))
        c0, c1 = max(0, min(c0, c1)), min(nx, max(c0, c1))
        plane[r0:r1, c0:c1] = True
    else:
        if centre_yx is None or radius_px is None:
            raise ValueError("give centre_yx and radius_px for a disc, or box")
        if radius_px <= 0:
            raise ValueError(f"radius_px must be positive, got {radius_px}")
        cy, cx = (float(v) for v in centre_yx)
        yy, xx = np.ogrid[:ny, :nx]
        plane = (yy - cy) ** 2 + (xx - cx) ** 2 <= float(radius_px) ** 2
    if not plane.any():
        raise ValueError("the region lies outside the image")
    mask = np.zeros((nz, ny, nx), dtype=bool)
    z0 = max(0, int(slice_index) - half_depth_slices)
    z1 = min(nz, int(slice_index) + half_depth_slices + 1)
    mask[z0:z1] = plane
    return mask
