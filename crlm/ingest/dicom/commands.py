"""Text front-ends for the command line: ``python -m crlm dicom inspect|deidentify``."""
from __future__ import annotations

import os

from crlm.ingest.dicom.deid import default_key
from crlm.ingest.dicom.reader import inspect
from crlm.ingest.dicom.tree import deidentify_tree


def inspect_command(path: str | os.PathLike) -> str:
    """A readable report of the series in ``path`` and what stops each from being read."""
    infos = inspect(path)
    lines = [f"{path}:"]
    if not infos:
        lines.append("  nothing found")
    for info in infos:
        if not info.series_uid:
            lines.append(f"  {info.n_files} file(s) that are not readable DICOM:")
            lines.extend(f"    - {p}" for p in info.problems)
            continue
        status = "readable CT" if info.readable else "NOT readable"
        spacing = (
            f"{info.pixel_spacing_mm[0]:.3g} x {info.pixel_spacing_mm[1]:.3g} mm"
            if info.pixel_spacing_mm else "? mm"
        )
        lines.append(
            f"  series {info.series_uid} [{status}]\n"
            f"    {info.sop_class}; modality {info.modality or '?'}; series number "
            f"{info.series_number}; {info.n_files} file(s), {info.n_slices} slice(s) of "
            f"{info.rows}x{info.columns}; pixel {spacing}; thickness "
            f"{info.slice_thickness_mm} mm; spacing {info.slice_spacing_mm} mm; "
            f"{info.manufacturer or '?'} / kernel {info.convolution_kernel or '?'}; "
            f"{info.transfer_syntax}"
        )
        lines.extend(f"    problem: {p}" for p in info.problems)
    return "\n".join(lines)


def deidentify_command(
    in_path: str | os.PathLike, out_dir: str | os.PathLike, key: bytes | str | None = None
) -> str:
    """De-identify ``in_path`` into ``out_dir`` with the installation key; a summary."""
    report = deidentify_tree(in_path, out_dir, default_key() if key is None else key)
    lines = [
        f"wrote {report.n_written} de-identified file(s) in {report.n_series} series to "
        f"{report.out_dir}"
    ]
    if report.skipped:
        lines.append(f"skipped {len(report.skipped)} file(s):")
        lines.extend(f"  - {s}" for s in report.skipped)
    return "\n".join(lines)
