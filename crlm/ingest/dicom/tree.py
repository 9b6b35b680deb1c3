"""De-identify every DICOM file of a folder or zip into a new folder.

Output layout: ``<out_dir>/<de-identified series UID>/<de-identified SOP
instance UID>.dcm`` (original file names are not reused: they may hold names).
All files are written to a temporary folder beside ``out_dir`` and moved into
place only when every file succeeded, so an error leaves nothing behind.
``out_dir`` must not exist or be an empty folder.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import pydicom

from crlm.ingest.dicom.deid import deidentify
from crlm.ingest.dicom.errors import DicomError
from crlm.ingest.dicom.ct_files import file_problem
from crlm.ingest.dicom.sources import DEFAULT_LIMITS, Source, ZipLimits, collect_members, describe_source


@dataclass(frozen=True)
class DeidentifyReport:
    """What :func:`deidentify_tree` wrote."""

    out_dir: str
    n_written: int
    n_series: int
    skipped: tuple[str, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def deidentify_tree(
    in_path: Source,
    out_dir: str | os.PathLike,
    key: bytes | str,
    limits: ZipLimits = DEFAULT_LIMITS,
) -> DeidentifyReport:
    """Write de-identified copies of every DICOM file under ``in_path``; pixels unchanged.

    Files that are not DICOM are skipped and listed in the report; a DICOM file
    that is truncated or corrupt stops the whole run (nothing written).
    """
    label = describe_source(in_path)
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DicomError(f"{out}: the output folder exists and is not empty")
    members = collect_members(in_path, limits)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".deid-", dir=out.parent))
    skipped: list[str] = []
    series: set[str] = set()
    written = 0
    try:
        for member in members:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    with member.open() as fh:
                        ds = pydicom.dcmread(fh, force=False)
            except pydicom.errors.InvalidDicomError:
                skipped.append(f"{member.name}: not a DICOM file")
                continue
            except Exception as exc:
                raise DicomError(f"{label}: {member.name}: unreadable DICOM ({exc})") from exc
            problem = file_problem(ds)
            if problem and problem.startswith(("truncated", "corrupt", "no SOP")):
                raise DicomError(f"{label}: {member.name}: {problem}")
            clean = deidentify(ds, key)
            series_uid = str(clean.get("SeriesInstanceUID", "") or "no-series")
            sop_uid = str(clean.get("SOPInstanceUID", "") or f"object-{written + 1}")
            target = tmp / series_uid / f"{sop_uid}.dcm"
            if target.exists():
                raise DicomError(
                    f"{label}: {member.name}: two files share the SOP Instance UID {sop_uid}"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            clean.save_as(target, enforce_file_format=True)
            series.add(series_uid)
            written += 1
        if written == 0:
            raise DicomError(f"{label}: no DICOM files to de-identify")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return DeidentifyReport(
        out_dir=str(out), n_written=written, n_series=len(series), skipped=tuple(skipped)
    )
