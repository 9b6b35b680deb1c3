"""The lesion mask of an upload's RT structure set: the union of its tumour ROIs on the CT
grid, with the checks of the cohort image import (:mod:`crlm.ingest.image_folder`): one
structure set, readable contours, the geometry of :func:`.rtstruct.read_rois`, at least one
tumour ROI (:func:`crlm.ingest.image_folder.is_tumour`) and no empty one. Each failed check
is a :class:`DicomError` whose message names it in words."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pydicom

from crlm.ingest.dicom.ct_files import SEGMENTATION_STORAGE
from crlm.ingest.dicom.errors import DicomError
from crlm.ingest.dicom.rtstruct import RTSTRUCT_STORAGE, read_rois
from crlm.ingest.dicom.sources import collect_members

NO_TUMOUR_ROI = ("RTSTRUCT: no tumour ROI (interpreted type GTV, coded neoplasm / mass / "
                 "lesion, or a name with tumor, tumour, lesion or metast)")


def _headers(source: Any) -> tuple[list, frozenset[str]]:
    """The structure sets in ``source`` and the SOP Instance UIDs of its other objects
    (SEGs aside)."""
    structure_sets, instances = [], set()
    for member in sorted(collect_members(source), key=lambda m: m.name):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with member.open() as fh:
                    ds = pydicom.dcmread(fh, stop_before_pixels=True)
        except Exception:  # not DICOM or damaged: the CT reader reports what matters
            continue
        sop = str(ds.get("SOPClassUID", ""))
        if sop == RTSTRUCT_STORAGE:
            structure_sets.append(ds)
        elif sop != SEGMENTATION_STORAGE:
            instances.add(str(ds.get("SOPInstanceUID", "")))
    return structure_sets, frozenset(instances)


def read_rtstruct_mask(source: Any, reference_meta: dict, key: bytes | str | None = None
                       ) -> np.ndarray | None:
    """A boolean lesion mask ``[z, y, x]`` on the grid of ``reference_meta`` (the ``meta``
    of :func:`.reader.read_series`): the union of the tumour ROIs of the one RT structure
    set in ``source`` (a folder, a zip as a path or bytes, or one file). ``None`` when
    ``source`` holds no RTSTRUCT. Raises :class:`DicomError` naming the problem when the
    structure set cannot serve as the lesion mask."""
    from crlm.ingest.image_folder import is_tumour

    structure_sets, instances = _headers(source)
    if not structure_sets:
        return None
    if len(structure_sets) > 1:
        raise DicomError(f"{len(structure_sets)} RTSTRUCT objects; keep one")
    try:
        geometry, rois = read_rois(structure_sets[0], reference_meta, key=key,
                                   ct_instance_uids=instances)
    except DicomError as exc:
        raise DicomError(f"RTSTRUCT: {str(exc).removeprefix('RTSTRUCT: ')}") from None
    if not geometry.matches:
        raise DicomError("RTSTRUCT does not match the CT: " + "; ".join(geometry.problems))
    tumours = [roi for roi in rois if is_tumour(roi)]
    if not tumours:
        raise DicomError(NO_TUMOUR_ROI)
    empty = [str(roi.number) for roi in tumours if not roi.mask.any()]
    if empty:
        raise DicomError(f"RTSTRUCT: tumour ROI {empty[0]} holds no pixels" if len(empty) == 1
                         else f"RTSTRUCT: tumour ROIs {', '.join(empty)} hold no pixels")
    return np.logical_or.reduce([roi.mask for roi in tumours])
