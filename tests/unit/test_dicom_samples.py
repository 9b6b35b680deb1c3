"""Sample cases written by the synthetic CT writer read back through the intake."""
from __future__ import annotations

import numpy as np

from crlm.ingest.dicom import inspect, read_seg, read_series
from crlm.ingest.synthetic_ct import make_sample_cases
from crlm.models.imaging import case_crop, lesion_features

KEY = b"sample-key"


def test_sample_cases_round_trip_and_are_deterministic(tmp_path):
    cases = make_sample_cases(tmp_path / "a", n=1, seed=3)
    again = make_sample_cases(tmp_path / "b", n=1, seed=3)
    assert cases[0].path.endswith("case_01.zip")
    for c, d in zip(cases, again):
        assert open(c.path, "rb").read() == open(d.path, "rb").read()
    case = cases[0]
    hu, meta = read_series(case.path, key=KEY)
    assert hu.shape == case.shape_zyx == (30, 256, 256)
    assert meta["spacing_mm"] == list(case.spacing_mm)
    infos = inspect(case.path, key=KEY)
    assert [i.modality for i in infos] == ["CT", "SEG"] and infos[0].readable
    mask = read_seg(case.path, meta, key=KEY)
    z, y, x = np.nonzero(mask)
    assert np.argmax(mask.sum(axis=(1, 2))) == case.lesion_slice_index
    assert abs(y.mean() - case.centre_yx[0]) < 2 and abs(x.mean() - case.centre_yx[1]) < 2
    feats = lesion_features(hu, mask, meta["spacing_mm"])
    assert abs(feats["max_diameter_cm"] - case.diameter_cm) < 0.3
    assert feats["lesion_minus_surround_hu"] < -5  # hypodense
    crop = case_crop(hu, mask, meta["spacing_mm"])
    assert crop.shape == (3, 64, 64)
    assert all(str(meta[k]).find("SYNTH") == -1 for k in ("series_uid", "study_uid"))
