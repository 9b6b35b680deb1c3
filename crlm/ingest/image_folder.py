"""One patient folder of an image import (:mod:`crlm.ingest.image_import`): its objects
counted by SOP class, the CT series read, the DICOM SEG (or, when there is none, the RT
structure set) checked against the CT grid, and the tumour segments or ROIs cut into lesion
crops."""
from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
from pathlib import Path

import numpy as np

from crlm import config

SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
TUMOUR_CODES = frozenset({"108369006", "4147007", "52988006"})  # neoplasm, mass, lesion
TUMOUR_MEANING = re.compile(r"neoplasm|mass|lesion|tumou?r|metasta", re.IGNORECASE)
TUMOUR_LABEL = re.compile(r"tumou?r|lesion|metast", re.IGNORECASE)


def is_tumour(segment) -> bool:
    """A tumour segment (or RTSTRUCT ROI): coded as a neoplasm / mass / lesion (an ROI: RT
    ROI Interpreted Type GTV), or so named; an ROI of a margin or planning type (PTV, CTV,
    body outline, ...) never is."""
    from crlm.ingest.dicom.rtstruct import NOT_LESION_TYPES, TUMOUR_TYPES

    kind = getattr(segment, "interpreted_type", "")
    if kind in TUMOUR_TYPES:
        return True
    if kind in NOT_LESION_TYPES:
        return False
    if segment.property_code in TUMOUR_CODES or TUMOUR_MEANING.search(segment.property_meaning):
        return True
    return bool(TUMOUR_LABEL.search(segment.label))


def _describe_segment(segment) -> str:
    from crlm.privacy import screen_free_text

    label = screen_free_text(segment.label)[0][:40]
    kind = (segment.property_meaning or segment.property_code
            or getattr(segment, "interpreted_type", "") or "uncoded")
    return f"{segment.number} {label!r} ({kind})"


def _classify(folder: Path, digest) -> tuple[dict[str, int], list, list, frozenset[str]]:
    """Count the folder's objects by SOP class (headers only), parse its SEGs and RT
    structure sets and collect the SOP Instance UIDs of its other objects; feeds every
    file's bytes into ``digest`` in name order."""
    import pydicom

    from crlm.ingest.dicom.sources import collect_members

    counts: dict[str, int] = {}
    segs, rtstructs, instances = [], [], set()
    for member in sorted(collect_members(folder), key=lambda m: m.name):
        data = member.read()
        digest.update(member.name.encode() + b"\x00" + hashlib.sha256(data).digest())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        except Exception:  # not DICOM or damaged: the CT reader reports what matters
            counts["other"] = counts.get("other", 0) + 1
            continue
        sop = str(ds.get("SOPClassUID", ""))
        counts[sop] = counts.get(sop, 0) + 1
        if sop == SEGMENTATION_STORAGE:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                segs.append(pydicom.dcmread(io.BytesIO(data)))
        elif sop == RTSTRUCT_STORAGE:
            rtstructs.append(ds)  # no pixel data: the header is the whole object
        else:
            instances.add(str(ds.get("SOPInstanceUID", "")))
    return counts, segs, rtstructs, frozenset(instances)


def read_patient_folder(folder: Path, *, key: bytes | None = None):
    """``(row, crops, lesions, info)`` of one patient folder: ``info`` is a dict of the
    report's fields; ``crops`` is None when the folder cannot be imported (``info['problems']``
    says why)."""
    from crlm.ingest.crops import lesion_crop
    from crlm.ingest.dicom import DicomError, read_series
    from crlm.ingest.dicom.ct_files import sop_name
    from crlm.ingest.dicom.rtstruct import read_rois
    from crlm.ingest.dicom.seg import read_segments

    digest = hashlib.sha256()
    problems: list[str] = []
    info: dict = {"problems": problems}
    try:
        counts, segs, rtstructs, instances = _classify(folder, digest)
    except DicomError as exc:
        problems.append(str(exc).replace(str(folder), "the folder"))
        return None, None, info, digest.hexdigest()
    info["series_found"] = tuple(f"{n} x {sop_name(s) if s != 'other' else 'other file'}"
                                 for s, n in sorted(counts.items()))
    try:
        volume, meta = read_series(folder, key=key)
    except DicomError as exc:
        problems.append("CT: " + str(exc).replace(str(folder), "the folder"))
        return None, None, info, digest.hexdigest()
    info.update(n_slices=int(meta["n_slices"]), spacing_mm=tuple(meta["spacing_mm"]),
                transfer_syntax=meta["transfer_syntax"], seg_found=bool(segs or rtstructs))
    # the segmentation source: the DICOM SEG, else the RT structure set
    source, objects = ("SEG", segs) if segs else ("RTSTRUCT", rtstructs)
    info["segmentation"] = source
    if not objects:
        problems.append("no DICOM SEG or RTSTRUCT")
        return None, None, info, digest.hexdigest()
    if len(objects) > 1:
        problems.append(f"{len(objects)} {source} objects; keep one per patient")
        return None, None, info, digest.hexdigest()
    try:
        if source == "SEG":
            geometry, segments = read_segments(objects[0], meta, key=key)
        else:
            geometry, segments = read_rois(objects[0], meta, key=key, ct_instance_uids=instances)
    except DicomError as exc:
        problems.append(f"{source}: {str(exc).removeprefix(source + ': ')}")
        return None, None, info, digest.hexdigest()
    info["seg_geometry"] = geometry.to_dict()
    if not geometry.matches:
        problems.extend(f"{source} does not match the CT: {p}" for p in geometry.problems)
        return None, None, info, digest.hexdigest()
    tumours = [s for s in segments if is_tumour(s)]
    info["ignored_segments"] = tuple(_describe_segment(s) for s in segments if not is_tumour(s))
    info["tumour_segments"] = tuple(s.number for s in tumours)
    crops, lesions = [], []
    for s in tumours:
        if not s.mask.any():
            problems.append(f"tumour {'segment' if source == 'SEG' else 'ROI'} {s.number} "
                            "holds no pixels")
            continue
        crop, geo = lesion_crop(volume, s.mask, meta["spacing_mm"])
        crops.append(crop)
        coded = (s.property_code in TUMOUR_CODES or TUMOUR_MEANING.search(s.property_meaning)
                 or getattr(s, "interpreted_type", "") == "GTV")
        lesions.append({"lesion_index": len(lesions), "segment_number": s.number,
                        "source": "coded" if coded else "label", **geo})
    if not tumours:
        problems.append("no tumour segment (coded neoplasm / mass / lesion, or a label "
                        "with tumor, tumour, lesion or metast)" if source == "SEG" else
                        "no tumour ROI (interpreted type GTV, coded neoplasm / mass / lesion, "
                        "or a name with tumor, tumour, lesion or metast)")
    info["n_lesions"] = len(crops)
    if problems:
        return None, None, info, digest.hexdigest()
    kept = {k: meta.get(k) for k in (
        "series_uid", "study_uid", "frame_of_reference_uid", "modality", "sop_class",
        "transfer_syntax", "manufacturer", "manufacturer_model", "convolution_kernel", "kvp",
        "n_slices", "rows", "columns", "pixel_spacing_mm", "slice_thickness_mm",
        "slice_spacing_mm", "spacing_mm", "orientation")}
    kept.update(segmentation=source, seg_series_uid=_seg_uid(objects[0], key), n_segments=len(segments),
                crop_size_px=config.CROP_SIZE_PX, crop_slices=config.CROP_SLICES,
                crop_transform="crlm.ingest.crops.lesion_crop")
    row = {"modality": "CT", "series_uid": meta["series_uid"], "n_slices": int(meta["n_slices"]),
           "pixel_spacing_mm": float(meta["pixel_spacing_mm"][0]),
           "slice_thickness_mm": meta.get("slice_thickness_mm"), "n_lesions": len(crops),
           "metadata": json.dumps(kept, sort_keys=True)}
    return row, np.stack(crops), info | {"lesions": lesions}, digest.hexdigest()


def _seg_uid(ds, key) -> str:
    from crlm.ingest.dicom.deid import default_key, remap_uid

    uid = str(ds.get("SeriesInstanceUID", ""))
    if str(ds.get("PatientIdentityRemoved", "")).upper() == "YES":
        return uid
    return remap_uid(uid, default_key() if key is None else key)
