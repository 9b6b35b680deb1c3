"""Lesion regions from an RT Structure Set (RTSTRUCT): every ROI's closed planar contours
filled onto the grid of the CT they were drawn on.

* **Grid.** A contour's plane is the CT slice whose position along the slice normal is
  nearest, within a quarter of the slice spacing (as for a SEG frame); its points must lie
  in that plane (within the same tolerance). Points are mapped to pixel indices with the
  slice's Image Position, the series' orientation and pixel spacing; nothing is resampled.
* **Fill.** A pixel belongs to a contour when its centre lies inside the polygon. The
  contours of one ROI on one slice are combined by the even-odd rule: a contour drawn
  inside another is a hole, one inside a hole is an island again.
* **Checks.** The structure set's frame of reference must be the CT's; the images a
  contour references (Contour Image Sequence) must be slices of the series; every contour
  must lie on a slice and inside the image. Each failed check is named (one line), and the
  ROIs come back empty.
* **ROI kinds.** RT ROI Interpreted Type ``GTV`` (gross tumour volume) is a coded tumour;
  the margin and planning types in ``NOT_LESION_TYPES`` (PTV, CTV, the body outline, ...)
  are never lesions, whatever their name. Other ROIs (``ORGAN``, which many exporters write
  for every ROI, or none) are tumours by the rules for SEG segments: a coded RT ROI
  Identification (neoplasm / mass / lesion) or a name with tumor, tumour, lesion or metast
  (:func:`crlm.ingest.image_folder.is_tumour`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from crlm.ingest.dicom.deid import default_key, remap_uid
from crlm.ingest.dicom.errors import DicomError, GeometryChecks

RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
CONTOUR_DATA = 0x30060050
TUMOUR_TYPES = frozenset({"GTV"})
# ORGAN is not among them: many exporters write it for every ROI, tumours included
NOT_LESION_TYPES = frozenset({"PTV", "CTV", "EXTERNAL", "TREATED_VOLUME", "IRRAD_VOLUME",
                              "AVOIDANCE", "BOLUS", "SUPPORT", "FIXATION", "REGISTRATION",
                              "ISOCENTER", "MARKER", "CONTROL", "DOSE_REGION",
                              "CONTRAST_AGENT", "CAVITY"})


@dataclass(frozen=True)
class Roi:
    """One ROI of a structure set: number, name (free text, never stored as is), RT ROI
    Interpreted Type, an optional coded identification (``CodeValue``, ``CodeMeaning``)
    and its mask on the CT grid. ``label``/``property_*`` name the same things as a SEG
    segment's, so one tumour rule serves both."""

    number: int
    label: str
    interpreted_type: str
    property_code: str
    property_meaning: str
    n_contours: int
    mask: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class RtStructGeometry(GeometryChecks):
    """Whether a structure set lies on its CT: each check is ``None`` when it passes,
    else the reason (one line)."""

    frame_of_reference: str | None
    referenced_images: str | None
    slice_positions: str | None
    in_plane: str | None


def fill_polygons(rows: int, columns: int, polygons) -> np.ndarray:
    """Boolean ``[rows, columns]``: the pixels whose centre lies inside an odd number of
    the polygons (even-odd rule), each given as ``(row, column)`` vertices in pixel units
    with pixel centres at integer indices. A scanline fill: along each row of centres, the
    edges crossed to the left of a centre are counted (an edge holds its lower end, not its
    upper one, so a vertex on a row of centres counts once)."""
    mask = np.zeros((rows, columns), dtype=bool)
    polygons = [pts for pts in (np.asarray(p, float) for p in polygons)
                if pts.ndim == 2 and pts.shape[0] >= 3 and pts.shape[1] == 2]
    if not polygons:
        return mask
    top = max(0, int(np.ceil(min(pts[:, 0].min() for pts in polygons))))
    bottom = min(rows - 1, int(np.floor(max(pts[:, 0].max() for pts in polygons))))
    if bottom < top:
        return mask
    out = np.zeros((bottom - top + 1, columns + 1), dtype=np.int32)
    for pts in polygons:
        y0, x0 = pts[:, 0], pts[:, 1]
        y1, x1 = np.roll(y0, -1), np.roll(x0, -1)
        r_lo = max(0, int(np.ceil(y0.min())))
        r_hi = min(rows - 1, int(np.floor(y0.max())))
        if r_hi < r_lo:
            continue
        r = np.arange(r_lo, r_hi + 1, dtype=float)[:, None]
        crosses = ((y0 <= r) & (r < y1)) | ((y1 <= r) & (r < y0))
        ri, ei = np.nonzero(crosses)
        t = (r[ri, 0] - y0[ei]) / (y1[ei] - y0[ei])
        x = x0[ei] + t * (x1[ei] - x0[ei])
        # the crossing toggles every centre right of it: columns floor(x) + 1 onwards
        first = np.clip(np.floor(x).astype(np.int64) + 1, 0, columns)
        np.add.at(out, (ri + r_lo - top, first), 1)
    mask[top:bottom + 1] = (np.cumsum(out, axis=1)[:, :columns] % 2).astype(bool)
    return mask


def fill_polygon(rows: int, columns: int, polygon_rc: np.ndarray) -> np.ndarray:
    """Boolean ``[rows, columns]``: the pixels whose centre lies inside the polygon given
    as ``(row, column)`` vertices in pixel units (pixel centres at integer indices)."""
    return fill_polygons(rows, columns, [polygon_rc])


def _points(contour: Dataset, where: str) -> np.ndarray:
    try:
        elem = contour.get_item(CONTOUR_DATA)
        raw = getattr(elem, "value", None)
        if isinstance(raw, bytes):  # not converted yet: parse the DS text at once
            text = raw.decode("ascii").strip(" \x00")
            values = [float(v) for v in text.split("\\")] if text else []
        else:  # converted (or set in memory): one number or several
            values = [float(v) for v in (raw if isinstance(raw, (list, tuple, MultiValue))
                                         else [raw])]
    except (AttributeError, KeyError, TypeError, ValueError, UnicodeDecodeError):
        raise DicomError(f"{where}: no readable Contour Data") from None
    if len(values) % 3 or len(values) < 9:
        raise DicomError(f"{where}: Contour Data holds {len(values)} values, not three or "
                         "more (x, y, z) points")
    pts = np.asarray(values).reshape(-1, 3)
    if not np.isfinite(pts).all():
        raise DicomError(f"{where}: Contour Data holds a value that is not a number")
    return pts


def _frame_of_reference(ds: Dataset) -> str:
    for item in ds.get("ReferencedFrameOfReferenceSequence") or []:
        if "FrameOfReferenceUID" in item:
            return str(item.FrameOfReferenceUID)
    for item in ds.get("StructureSetROISequence") or []:
        if "ReferencedFrameOfReferenceUID" in item:
            return str(item.ReferencedFrameOfReferenceUID)
    return str(ds.get("FrameOfReferenceUID", ""))


def _identification(observation: Dataset | None) -> tuple[str, str, str]:
    if observation is None:
        return "", "", ""
    kind = str(observation.get("RTROIInterpretedType", "") or "").strip().upper()
    seq = observation.get("RTROIIdentificationCodeSequence")
    if seq:
        return kind, str(seq[0].get("CodeValue", "")), str(seq[0].get("CodeMeaning", ""))
    return kind, "", ""


def read_rois(ds: Dataset, reference_meta: dict, key: bytes | str | None = None,
              ct_instance_uids: frozenset[str] | None = None
              ) -> tuple[RtStructGeometry, tuple[Roi, ...]]:
    """Every ROI of the structure set ``ds`` as a mask on the grid of ``reference_meta``
    (the ``meta`` of :func:`.reader.read_series`), with the geometry checks; the masks are
    empty when the geometry does not match (nothing is resampled).

    ``ct_instance_uids``: the SOP Instance UIDs of the CT's images (as in the files, or
    de-identified); when given, every referenced image must be one of them.
    Raises :class:`DicomError` when the structure set cannot be read at all.
    """
    key_b = default_key() if key is None else key
    checks: dict[str, str | None] = dict.fromkeys(
        ("frame_of_reference", "referenced_images", "slice_positions", "in_plane"))
    ct_for = str(reference_meta.get("frame_of_reference_uid", ""))
    rt_for = _frame_of_reference(ds)
    if rt_for and ct_for and ct_for not in (rt_for, remap_uid(rt_for, key_b)):
        checks["frame_of_reference"] = ("the RTSTRUCT's frame of reference differs from the "
                                        "CT's")
    rows, cols = int(reference_meta["rows"]), int(reference_meta["columns"])
    orientation = np.asarray(reference_meta["orientation"], float)
    normal = np.asarray(reference_meta["slice_normal"], float)
    row_dir, col_dir = orientation[:3], orientation[3:]
    slice_positions = np.asarray(reference_meta["slice_positions_mm"], float)
    image_positions = np.asarray(reference_meta["image_positions_mm"], float)
    dy, dx = (float(v) for v in reference_meta["pixel_spacing_mm"])
    spacing = float(reference_meta.get("slice_spacing_mm")
                    or reference_meta.get("slice_thickness_mm") or 1.0)
    names = {int(item.ROINumber): str(item.get("ROIName", ""))
             for item in ds.get("StructureSetROISequence") or [] if "ROINumber" in item}
    observations = {int(item.ReferencedROINumber): item
                    for item in ds.get("RTROIObservationsSequence") or []
                    if "ReferencedROINumber" in item}
    known = None if ct_instance_uids is None else (
        set(ct_instance_uids) | {remap_uid(u, key_b) for u in ct_instance_uids})
    unknown_refs, worst_z, off_grid = 0, 0.0, 0
    planned: dict[int, list[tuple[int, np.ndarray]]] = {}
    for roi_item in ds.get("ROIContourSequence") or []:
        try:
            number = int(roi_item.ReferencedROINumber)
        except (AttributeError, TypeError, ValueError):
            raise DicomError("RTSTRUCT: an ROI contour without a Referenced ROI Number"
                             ) from None
        polygons = planned.setdefault(number, [])
        for m, contour in enumerate(roi_item.get("ContourSequence") or [], start=1):
            if str(contour.get("ContourGeometricType", "")).upper() != "CLOSED_PLANAR":
                continue
            pts = _points(contour, f"RTSTRUCT: ROI {number} contour {m}")
            for ref in contour.get("ContourImageSequence") or []:
                uid = str(ref.get("ReferencedSOPInstanceUID", ""))
                if known is not None and uid not in known:
                    unknown_refs += 1
            d = pts @ normal
            k = int(np.argmin(np.abs(slice_positions - float(np.mean(d)))))
            worst_z = max(worst_z, float(np.max(np.abs(d - slice_positions[k]))))
            offset = pts - image_positions[k]
            rc = np.column_stack([offset @ col_dir / dy, offset @ row_dir / dx])
            if (rc.min(0) < -0.5).any() or rc[:, 0].max() > rows - 0.5 \
                    or rc[:, 1].max() > cols - 0.5:
                off_grid += 1
            polygons.append((k, rc))
    if unknown_refs:
        checks["referenced_images"] = (f"{unknown_refs} contour(s) reference an image that "
                                       "is not a slice of the CT series")
    if worst_z > 0.25 * spacing:
        checks["slice_positions"] = (f"contours lie up to {worst_z:.2f} mm from the nearest CT "
                                     f"slice (tolerance {0.25 * spacing:.2f} mm)")
    if off_grid:
        checks["in_plane"] = f"{off_grid} contour(s) reach outside the CT image"
    geometry = RtStructGeometry(**checks)
    rois = []
    for number in sorted(set(names) | set(planned)):
        mask = np.zeros((len(slice_positions), rows, cols), dtype=bool)
        if geometry.matches:
            by_slice: dict[int, list[np.ndarray]] = {}
            for k, rc in planned.get(number, []):
                by_slice.setdefault(k, []).append(rc)
            for k, polygons in by_slice.items():  # even-odd over the slice: holes cancel
                mask[k] = fill_polygons(rows, cols, polygons)
        kind, code, meaning = _identification(observations.get(number))
        rois.append(Roi(number, names.get(number, ""), kind, code, meaning,
                        len(planned.get(number, [])), mask))
    return geometry, tuple(rois)
