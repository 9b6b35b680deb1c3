"""The DICOM files of an upload, parsed: why a file cannot give pixels, and the CT slices
(position, orientation, spacing, rescale) of single-frame and Enhanced CT objects.

Used by the series reader (:mod:`.reader`), the SEG reader and the folder de-identifier.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from crlm.ingest.dicom.errors import DicomError
from crlm.ingest.dicom.sources import Member

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
CT_SOP_CLASSES = frozenset({CT_IMAGE_STORAGE, ENHANCED_CT_IMAGE_STORAGE})


@dataclass
class DicomFile:
    name: str
    ds: Dataset
    problem: str | None


@dataclass
class Slice:
    file: DicomFile
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


def file_problem(ds: Dataset) -> str | None:
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


def read_dataset(member: Member) -> Dataset:
    """The DICOM object in ``member``, pydicom's warnings about damaged files silenced;
    raises what pydicom raises on a file it cannot read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with member.open() as fh:
            return pydicom.dcmread(fh, force=False)


def _parse(member: Member) -> tuple[DicomFile | None, str | None]:
    try:
        ds = read_dataset(member)
    except InvalidDicomError:
        return None, "not a DICOM file (no 'DICM' marker after the 128-byte preamble)"
    except (EOFError, OSError) as exc:
        return None, f"truncated or unreadable DICOM ({exc})"
    except Exception as exc:  # pydicom raises many types on damaged input
        return None, f"corrupt DICOM ({type(exc).__name__}: {exc})"
    try:
        problem = file_problem(ds)
    except Exception as exc:
        problem = f"corrupt DICOM ({type(exc).__name__}: {exc})"
    return DicomFile(member.name, ds, problem), None


def parse_all(members: Iterable[Member]) -> tuple[dict[str, list[DicomFile]], list[str]]:
    series: dict[str, list[DicomFile]] = {}
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


# ---------------------------------------------------------------- slices


def float_array(value: Any, n: int) -> np.ndarray | None:
    if value is None:
        return None
    try:
        arr = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.size == n else None


def float_or_none(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def functional_group(ds: Dataset, frame: int, name: str) -> Dataset | None:
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


def slices_of(file: DicomFile) -> list[Slice]:
    ds = file.ds
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if str(ds.SOPClassUID) == ENHANCED_CT_IMAGE_STORAGE:
        out = []
        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
        for i in range(n_frames):
            pos = functional_group(ds, i, "PlanePositionSequence")
            ori = functional_group(ds, i, "PlaneOrientationSequence")
            meas = functional_group(ds, i, "PixelMeasuresSequence")
            trans = functional_group(ds, i, "PixelValueTransformationSequence")
            out.append(
                Slice(
                    file=file,
                    frame=i,
                    position=float_array(pos.get("ImagePositionPatient") if pos else None, 3),
                    orientation=float_array(ori.get("ImageOrientationPatient") if ori else None, 6),
                    pixel_spacing=float_array(meas.get("PixelSpacing") if meas else None, 2),
                    thickness=float_or_none(meas.get("SliceThickness") if meas else None),
                    spacing_between=float_or_none(meas.get("SpacingBetweenSlices") if meas else None),
                    slope=float_or_none(trans.get("RescaleSlope") if trans else None) or 1.0,
                    intercept=float_or_none(trans.get("RescaleIntercept") if trans else None) or 0.0,
                    rows=rows,
                    columns=cols,
                )
            )
        return out
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if n_frames != 1:
        raise DicomError(f"{file.name}: CT Image Storage object with {n_frames} frames")
    slope = float_or_none(ds.get("RescaleSlope"))
    return [
        Slice(
            file=file,
            frame=None,
            position=float_array(ds.get("ImagePositionPatient"), 3),
            orientation=float_array(ds.get("ImageOrientationPatient"), 6),
            pixel_spacing=float_array(ds.get("PixelSpacing"), 2),
            thickness=float_or_none(ds.get("SliceThickness")),
            spacing_between=float_or_none(ds.get("SpacingBetweenSlices")),
            slope=1.0 if slope is None else slope,
            intercept=float_or_none(ds.get("RescaleIntercept")) or 0.0,
            rows=rows,
            columns=cols,
        )
    ]


# ---------------------------------------------------------------- element values


def element_text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def sop_name(uid: str) -> str:
    try:
        name = UID(uid).name
    except Exception:
        name = uid
    return name or uid
