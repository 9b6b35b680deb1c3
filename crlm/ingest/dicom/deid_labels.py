"""Neutral labels for the free text of segmentations in de-identified copies.

ROI names, segment labels and structure set labels are free text: a reader may have typed
a name, an id or a date into them. De-identification replaces them with labels that say
only what the image import needs to know:

* an RTSTRUCT ROI or a SEG segment that the import takes for a tumour
  (:func:`crlm.ingest.image_folder.is_tumour`: RT ROI Interpreted Type GTV, a coded
  neoplasm / mass / lesion, or a name with tumor, tumour, lesion or metast) becomes
  ``tumour 1``, ``tumour 2``, ... in the order of its number, so it is still a tumour;
* one whose name or coded meaning speaks of a vessel (vein, artery, portal, cava, ...)
  becomes ``vessel``, of the liver (liver, hepar, parenchyma) ``liver`` (numbered when
  there are several);
* any other, and every ROI of a margin or planning type (PTV, CTV, body outline, ...),
  becomes ``ROI <number>`` (a segment: ``segment <number>``).

RT ROI Interpreted Types and coded identifications (RT ROI Identification Code Sequence,
Segmented Property Category / Type Code Sequences) are coded, not free text, and are kept.
ROI observation labels take their ROI's neutral label; ROI, observation, structure set and
segment descriptions are removed; the Structure Set Label (and Name, if present) become
``structure set``; a SEG's Content Label becomes ``SEGMENTATION`` and its Content
Description is emptied.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

from pydicom.dataset import Dataset

VESSEL = re.compile(r"vein|vena|cava|\bivc\b|portal|arter|aort|vessel|vascul", re.IGNORECASE)
LIVER = re.compile(r"liver|hepar|parenchym", re.IGNORECASE)
STRUCTURE_SET_LABEL = "structure set"
SEG_CONTENT_LABEL = "SEGMENTATION"
_ROI_TEXT = ("ROIDescription", "ROIGenerationDescription")
_OBSERVATION_TEXT = ("ROIObservationDescription",)
_STRUCTURE_SET_TEXT = ("StructureSetDescription",)
_SEGMENT_TEXT = ("SegmentDescription",)


def _code(item: Dataset | None, keyword: str) -> tuple[str, str]:
    seq = item.get(keyword) if item is not None else None
    if not seq:
        return "", ""
    return str(seq[0].get("CodeValue", "")), str(seq[0].get("CodeMeaning", ""))


def _kind(label: str, interpreted_type: str, code: str, meaning: str) -> str:
    from crlm.ingest.dicom.rtstruct import NOT_LESION_TYPES
    from crlm.ingest.image_folder import is_tumour

    item = SimpleNamespace(label=label, interpreted_type=interpreted_type,
                           property_code=code, property_meaning=meaning)
    if is_tumour(item):
        return "tumour"
    if interpreted_type in NOT_LESION_TYPES:
        return ""
    text = f"{label} {meaning}"
    if VESSEL.search(text):
        return "vessel"
    if LIVER.search(text):
        return "liver"
    return ""


def neutral_labels(items: list[tuple[int, str]], other: str) -> dict[int, str]:
    """``{number: neutral label}`` for ``(number, kind)`` pairs (kind ``tumour``,
    ``vessel``, ``liver`` or empty); others are ``"<other> <number>"``. Tumours are always
    numbered, vessels and livers only when there are several of them."""
    counts: dict[str, int] = {}
    for _, kind in items:
        counts[kind] = counts.get(kind, 0) + 1
    seen: dict[str, int] = {}
    out = {}
    for number, kind in sorted(items):
        if not kind:
            out[number] = f"{other} {number}"
            continue
        seen[kind] = seen.get(kind, 0) + 1
        numbered = kind == "tumour" or counts[kind] > 1
        out[number] = f"{kind} {seen[kind]}" if numbered else kind
    return out


def _drop(item: Dataset, keywords: tuple[str, ...]) -> None:
    for keyword in keywords:
        if keyword in item:
            delattr(item, keyword)


def _number(item: Dataset, keyword: str) -> int | None:
    try:
        return int(item.get(keyword))
    except (TypeError, ValueError):
        return None


def _rtstruct(ds: Dataset) -> None:
    observations = {}
    for item in ds.get("RTROIObservationsSequence") or []:
        number = _number(item, "ReferencedROINumber")
        if number is not None:
            observations.setdefault(number, item)
    kinds = []
    for item in ds.get("StructureSetROISequence") or []:
        number = _number(item, "ROINumber")
        if number is None:
            continue
        observation = observations.get(number)
        interpreted = str(observation.get("RTROIInterpretedType", "") or ""
                          ) if observation is not None else ""
        code, meaning = _code(observation, "RTROIIdentificationCodeSequence")
        kinds.append((number, _kind(str(item.get("ROIName", "") or ""),
                                    interpreted.strip().upper(), code, meaning)))
    labels = neutral_labels(kinds, "ROI")
    for item in ds.get("StructureSetROISequence") or []:
        number = _number(item, "ROINumber")
        if "ROIName" in item or number in labels:
            item.ROIName = labels.get(number, "ROI")
        _drop(item, _ROI_TEXT)
    for item in ds.get("RTROIObservationsSequence") or []:
        number = _number(item, "ReferencedROINumber")
        if "ROIObservationLabel" in item:
            item.ROIObservationLabel = labels.get(number, "ROI")
        _drop(item, _OBSERVATION_TEXT)
    for keyword in ("StructureSetLabel", "StructureSetName"):
        if keyword in ds:
            setattr(ds, keyword, STRUCTURE_SET_LABEL)
    _drop(ds, _STRUCTURE_SET_TEXT)


def _seg(ds: Dataset) -> None:
    kinds = []
    for item in ds.get("SegmentSequence") or []:
        number = _number(item, "SegmentNumber")
        if number is None:
            continue
        code, meaning = _code(item, "SegmentedPropertyTypeCodeSequence")
        kinds.append((number, _kind(str(item.get("SegmentLabel", "") or ""), "", code,
                                    meaning)))
    labels = neutral_labels(kinds, "segment")
    for item in ds.get("SegmentSequence") or []:
        if "SegmentLabel" in item:
            item.SegmentLabel = labels.get(_number(item, "SegmentNumber"), "segment")
        _drop(item, _SEGMENT_TEXT)
    if "ContentLabel" in ds:
        ds.ContentLabel = SEG_CONTENT_LABEL
    if "ContentDescription" in ds:
        ds.ContentDescription = ""


def neutralise_labels(ds: Dataset) -> None:
    """Replace, in place, the free-text ROI, segment and structure set labels of an
    RTSTRUCT or SEG ``ds`` with neutral ones (see the module doc); other objects are left
    as they are."""
    if "StructureSetROISequence" in ds or "RTROIObservationsSequence" in ds:
        _rtstruct(ds)
    if "SegmentSequence" in ds:
        _seg(ds)
