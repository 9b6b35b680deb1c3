"""Lesion regions: from a DICOM SEG, or drawn by the user (a disc or a box).

No automatic segmentation is done anywhere in this package.

A SEG frame is mapped to the CT slice whose projected position along the slice
normal is nearest, within a quarter of the slice spacing; its in-plane origin
must match the slice's within half a pixel and its orientation, rows, columns
and pixel spacing must equal the CT's (resampling is not supported).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from pydicom.dataset import Dataset

from crlm.ingest.dicom.deid import default_key, remap_uid
from crlm.ingest.dicom.errors import DicomError, GeometryChecks, NoSegError
from crlm.ingest.dicom.ct_files import SEGMENTATION_STORAGE, functional_group, read_dataset
from crlm.ingest.dicom.sources import collect_members, describe_source


def _find_segs(source: Any) -> list[tuple[str, Dataset]]:
    if isinstance(source, Dataset):
        return [("dataset", source)]
    found = []
    for member in collect_members(source):
        try:
            ds = read_dataset(member)
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
        raise NoSegError(f"{label}: no DICOM SEG (Segmentation Storage) object found")
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
        per = functional_group(ds, i, "SegmentIdentificationSequence")
        seg_no = int(per.ReferencedSegmentNumber) if per is not None else 1
        if segment_number is not None and seg_no != segment_number:
            continue
        pos_item = functional_group(ds, i, "PlanePositionSequence")
        ori_item = functional_group(ds, i, "PlaneOrientationSequence")
        meas = functional_group(ds, i, "PixelMeasuresSequence")
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


# ---------------------------------------------------------------- every segment of a SEG


@dataclass(frozen=True)
class Segment:
    """One segment of a SEG: number, label (free text, never stored as is), coded category
    and property type (``CodeValue`` and ``CodeMeaning``), and its mask on the CT grid."""

    number: int
    label: str
    category_code: str
    category_meaning: str
    property_code: str
    property_meaning: str
    mask: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class SegGeometry(GeometryChecks):
    """Whether a SEG lies on its CT's grid: each check is ``None`` when it passes, else
    the reason (one line)."""

    frame_of_reference: str | None
    size: str | None
    orientation: str | None
    pixel_spacing: str | None
    slice_positions: str | None
    in_plane: str | None


def _code(item: Dataset, keyword: str) -> tuple[str, str]:
    seq = item.get(keyword)
    if not seq:
        return "", ""
    return str(seq[0].get("CodeValue", "")), str(seq[0].get("CodeMeaning", ""))


def read_segments(ds: Dataset, reference_meta: dict, key: bytes | str | None = None
                  ) -> tuple[SegGeometry, tuple[Segment, ...]]:
    """Every segment of the SEG ``ds`` as a mask on the grid of ``reference_meta`` (the
    ``meta`` of :func:`.reader.read_series`), with the geometry checks; the segments are
    empty when the geometry does not match (nothing is resampled)."""
    key_b = default_key() if key is None else key
    ct_for = str(reference_meta.get("frame_of_reference_uid", ""))
    seg_for = str(ds.get("FrameOfReferenceUID", ""))
    checks: dict[str, str | None] = dict.fromkeys(
        ("frame_of_reference", "size", "orientation", "pixel_spacing", "slice_positions",
         "in_plane"))
    if seg_for and ct_for and ct_for not in (seg_for, remap_uid(seg_for, key_b)):
        checks["frame_of_reference"] = "the SEG's frame of reference differs from the CT's"
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        raise DicomError("SEG without Rows/Columns/Number of Frames") from None
    if (rows, cols) != (int(reference_meta["rows"]), int(reference_meta["columns"])):
        checks["size"] = (f"SEG frames are {rows}x{cols}, the CT is "
                          f"{reference_meta['rows']}x{reference_meta['columns']}")
        return SegGeometry(**checks), ()
    orientation = np.asarray(reference_meta["orientation"], float)
    normal = np.asarray(reference_meta["slice_normal"], float)
    row_dir, col_dir = orientation[:3], orientation[3:]
    slice_positions = np.asarray(reference_meta["slice_positions_mm"], float)
    image_positions = np.asarray(reference_meta["image_positions_mm"], float)
    pixel_spacing = np.asarray(reference_meta["pixel_spacing_mm"], float)
    spacing = float(reference_meta.get("slice_spacing_mm")
                    or reference_meta.get("slice_thickness_mm") or 1.0)
    targets = np.empty(n_frames, dtype=int)
    numbers = np.empty(n_frames, dtype=int)
    worst_z, worst_xy = 0.0, 0.0
    per_frame = list(ds.get("PerFrameFunctionalGroupsSequence") or [])
    shared = (ds.get("SharedFunctionalGroupsSequence") or [None])[0]

    def group(i: int, name: str):  # the frame's functional group, else the shared one
        for holder in ((per_frame[i] if i < len(per_frame) else None), shared):
            if holder is not None and name in holder:
                seq = holder[name].value
                if seq:
                    return seq[0]
        return None

    for i in range(n_frames):
        per = group(i, "SegmentIdentificationSequence")
        numbers[i] = int(per.ReferencedSegmentNumber) if per is not None else 1
        pos_item = group(i, "PlanePositionSequence")
        ori_item = group(i, "PlaneOrientationSequence")
        meas = group(i, "PixelMeasuresSequence")
        if pos_item is None or "ImagePositionPatient" not in pos_item:
            checks["slice_positions"] = f"SEG frame {i + 1} has no plane position"
            break
        if checks["orientation"] is None and ori_item is not None \
                and "ImageOrientationPatient" in ori_item:
            frame_ori = np.asarray([float(v) for v in ori_item.ImageOrientationPatient])
            if np.max(np.abs(frame_ori - orientation)) > 1e-3:
                checks["orientation"] = "the SEG's orientation differs from the CT's"
        if checks["pixel_spacing"] is None and meas is not None and "PixelSpacing" in meas:
            frame_ps = np.asarray([float(v) for v in meas.PixelSpacing])
            if np.max(np.abs(frame_ps - pixel_spacing)) > 1e-3:
                checks["pixel_spacing"] = (f"SEG pixel spacing {frame_ps.tolist()} mm differs "
                                           f"from the CT's {pixel_spacing.tolist()} mm")
        position = np.asarray([float(v) for v in pos_item.ImagePositionPatient])
        d = float(np.dot(position, normal))
        k = int(np.argmin(np.abs(slice_positions - d)))
        worst_z = max(worst_z, abs(slice_positions[k] - d))
        offset = position - image_positions[k]
        shift = np.abs([np.dot(offset, row_dir), np.dot(offset, col_dir)])
        worst_xy = max(worst_xy, float(shift.max()))
        targets[i] = k
    if checks["slice_positions"] is None and worst_z > 0.25 * spacing:
        checks["slice_positions"] = (f"SEG frames lie up to {worst_z:.2f} mm from the nearest "
                                     f"CT slice (tolerance {0.25 * spacing:.2f} mm)")
    if worst_xy > 0.5 * float(pixel_spacing.min()):
        checks["in_plane"] = f"SEG frames are shifted in-plane by up to {worst_xy:.2f} mm"
    geometry = SegGeometry(**checks)
    if not geometry.matches:
        return geometry, ()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frames = ds.pixel_array
    except Exception as exc:  # pydicom raises many types on damaged pixel data
        raise DicomError(f"cannot decode the SEG pixels ({type(exc).__name__}: {exc})") from None
    frames = frames.reshape(n_frames, rows, cols)
    if str(ds.get("SegmentationType", "BINARY")).upper() == "FRACTIONAL":
        frames = frames >= float(ds.get("MaximumFractionalValue", 255)) / 2.0
    else:
        frames = frames > 0
    segments = []
    for item in ds.get("SegmentSequence", []) or []:
        number = int(item.SegmentNumber)
        mask = np.zeros((len(slice_positions), rows, cols), dtype=bool)
        for i in np.flatnonzero(numbers == number):
            mask[targets[i]] |= frames[i]
        category = _code(item, "SegmentedPropertyCategoryCodeSequence")
        prop = _code(item, "SegmentedPropertyTypeCodeSequence")
        segments.append(Segment(number, str(item.get("SegmentLabel", "")), category[0],
                                category[1], prop[0], prop[1], mask))
    return geometry, tuple(segments)
