"""DICOM intake: read CT series and lesion regions (DICOM SEG, RT structure sets),
de-identify, write synthetic files.

This package is the only importer of pydicom (and highdicom) in the project.
Everything it returns is numpy arrays, plain dicts and frozen dataclasses.
"""
from crlm.ingest.dicom.commands import deidentify_command, inspect_command
from crlm.ingest.dicom.deid import (
    date_shift_days,
    default_key,
    deidentify,
    pseudonym,
    remap_uid,
)
from crlm.ingest.dicom.errors import DicomError
from crlm.ingest.dicom.reader import (
    SPACING_TOLERANCE_FRACTION,
    SPACING_TOLERANCE_MM,
    SeriesInfo,
    inspect,
    list_series,
    read_series,
)
from crlm.ingest.dicom.rtstruct import Roi, RtStructGeometry, read_rois
from crlm.ingest.dicom.rtstruct_mask import read_rtstruct_mask
from crlm.ingest.dicom.seg import read_seg, region_mask
from crlm.ingest.dicom.sources import ZipLimits
from crlm.ingest.dicom.tree import DeidentifyReport, deidentify_tree
from crlm.ingest.dicom.writer import write_ct_series, write_rtstruct_file, write_seg_file

__all__ = [
    "DeidentifyReport",
    "DicomError",
    "Roi",
    "RtStructGeometry",
    "SPACING_TOLERANCE_FRACTION",
    "SPACING_TOLERANCE_MM",
    "SeriesInfo",
    "ZipLimits",
    "date_shift_days",
    "default_key",
    "deidentify",
    "deidentify_command",
    "deidentify_tree",
    "inspect",
    "inspect_command",
    "list_series",
    "pseudonym",
    "read_rois",
    "read_rtstruct_mask",
    "read_seg",
    "read_series",
    "region_mask",
    "remap_uid",
    "write_ct_series",
    "write_rtstruct_file",
    "write_seg_file",
]
