"""CT series reading: round trip, ordering, geometry checks and bad files."""
from __future__ import annotations

import io
import shutil
import zipfile

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLosslessSV1, RLELossless

from crlm.ingest.dicom import DicomError, list_series, read_series, write_ct_series

KEY = b"test-key"


@pytest.fixture(autouse=True)
def _key_env(monkeypatch):
    monkeypatch.setenv("CRLM_DEID_KEY", "env-test-key")


def _volume(shape=(9, 40, 48), seed=3):
    rng = np.random.default_rng(seed)
    return rng.integers(-1000, 1500, size=shape).astype(np.float32)


def _write(path, vol=None, spacing=(2.5, 0.8, 0.7), label="p1", description="Synthetic portal venous CT"):
    vol = _volume() if vol is None else vol
    paths = write_ct_series(path, vol, spacing, thickness_mm=3.0, seed=11, patient_label=label,
                            series_description=description)
    return vol, paths


def test_round_trip_same_hu_and_geometry_with_shuffled_file_names(tmp_path):
    vol, paths = _write(tmp_path / "ct")
    rng = np.random.default_rng(0)
    for i, p in enumerate(rng.permutation(paths)):  # names no longer follow position
        p.rename(p.with_name(f"x{i:03d}.tmp"))
    hu, meta = read_series(tmp_path / "ct", key=KEY)
    assert hu.dtype == np.float32
    np.testing.assert_array_equal(hu, vol)
    assert meta["n_slices"] == 9 and (meta["rows"], meta["columns"]) == (40, 48)
    assert meta["pixel_spacing_mm"] == [0.8, 0.7]
    assert meta["slice_spacing_mm"] == pytest.approx(2.5)
    assert meta["slice_thickness_mm"] == pytest.approx(3.0)
    assert meta["spacing_mm"] == pytest.approx([2.5, 0.8, 0.7])
    assert meta["orientation"] == [1, 0, 0, 0, 1, 0]
    assert meta["slice_normal"] == [0, 0, 1]
    assert meta["modality"] == "CT" and meta["convolution_kernel"] == "SYNTHETIC_SOFT"
    assert meta["rescale_intercept"] == -1024 and meta["rescale_slope"] == 1
    assert np.all(np.diff(meta["slice_positions_mm"]) > 0)
    assert meta["series_uid"].startswith("2.25.")


def test_zip_path_bytes_and_file_like_give_the_same_volume(tmp_path):
    vol, paths = _write(tmp_path / "ct")
    zpath = tmp_path / "case.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in paths:
            zf.write(p, f"case/CT/{p.name}")
        zf.writestr("case/README.txt", "not dicom")
    data = zpath.read_bytes()
    for source in (zpath, data, io.BytesIO(data)):
        hu, meta = read_series(source, key=KEY)
        np.testing.assert_array_equal(hu, vol)


def test_series_uid_is_deidentified_and_stable_for_a_key(tmp_path):
    _write(tmp_path / "ct")
    original = str(pydicom.dcmread(next((tmp_path / "ct").iterdir())).SeriesInstanceUID)
    _, meta_a = read_series(tmp_path / "ct", key=KEY)
    _, meta_b = read_series(tmp_path / "ct", key=KEY)
    _, meta_c = read_series(tmp_path / "ct", key=b"other")
    assert meta_a["series_uid"] == meta_b["series_uid"] != meta_c["series_uid"]
    assert original not in str(meta_a)


def test_multiple_series_need_a_choice(tmp_path):
    vol_a, _ = _write(tmp_path / "ct", description="arterial")
    vol_b, _ = _write(tmp_path / "ct2", vol=_volume(seed=9), description="portal")
    for p in (tmp_path / "ct2").iterdir():
        shutil.move(p, tmp_path / "ct" / ("b" + p.name))
    with pytest.raises(DicomError, match="2 CT series found") as err:
        read_series(tmp_path / "ct", key=KEY)
    infos = list_series(tmp_path / "ct", key=KEY)
    assert len(infos) == 2 and all(i.readable and i.n_slices == 9 for i in infos)
    for info in infos:
        assert info.series_uid in str(err.value)
    chosen = next(i for i in infos if i.series_description == "portal")
    hu, meta = read_series(tmp_path / "ct", series_uid=chosen.series_uid, key=KEY)
    np.testing.assert_array_equal(hu, vol_b)
    assert meta["series_uid"] == chosen.series_uid
    with pytest.raises(DicomError, match="no series with UID"):
        read_series(tmp_path / "ct", series_uid="1.2.3", key=KEY)


def test_missing_slice_is_inconsistent_spacing(tmp_path):
    _, paths = _write(tmp_path / "ct")
    paths[4].unlink()
    with pytest.raises(DicomError, match="inconsistent slice spacing"):
        read_series(tmp_path / "ct", key=KEY)
    info = list_series(tmp_path / "ct", key=KEY)[0]
    assert not info.readable and "inconsistent slice spacing" in info.problems[0]


def test_small_jitter_within_tolerance_is_accepted(tmp_path):
    _, paths = _write(tmp_path / "ct")
    ds = pydicom.dcmread(paths[3])
    ds.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) + 0.02
    ds.save_as(paths[3])
    hu, meta = read_series(tmp_path / "ct", key=KEY)
    assert hu.shape[0] == 9


def test_duplicate_position_is_refused(tmp_path):
    _, paths = _write(tmp_path / "ct")
    ds = pydicom.dcmread(paths[2])
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    ds.save_as(tmp_path / "ct" / "dup.dcm")
    with pytest.raises(DicomError, match="share the position"):
        read_series(tmp_path / "ct", key=KEY)


def test_gantry_tilt_is_refused(tmp_path):
    _, paths = _write(tmp_path / "ct")
    for i, p in enumerate(paths):
        ds = pydicom.dcmread(p)
        ds.ImagePositionPatient[1] = float(ds.ImagePositionPatient[1]) + 0.5 * i
        ds.save_as(p)
    with pytest.raises(DicomError, match="gantry tilt"):
        read_series(tmp_path / "ct", key=KEY)


def test_real_ct_file_rescaled_to_hu():
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    hu, meta = read_series(path, key=KEY)
    assert hu.shape == (1, 128, 128)
    expected = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(hu[0], expected)
    assert meta["manufacturer"] == "GE MEDICAL SYSTEMS"
    assert meta["slice_thickness_mm"] == 5.0 and meta["slice_spacing_mm"] == 5.0
    assert "JFK" not in str(meta) and "1.3.6.1.4.1.5962" not in str(meta)


def test_rle_compressed_series_is_decoded(tmp_path):
    vol, paths = _write(tmp_path / "ct")
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.compress(RLELossless)
        ds.save_as(p)
    hu, meta = read_series(tmp_path / "ct", key=KEY)
    np.testing.assert_array_equal(hu, vol)
    assert meta["transfer_syntax"] == "RLE Lossless"


def test_not_dicom(tmp_path):
    p = tmp_path / "notes.dcm"
    p.write_text("hello, not an image" * 20)
    with pytest.raises(DicomError, match="not a DICOM file"):
        read_series(p, key=KEY)


def test_truncated_files():
    with pytest.raises(DicomError, match="truncated"):
        read_series(get_testdata_file("MR_truncated.dcm"), key=KEY)
    data = open(get_testdata_file("CT_small.dcm"), "rb").read()
    with pytest.raises(DicomError, match="truncated"):
        read_series(data[:-3000], key=KEY)
    with pytest.raises(DicomError, match="truncated"):
        read_series(data[:2000], key=KEY)  # ends in the header, before the pixels


def test_not_ct():
    with pytest.raises(DicomError, match="not CT"):
        read_series(get_testdata_file("MR_small.dcm"), key=KEY)


def test_compressed_without_decoder(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PixelData = encapsulate([b"\xff\xd8" + b"\x00" * 64 + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    ds.save_as(tmp_path / "jpeg_ll.dcm")
    with pytest.raises(DicomError, match="no decoder"):
        read_series(tmp_path / "jpeg_ll.dcm", key=KEY)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(DicomError, match="no such file"):
        read_series(tmp_path / "nowhere", key=KEY)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DicomError, match="no files"):
        read_series(tmp_path / "empty", key=KEY)


def test_folder_without_ct_lists_what_it_found(tmp_path):
    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "mr.dcm")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(DicomError, match="no CT image series found") as err:
        read_series(tmp_path, key=KEY)
    assert "MR Image Storage" in str(err.value) and "a.txt" in str(err.value)
