"""Import a centre's CT cohort: one folder per patient with a CT series and a DICOM SEG
(or, where a folder has no SEG, an RT structure set: :mod:`crlm.ingest.dicom.rtstruct`
fills its contours onto the CT grid, and its tumour ROIs follow the same rules).

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
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pandas as pd

from crlm import config
from crlm.ingest.image_folder import (
    RTSTRUCT_STORAGE,
    SEGMENTATION_STORAGE,
    TUMOUR_CODES,
    TUMOUR_LABEL,
    TUMOUR_MEANING,
    is_tumour,
    read_patient_folder,
)
from crlm.ingest.image_import_report import ImageImportReport, PatientImport

__all__ = [
    "IMAGES_MAPPING", "RTSTRUCT_STORAGE", "SEGMENTATION_STORAGE", "TUMOUR_CODES",
    "TUMOUR_LABEL", "TUMOUR_MEANING", "ImageImportRefused", "ImageImportReport",
    "ImageImportResult", "PatientImport", "import_images", "import_images_command",
    "is_tumour", "read_patient_folder",
]

IMAGES_MAPPING = "dicom-ct-seg"


class ImageImportRefused(ValueError):
    """An image import that cannot start (no such folder, no such cohort, bad name)."""


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
