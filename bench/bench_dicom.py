"""DICOM intake: ingest a CT series, then lesion features and a CNN prediction on it.

Ours: ``read_series`` (sorting by position, geometry checks, HU) + ``region_mask``
+ ``lesion_features`` + ``case_crop`` + ``cnn_predict`` (untrained demo-size
ResNet-18; prediction cost does not depend on the weights). Baseline: a plain
``pydicom.dcmread`` loop over the files + ``np.stack`` + rescale, no checks.
Goal: the whole of ours under 5 s for 100 slices of 512 x 512 on 2 cores.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from bench.common import Result, peak_memory_mb, timed


def _baseline(folder: Path) -> np.ndarray:
    import pydicom

    datasets = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    datasets.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    return np.stack([d.pixel_array.astype(np.float32) * float(d.RescaleSlope)
                     + float(d.RescaleIntercept) for d in datasets])


def run(quick: bool) -> list[Result]:
    from crlm.ingest.dicom import read_series, region_mask, write_ct_series
    from crlm.models.cnn import ResNet18, cnn_predict
    from crlm.models.imaging import case_crop, lesion_features

    n_slices, size = (20, 256) if quick else (100, 512)
    rng = np.random.default_rng(0)
    volume = (55 + 10 * rng.standard_normal((n_slices, size, size))).astype(np.float32)
    spacing = (2.5, 0.75, 0.75)
    model = ResNet18(3, base_width=8, input_size=32).eval()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ct"
        write_ct_series(folder, volume, spacing, 2.5, seed=1, patient_label="bench")

        def ours():
            hu, meta = read_series(folder, key=b"bench-key")
            mask = region_mask(hu.shape, hu.shape[0] // 2, (size / 2, size / 2), radius_px=size / 10,
                               half_depth_slices=4)
            feats = lesion_features(hu, mask, meta["spacing_mm"])
            crop = case_crop(hu, mask, meta["spacing_mm"])
            return feats, cnn_predict(model, crop)

        def read_only():
            return read_series(folder, key=b"bench-key")

        t_base, _ = timed(lambda: _baseline(folder), repeat=2)
        t_read, _ = timed(read_only, repeat=2)
        t_ours, _ = timed(ours, repeat=2)
        peak = peak_memory_mb(ours) if quick else None
        label = f"{n_slices}x{size}x{size}"
        results.append(Result(f"dicom read_series {label}", n_slices, t_read, t_base,
                              "pydicom dcmread loop + np.stack"))
        results.append(Result(f"dicom ingest+features+CNN {label}", n_slices, t_ours, t_base,
                              "pydicom dcmread loop + np.stack", peak_mb=peak,
                              note="goal < 5 s for 100x512x512"))
    return results
