"""Importing patients whose lesions come as an RT structure set instead of a DICOM SEG:
the same regions written once as a SEG and once as RTSTRUCT contours land as the same
lesions; an RTSTRUCT in another frame of reference and a damaged one are reported and the
other patients land."""
from __future__ import annotations

import pydicom
import pytest

from crlm.ingest.image_import import import_images
from crlm.ingest.importer import import_file
from crlm.ingest.synthetic_tree import TreePatient, write_patient
from crlm.store import Store, load_images, load_lesion_crops, table_checksums
from tests.support.tcia import tcia_frame

IDS = [f"CRLM-RT-{2001 + i}" for i in range(4)]
SAME = dict(n_tumours=2, phenotype=0.4, n_slices=16, size_px=64)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("rt_tree")
    images = root / "images"
    # the same CT and regions (same seed): a SEG for the first, an RTSTRUCT for the second
    write_patient(images, TreePatient(IDS[0], seg="coded", **SAME), seed=41)
    write_patient(images, TreePatient(IDS[1], seg="rtstruct", **SAME), seed=41)
    write_patient(images, TreePatient(IDS[2], seg="rtstruct-other-frame", **SAME), seed=42)
    broken = write_patient(images, TreePatient(IDS[3], seg="rtstruct", **SAME), seed=43)
    rt_file = next(broken.rglob("*RTSTRUCT*/1-1.dcm"))
    ds = pydicom.dcmread(rt_file)
    ds.ROIContourSequence[-1].ContourSequence[0].ContourData = ["1.0", "2.0", "3.0", "4.0"]
    ds.save_as(rt_file, enforce_file_format=True)
    frame = tcia_frame(len(IDS), seed=4)
    frame["Patient-ID"] = IDS
    frame.to_csv(root / "clinical.csv", index=False)
    return root


@pytest.fixture()
def store(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("CRLM_DEID_KEY", "rtstruct-import-test-key")
    s = Store(tmp_path / "store.duckdb")
    assert import_file(s, tree / "clinical.csv", cohort="rt").written
    yield s
    s.close()


def test_rtstruct_patients_import_and_broken_ones_are_reported(store, tree):
    result = import_images(store, tree / "images", cohort="rt")
    seg, rt, other_frame, broken = result.report.patients
    assert seg.imported and seg.segmentation == "SEG"
    assert rt.imported and rt.segmentation == "RTSTRUCT" and rt.seg_geometry["matches"]
    assert rt.n_lesions == seg.n_lesions == 2 and rt.tumour_segments == (5, 6)
    assert [s.split(" ")[0] for s in rt.ignored_segments] == ["1", "2", "3", "4"]
    assert all("ORGAN" in s for s in rt.ignored_segments)
    assert not other_frame.imported and not other_frame.seg_geometry["matches"]
    assert other_frame.problems == (
        "RTSTRUCT does not match the CT: the RTSTRUCT's frame of reference differs from the "
        "CT's",)
    assert not broken.imported
    assert broken.problems == ("RTSTRUCT: ROI 6 contour 1: Contour Data holds 4 values, not "
                               "three or more (x, y, z) points",)
    assert result.written and result.report.n_imported == 2 and result.report.n_lesions == 4
    text = result.report.to_text()
    assert "RTSTRUCT on the CT grid" in text and "ignored ROIs" in text
    assert "RTSTRUCT does not match the CT" in text
    assert len(load_images(store, "rt")) == 2


def test_rtstruct_lesions_agree_with_the_seg_of_the_same_regions(store, tree):
    result = import_images(store, tree / "images", cohort="rt")
    seg_id, rt_id = (p.patient_id for p in result.report.patients[:2])
    crops, index = load_lesion_crops(store, "rt")
    by_patient = {pid: index[index["patient_id"] == pid].reset_index(drop=True)
                  for pid in (seg_id, rt_id)}
    seg_rows, rt_rows = by_patient[seg_id], by_patient[rt_id]
    assert len(seg_rows) == len(rt_rows) == 2
    voxel_ml = 5.0 * 3.0 * 3.0 / 1000.0
    for column, tolerance in (("n_voxels", 2), ("volume_ml", 2 * voxel_ml),
                              ("diameter_cm", 0.3)):
        for a, b in zip(seg_rows[column], rt_rows[column]):
            assert abs(float(a) - float(b)) <= tolerance, (column, a, b)
    assert list(rt_rows["source"]) == ["coded", "coded"]  # GTV ROIs
    seg_crops = crops[(index["patient_id"] == seg_id).to_numpy()]
    rt_crops = crops[(index["patient_id"] == rt_id).to_numpy()]
    assert seg_crops.shape == rt_crops.shape
    # contours outlining the SEG's voxels fill back to the same voxels: the same crops
    assert (seg_crops == rt_crops).all()


def test_rtstruct_dry_run_writes_nothing_and_reimport_changes_nothing(store, tree):
    root = tree / "images"
    before = table_checksums(store)
    dry = import_images(store, root, cohort="rt", dry_run=True)
    assert not dry.written and dry.report.n_imported == 2
    assert table_checksums(store) == before
    first = import_images(store, root, cohort="rt")
    once = table_checksums(store)
    again = import_images(store, root, cohort="rt")
    assert again.import_id == first.import_id
    assert table_checksums(store)["images"] == once["images"]


def test_a_deidentified_copy_of_an_rtstruct_patient_gives_the_same_lesions(tree, tmp_path):
    from crlm.ingest.dicom.tree import deidentify_tree
    from crlm.ingest.image_folder import read_patient_folder

    source = tree / "images" / IDS[1]
    deidentify_tree(source, tmp_path / "deid", key=b"rtstruct-deid-key")
    rows = [read_patient_folder(folder, key=b"rtstruct-deid-key")
            for folder in (source, tmp_path / "deid")]
    (_, crops, info, _), (_, again, again_info, _) = rows
    assert again_info["problems"] == [] and again_info["segmentation"] == "RTSTRUCT"
    assert again_info["seg_geometry"]["matches"] and again_info["n_lesions"] == 2
    assert (crops == again).all()
    assert [les["volume_ml"] for les in again_info["lesions"]] == \
        [les["volume_ml"] for les in info["lesions"]]
