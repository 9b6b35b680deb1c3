"""Image cohort import: one patient folder of the TCIA layout (CT series + multi-segment
DICOM SEG with liver, remnant, two veins and tumours) read, checked and cropped, and
self-supervised pre-training of the lesion encoder.

Ours (import): ``crlm.ingest.image_import.read_patient_folder`` — file classification
with hashing, ``read_series`` (geometry checks, HU), the SEG read with every geometry
check, the tumour segments recognised and each cropped with ``lesion_crop``. Baseline: a
plain ``pydicom.dcmread`` loop over every file of the folder with ``np.stack`` and
rescale, no checks, no SEG. Goal: under 5 s for a 100-slice 512 x 512 CT on 2 cores.
The same patient with an RT structure set instead of the SEG (the same regions as closed
planar contours, ``TreePatient(seg="rtstruct")``): the contours filled onto the CT grid
with every geometry check, against the same baseline.

Ours (pre-training): ``crlm.models.pretraining.pretrain_encoder`` for one epoch over
``n`` crops (SimCLR, batch 128, one CPU thread); no baseline (the note gives crops per
second, which sets the budget of ``SSL_EPOCHS`` x ``SSL_MAX_CROPS``).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import Result, timed


def _baseline(folder: Path) -> np.ndarray:
    import pydicom

    datasets = [pydicom.dcmread(p) for p in sorted(folder.rglob("*.dcm"))]
    ct = [d for d in datasets if d.Modality == "CT"]
    ct.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    return np.stack([d.pixel_array.astype(np.float32) * float(d.RescaleSlope)
                     + float(d.RescaleIntercept) for d in ct])


def run(quick: bool) -> list[Result]:
    from crlm.ingest.image_import import read_patient_folder
    from crlm.ingest.synthetic_tree import TreePatient, write_patient
    from crlm.models.pretraining import pretrain_encoder

    n_slices, size, pixel = (20, 256, 1.5) if quick else (100, 512, 0.75)
    results = []
    for seg, what in (("coded", "SEG"), ("rtstruct", "RTSTRUCT")):
        with tempfile.TemporaryDirectory() as tmp:
            patient = TreePatient("BENCH-0001", n_tumours=3, n_slices=n_slices, size_px=size,
                                  pixel_mm=pixel, slice_mm=2.5, seg=seg)
            folder = write_patient(tmp, patient, seed=1)
            t_base, _ = timed(lambda: _baseline(folder), repeat=2)
            cpu = time.process_time()
            t_ours, out = timed(lambda: read_patient_folder(folder, key=b"bench-key"),
                                repeat=2)
            cpu = (time.process_time() - cpu) / 2
            n_lesions = 0 if out[1] is None else len(out[1])
            results.append(Result(f"image import, 1 patient {n_slices}x{size}x{size} + {what}",
                                  n_slices, t_ours, t_base, "pydicom dcmread loop + np.stack",
                                  note=f"{n_lesions} tumour crops; {cpu:.2f} s CPU; "
                                       "goal < 5 s"))
    n = 256 if quick else 1024
    crops = np.random.default_rng(0).normal(50, 20, (n, 3, 64, 64)).astype(np.int16)
    cpu = time.process_time()
    t_ssl, (_, info) = timed(lambda: pretrain_encoder(crops, seed=0, epochs=1, max_crops=n),
                             repeat=1)
    cpu = time.process_time() - cpu
    results.append(Result("SSL pre-training, 1 epoch", n, t_ssl, None, "",
                          note=f"{n / t_ssl:.0f} crops/s wall, {n / cpu:.0f} crops per CPU "
                               f"second; device {info['device']}"))
    return results
