"""Write synthetic CT series and lesion segmentations as real DICOM files.

Every object written here is obviously synthetic: patient name
``SYNTHETIC^DEMO``, patient id ``SYNTH-<label>``, manufacturer
``CRLM Cohort Explorer (synthetic)``. UIDs are ``2.25.<integer>`` derived from a
hash of the seed, the patient label and the object, so the same call writes the
same files.

CT: CT Image Storage, Explicit VR Little Endian, signed 16-bit stored values,
Rescale Slope 1, Rescale Intercept -1024 (stored = round(HU) + 1024), axial
orientation ``1,0,0,0,1,0``; volume index ``z`` is written at position
``origin_z + z × slice spacing`` (ascending, i.e. index 0 is the most caudal).
SEG: Segmentation Storage (binary; one segment "liver lesion", or liver, vessels and
tumours), written with highdicom, on the same grid as the CT.
RTSTRUCT: RT Structure Set Storage, one ROI per mask, each slice outlined as closed planar
contours (marching squares at half height) that reference their CT image.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

from crlm.ingest.dicom.errors import DicomError
from crlm.ingest.dicom.ct_files import CT_IMAGE_STORAGE
from crlm.ingest.dicom.rtstruct import RTSTRUCT_STORAGE

SYNTHETIC_PATIENT_NAME = "SYNTHETIC^DEMO"
SYNTHETIC_MANUFACTURER = "CRLM Cohort Explorer (synthetic)"
RESCALE_INTERCEPT = -1024.0


def synthetic_uid(seed: int, label: str, what: str) -> str:
    """A deterministic ``2.25.`` UID for a synthetic object."""
    digest = hashlib.sha256(f"crlm-synthetic:{int(seed)}:{label}:{what}".encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _base_dataset(seed: int, patient_label: str) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = SYNTHETIC_PATIENT_NAME
    ds.PatientID = f"SYNTH-{patient_label}"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = synthetic_uid(seed, patient_label, "study")
    ds.StudyDate = "20000101"
    ds.StudyTime = "120000"
    ds.StudyID = "SYNTH"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Synthetic demo CT - not a real patient"
    ds.FrameOfReferenceUID = synthetic_uid(seed, patient_label, "frame-of-reference")
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = SYNTHETIC_MANUFACTURER
    ds.ManufacturerModelName = "synthetic_ct"
    ds.SoftwareVersions = "1"
    ds.DeviceSerialNumber = "SYNTHETIC"
    return ds


def write_ct_series(
    out_dir: str | os.PathLike,
    hu_volume: np.ndarray,
    spacing_mm: Sequence[float],
    thickness_mm: float,
    seed: int,
    patient_label: str,
    origin_mm: Sequence[float] | None = None,
    series_description: str = "Synthetic portal venous CT",
    kernel: str = "SYNTHETIC_SOFT",
) -> list[Path]:
    """Write ``hu_volume[z, y, x]`` as one CT series, one file per slice; the paths.

    ``spacing_mm`` = (slice spacing, row spacing, column spacing) in mm.
    ``origin_mm`` is the (x, y, z) patient position of voxel [0, 0, 0]; by default
    the image is centred on x = y = 0 and starts at z = 0.
    """
    vol = np.asarray(hu_volume)
    if vol.ndim != 3 or min(vol.shape) < 1:
        raise DicomError(f"hu_volume must be 3-D [z, y, x], got shape {vol.shape}")
    if len(spacing_mm) != 3 or min(float(v) for v in spacing_mm) <= 0:
        raise DicomError(f"spacing_mm must be three positive numbers (z, y, x), got {spacing_mm}")
    dz, dy, dx = (float(v) for v in spacing_mm)
    stored = np.rint(vol.astype(np.float64) - RESCALE_INTERCEPT)
    if stored.min() < -32768 or stored.max() > 32767:
        raise DicomError("hu_volume holds values outside the storable HU range")
    stored = stored.astype("<i2")
    nz, ny, nx = vol.shape
    if origin_mm is None:
        origin_mm = (-(nx - 1) * dx / 2.0, -(ny - 1) * dy / 2.0, 0.0)
    ox, oy, oz = (float(v) for v in origin_mm)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = _base_dataset(seed, patient_label)
    series_uid = synthetic_uid(seed, patient_label, f"series:{series_description}")
    paths = []
    for z in range(nz):
        sop_uid = synthetic_uid(seed, patient_label, f"{series_description}:ct:{z}")
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.update(base)
        ds.file_meta = meta
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = sop_uid
        ds.Modality = "CT"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = 2
        ds.SeriesDescription = series_description
        ds.SeriesDate = "20000101"
        ds.ContentDate = "20000101"
        ds.ContentTime = "120000"
        ds.InstanceNumber = z + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.BodyPartExamined = "ABDOMEN"
        ds.KVP = "120"
        ds.ConvolutionKernel = kernel
        ds.ContrastBolusAgent = "synthetic iodinated contrast"
        ds.PatientPosition = "FFS"
        ds.AcquisitionNumber = 1
        ds.ImagePositionPatient = [f"{ox:.4f}", f"{oy:.4f}", f"{oz + z * dz:.4f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.SliceLocation = f"{oz + z * dz:.4f}"
        ds.SliceThickness = f"{float(thickness_mm):g}"
        ds.SpacingBetweenSlices = f"{dz:g}"
        ds.PixelSpacing = [f"{dy:g}", f"{dx:g}"]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ny
        ds.Columns = nx
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = f"{RESCALE_INTERCEPT:g}"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "50"
        ds.WindowWidth = "400"
        ds.BurnedInAnnotation = "NO"
        ds.PixelData = stored[z].tobytes()
        path = out / f"CT{z + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_seg_file(
    out_path: str | os.PathLike,
    ct_paths: Sequence[str | os.PathLike],
    mask: np.ndarray,
    seed: int,
    patient_label: str,
    segment_label: str = "liver lesion",
) -> Path:
    """Write a binary DICOM SEG of ``mask[z, y, x]`` over the CT files ``ct_paths``: one
    neoplasm segment named ``segment_label`` (see :func:`write_segmentation_file`).

    The mask's z index follows the CT slices sorted by position along the slice
    normal (as :func:`.reader.read_series` orders them).
    """
    return write_segmentation_file(out_path, ct_paths, [(segment_label, "neoplasm", mask)],
                                   seed, patient_label,
                                   series_description="Synthetic lesion region")


# Segment kinds of :func:`write_segmentation_file`: (category, property type) as SNOMED codes.
SEGMENT_KINDS = {
    "liver": ("Organ", "Liver"),
    "hepatic vein": ("AnatomicalStructure", "HepaticVein"),
    "portal vein": ("AnatomicalStructure", "PortalVein"),
    "neoplasm": ("MorphologicallyAbnormalStructure", "Neoplasm"),
    "mass": ("MorphologicallyAbnormalStructure", "Mass"),
    "tissue": ("Tissue", "Tissue"),
}


def write_segmentation_file(
    out_path: str | os.PathLike,
    ct_paths: Sequence[str | os.PathLike],
    segments: Sequence[tuple[str, str, np.ndarray]],
    seed: int,
    patient_label: str,
    series_description: str = "Synthetic liver, vessel and tumour segmentation",
) -> Path:
    """Write a multi-segment binary DICOM SEG over the CT files ``ct_paths``.

    ``segments``: ``(label, kind, mask[z, y, x])`` per segment, numbered from 1 in that
    order; ``kind`` is a key of ``SEGMENT_KINDS`` (its coded category and property type).
    The mask's z index follows the CT slices sorted along the slice normal. Frames
    without any pixel of a segment are left out (as most writers do).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    datasets = [pydicom.dcmread(p) for p in ct_paths]
    normal = np.cross(
        np.asarray(datasets[0].ImageOrientationPatient[:3], float),
        np.asarray(datasets[0].ImageOrientationPatient[3:], float),
    )
    datasets.sort(key=lambda d: float(np.dot(np.asarray(d.ImagePositionPatient, float), normal)))
    shape = (len(datasets), int(datasets[0].Rows), int(datasets[0].Columns))
    if not segments:
        raise DicomError("no segments to write")
    descriptions, planes = [], []
    for number, (label, kind, mask) in enumerate(segments, start=1):
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != shape:
            raise DicomError(f"segment {label!r}: mask shape {mask.shape} does not match the "
                             f"CT series {shape}")
        if not mask.any():
            raise DicomError(f"segment {label!r} is empty")
        if kind not in SEGMENT_KINDS:
            raise DicomError(f"segment kind {kind!r} is not one of {', '.join(SEGMENT_KINDS)}")
        category, prop = SEGMENT_KINDS[kind]
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=label,
            segmented_property_category=getattr(codes.SCT, category),
            segmented_property_type=getattr(codes.SCT, prop),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL))
        planes.append(mask)
    pixels = np.stack(planes, axis=-1).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = hd.seg.Segmentation(
            source_images=datasets,
            pixel_array=pixels,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=synthetic_uid(seed, patient_label, "seg-series"),
            series_number=100,
            sop_instance_uid=synthetic_uid(seed, patient_label, "seg"),
            instance_number=1,
            manufacturer=SYNTHETIC_MANUFACTURER,
            manufacturer_model_name="synthetic_ct",
            software_versions="1",
            device_serial_number="SYNTHETIC",
            series_description=series_description,
            omit_empty_frames=True,
        )
    # fixed dates, times and UIDs so the same call writes the same bytes
    dimension_uid = synthetic_uid(seed, patient_label, "seg-dimension-organization")
    for elem in seg.iterall():
        if elem.keyword in ("InstanceCreationDate", "ContentDate", "SeriesDate"):
            elem.value = "20000101"
        elif elem.keyword in ("InstanceCreationTime", "ContentTime", "SeriesTime"):
            elem.value = "120000"
        elif elem.keyword == "ContributionDateTime":
            elem.value = "20000101120000"
        elif elem.keyword == "DimensionOrganizationUID":
            elem.value = dimension_uid
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


# ---------------------------------------------------------------- RT structure sets

def mask_contours(plane: np.ndarray) -> list[np.ndarray]:
    """The closed outlines of a 2-D boolean mask as ``(row, column)`` polygons in pixel
    units: marching squares at half height, so every pixel centre of the mask is inside
    an odd number of outlines and every other centre inside an even number (holes are
    outlines of their own)."""
    import contourpy

    padded = np.pad(np.asarray(plane, dtype=np.float64), 1)
    lines = contourpy.contour_generator(z=padded, line_type=contourpy.LineType.Separate
                                        ).lines(0.5)
    out = []
    for xy in lines:
        if len(xy) > 1 and np.allclose(xy[0], xy[-1]):
            xy = xy[:-1]
        if len(xy) >= 3:
            out.append(np.column_stack([xy[:, 1] - 1.0, xy[:, 0] - 1.0]))
    return out


def write_rtstruct_file(
    out_path: str | os.PathLike,
    ct_paths: Sequence[str | os.PathLike],
    rois: Sequence[tuple[str, str, np.ndarray]],
    seed: int,
    patient_label: str,
    frame_of_reference_uid: str | None = None,
    structure_set_label: str = "Synthetic liver contours",
) -> Path:
    """Write an RT Structure Set over the CT files ``ct_paths``: one ROI per
    ``(name, RT ROI Interpreted Type, mask[z, y, x])``, numbered from 1 in that order, each
    slice of the mask outlined by :func:`mask_contours` as CLOSED_PLANAR contours that
    reference their CT image. The mask's z index follows the CT slices sorted along the
    slice normal. ``frame_of_reference_uid`` overrides the CT's (a structure set drawn in
    another frame of reference)."""
    datasets = [pydicom.dcmread(p, stop_before_pixels=True) for p in ct_paths]
    if not datasets:
        raise DicomError("no CT files to reference")
    if not rois:
        raise DicomError("no ROIs to write")
    orientation = np.asarray(datasets[0].ImageOrientationPatient, float)
    row_dir, col_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, col_dir)
    datasets.sort(key=lambda d: float(np.dot(np.asarray(d.ImagePositionPatient, float), normal)))
    shape = (len(datasets), int(datasets[0].Rows), int(datasets[0].Columns))
    dy, dx = (float(v) for v in datasets[0].PixelSpacing)
    first = datasets[0]
    for_uid = frame_of_reference_uid or str(first.FrameOfReferenceUID)
    sop_uid = synthetic_uid(seed, patient_label, "rtstruct")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTSTRUCT_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.update(_base_dataset(seed, patient_label))
    del ds.FrameOfReferenceUID, ds.PositionReferenceIndicator
    ds.file_meta = meta
    ds.StudyInstanceUID = str(first.StudyInstanceUID)
    ds.SOPClassUID = RTSTRUCT_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = synthetic_uid(seed, patient_label, "rtstruct-series")
    ds.SeriesNumber = 101
    ds.SeriesDescription = structure_set_label
    ds.InstanceNumber = 1
    ds.StructureSetLabel = structure_set_label[:16]
    ds.StructureSetDate = "20000101"
    ds.StructureSetTime = "120000"

    def image_ref(d: Dataset) -> Dataset:
        ref = Dataset()
        ref.ReferencedSOPClassUID = str(d.SOPClassUID)
        ref.ReferencedSOPInstanceUID = str(d.SOPInstanceUID)
        return ref

    series_ref = Dataset()
    series_ref.SeriesInstanceUID = str(first.SeriesInstanceUID)
    series_ref.ContourImageSequence = [image_ref(d) for d in datasets]
    study_ref = Dataset()
    study_ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # detached study management
    study_ref.ReferencedSOPInstanceUID = str(first.StudyInstanceUID)
    study_ref.RTReferencedSeriesSequence = [series_ref]
    frame_ref = Dataset()
    frame_ref.FrameOfReferenceUID = for_uid
    frame_ref.RTReferencedStudySequence = [study_ref]
    ds.ReferencedFrameOfReferenceSequence = [frame_ref]
    ds.StructureSetROISequence, ds.ROIContourSequence, ds.RTROIObservationsSequence = [], [], []
    for number, (name, kind, mask) in enumerate(rois, start=1):
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != shape:
            raise DicomError(f"ROI {name!r}: mask shape {mask.shape} does not match the CT "
                             f"series {shape}")
        if not mask.any():
            raise DicomError(f"ROI {name!r} is empty")
        item = Dataset()
        item.ROINumber = number
        item.ReferencedFrameOfReferenceUID = for_uid
        item.ROIName = name
        item.ROIGenerationAlgorithm = "MANUAL"
        ds.StructureSetROISequence.append(item)
        contours = []
        for z in np.flatnonzero(mask.any(axis=(1, 2))):
            origin = np.asarray(datasets[z].ImagePositionPatient, float)
            for rc in mask_contours(mask[z]):
                pts = origin + np.outer(rc[:, 1] * dx, row_dir) + np.outer(rc[:, 0] * dy, col_dir)
                contour = Dataset()
                contour.ContourImageSequence = [image_ref(datasets[z])]
                contour.ContourGeometricType = "CLOSED_PLANAR"
                contour.NumberOfContourPoints = len(pts)
                contour.ContourData = [f"{v:.4f}" for v in pts.ravel()]
                contours.append(contour)
        roi_contour = Dataset()
        roi_contour.ROIDisplayColor = [255, 0, 0] if kind == "GTV" else [0, 160, 0]
        roi_contour.ReferencedROINumber = number
        roi_contour.ContourSequence = contours
        ds.ROIContourSequence.append(roi_contour)
        observation = Dataset()
        observation.ObservationNumber = number
        observation.ReferencedROINumber = number
        observation.RTROIInterpretedType = kind
        observation.ROIInterpreter = ""
        ds.RTROIObservationsSequence.append(observation)
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
