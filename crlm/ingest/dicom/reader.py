"""Read CT series from a folder, a zip or a single file into a HU volume.

Conventions
-----------
* Only CT Image Storage (``1.2.840.10008.5.1.4.1.1.2``) and Enhanced CT Image
  Storage (``1.2.840.10008.5.1.4.1.1.2.1``, each frame one slice) are read; other
  objects (MR, SEG, SR, ...) are listed but skipped.
* Slices are ordered by their Image Position (Patient) projected on the slice
  normal ``n = row × column`` of Image Orientation (Patient). Index 0 of the
  volume is the smallest projection; for standard axial images (orientation
  ``1,0,0,0,1,0``) that is the most inferior (caudal) slice.
* The volume is ``[z, y, x]`` = ``[slice, row, column]``, float32 HU =
  stored value × Rescale Slope + Rescale Intercept, per slice.
* Slice spacing is the median gap between consecutive projected positions. The
  gaps are consistent when each differs from the median by at most
  ``max(SPACING_TOLERANCE_MM, SPACING_TOLERANCE_FRACTION × median)``; otherwise
  (missing slices, two acquisitions in one series) the series is refused.
* Slices must share rows, columns, orientation (within 1e-3) and pixel spacing
  (within 1e-3 mm), and must be stacked along the normal (in-plane drift of the
  position at most half a pixel: gantry-tilted series are refused).
* UIDs in the returned metadata are de-identified (see :mod:`.deid`); files that
  already say Patient Identity Removed = YES keep their UIDs, so a series read
  before and after :func:`.deid.deidentify` with the same key has the same UID.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
from pydicom.dataset import Dataset

from crlm.ingest.dicom.ct_files import (
    CT_IMAGE_STORAGE,
    CT_SOP_CLASSES,
    ENHANCED_CT_IMAGE_STORAGE,
    SEGMENTATION_STORAGE,
    DicomFile,
    Slice,
    element_text,
    float_array,
    float_or_none,
    functional_group,
    parse_all,
    slices_of,
    sop_name,
)
from crlm.ingest.dicom.deid import default_key, remap_uid
from crlm.ingest.dicom.errors import DicomError
from crlm.ingest.dicom.geometry import (
    ORIENTATION_TOLERANCE,
    PIXEL_SPACING_TOLERANCE_MM,
    SPACING_TOLERANCE_FRACTION,
    SPACING_TOLERANCE_MM,
    stack_geometry,
)
from crlm.ingest.dicom.sources import (
    DEFAULT_LIMITS,
    Source,
    ZipLimits,
    collect_members,
    describe_source,
)

__all__ = [
    "CT_IMAGE_STORAGE", "CT_SOP_CLASSES", "ENHANCED_CT_IMAGE_STORAGE", "ORIENTATION_TOLERANCE",
    "PIXEL_SPACING_TOLERANCE_MM", "SEGMENTATION_STORAGE", "SPACING_TOLERANCE_FRACTION",
    "SPACING_TOLERANCE_MM", "SeriesInfo", "inspect", "list_series", "read_series",
]

_MAX_LISTED = 12


@dataclass(frozen=True)
class SeriesInfo:
    """One series found in an upload, before its pixels are decoded.

    ``series_uid`` is the de-identified Series Instance UID; :func:`read_series`
    accepts it (or the original). ``series_description`` is the scanner's free
    text, shown to help pick a series; it is not de-identified and must not be
    stored. ``problems`` lists why the series cannot be read (empty when it can).
    The entry with ``series_uid == ""`` collects files that are not readable
    DICOM objects.
    """

    series_uid: str
    modality: str = ""
    sop_class: str = ""
    series_number: int | None = None
    series_description: str = ""
    n_files: int = 0
    n_slices: int = 0
    rows: int | None = None
    columns: int | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    slice_thickness_mm: float | None = None
    slice_spacing_mm: float | None = None
    manufacturer: str = ""
    convolution_kernel: str = ""
    transfer_syntax: str = ""
    is_ct: bool = False
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def readable(self) -> bool:
        return self.is_ct and not self.problems

    def to_dict(self) -> dict:
        out = asdict(self)
        out["readable"] = self.readable
        return out


# ---------------------------------------------------------------- listing


def _series_info(uid: str, files: list[DicomFile], key: bytes) -> SeriesInfo:
    ds = files[0].ds
    sop_classes = sorted({str(f.ds.get("SOPClassUID", "")) for f in files})
    is_ct = all(c in CT_SOP_CLASSES for c in sop_classes)
    problems: list[str] = []
    if len(sop_classes) > 1:
        problems.append("mixed SOP classes: " + ", ".join(sop_name(c) for c in sop_classes))
    if not is_ct:
        problems.append(
            f"not CT: {', '.join(sop_name(c) for c in sop_classes)} (modality "
            f"{element_text(ds, 'Modality') or 'unknown'})"
        )
    for f in files:
        if f.problem:
            problems.append(f"{f.name}: {f.problem}")
        if str(f.ds.get("BurnedInAnnotation", "")).upper() == "YES":
            problems.append(f"{f.name}: Burned In Annotation = YES (text in the pixels)")
    n_slices = 0
    spacing = None
    if is_ct and not problems:
        try:
            slices = [s for f in files for s in slices_of(f)]
            n_slices = len(slices)
            spacing = stack_geometry(slices, "series").slice_spacing_mm
        except DicomError as exc:
            problems.append(str(exc).removeprefix("series: "))
    ps = float_array(ds.get("PixelSpacing"), 2)
    if ps is None and str(ds.get("SOPClassUID", "")) == ENHANCED_CT_IMAGE_STORAGE:
        meas = functional_group(ds, 0, "PixelMeasuresSequence")
        ps = float_array(meas.get("PixelSpacing") if meas else None, 2)
    thickness = float_or_none(ds.get("SliceThickness"))
    series_number = ds.get("SeriesNumber")
    try:
        series_number = int(series_number) if series_number not in (None, "") else None
    except (TypeError, ValueError):
        series_number = None
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "")
    return SeriesInfo(
        series_uid=_public_uid(uid, files, key),
        modality=element_text(ds, "Modality"),
        sop_class=", ".join(sop_name(c) for c in sop_classes),
        series_number=series_number,
        series_description=element_text(ds, "SeriesDescription"),
        n_files=len(files),
        n_slices=n_slices,
        rows=int(ds.Rows) if "Rows" in ds else None,
        columns=int(ds.Columns) if "Columns" in ds else None,
        pixel_spacing_mm=None if ps is None else (float(ps[0]), float(ps[1])),
        slice_thickness_mm=thickness,
        slice_spacing_mm=spacing,
        manufacturer=element_text(ds, "Manufacturer"),
        convolution_kernel=element_text(ds, "ConvolutionKernel"),
        transfer_syntax=sop_name(str(ts)) if ts else "",
        is_ct=is_ct,
        problems=tuple(problems),
    )


def _already_deidentified(ds: Dataset) -> bool:
    return str(ds.get("PatientIdentityRemoved", "")).upper() == "YES"


def _public_uid(uid: str, files: list[DicomFile], key: bytes) -> str:
    """The UID shown outside: kept when the files are already de-identified, else remapped."""
    if files and all(_already_deidentified(f.ds) for f in files):
        return uid
    return remap_uid(uid, key)


def _key(key: bytes | str | None) -> bytes:
    if key is None:
        return default_key()
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def list_series(
    path: Source, key: bytes | str | None = None, limits: ZipLimits = DEFAULT_LIMITS
) -> list[SeriesInfo]:
    """The series in a folder, zip (path, bytes or file-like) or file, CT first.

    Files that are not readable DICOM objects are not listed (see :func:`inspect`).
    ``key`` de-identifies the listed UIDs (default: :func:`.deid.default_key`).
    """
    return [s for s in inspect(path, key=key, limits=limits) if s.series_uid]


def inspect(
    path: Source, key: bytes | str | None = None, limits: ZipLimits = DEFAULT_LIMITS
) -> list[SeriesInfo]:
    """Every series with the problems that would stop :func:`read_series`.

    A last entry with ``series_uid == ""`` lists files that are not readable DICOM.
    Unsafe or empty archives raise :class:`DicomError`.
    """
    key_b = _key(key)
    members = collect_members(path, limits)
    series, unreadable = parse_all(members)
    infos = [_series_info(uid, files, key_b) for uid, files in series.items()]
    infos.sort(key=lambda s: (not s.is_ct, s.series_number or 0, s.series_uid))
    if unreadable:
        infos.append(
            SeriesInfo(series_uid="", n_files=len(unreadable), problems=tuple(unreadable))
        )
    return infos


# ---------------------------------------------------------------- reading


def _decode(slices: list[Slice], label: str) -> np.ndarray:
    cache: dict[int, np.ndarray] = {}
    first = slices[0]
    out = np.empty((len(slices), first.rows, first.columns), dtype=np.float32)
    for k, s in enumerate(slices):
        ident = id(s.file)
        arr = cache.get(ident)
        if arr is None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    arr = s.file.ds.pixel_array
            except Exception as exc:
                raise DicomError(
                    f"{label}: cannot decode the pixels of {s.file.name} "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
            if s.frame is not None:
                cache[ident] = arr
        plane = arr[s.frame] if (s.frame is not None and arr.ndim == 3) else arr
        if plane.shape != (first.rows, first.columns):
            raise DicomError(f"{label}: {s.file.name} pixel array has shape {plane.shape}")
        if s.slope == 1.0:
            np.add(plane, s.intercept, out=out[k], casting="unsafe")
        else:
            np.multiply(plane, s.slope, out=out[k], casting="unsafe")
            out[k] += s.intercept
    return out


def _pick(
    series: dict[str, list[DicomFile]], unreadable: list[str], series_uid: str | None,
    key: bytes, label: str,
) -> tuple[str, list[DicomFile]]:
    if series_uid is not None:
        wanted = str(series_uid).strip()
        for uid, files in series.items():
            if wanted in (uid, _public_uid(uid, files, key)):
                return uid, files
        raise DicomError(
            f"{label}: no series with UID {wanted}; found: "
            + (", ".join(_public_uid(u, f, key) for u, f in series.items()) or "none")
        )
    ct = {
        uid: files
        for uid, files in series.items()
        if all(str(f.ds.get("SOPClassUID", "")) in CT_SOP_CLASSES for f in files)
    }
    if len(ct) == 1:
        return next(iter(ct.items()))
    if len(ct) > 1:
        lines = []
        for uid, files in ct.items():
            info = _series_info(uid, files, key)
            lines.append(
                f"{info.series_uid} (series {info.series_number}, {info.n_files} files, "
                f"{info.slice_thickness_mm} mm)"
            )
        raise DicomError(
            f"{label}: {len(ct)} CT series found; choose one with series_uid "
            "(see list_series): " + "; ".join(lines)
        )
    found: list[str] = []
    for uid, files in series.items():
        if len(series) == 1 and len(files) == 1 and files[0].problem:
            raise DicomError(f"{files[0].name}: {files[0].problem}")
        info = _series_info(uid, files, key)
        found.append(f"{info.sop_class or 'unknown SOP class'} series ({info.n_files} files, "
                     f"modality {info.modality or 'unknown'}): not CT")
    if not series and len(unreadable) == 1:
        raise DicomError(f"{label}: {unreadable[0].split(': ', 1)[-1]}")
    found.extend(unreadable)
    if not found:
        raise DicomError(f"{label}: no DICOM files found")
    listed = "; ".join(found[:_MAX_LISTED]) + (
        f"; ... {len(found) - _MAX_LISTED} more" if len(found) > _MAX_LISTED else ""
    )
    raise DicomError(f"{label}: no CT image series found. Found: {listed}")


def read_series(
    path: Source,
    series_uid: str | None = None,
    key: bytes | str | None = None,
    limits: ZipLimits = DEFAULT_LIMITS,
) -> tuple[np.ndarray, dict]:
    """Read one CT series as ``(hu_volume[z, y, x] float32, meta)``.

    ``path``: folder, zip (path, bytes or binary file-like) or a single file.
    ``series_uid``: original or de-identified Series Instance UID; required when
    the input holds more than one CT series. See the module doc for ordering,
    tolerances and units. ``meta`` holds only de-identified, JSON-friendly values.
    """
    label = describe_source(path)
    key_b = _key(key)
    members = collect_members(path, limits)
    series, unreadable = parse_all(members)
    uid, files = _pick(series, unreadable, series_uid, key_b, label)
    public = _public_uid(uid, files, key_b)
    series_label = f"{label}: series {public}"
    sop_classes = {str(f.ds.get("SOPClassUID", "")) for f in files}
    if not sop_classes <= CT_SOP_CLASSES:
        names = ", ".join(sorted(sop_name(c) for c in sop_classes))
        raise DicomError(f"{series_label}: not a CT image series ({names})")
    for f in files:
        if f.problem:
            raise DicomError(f"{series_label}: {f.name}: {f.problem}")
    slices = [s for f in files for s in slices_of(f)]
    geo = stack_geometry(slices, series_label)
    volume = _decode(geo.slices, series_label)
    first = geo.slices[0]
    ds = first.file.ds
    ts = str(getattr(ds.file_meta, "TransferSyntaxUID", ""))
    slopes = {s.slope for s in geo.slices}
    intercepts = {s.intercept for s in geo.slices}
    ps = first.pixel_spacing
    spacing_z = geo.slice_spacing_mm
    meta = {
        "series_uid": public,
        "study_uid": _public_uid(str(ds.get("StudyInstanceUID", "")), files, key_b),
        "frame_of_reference_uid": _public_uid(str(ds.get("FrameOfReferenceUID", "")), files, key_b),
        "modality": element_text(ds, "Modality"),
        "sop_class": sop_name(str(ds.SOPClassUID)),
        "transfer_syntax": sop_name(ts),
        "manufacturer": element_text(ds, "Manufacturer"),
        "manufacturer_model": element_text(ds, "ManufacturerModelName"),
        "convolution_kernel": element_text(ds, "ConvolutionKernel"),
        "kvp": float_or_none(ds.get("KVP")),
        "contrast_agent": element_text(ds, "ContrastBolusAgent"),
        "n_slices": int(volume.shape[0]),
        "rows": int(volume.shape[1]),
        "columns": int(volume.shape[2]),
        "pixel_spacing_mm": [float(ps[0]), float(ps[1])],
        "slice_thickness_mm": first.thickness,
        "slice_spacing_mm": spacing_z,
        "spacing_mm": [
            float(spacing_z if spacing_z is not None else (first.thickness or float("nan"))),
            float(ps[0]),
            float(ps[1]),
        ],
        "orientation": [float(v) for v in first.orientation],
        "slice_normal": [float(v) for v in geo.normal],
        "origin_mm": [float(v) for v in first.position],
        "image_positions_mm": [[float(v) for v in s.position] for s in geo.slices],
        "slice_positions_mm": [float(v) for v in geo.positions_mm],
        "rescale_slope": float(first.slope) if len(slopes) == 1 else "per-slice",
        "rescale_intercept": float(first.intercept) if len(intercepts) == 1 else "per-slice",
        "spacing_tolerance_mm": (
            max(SPACING_TOLERANCE_MM, SPACING_TOLERANCE_FRACTION * spacing_z)
            if spacing_z else SPACING_TOLERANCE_MM
        ),
        "slice_order": "ascending position along the slice normal (row x column)",
        "hu": "stored value x RescaleSlope + RescaleIntercept",
        "deidentified": True,
    }
    return volume, meta
