"""Import a centre's CT cohort: one folder per patient with a CT series and a DICOM SEG.

The layout is that of the public TCIA "Colorectal-Liver-Metastases" collection: under
the tree's root one folder per patient, named by the patient id of the clinical table
(any depth of study / series folders below it), holding one CT image series and one
Segmentation Storage object with the liver, vessels and one segment per tumour.

* **Matching.** A folder's name is the source patient id. It is pseudonymised with the
  key of the clinical import (``crlm.ingest.importer.pseudonym_key`` /
  ``pseudonymise_ids``) and matched to the cohort's stored ids; the clinical table must be
  imported first. Source ids never reach the store, the logs or the report: the report
  names each folder by its position in name order (``folder 3``) and, once matched, by
  its store pseudonym.
* **Tumours.** A segment is a tumour when its coded property type is a neoplasm, mass
  or lesion (SNOMED CT 108369006, 4147007, 52988006, or a code meaning naming them), or
  when its label matches ``tumor``, ``tumour``, ``lesion`` or ``metast``
  (case-insensitive). Other segments (liver, remnant, vessels) are ignored and listed.
  Each tumour segment is one lesion.
* **Geometry.** The SEG must lie on the CT grid (frame of reference, size, orientation,
  pixel spacing, every frame on a CT slice, no in-plane shift): nothing is resampled.
* **Crops.** Each lesion goes through :func:`crlm.ingest.crops.lesion_crop`, the transform
  of an uploaded case; the crops are stored in the patient's baseline ``images`` row
  with the de-identified series metadata (``crlm.ingest.dicom.read_series``).
* **Transaction.** The cohort's baseline CT rows are replaced as a whole, with the
  provenance row, in one transaction; a re-import of the same tree gives the same rows. A
  broken patient is reported and left out, the others land. ``dry_run`` writes nothing.
  Re-importing the clinical table replaces the cohort and its images: import the images
  again afterwards.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from crlm import config

SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
TUMOUR_CODES = frozenset({"108369006", "4147007", "52988006"})  # neoplasm, mass, lesion
TUMOUR_MEANING = re.compile(r"neoplasm|mass|lesion|tumou?r|metasta", re.IGNORECASE)
TUMOUR_LABEL = re.compile(r"tumou?r|lesion|metast", re.IGNORECASE)
IMAGES_MAPPING = "dicom-ct-seg"


class ImageImportRefused(ValueError):
    """An image import that cannot start (no such folder, no such cohort, bad name)."""


@dataclass(frozen=True)
class PatientImport:
    """What the import found in one patient folder (no source id in it)."""

    folder: int                      # position of the folder in name order, from 1
    patient_id: str | None           # the store pseudonym when the folder matched
    matched: bool
    series_found: tuple[str, ...] = ()
    n_slices: int = 0
    spacing_mm: tuple[float, ...] = ()
    transfer_syntax: str = ""
    seg_found: bool = False
    seg_geometry: dict = field(default_factory=dict)
    n_lesions: int = 0
    tumour_segments: tuple[int, ...] = ()
    ignored_segments: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def imported(self) -> bool:
        return self.matched and self.n_lesions > 0 and not self.problems

    def to_dict(self) -> dict:
        return {"folder": self.folder, "patient_id": self.patient_id, "matched": self.matched,
                "series_found": list(self.series_found), "n_slices": self.n_slices,
                "spacing_mm": list(self.spacing_mm), "transfer_syntax": self.transfer_syntax,
                "seg_found": self.seg_found, "seg_geometry": dict(self.seg_geometry),
                "n_lesions": self.n_lesions, "tumour_segments": list(self.tumour_segments),
                "ignored_segments": list(self.ignored_segments),
                "problems": list(self.problems), "imported": self.imported}

    def line(self) -> str:
        who = f"folder {self.folder}" + (f" ({self.patient_id})" if self.patient_id else "")
        if not self.matched:
            return f"{who}: no patient of the cohort has this id; not imported"
        spacing = " x ".join(f"{v:.3g}" for v in self.spacing_mm) or "?"
        geometry = ("SEG on the CT grid" if self.seg_geometry.get("matches")
                    else "no SEG" if not self.seg_found else "SEG does not match the CT")
        head = (f"{who}: {'imported' if self.imported else 'NOT imported'}; "
                f"series: {', '.join(self.series_found) or 'none'}; {self.n_slices} slices, "
                f"spacing {spacing} mm ({self.transfer_syntax or '?'}); {geometry}; "
                f"{self.n_lesions} lesion(s) from tumour segments "
                f"{', '.join(map(str, self.tumour_segments)) or 'none'}")
        lines = [head]
        if self.ignored_segments:
            lines.append("    ignored segments: " + "; ".join(self.ignored_segments))
        lines.extend(f"    problem: {p}" for p in self.problems)
        return "\n".join(lines)


@dataclass(frozen=True)
class ImageImportReport:
    """Per patient folder what was found, the folders that hold no DICOM, and the cohort
    patients without images."""

    cohort: str
    root_name: str
    patients: tuple[PatientImport, ...]
    not_patient_folders: tuple[int, ...]
    cohort_patients_without_images: int

    @property
    def n_imported(self) -> int:
        return sum(p.imported for p in self.patients)

    @property
    def n_lesions(self) -> int:
        return sum(p.n_lesions for p in self.patients if p.imported)

    @property
    def unmatched(self) -> tuple[int, ...]:
        return tuple(p.folder for p in self.patients if not p.matched)

    @property
    def failed(self) -> tuple[int, ...]:
        return tuple(p.folder for p in self.patients if p.matched and not p.imported)

    def to_dict(self) -> dict:
        return {"cohort": self.cohort, "root_name": self.root_name,
                "patients": [p.to_dict() for p in self.patients],
                "not_patient_folders": list(self.not_patient_folders),
                "unmatched_folders": list(self.unmatched), "failed_folders": list(self.failed),
                "cohort_patients_without_images": self.cohort_patients_without_images,
                "n_imported": self.n_imported, "n_lesions": self.n_lesions}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "folder": p.folder, "patient_id": p.patient_id or "", "matched": p.matched,
            "imported": p.imported, "series": ", ".join(p.series_found),
            "slices": p.n_slices, "spacing_mm": " x ".join(f"{v:.3g}" for v in p.spacing_mm),
            "seg": p.seg_found, "seg_matches_ct": bool(p.seg_geometry.get("matches")),
            "lesions": p.n_lesions, "ignored_segments": "; ".join(p.ignored_segments),
            "problems": "; ".join(p.problems)} for p in self.patients])

    def to_text(self) -> str:
        lines = [f"image import of {self.root_name} into cohort {self.cohort!r}: "
                 f"{len(self.patients)} patient folder(s), {self.n_imported} imported with "
                 f"{self.n_lesions} lesion(s), {len(self.failed)} with problems, "
                 f"{len(self.unmatched)} unmatched (folders are numbered in name order)"]
        lines.extend(p.line() for p in self.patients)
        if self.not_patient_folders:
            lines.append("folders without DICOM files, ignored: " + ", ".join(
                f"folder {k}" for k in self.not_patient_folders))
        if self.cohort_patients_without_images:
            lines.append(f"cohort patients without an image folder: "
                         f"{self.cohort_patients_without_images}")
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class ImageImportResult:
    report: ImageImportReport
    import_id: str
    source_sha256: str
    dry_run: bool
    written: bool

    def summary(self) -> str:
        r = self.report
        if self.dry_run:
            return (f"dry run: {r.n_imported} patient(s) with {r.n_lesions} lesion(s) would be "
                    f"imported into cohort {r.cohort!r}; nothing written")
        if not self.written:
            return f"nothing imported into cohort {r.cohort!r}: no patient folder could be read"
        return (f"imported the baseline CT of {r.n_imported} patient(s), {r.n_lesions} lesion "
                f"crop(s), into cohort {r.cohort!r} (import {self.import_id})")

    def to_dict(self) -> dict:
        return {"import_id": self.import_id, "source_sha256": self.source_sha256,
                "dry_run": self.dry_run, "written": self.written, **self.report.to_dict()}


# ---------------------------------------------------------------- one patient folder


def is_tumour(segment) -> bool:
    """A tumour segment: coded as a neoplasm / mass / lesion, or so named."""
    if segment.property_code in TUMOUR_CODES or TUMOUR_MEANING.search(segment.property_meaning):
        return True
    return bool(TUMOUR_LABEL.search(segment.label))


def _describe_segment(segment) -> str:
    from crlm.privacy import screen_free_text

    label = screen_free_text(segment.label)[0][:40]
    kind = segment.property_meaning or segment.property_code or "uncoded"
    return f"{segment.number} {label!r} ({kind})"


def _classify(folder: Path, digest) -> tuple[dict[str, int], list]:
    """Count the folder's objects by SOP class (headers only) and parse its SEGs; feeds
    every file's bytes into ``digest`` in name order."""
    import pydicom

    from crlm.ingest.dicom.sources import collect_members

    counts: dict[str, int] = {}
    segs = []
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
    return counts, segs


def read_patient_folder(folder: Path, *, key: bytes | None = None):
    """``(row, crops, lesions, info)`` of one patient folder: ``info`` is a dict of the
    report's fields; ``crops`` is None when the folder cannot be imported (``info['problems']``
    says why)."""
    from crlm.ingest.crops import lesion_crop
    from crlm.ingest.dicom import DicomError, read_series
    from crlm.ingest.dicom.ct_files import sop_name
    from crlm.ingest.dicom.seg import read_segments

    digest = hashlib.sha256()
    problems: list[str] = []
    info: dict = {"problems": problems}
    try:
        counts, segs = _classify(folder, digest)
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
                transfer_syntax=meta["transfer_syntax"], seg_found=bool(segs))
    if not segs:
        problems.append("no DICOM SEG" + (" (an RTSTRUCT is there: RT structure sets are not "
                                          "read, export the contours as a SEG)"
                                          if RTSTRUCT_STORAGE in counts else ""))
        return None, None, info, digest.hexdigest()
    if len(segs) > 1:
        problems.append(f"{len(segs)} SEG objects; keep one per patient")
        return None, None, info, digest.hexdigest()
    try:
        geometry, segments = read_segments(segs[0], meta, key=key)
    except DicomError as exc:
        problems.append(f"SEG: {exc}")
        return None, None, info, digest.hexdigest()
    info["seg_geometry"] = geometry.to_dict()
    if not geometry.matches:
        problems.extend(f"SEG does not match the CT: {p}" for p in geometry.problems)
        return None, None, info, digest.hexdigest()
    tumours = [s for s in segments if is_tumour(s)]
    info["ignored_segments"] = tuple(_describe_segment(s) for s in segments if not is_tumour(s))
    info["tumour_segments"] = tuple(s.number for s in tumours)
    crops, lesions = [], []
    for s in tumours:
        if not s.mask.any():
            problems.append(f"tumour segment {s.number} holds no pixels")
            continue
        crop, geo = lesion_crop(volume, s.mask, meta["spacing_mm"])
        crops.append(crop)
        lesions.append({"lesion_index": len(lesions), "segment_number": s.number,
                        "source": "coded" if (s.property_code in TUMOUR_CODES or
                                              TUMOUR_MEANING.search(s.property_meaning))
                        else "label", **geo})
    if not tumours:
        problems.append("no tumour segment (coded neoplasm / mass / lesion, or a label "
                        "with tumor, tumour, lesion or metast)")
    info["n_lesions"] = len(crops)
    if problems:
        return None, None, info, digest.hexdigest()
    kept = {k: meta.get(k) for k in (
        "series_uid", "study_uid", "frame_of_reference_uid", "modality", "sop_class",
        "transfer_syntax", "manufacturer", "manufacturer_model", "convolution_kernel", "kvp",
        "n_slices", "rows", "columns", "pixel_spacing_mm", "slice_thickness_mm",
        "slice_spacing_mm", "spacing_mm", "orientation")}
    kept.update(seg_series_uid=_seg_uid(segs[0], key), n_segments=len(segments),
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


# ---------------------------------------------------------------- the tree


def _patient_folders(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.is_symlink()
                   and not p.name.startswith(".")), key=lambda p: p.name)


def _has_files(folder: Path) -> bool:
    return any(f.is_file() for f in folder.rglob("*"))


def import_images(store, root: str | os.PathLike, *, cohort: str, dry_run: bool = False,
                  actor: str = "cli", key: bytes | None = None,
                  on_patient: Callable[[int, int], None] | None = None) -> ImageImportResult:
    """Read every patient folder under ``root``, report, and (unless ``dry_run``) store the
    baseline CT crops of the readable, matched patients in one transaction.

    Raises :class:`ImageImportRefused` when the folder or the cohort cannot be used;
    problems of single patients come back in the report. ``on_patient(done, total)`` is
    called after each folder (progress).
    """
    import time

    from crlm import store as st
    from crlm.ingest.importer import (
        ImportRefused,
        pseudonym_key,
        pseudonymise_ids,
        validate_cohort_name,
    )

    path = Path(root)
    if not path.is_dir():
        raise ImageImportRefused(f"no such folder: {path}")
    try:
        validate_cohort_name(cohort)
    except ImportRefused as exc:
        raise ImageImportRefused(str(exc)) from None
    if st.load_cohort_info(store, cohort) is None:
        raise ImageImportRefused(f"no cohort {cohort!r} in the store: import its clinical "
                                 "table first (python -m crlm import FILE --cohort NAME)")
    stored_ids = set(st.load_cohort(store, st.CohortFilter(cohort=cohort),
                                    columns=["patient_id"])["patient_id"].astype(str))
    folders = _patient_folders(path)
    pseudonyms = pseudonymise_ids([f.name for f in folders], cohort, pseudonym_key(store))
    tree_digest = hashlib.sha256()
    patients: list[PatientImport] = []
    not_patient: list[int] = []
    rows, matched_ids = [], set()
    for k, (folder, pid) in enumerate(zip(folders, pseudonyms), start=1):
        started = time.perf_counter()
        if not _has_files(folder):
            not_patient.append(k)
        elif pid not in stored_ids:
            patients.append(PatientImport(folder=k, patient_id=None, matched=False))
        else:
            matched_ids.add(pid)
            row, crops, info, digest = read_patient_folder(folder, key=key)
            tree_digest.update(pid.encode() + b"\x00" + digest.encode())
            lesions = info.pop("lesions", [])
            info["problems"] = tuple(p.replace(folder.name, "<patient folder>")
                                     for p in info["problems"])
            patients.append(PatientImport(folder=k, patient_id=pid, matched=True,
                                          seconds=round(time.perf_counter() - started, 3),
                                          **info))
            if row is not None:
                rows.append({**row, "patient_id": pid, "image_id": f"{pid}-{config.BASELINE_CT}",
                             "time_point": config.BASELINE_CT, "known_at": config.STAGING,
                             "lesions": lesions, "crops": crops})
        if on_patient:
            on_patient(k, len(folders))
    report = ImageImportReport(cohort=cohort, root_name=path.name, patients=tuple(patients),
                               not_patient_folders=tuple(not_patient),
                               cohort_patients_without_images=len(stored_ids - matched_ids))
    source_hash = tree_digest.hexdigest()
    import_id = hashlib.sha256(f"{cohort}\x00{source_hash}\x00{IMAGES_MAPPING}".encode()
                               ).hexdigest()[:16]
    if dry_run or not rows:
        return ImageImportResult(report, import_id, source_hash, dry_run, written=False)
    frame = pd.DataFrame(rows)
    with store.transaction() as cur:
        st.replace_images(cur, cohort, config.BASELINE_CT, frame)
        st.record_import(cur, import_id=import_id, cohort=cohort, source_name=path.name,
                         source_hash=source_hash, mapping=IMAGES_MAPPING,
                         rows_read=len(patients), rows_accepted=len(rows), imported_by=actor,
                         report=report.to_text())
    return ImageImportResult(report, import_id, source_hash, dry_run, written=True)


def import_images_command(store, root: str, *, cohort: str, dry_run: bool = False,
                          actor: str = "cli", out: TextIO | None = None,
                          progress: bool = False) -> int:
    """``python -m crlm import-images DIR --cohort NAME [--dry-run]``: prints the report and
    a last line; exit status 0 when at least one patient was (or would be) imported, 1 when
    none, 2 when the folder or the cohort cannot be used."""
    out = out or sys.stdout
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit="patient", desc="import-images", file=sys.stderr, leave=False)

    def tick(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.update(1)

    try:
        result = import_images(store, root, cohort=cohort, dry_run=dry_run, actor=actor,
                               on_patient=tick)
    except ImageImportRefused as exc:
        print(f"error: {exc}", file=out)
        return 2
    finally:
        if bar is not None:
            bar.close()
    print(result.report.to_text(), file=out)
    print(result.summary(), file=out)
    return 0 if result.report.n_imported else 1
