"""De-identification replaces the free text of RT structure sets and SEGs (ROI names, ROI
observation labels, structure set labels, segment labels) with neutral labels that keep
what the image import needs: a name that never survives comes back as ``tumour 1`` and the
de-identified copy imports with the same lesions."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from crlm.ingest.dicom import (
    deidentify,
    deidentify_tree,
    read_rois,
    read_series,
    write_ct_series,
    write_rtstruct_file,
)
from crlm.ingest.dicom.deid_labels import neutral_labels
from crlm.ingest.dicom.seg import read_segments
from crlm.ingest.dicom.writer import write_segmentation_file
from crlm.ingest.image_folder import is_tumour, read_patient_folder
from tests.support.dicom import SHAPE, phantom

KEY = b"deid-labels-test-key"
NAME = "Metastasis - Dr Smith 12345"
TRACES = ("Smith", "12345")


def _rois():
    _, liver, tumour, second, portal = phantom()
    ptv = np.zeros(SHAPE, bool)
    ptv[3:7, 14:34, 10:26] = True
    other = np.zeros(SHAPE, bool)
    other[0:2, 2:6, 2:6] = True
    return [("Liver Smith", "ORGAN", liver), (NAME, "ORGAN", tumour),
            ("Portal vein", "ORGAN", portal), ("PTV tumour Smith", "PTV", ptv),
            ("GTV 12345", "GTV", second), ("Smith kidney", "", other)]


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    root = tmp_path_factory.mktemp("deid_labels")
    folder = root / "patient"
    paths = write_ct_series(folder / "ct", phantom()[0], (2.5, 0.8, 0.8), 2.5, 5, "labels")
    rt = write_rtstruct_file(folder / "rt" / "rt.dcm", paths, _rois(), 5, "labels",
                             structure_set_label=f"Smith {TRACES[1]}")
    ds = pydicom.dcmread(rt)
    ds.StructureSetName = f"Dr {NAME}"
    ds.StructureSetDescription = f"drawn by {NAME}"
    for item in ds.StructureSetROISequence:
        item.ROIDescription = f"{item.ROIName} by {NAME}"
    for item in ds.RTROIObservationsSequence:
        item.ROIObservationLabel = f"Smith {item.ReferencedROINumber}"
        item.ROIObservationDescription = NAME
    ds.save_as(rt, enforce_file_format=True)
    return {"folder": folder, "paths": paths, "rt": rt, "root": root}


def _texts(ds: pydicom.Dataset) -> list[str]:
    """Every text value of a dataset and its nested items (UIDs and numbers aside)."""
    out = []
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                out.extend(_texts(item))
        elif elem.VR in ("LO", "SH", "ST", "LT", "UT", "PN", "CS", "UC") and elem.value:
            out.extend(str(v) for v in (elem.value if elem.VM > 1 else [elem.value]))
    return out


def test_roi_and_structure_set_labels_become_neutral(patient):
    original = pydicom.dcmread(patient["rt"])
    clean = deidentify(original, KEY)
    texts = _texts(clean)
    assert not [t for t in texts if any(trace in t for trace in TRACES)], texts
    assert [item.ROIName for item in clean.StructureSetROISequence] == \
        ["liver", "tumour 1", "vessel", "ROI 4", "tumour 2", "ROI 6"]
    assert [item.ROIObservationLabel for item in clean.RTROIObservationsSequence] == \
        ["liver", "tumour 1", "vessel", "ROI 4", "tumour 2", "ROI 6"]
    assert [item.RTROIInterpretedType for item in clean.RTROIObservationsSequence] == \
        ["ORGAN", "ORGAN", "ORGAN", "PTV", "GTV", ""]
    assert clean.StructureSetLabel == clean.StructureSetName == "structure set"
    assert "StructureSetDescription" not in clean
    assert not any("ROIDescription" in item for item in clean.StructureSetROISequence)
    # the input is not modified
    assert original.StructureSetROISequence[1].ROIName == NAME


def test_deidentified_structure_set_reads_to_the_same_tumours(patient):
    _, meta = read_series(patient["folder"] / "ct", key=KEY)
    original = pydicom.dcmread(patient["rt"])
    before = read_rois(original, meta, key=KEY)[1]
    after = read_rois(deidentify(original, KEY), meta, key=KEY)[1]
    assert [is_tumour(r) for r in before] == [is_tumour(r) for r in after] == \
        [False, True, False, False, True, False]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a.mask, b.mask)


def test_deidentified_rtstruct_patient_imports_with_the_same_lesions(patient, tmp_path):
    out = tmp_path / "deid"
    deidentify_tree(patient["folder"], out, key=KEY)
    for path in out.rglob("*.dcm"):
        data = path.read_bytes()
        assert not any(trace.encode() in data for trace in TRACES), path.name
    (_, crops, info, _), (_, again, again_info, _) = (
        read_patient_folder(folder, key=KEY) for folder in (patient["folder"], out))
    assert info["problems"] == [] and again_info["problems"] == []
    assert again_info["n_lesions"] == info["n_lesions"] == 2
    assert again_info["tumour_segments"] == info["tumour_segments"] == (2, 5)
    assert (crops == again).all()
    assert [les["volume_ml"] for les in again_info["lesions"]] == \
        [les["volume_ml"] for les in info["lesions"]]
    assert [les["source"] for les in again_info["lesions"]] == ["label", "coded"]
    assert not any(trace in " ".join(again_info["ignored_segments"]) for trace in TRACES)


def test_seg_segment_labels_become_neutral(patient, tmp_path):
    volume, liver, tumour, second, portal = phantom()
    seg_path = write_segmentation_file(
        tmp_path / "seg.dcm", patient["paths"],
        [("Liver of Smith", "liver", liver), (NAME, "tissue", tumour),
         ("Smith 12345", "portal vein", portal), ("Lesion", "neoplasm", second)], 5, "labels")
    original = pydicom.dcmread(seg_path)
    original.SegmentSequence[0].SegmentDescription = NAME
    original.ContentDescription = NAME
    clean = deidentify(original, KEY)
    assert not [t for t in _texts(clean) if any(trace in t for trace in TRACES)]
    assert [item.SegmentLabel for item in clean.SegmentSequence] == \
        ["liver", "tumour 1", "vessel", "tumour 2"]
    assert clean.ContentLabel == "SEGMENTATION" and clean.ContentDescription == ""
    _, meta = read_series(patient["folder"] / "ct", key=KEY)
    segments = read_segments(clean, meta, key=KEY)[1]
    assert [is_tumour(s) for s in segments] == [False, True, False, True]


def test_neutral_labels_number_tumours_always_and_others_when_several():
    labels = neutral_labels([(3, "liver"), (1, "tumour"), (7, ""), (4, "vessel"),
                             (5, "vessel"), (2, "tumour")], "ROI")
    assert labels == {1: "tumour 1", 2: "tumour 2", 3: "liver", 4: "vessel 1",
                      5: "vessel 2", 7: "ROI 7"}
