"""Lesion regions: DICOM SEG round trip and user-drawn regions."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from crlm.ingest.dicom import DicomError, read_seg, read_series, region_mask, write_ct_series, write_seg_file

KEY = b"seg-test"


@pytest.fixture()
def case(tmp_path):
    vol = np.random.default_rng(5).normal(50, 10, size=(8, 32, 40)).astype(np.float32)
    paths = write_ct_series(tmp_path / "ct", vol, (3.0, 0.75, 0.75), 3.0, seed=2, patient_label="s")
    mask = np.zeros(vol.shape, dtype=bool)
    mask[2:5, 10:18, 12:25] = True
    mask[3, 5, 5] = True
    seg_path = write_seg_file(tmp_path / "seg" / "seg.dcm", paths, mask, seed=2, patient_label="s")
    return tmp_path, paths, mask, seg_path


def test_seg_round_trip_from_file_and_zip(case):
    tmp_path, paths, mask, seg_path = case
    hu, meta = read_series(tmp_path / "ct", key=KEY)
    np.testing.assert_array_equal(read_seg(seg_path, meta, key=KEY), mask)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in paths:
            zf.write(p, f"CT/{p.name}")
        zf.write(seg_path, "SEG/seg.dcm")
    data = buf.getvalue()
    hu_zip, meta_zip = read_series(data, key=KEY)  # the SEG in the zip is skipped
    np.testing.assert_array_equal(hu_zip, hu)
    np.testing.assert_array_equal(read_seg(data, meta_zip, key=KEY), mask)


def test_seg_on_another_grid_is_refused(case):
    tmp_path, paths, mask, seg_path = case
    _, meta = read_series(tmp_path / "ct", key=KEY)
    wrong = dict(meta, rows=64)
    with pytest.raises(DicomError, match="resampling not supported"):
        read_seg(seg_path, wrong, key=KEY)
    shifted = dict(meta, slice_positions_mm=[p + 50 for p in meta["slice_positions_mm"]])
    with pytest.raises(DicomError, match="matches no CT slice"):
        read_seg(seg_path, shifted, key=KEY)


def test_no_seg_found(case):
    tmp_path, *_ = case
    _, meta = read_series(tmp_path / "ct", key=KEY)
    with pytest.raises(DicomError, match="no DICOM SEG"):
        read_seg(tmp_path / "ct", meta, key=KEY)


def test_write_seg_checks_mask(case):
    tmp_path, paths, mask, _ = case
    with pytest.raises(DicomError, match="empty"):
        write_seg_file(tmp_path / "x.dcm", paths, np.zeros_like(mask), seed=1, patient_label="s")
    with pytest.raises(DicomError, match="does not match"):
        write_seg_file(tmp_path / "x.dcm", paths, mask[:3], seed=1, patient_label="s")


def test_region_mask_disc_and_box():
    disc = region_mask((5, 20, 20), slice_index=2, centre_yx=(10, 10), radius_px=3)
    assert disc.dtype == np.bool_ and disc.shape == (5, 20, 20)
    assert disc[2].sum() == 29 and disc[[0, 1, 3, 4]].sum() == 0  # lattice points within r=3
    assert disc[2, 10, 13] and not disc[2, 10, 14]
    box = region_mask((5, 20, 20), slice_index=1, box=(2, 3, 6, 8), half_depth_slices=1)
    assert box.sum() == 3 * 4 * 5 and box[0:3].sum() == box.sum()
    with pytest.raises(ValueError, match="slice_index"):
        region_mask((5, 20, 20), slice_index=5, centre_yx=(1, 1), radius_px=1)
    with pytest.raises(ValueError, match="outside the image"):
        region_mask((5, 20, 20), slice_index=0, centre_yx=(100, 100), radius_px=2)
    with pytest.raises(ValueError):
        region_mask((5, 20, 20), slice_index=0)
