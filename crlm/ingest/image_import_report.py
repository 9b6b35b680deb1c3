"""The report of an image import (:mod:`crlm.ingest.image_import`): per patient folder what
was found, and the result of the whole tree. No source patient id is in it."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


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
    segmentation: str = "SEG"        # where the lesions come from: "SEG" or "RTSTRUCT"
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
                "seg_found": self.seg_found, "segmentation": self.segmentation,
                "seg_geometry": dict(self.seg_geometry),
                "n_lesions": self.n_lesions, "tumour_segments": list(self.tumour_segments),
                "ignored_segments": list(self.ignored_segments),
                "problems": list(self.problems), "imported": self.imported}

    def line(self) -> str:
        who = f"folder {self.folder}" + (f" ({self.patient_id})" if self.patient_id else "")
        if not self.matched:
            return f"{who}: no patient of the cohort has this id; not imported"
        spacing = " x ".join(f"{v:.3g}" for v in self.spacing_mm) or "?"
        source = self.segmentation
        geometry = (f"{source} on the CT grid" if self.seg_geometry.get("matches")
                    else "no SEG or RTSTRUCT" if not self.seg_found
                    else f"{source} does not match the CT")
        head = (f"{who}: {'imported' if self.imported else 'NOT imported'}; "
                f"series: {', '.join(self.series_found) or 'none'}; {self.n_slices} slices, "
                f"spacing {spacing} mm ({self.transfer_syntax or '?'}); {geometry}; "
                f"{self.n_lesions} lesion(s) from tumour "
                f"{'segments' if source == 'SEG' else 'ROIs'} "
                f"{', '.join(map(str, self.tumour_segments)) or 'none'}")
        lines = [head]
        if self.ignored_segments:
            lines.append(f"    ignored {'segments' if source == 'SEG' else 'ROIs'}: "
                         + "; ".join(self.ignored_segments))
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
