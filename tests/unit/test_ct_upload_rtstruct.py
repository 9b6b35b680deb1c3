"""Score a case: a CT upload whose lesion comes as an RT structure set (no SEG) takes the
union of its tumour ROIs as the lesion mask; a structure set that does not fit the CT, has
no tumour ROI, is damaged or comes twice is refused with the problem named."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pydicom
import pytest

from crlm import cases
from crlm.ingest.dicom import DicomError, read_rtstruct_mask, write_ct_series, write_rtstruct_file
from tests.support.dicom import phantom

SPACING = (2.5, 0.8, 0.8)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("CRLM_DEID_KEY", "ct-upload-rtstruct-test-key")


@pytest.fixture(scope="module")
def ct_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("upload_rt")
    return tmp, write_ct_series(tmp / "ct", phantom()[0], SPACING, 2.5, 9, "upload")


def _structure_set(ct_files, rois, name="rt.dcm", **kwargs) -> bytes:
    tmp, paths = ct_files
    return write_rtstruct_file(tmp / name, paths, rois, 9, "upload", **kwargs).read_bytes()


def _zip(ct_files, *structure_sets: bytes) -> bytes:
    _, paths = ct_files
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in paths:
            zf.writestr(f"ct/{path.name}", path.read_bytes())
        for k, data in enumerate(structure_sets):
            zf.writestr(f"rt/rt{k}.dcm", data)
    return buf.getvalue()


def _good_rois():
    _, liver, tumour, second, portal = phantom()
    return [("Liver", "ORGAN", liver), ("Metastasis S7", "ORGAN", tumour),
            ("Portal vein", "ORGAN", portal), ("GTV 2", "GTV", second)]


def test_rtstruct_tumour_rois_are_the_lesion_mask(ct_files):
    _, liver, tumour, second, _ = phantom()
    ct = cases.read_ct_upload(_zip(ct_files, _structure_set(ct_files, _good_rois())),
                              "case.zip")
    assert ct.seg_mask is not None and ct.seg_mask.shape == ct.volume.shape
    np.testing.assert_array_equal(ct.seg_mask, tumour | second)
    assert not (ct.seg_mask & liver & ~(tumour | second)).any()
    features, crop = cases.lesion_inputs(ct, ct.seg_mask)
    assert features["max_diameter_cm"] > 0 and crop.ndim == 4 and crop.shape[0] == 1


def test_a_ct_without_seg_or_rtstruct_has_no_mask(ct_files):
    ct = cases.read_ct_upload(_zip(ct_files), "case.zip")
    assert ct.seg_mask is None
    assert read_rtstruct_mask(_zip(ct_files), ct.meta) is None


def _edited(ct_files, name: str, edit) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(_structure_set(ct_files, _good_rois(), name)))
    edit(ds)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _damage(ds):
    ds.ROIContourSequence[1].ContourSequence[0].ContourData = ["1.0", "2.0", "3.0", "4.0"]


@pytest.mark.parametrize("case", ["other frame", "no tumour", "damaged", "two"])
def test_an_rtstruct_that_does_not_fit_is_refused_in_words(ct_files, case):
    _, liver, *_ = phantom()
    if case == "other frame":
        sets = [_structure_set(ct_files, _good_rois(), "other.dcm",
                               frame_of_reference_uid="2.25.424242")]
        message = ("case.zip: RTSTRUCT does not match the CT: the RTSTRUCT's frame of "
                   "reference differs from the CT's")
    elif case == "no tumour":
        sets = [_structure_set(ct_files, [("Liver", "ORGAN", liver)], "liver.dcm")]
        message = ("case.zip: RTSTRUCT: no tumour ROI (interpreted type GTV, coded neoplasm "
                   "/ mass / lesion, or a name with tumor, tumour, lesion or metast)")
    elif case == "damaged":
        sets = [_edited(ct_files, "bad.dcm", _damage)]
        message = ("case.zip: RTSTRUCT: ROI 2 contour 1: Contour Data holds 4 values, not "
                   "three or more (x, y, z) points")
    else:
        good = _structure_set(ct_files, _good_rois())
        sets = [good, good]
        message = "case.zip: 2 RTSTRUCT objects; keep one"
    with pytest.raises(DicomError) as err:
        cases.read_ct_upload(_zip(ct_files, *sets), "case.zip")
    assert str(err.value) == message


def test_an_empty_tumour_roi_is_named(ct_files):
    def empty(ds):
        ds.ROIContourSequence[3].ContourSequence = []

    data = _zip(ct_files, _edited(ct_files, "empty.dcm", empty))
    with pytest.raises(DicomError) as err:
        cases.read_ct_upload(data, "case.zip")
    assert str(err.value) == "case.zip: RTSTRUCT: tumour ROI 4 holds no pixels"
