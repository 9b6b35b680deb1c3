"""Importing a CT cohort laid out as the TCIA Colorectal-Liver-Metastases download: a
tree of tiny synthetic patients (multi-segment SEGs, a JPEG-LS CT, a missing SEG, a SEG
drawn on another grid, an unmatched folder, a folder without DICOM)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from crlm.ingest.crops import lesion_crop
from crlm.ingest.image_import import import_images
from crlm.ingest.importer import import_file
from crlm.ingest.synthetic_tree import TreePatient, write_tree
from crlm.store import (
    Store,
    load_audit_log,
    load_images,
    load_imports,
    load_lesion_crops,
    table_checksums,
)
from tests.support.tcia import tcia_frame

IDS = [f"CRLM-CT-{1001 + i}" for i in range(6)]
TREE = [
    TreePatient(IDS[0], n_tumours=2, phenotype=0.8),                      # coded tumours
    TreePatient(IDS[1], n_tumours=1, seg="named", compression="jpeg-ls"),  # label only, JPEG-LS
    TreePatient(IDS[2], seg="none"),                                       # no SEG
    TreePatient(IDS[3], seg="mismatched"),                                 # SEG on another grid
    TreePatient("CRLM-CT-1999"),                                           # not in the table
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tcia_tree")
    write_tree(root / "Colorectal-Liver-Metastases", TREE, seed=5)
    (root / "Colorectal-Liver-Metastases" / "LICENSE").mkdir()
    (root / "Colorectal-Liver-Metastases" / "LICENSE" / "empty").mkdir()
    frame = tcia_frame(len(IDS), seed=2)
    frame["Patient-ID"] = IDS
    frame.to_csv(root / "clinical.csv", index=False)
    return root


@pytest.fixture()
def store(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("CRLM_DEID_KEY", "image-import-test-key")
    s = Store(tmp_path / "store.duckdb")
    assert import_file(s, tree / "clinical.csv", cohort="tcia").written
    yield s
    s.close()


def test_the_report_lists_every_patient_folder(store, tree):
    result = import_images(store, tree / "Colorectal-Liver-Metastases", cohort="tcia")
    report = result.report
    assert result.written
    by_folder = {p.folder: p for p in report.patients}
    # folders in name order: 1001, 1002, 1003, 1004, 1999, then LICENSE (no files)
    assert report.not_patient_folders == (6,)
    first, second, no_seg, mismatched, unknown = (by_folder[k] for k in range(1, 6))
    assert first.imported and first.n_lesions == 2 and first.n_slices == 20
    assert first.spacing_mm == (5.0, 3.0, 3.0) and first.seg_geometry["matches"]
    assert first.tumour_segments == (5, 6)
    assert [s.split(" ")[0] for s in first.ignored_segments] == ["1", "2", "3", "4"]
    assert "Portal vein" in first.ignored_segments[3]
    assert second.imported and second.n_lesions == 1
    assert second.transfer_syntax.startswith("JPEG-LS")
    assert not no_seg.imported and no_seg.problems == ("no DICOM SEG or RTSTRUCT",)
    assert not mismatched.imported and not mismatched.seg_geometry["matches"]
    assert any("frame of reference" in p for p in mismatched.problems)
    assert any("nearest CT slice" in p for p in mismatched.problems)
    assert not unknown.matched and unknown.patient_id is None
    assert report.unmatched == (5,) and report.failed == (3, 4)
    assert report.cohort_patients_without_images == 2
    assert report.n_imported == 2 and report.n_lesions == 3
    text = report.to_text()
    assert "folder 3" in text and "no DICOM SEG" in text and "folder 5: no patient" in text


def test_stored_crops_are_the_shared_crop_of_the_ct_and_its_seg(store, tree):
    import pydicom

    from crlm.ingest.dicom import read_series
    from crlm.ingest.dicom.seg import read_segments

    import_images(store, tree / "Colorectal-Liver-Metastases", cohort="tcia")
    crops, index = load_lesion_crops(store, "tcia")
    assert crops.shape == (3, 3, 64, 64) and crops.dtype == np.int16
    folder = tree / "Colorectal-Liver-Metastases" / IDS[0]
    volume, meta = read_series(folder)
    seg = pydicom.dcmread(next(folder.rglob("1-1.dcm")))
    _, segments = read_segments(seg, meta)
    expected = lesion_crop(volume, segments[4].mask, meta["spacing_mm"])[0]
    rows = load_images(store, "tcia")
    pid = rows.loc[rows["n_lesions"] == 2, "patient_id"].iloc[0]
    mine = crops[(index["patient_id"] == pid).to_numpy()]
    np.testing.assert_array_equal(mine[0], expected)
    assert set(index["segment_number"]) == {5, 6}
    meta_row = json.loads(rows["metadata"].iloc[0])
    assert meta_row["crop_transform"] == "crlm.ingest.crops.lesion_crop"
    assert set(rows["time_point"]) == {"baseline"} and set(rows["known_at"]) == {"staging"}


def test_reimport_changes_nothing_and_dry_run_writes_nothing(store, tree):
    root = tree / "Colorectal-Liver-Metastases"
    before = table_checksums(store)
    dry = import_images(store, root, cohort="tcia", dry_run=True)
    assert not dry.written and dry.report.n_imported == 2
    assert table_checksums(store) == before
    first = import_images(store, root, cohort="tcia")
    once = table_checksums(store)
    again = import_images(store, root, cohort="tcia")
    twice = table_checksums(store)
    assert again.import_id == first.import_id
    assert twice["images"] == once["images"] and twice["patients"] == once["patients"]
    assert twice["imports"][0] == once["imports"][0]


def test_source_ids_never_reach_the_store_or_the_report(store, tree):
    result = import_images(store, tree / "Colorectal-Liver-Metastases", cohort="tcia")
    stored = "\n".join([
        load_images(store, "tcia").to_csv(), load_imports(store).to_csv(),
        load_audit_log(store).to_csv(), result.report.to_text(),
        json.dumps(result.to_dict()), result.report.to_frame().to_csv()])
    for source_id in [*IDS, "CRLM-CT-1999", "SYNTH-"]:
        assert source_id not in stored, source_id


def test_refusals_change_nothing(store, tree, tmp_path):
    from crlm.ingest.image_import import ImageImportRefused

    before = table_checksums(store)
    with pytest.raises(ImageImportRefused, match="no cohort 'other'"):
        import_images(store, tree / "Colorectal-Liver-Metastases", cohort="other")
    with pytest.raises(ImageImportRefused, match="no such folder"):
        import_images(store, tmp_path / "missing", cohort="tcia")
    assert table_checksums(store) == before


def test_backup_and_restore_keep_the_crops_and_their_checksums(store, tree, tmp_path):
    from crlm.store.backup import backup, restore

    import_images(store, tree / "Colorectal-Liver-Metastases", cohort="tcia")
    crops, index = load_lesion_crops(store, "tcia")
    sums = load_images(store, "tcia")["crops_sha256"].tolist()
    backup(store, tmp_path / "backup")
    restore(tmp_path / "backup", tmp_path / "restored.duckdb")
    with Store(tmp_path / "restored.duckdb") as restored:
        again, again_index = load_lesion_crops(restored, "tcia")
        assert load_images(restored, "tcia")["crops_sha256"].tolist() == sums
    np.testing.assert_array_equal(again, crops)
    assert again_index.equals(index)


def test_cli_import_images_prints_the_report(store, tree, capsys):
    from crlm.cli import main

    path = str(store.path)
    store.close()
    root = str(tree / "Colorectal-Liver-Metastases")
    assert main(["--db", path, "-q", "import-images", root, "--cohort", "tcia",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: 2 patient(s) with 3 lesion(s)" in out and "folder 4" in out
    assert main(["--db", path, "-q", "import-images", root, "--cohort", "nope"]) == 2
    assert "no cohort 'nope'" in capsys.readouterr().out


def test_the_ct_families_are_defaults_only_once_the_cohort_has_crops(store, tree):
    from crlm.models.training import default_families

    ct = {"attention_mil", "cnn_cox", "ct_fusion"}
    assert not ct & {f.name for f in default_families(store, "tcia")}
    import_images(store, tree / "Colorectal-Liver-Metastases", cohort="tcia")
    assert ct <= {f.name for f in default_families(store, "tcia")}
