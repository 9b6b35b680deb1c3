"""A CT series uploaded with a case: reading it from memory (de-identified on
reading), the lesion inputs of the imaging models, and the allow-listed image metadata a
saved case may keep."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from crlm.cases._values import _finite, _plain
from crlm.privacy import screen_free_text

IMAGE_METADATA_KEYS = ("series_uid", "modality", "manufacturer", "manufacturer_model",
                       "n_slices", "rows", "columns", "pixel_spacing_mm", "spacing_mm",
                       "slice_thickness_mm", "deidentified", "lesion_region", "lesion_features")
MAX_METADATA_TEXT_CHARS = 64  # a DICOM LO value


def image_metadata_record(meta: Mapping | None) -> dict | None:
    """What a saved case may keep of a CT's metadata: the ``IMAGE_METADATA_KEYS`` only,
    every text in it (device names included) screened with
    ``crlm.privacy.screen_free_text`` and cut to 64 characters. ``None`` when empty."""
    if not meta:
        return None
    out = {k: _screened(meta[k]) for k in IMAGE_METADATA_KEYS if k in meta}
    uid = meta.get("series_uid")  # de-identified by the reader; digits and dots only
    if "series_uid" in out:
        out["series_uid"] = uid if isinstance(uid, str) and _UID_RE.match(uid) else None
    return out or None


_UID_RE = re.compile(r"^[0-9][0-9.]{0,63}$")


def _screened(value: Any) -> Any:
    if isinstance(value, str):
        return screen_free_text(value)[0][:MAX_METADATA_TEXT_CHARS]
    if isinstance(value, Mapping):
        return {_screened(str(k)): _screened(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_screened(v) for v in value]
    return _plain(value)


@dataclass(frozen=True)
class CtUpload:
    """A CT series read from an upload (de-identified on reading): HU volume
    ``[z, y, x]``, its metadata and the lesion mask of a DICOM SEG when one came with it
    (else of the tumour ROIs of an RT structure set). ``seg_problem`` says in words why a
    DICOM SEG that came with the upload was not used (empty when none came or it was)."""

    volume: np.ndarray
    meta: dict
    seg_mask: np.ndarray | None
    seg_problem: str = ""

    def image_metadata(self, region: Mapping | None, features: Mapping[str, float]) -> dict:
        """What a saved case keeps of the image: de-identified geometry, the lesion
        region and its features (never pixels, names, dates or original UIDs)."""
        out = {k: self.meta.get(k) for k in IMAGE_METADATA_KEYS}
        out["lesion_region"] = dict(region) if region else None
        out["lesion_features"] = dict(features)
        return image_metadata_record(out)


def lesion_inputs(ct: CtUpload, mask: np.ndarray) -> tuple[dict, np.ndarray]:
    """Lesion features (``crlm.models.imaging.lesion_features``) and the lesion crop
    ``[1, slices, H, W]`` on the geometry the imaging models were trained on."""
    from crlm.models.imaging import case_crop, lesion_features
    from crlm.models.multiomics import CROP_SIZE, CROP_SLICES

    spacing = ct.meta["spacing_mm"]
    features = lesion_features(ct.volume, mask, spacing)
    crop = case_crop(ct.volume, mask, spacing, size=CROP_SIZE, slices=CROP_SLICES)
    return features, crop[None]


def read_ct_upload(data: bytes, name: str) -> CtUpload:
    """Read an uploaded CT series (.zip of DICOM files, or one .dcm) from memory with
    ``crlm.ingest.dicom`` (nothing is written to disk), with its DICOM SEG if any, else
    the tumour ROIs of its RTSTRUCT (a structure set that does not fit is refused).
    A SEG that cannot be read or marks nothing is not used, and ``seg_problem`` says why.
    Raises ``crlm.ingest.dicom.DicomError`` with a message naming the file."""
    from crlm.ingest import dicom
    from crlm.ingest.dicom.errors import NoSegError
    from crlm.ingest.dicom.sources import describe_source

    if not data:
        raise dicom.DicomError(f"{name}: the file is empty")
    is_zip = data[:4] == b"PK\x03\x04"
    is_dicom = len(data) > 132 and data[128:132] == b"DICM"
    if not (is_zip or is_dicom):
        raise dicom.DicomError(f"{name}: not a DICOM upload; give a .zip of a CT series "
                               "(DICOM files) or a single .dcm file")
    try:
        volume, meta = dicom.read_series(data)
    except dicom.DicomError as exc:
        raise dicom.DicomError(f"{name}: {exc}") from None
    seg, problem = None, ""
    try:
        seg = dicom.read_seg(data, meta)
    except NoSegError:
        pass
    except dicom.DicomError as exc:
        reason = str(exc).removeprefix(f"{describe_source(data)}: ")  # the upload is named
        problem = f"The DICOM SEG in {name} was not used: {reason.rstrip('.')}."
    if seg is not None and not seg.any():
        seg = None
        problem = (f"The DICOM SEG in {name} was not used: it marks no voxel of the CT "
                   "series.")
    if seg is None:  # else the tumour ROIs of an RT structure set, checked as on import
        try:
            seg = dicom.read_rtstruct_mask(data, meta)
        except dicom.DicomError as exc:
            raise dicom.DicomError(f"{name}: {exc}") from None
    return CtUpload(volume=volume, meta=meta, seg_mask=seg, seg_problem=problem)


def lesion_feature_frame(case_id: str, features: Mapping[str, float],
                         known: Sequence[str]) -> pd.DataFrame:
    """The lesion features whose names the cohort's models know, as a feature frame."""
    row = {"patient_id": case_id}
    row.update({k: float(v) for k, v in features.items() if k in set(known) and _finite(v)})
    return pd.DataFrame([row])

