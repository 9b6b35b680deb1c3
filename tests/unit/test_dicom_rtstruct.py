"""Reading an RT structure set onto its CT grid: contours filled by the even-odd rule, the
geometry checks (frame of reference, referenced images, slice positions, image extent) and
which ROIs are tumours."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from crlm.ingest.dicom import DicomError, read_series
from crlm.ingest.dicom.rtstruct import Roi, fill_polygon, read_rois
from crlm.ingest.dicom.writer import mask_contours, write_ct_series, write_rtstruct_file
from crlm.ingest.image_folder import is_tumour

SHAPE = (6, 40, 50)


def _masks():
    zz, yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1], 0:SHAPE[2]]
    r = np.hypot(yy - 20, xx - 25)
    ring = (r <= 12) & (r > 5) & (zz >= 1) & (zz <= 4)   # a hole through four slices
    island = (r <= 2) & (zz == 2)                         # and an island inside the hole
    liver = (np.hypot(yy - 6, xx - 6) <= 3) & (zz <= 2)
    return ring | island, liver


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rt")
    paths = write_ct_series(tmp / "ct", np.zeros(SHAPE, np.float32), (2.5, 0.8, 0.7), 2.5,
                            3, "rt")
    tumour, liver = _masks()
    rt = write_rtstruct_file(tmp / "rt.dcm", paths,
                             [("Liver", "ORGAN", liver), ("Tumor 1", "GTV", tumour)], 3, "rt")
    volume, meta = read_series(tmp / "ct")
    uids = frozenset(str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
                     for p in paths)
    return {"rt": rt, "meta": meta, "uids": uids, "tumour": tumour, "liver": liver}


def test_contours_fill_back_to_the_mask_with_holes_and_islands(written):
    ds = pydicom.dcmread(written["rt"])
    geometry, rois = read_rois(ds, written["meta"], ct_instance_uids=written["uids"])
    assert geometry.matches and geometry.to_dict()["matches"]
    liver, tumour = rois
    assert (liver.number, liver.label, liver.interpreted_type) == (1, "Liver", "ORGAN")
    assert tumour.interpreted_type == "GTV" and tumour.n_contours == 9  # 4 outer, 4 holes, 1
    np.testing.assert_array_equal(tumour.mask, written["tumour"])
    np.testing.assert_array_equal(liver.mask, written["liver"])
    assert not tumour.mask[2, 20, 22] and tumour.mask[2, 20, 25]  # hole, then island


def test_fill_polygon_uses_pixel_centres_and_clips_to_the_image():
    square = np.array([[1.5, 1.5], [1.5, 4.5], [4.5, 4.5], [4.5, 1.5]])
    filled = fill_polygon(8, 8, square)
    assert filled.sum() == 9 and filled[2:5, 2:5].all()
    assert fill_polygon(4, 4, square + 10).sum() == 0
    assert fill_polygon(4, 4, square[:2]).sum() == 0
    assert len(mask_contours(np.zeros((5, 5), bool))) == 0


def test_another_frame_of_reference_is_named_and_gives_empty_rois(written):
    ds = pydicom.dcmread(written["rt"])
    ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID = "2.25.1234"
    geometry, rois = read_rois(ds, written["meta"], ct_instance_uids=written["uids"])
    assert geometry.problems == ("the RTSTRUCT's frame of reference differs from the CT's",)
    assert not any(r.mask.any() for r in rois)


def test_contours_off_the_series_are_named(written):
    ds = pydicom.dcmread(written["rt"])
    contour = ds.ROIContourSequence[1].ContourSequence[0]
    contour.ContourImageSequence[0].ReferencedSOPInstanceUID = "2.25.99"
    pts = np.asarray([float(v) for v in contour.ContourData]).reshape(-1, 3)
    pts[:, 2] += 1.0                                   # between two slices 2.5 mm apart
    contour.ContourData = [f"{v:.4f}" for v in pts.ravel()]
    other = ds.ROIContourSequence[0].ContourSequence[0]
    pts = np.asarray([float(v) for v in other.ContourData]).reshape(-1, 3)
    pts[:, 0] -= 100.0                                 # left of the image
    other.ContourData = [f"{v:.4f}" for v in pts.ravel()]
    geometry, rois = read_rois(ds, written["meta"], ct_instance_uids=written["uids"])
    assert geometry.referenced_images == ("1 contour(s) reference an image that is not a "
                                          "slice of the CT series")
    assert "from the nearest CT slice (tolerance 0.62 mm)" in geometry.slice_positions
    assert geometry.in_plane == "1 contour(s) reach outside the CT image"
    assert not any(r.mask.any() for r in rois)


def test_damaged_contour_data_is_an_error(written):
    ds = pydicom.dcmread(written["rt"])
    ds.ROIContourSequence[1].ContourSequence[2].ContourData = ["1", "2", "3", "4", "5", "6"]
    with pytest.raises(DicomError, match="ROI 2 contour 3: Contour Data holds 6 values"):
        read_rois(ds, written["meta"])


def _roi(label: str, kind: str = "", code: str = "", meaning: str = "") -> Roi:
    return Roi(1, label, kind, code, meaning, 1, np.zeros((1, 1, 1), bool))


@pytest.mark.parametrize(("roi", "tumour"), [
    (_roi("GTV_1", "GTV"), True),
    (_roi("Structure 7", "GTV"), True),
    (_roi("Lesion 2", "ORGAN"), True),           # many exporters write ORGAN for every ROI
    (_roi("METASTASIS_S7"), True),
    (_roi("ROI 3", "", "108369006", "Neoplasm"), True),
    (_roi("Liver", "ORGAN"), False),
    (_roi("PTV tumour", "PTV"), False),          # a margin around the tumour, not a lesion
    (_roi("CTV_lesion", "CTV"), False),
    (_roi("Body", "EXTERNAL"), False),
])
def test_tumour_rois_follow_the_segment_rules(roi, tumour):
    assert is_tumour(roi) is tumour
