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
from typing import Any, Iterable

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from crlm.ingest.dicom.deid import default_key, remap_uid
from crlm.ingest.dicom.errors import DicomError
from crlm.ingest.dicom.sources import (
    DEFAULT_LIMITS,
    Member,
    Source,
    ZipLimits,
    collect_members,
    describe_source,
)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
CT_SOP_CLASSES = frozenset({CT_IMAGE_STORAGE, ENHANCED_CT_IMAGE_STORAGE})

SPACING_TOLERANCE_MM = 0.05
SPACING_TOLERANCE_FRACTION = 0.01
ORIENTATION_TOLERANCE = 1e-3
PIXEL_SPACING_TOLERANCE_MM = 1e-3

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


@dataclass
class _File:
    name: str
    ds: Dataset
    problem: str | None


@dataclass
class _Slice:
    file: _File
    frame: int | None
    position: np.ndarray
    orientation: np.ndarray
    pixel_spacing: np.ndarray
    thickness: float | None
    spacing_between: float | None
    slope: float
    intercept: float
    rows: int
    columns: int


# ---------------------------------------------------------------- parsing files


def _expected_pixel_bytes(ds: Dataset) -> int | None:
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        bits = int(ds.BitsAllocated)
        spp = int(ds.get("SamplesPerPixel", 1))
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        return None
    n = rows * cols * spp * frames
    if bits == 1:
        return (n + 7) // 8
    return n * (bits // 8)


def _file_problem(ds: Dataset) -> str | None:
    """Why a parsed DICOM file cannot give pixels (None when it can, or has no image)."""
    if "SOPClassUID" not in ds:
        return "no SOP Class UID (not a DICOM storage object)"
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is None:
        return "no Transfer Syntax UID in the file meta information"
    ts = UID(ts)
    has_pixels = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    if str(ds.SOPClassUID) in CT_SOP_CLASSES and not has_pixels:
        return "truncated: the file ends before its pixel data"
    if "Rows" not in ds:
        return None
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        return "truncated: the file ends before its pixel data"
    if not ts.is_compressed:
        expected = _expected_pixel_bytes(ds)
        have = len(ds.PixelData) if "PixelData" in ds else None
        if expected is not None and have is not None and have < expected:
            return f"truncated: pixel data has {have} of {expected} bytes"
        return None
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        return f"compressed with an unsupported transfer syntax ({ts.name}, {ts})"
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
        return (
            f"compressed with {ts.name} ({ts}) and no decoder for it is installed "
            f"(needs one of: {missing})"
        )
    return None


def _parse(member: Member) -> tuple[_File | None, str | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with member.open() as fh:
                ds = pydicom.dcmread(fh, force=False)
    except InvalidDicomError:
        return None, "not a DICOM file (no 'DICM' marker after the 128-byte preamble)"
    except (EOFError, OSError) as exc:
        return None, f"truncated or unreadable DICOM ({exc})"
    except Exception as exc:  # pydicom raises many types on damaged input
        return None, f"corrupt DICOM ({type(exc).__name__}: {exc})"
    try:
        problem = _file_problem(ds)
    except Exception as exc:
        problem = f"corrupt DICOM ({type(exc).__name__}: {exc})"
    return _File(member.name, ds, problem), None


def _parse_all(members: Iterable[Member]) -> tuple[dict[str, list[_File]], list[str]]:
    series: dict[str, list[_File]] = {}
    unreadable: list[str] = []
    for member in members:
        parsed, problem = _parse(member)
        if parsed is None:
            unreadable.append(f"{member.name}: {problem}")
            continue
        uid = str(parsed.ds.get("SeriesInstanceUID", "") or "")
        if not uid:
            unreadable.append(f"{member.name}: {parsed.problem or 'no Series Instance UID'}")
            continue
        series.setdefault(uid, []).append(parsed)
    return series, unreadable


# ---------------------------------------------------------------- geometry


def _floats(value: Any, n: int) -> np.ndarray | None:
    if value is None:
        return None
    try:
        arr = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.size == n else None


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _functional_group(ds: Dataset, frame: int, name: str) -> Dataset | None:
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and frame < len(per_frame) and name in per_frame[frame]:
        seq = getattr(per_frame[frame], name)
        if seq:
            return seq[0]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared is not None and len(shared) and name in shared[0]:
        seq = getattr(shared[0], name)
        if seq:
            return seq[0]
    return None


def _slices_of(file: _File) -> list[_Slice]:
    ds = file.ds
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if str(ds.SOPClassUID) == ENHANCED_CT_IMAGE_STORAGE:
        out = []
        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
        for i in range(n_frames):
            pos = _functional_group(ds, i, "PlanePositionSequence")
            ori = _functional_group(ds, i, "PlaneOrientationSequence")
            meas = _functional_group(ds, i, "PixelMeasuresSequence")
            trans = _functional_group(ds, i, "PixelValueTransformationSequence")
            out.append(
                _Slice(
                    file=file,
                    frame=i,
                    position=_floats(pos.get("ImagePositionPatient") if pos else None, 3),
                    orientation=_floats(ori.get("ImageOrientationPatient") if ori else None, 6),
                    pixel_spacing=_floats(meas.get("PixelSpacing") if meas else None, 2),
                    thickness=_float_or_none(meas.get("SliceThickness") if meas else None),
                    spacing_between=_float_or_none(meas.get("SpacingBetweenSlices") if meas else None),
                    slope=_float_or_none(trans.get("RescaleSlope") if trans else None) or 1.0,
                    intercept=_float_or_none(trans.get("RescaleIntercept") if trans else None) or 0.0,
                    rows=rows,
                    columns=cols,
                )
            )
        return out
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if n_frames != 1:
        raise DicomError(f"{file.name}: CT Image Storage object with {n_frames} frames")
    slope = _float_or_none(ds.get("RescaleSlope"))
    return [
        _Slice(
            file=file,
            frame=None,
            position=_floats(ds.get("ImagePositionPatient"), 3),
            orientation=_floats(ds.get("ImageOrientationPatient"), 6),
            pixel_spacing=_floats(ds.get("PixelSpacing"), 2),
            thickness=_float_or_none(ds.get("SliceThickness")),
            spacing_between=_float_or_none(ds.get("SpacingBetweenSlices")),
            slope=1.0 if slope is None else slope,
            intercept=_float_or_none(ds.get("RescaleIntercept")) or 0.0,
            rows=rows,
            columns=cols,
        )
    ]


@dataclass
class _Geometry:
    slices: list[_Slice]  # sorted
    positions_mm: np.ndarray  # projected on the normal, sorted
    normal: np.ndarray
    slice_spacing_mm: float | None


def _geometry(slices: list[_Slice], label: str) -> _Geometry:
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
    return _Geometry(slices=ordered, positions_mm=proj, normal=normal, slice_spacing_mm=spacing)


# ---------------------------------------------------------------- listing


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def _sop_name(uid: str) -> str:
    try:
        name = UID(uid).name
    except Exception:
        name = uid
    return name or uid


def _series_info(uid: str, files: list[_File], key: bytes) -> SeriesInfo:
    ds = files[0].ds
    sop_classes = sorted({str(f.ds.get("SOPClassUID", "")) for f in files})
    is_ct = all(c in CT_SOP_CLASSES for c in sop_classes)
    problems: list[str] = []
    if len(sop_classes) > 1:
        problems.append("mixed SOP classes: " + ", ".join(_sop_name(c) for c in sop_classes))
    if not is_ct:
        problems.append(
            f"not CT: {', '.join(_sop_name(c) for c in sop_classes)} (modality "
            f"{_text(ds, 'Modality') or 'unknown'})"
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
            slices = [s for f in files for s in _slices_of(f)]
            n_slices = len(slices)
            spacing = _geometry(slices, "series").slice_spacing_mm
        except DicomError as exc:
            problems.append(str(exc).removeprefix("series: "))
    ps = _floats(ds.get("PixelSpacing"), 2)
    if ps is None and str(ds.get("SOPClassUID", "")) == ENHANCED_CT_IMAGE_STORAGE:
        meas = _functional_group(ds, 0, "PixelMeasuresSequence")
        ps = _floats(meas.get("PixelSpacing") if meas else None, 2)
    thickness = _float_or_none(ds.get("SliceThickness"))
    series_number = ds.get("SeriesNumber")
    try:
        series_number = int(series_number) if series_number not in (None, "") else None
    except (TypeError, ValueError):
        series_number = None
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "")
    return SeriesInfo(
        series_uid=_public_uid(uid, files, key),
        modality=_text(ds, "Modality"),
        sop_class=", ".join(_sop_name(c) for c in sop_classes),
        series_number=series_number,
        series_description=_text(ds, "SeriesDescription"),
        n_files=len(files),
        n_slices=n_slices,
        rows=int(ds.Rows) if "Rows" in ds else None,
        columns=int(ds.Columns) if "Columns" in ds else None,
        pixel_spacing_mm=None if ps is None else (float(ps[0]), float(ps[1])),
        slice_thickness_mm=thickness,
        slice_spacing_mm=spacing,
        manufacturer=_text(ds, "Manufacturer"),
        convolution_kernel=_text(ds, "ConvolutionKernel"),
        transfer_syntax=_sop_name(str(ts)) if ts else "",
        is_ct=is_ct,
        problems=tuple(problems),
    )


def _already_deidentified(ds: Dataset) -> bool:
    return str(ds.get("PatientIdentityRemoved", "")).upper() == "YES"


def _public_uid(uid: str, files: list[_File], key: bytes) -> str:
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
    series, unreadable = _parse_all(members)
    infos = [_series_info(uid, files, key_b) for uid, files in series.items()]
    infos.sort(key=lambda s: (not s.is_ct, s.series_number or 0, s.series_uid))
    if unreadable:
        infos.append(
            SeriesInfo(series_uid="", n_files=len(unreadable), problems=tuple(unreadable))
        )
    return infos


# ---------------------------------------------------------------- reading


def _decode(slices: list[_Slice], label: str) -> np.ndarray:
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
    series: dict[str, list[_File]], unreadable: list[str], series_uid: str | None,
    key: bytes, label: str,
) -> tuple[str, list[_File]]:
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
    series, unreadable = _parse_all(members)
    uid, files = _pick(series, unreadable, series_uid, key_b, label)
    public = _public_uid(uid, files, key_b)
    series_label = f"{label}: series {public}"
    sop_classes = {str(f.ds.get("SOPClassUID", "")) for f in files}
    if not sop_classes <= CT_SOP_CLASSES:
        names = ", ".join(sorted(_sop_name(c) for c in sop_classes))
        raise DicomError(f"{series_label}: not a CT image series ({names})")
    for f in files:
        if f.problem:
            raise DicomError(f"{series_label}: {f.name}: {f.problem}")
    slices = [s for f in files for s in _slices_of(f)]
    geo = _geometry(slices, series_label)
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
        "modality": _text(ds, "Modality"),
        "sop_class": _sop_name(str(ds.SOPClassUID)),
        "transfer_syntax": _sop_name(ts),
        "manufacturer": _text(ds, "Manufacturer"),
        "manufacturer_model": _text(ds, "ManufacturerModelName"),
        "convolution_kernel": _text(ds, "ConvolutionKernel"),
        "kvp": _float_or_none(ds.get("KVP")),
        "contrast_agent": _text(ds, "ContrastBolusAgent"),
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
