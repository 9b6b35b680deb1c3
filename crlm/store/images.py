"""Imaging rows of the store: one row per patient and imaging time point, with the
lesion crops the CT models read, and the decision time of every stored feature.

Crops are kept in the ``images`` row itself, as one compressed int16 array
``[n_lesions, slices, size, size]`` (HU) per row (``np.save`` bytes, zlib), with
the SHA-256 of the uncompressed array bytes beside it. Keeping them in the
store file means a cohort's crops are written, replaced and deleted in the same
transaction as its patients, and backups and restores carry them without a
second mechanism. Every read checks the checksum.

``lesions`` is a JSON list with one entry per crop (lesion index, diameter,
pixel and slice spacing, radius in pixels). ``metadata`` holds de-identified
series metadata, and for the synthetic demo the stored imaging phenotype the
crops were rendered from.
"""
from __future__ import annotations

import hashlib
import io
import json
import zlib
from typing import Sequence

import numpy as np
import pandas as pd

from crlm.store.connection import Store, StoreError

IMAGE_COLUMNS = ("patient_id", "image_id", "modality", "series_uid", "n_slices",
                 "pixel_spacing_mm", "slice_thickness_mm", "n_lesions", "location", "metadata",
                 "time_point", "known_at", "lesions", "crops", "crops_sha256")
_META_COLUMNS = tuple(c for c in IMAGE_COLUMNS if c != "crops")


def encode_crops(crops: np.ndarray) -> tuple[bytes, str]:
    """Compressed bytes of an int16 crop array and the SHA-256 of its raw bytes."""
    arr = np.ascontiguousarray(np.asarray(crops), dtype=np.int16)
    if arr.ndim != 4:
        raise ValueError(f"crops must be [lesions, slices, rows, columns], got shape {arr.shape}")
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return zlib.compress(buf.getvalue(), 6), hashlib.sha256(arr.tobytes()).hexdigest()


def decode_crops(blob: bytes, sha256: str, where: str = "") -> np.ndarray:
    """The crop array of :func:`encode_crops`; ``StoreError`` when the checksum differs."""
    try:
        arr = np.load(io.BytesIO(zlib.decompress(bytes(blob))), allow_pickle=False)
    except (zlib.error, ValueError, OSError) as exc:
        raise StoreError(f"lesion crops {where} cannot be read: {exc}") from None
    if hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest() != sha256:
        raise StoreError(f"lesion crops {where} do not match their checksum; re-import or "
                         "rebuild the cohort's images")
    return arr


def save_images(cur, cohort: str, images: pd.DataFrame) -> None:
    """Inside a transaction: replace the cohort's rows for these image ids.

    ``images`` has ``IMAGE_COLUMNS`` (``crops`` as an array per row or None;
    ``lesions`` and ``metadata`` as lists / dicts or None).
    """
    missing = [c for c in ("patient_id", "image_id") if c not in images.columns]
    if missing:
        raise ValueError(f"images frame lacks columns: {', '.join(missing)}")
    frame = pd.DataFrame({c: images[c] if c in images.columns else None for c in IMAGE_COLUMNS})
    blobs, sums = [], []
    for crops in frame["crops"]:
        if crops is None or (isinstance(crops, float) and np.isnan(crops)):
            blobs.append(None)
            sums.append(None)
        else:
            blob, digest = encode_crops(crops)
            blobs.append(blob)
            sums.append(digest)
    frame["crops"] = pd.Series(blobs, dtype=object)
    frame["crops_sha256"] = sums
    for name in ("lesions", "metadata"):
        frame[name] = [None if v is None else v if isinstance(v, str) else json.dumps(v)
                       for v in frame[name]]
    cur.register("_incoming_images", frame)
    try:
        cur.execute("DELETE FROM images WHERE cohort = ? AND image_id IN "
                    "(SELECT image_id FROM _incoming_images)", [cohort])
        cols = ", ".join(IMAGE_COLUMNS)
        cur.execute(f"INSERT INTO images (cohort, {cols}) SELECT ?, {cols} FROM _incoming_images",
                    [cohort])
    finally:
        cur.unregister("_incoming_images")


def replace_images(cur, cohort: str, time_point: str, images: pd.DataFrame) -> None:
    """Inside a transaction: the cohort's rows at ``time_point`` become exactly ``images``
    (an image import replaces the cohort's images of that time point as a whole)."""
    if "time_point" in images.columns and (images["time_point"] != time_point).any():
        raise ValueError(f"every replacing image row must be at time point {time_point!r}")
    cur.execute("DELETE FROM images WHERE cohort = ? AND time_point = ?", [cohort, time_point])
    save_images(cur, cohort, images.assign(time_point=time_point))


def load_images(store: Store, cohort: str, time_point: str | None = None) -> pd.DataFrame:
    """The cohort's imaging rows without pixel data (``has_crops`` says whether crops exist)."""
    clauses, params = ["cohort = ?"], [cohort]
    if time_point is not None:
        clauses.append("time_point = ?")
        params.append(time_point)
    cols = ", ".join(_META_COLUMNS)
    return store.cursor().execute(
        f"SELECT {cols}, crops IS NOT NULL AS has_crops FROM images "
        f"WHERE {' AND '.join(clauses)} ORDER BY patient_id, image_id", params).df()


def load_lesion_crops(store: Store, cohort: str, patient_ids: Sequence[str] | None = None,
                      time_point: str = "baseline") -> tuple[np.ndarray, pd.DataFrame] | None:
    """Stored lesion crops ``[n_crops, slices, size, size]`` (int16 HU) and one index row
    per crop (patient_id, image_id, lesion_index, and the lesion's geometry), in patient
    order; ``None`` when the cohort has no crops at this time point."""
    cur = store.cursor()
    clauses, params = ["cohort = ?", "time_point = ?", "crops IS NOT NULL"], [cohort, time_point]
    if patient_ids is not None:
        cur.register("_wanted_image_ids", pd.DataFrame({"patient_id": list(map(str, patient_ids))}))
        clauses.append("patient_id IN (SELECT patient_id FROM _wanted_image_ids)")
    try:
        rows = cur.execute(
            "SELECT patient_id, image_id, lesions, crops, crops_sha256 FROM images "
            f"WHERE {' AND '.join(clauses)} ORDER BY patient_id, image_id", params).fetchall()
    finally:
        if patient_ids is not None:
            cur.unregister("_wanted_image_ids")
    if not rows:
        return None
    arrays, index = [], []
    for patient_id, image_id, lesions, blob, digest in rows:
        arr = decode_crops(blob, digest, where=f"of image {image_id}")
        info = json.loads(lesions or "[]")
        if len(info) != len(arr):
            raise StoreError(f"image {image_id}: {len(arr)} crops but {len(info)} lesion rows")
        arrays.append(arr)
        for k, lesion in enumerate(info):
            index.append({"patient_id": patient_id, "image_id": image_id,
                          "lesion_index": int(lesion.get("lesion_index", k)),
                          **{key: v for key, v in lesion.items() if key != "lesion_index"}})
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) > 1:
        raise StoreError(f"cohort {cohort!r} holds crops of several geometries: {sorted(shapes)}")
    return np.concatenate(arrays), pd.DataFrame(index)


# -- decision time of features --------------------------------------------------
def save_feature_info(cur, cohort: str, info: pd.DataFrame) -> None:
    """Inside a transaction: the decision time (and label, unit) of the cohort's features."""
    need = ["feature_set", "feature", "known_at"]
    missing = [c for c in need if c not in info.columns]
    if missing:
        raise ValueError(f"feature info lacks columns: {', '.join(missing)}")
    frame = pd.DataFrame({c: info[c] if c in info.columns else None
                          for c in need + ["label", "unit", "kind", "levels"]})
    frame["kind"] = frame["kind"].astype(object).where(frame["kind"].notna(), "numeric")
    frame["levels"] = [json.dumps(list(v)) if isinstance(v, (list, tuple)) and len(v) else None
                       for v in frame["levels"]]
    cur.register("_incoming_feature_info", frame)
    try:
        cur.execute("DELETE FROM feature_info WHERE cohort = ? AND (feature_set, feature) IN "
                    "(SELECT feature_set, feature FROM _incoming_feature_info)", [cohort])
        cur.execute("INSERT INTO feature_info (cohort, feature_set, feature, known_at, label, "
                    "unit, kind, levels) SELECT ?, feature_set, feature, known_at, label, unit, "
                    "kind, levels FROM _incoming_feature_info", [cohort])
    finally:
        cur.unregister("_incoming_feature_info")


def load_feature_info(store: Store, cohort: str) -> pd.DataFrame:
    """feature_set, feature, known_at, label, unit, kind ('numeric' unless 'categorical')
    and levels (a list of level names, empty for a numeric feature)."""
    frame = store.cursor().execute(
        "SELECT feature_set, feature, known_at, label, unit, coalesce(kind, 'numeric') AS kind, "
        "levels FROM feature_info WHERE cohort = ? ORDER BY feature_set, feature", [cohort]).df()
    frame["levels"] = [json.loads(v) if isinstance(v, str) and v else [] for v in frame["levels"]]
    return frame
