"""De-identification on pydicom's bundled real CT and MR files."""
from __future__ import annotations

import datetime as dt
import io
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from crlm.ingest.dicom import (
    DicomError,
    date_shift_days,
    deidentify,
    deidentify_command,
    deidentify_tree,
    inspect_command,
    read_series,
    write_ct_series,
)

KEY = b"deid-test-key"
KEPT = (
    "PixelSpacing", "SliceThickness", "ImageOrientationPatient", "ImagePositionPatient",
    "RescaleSlope", "RescaleIntercept", "Modality", "Manufacturer", "ConvolutionKernel",
    "Rows", "Columns", "BitsAllocated", "PixelRepresentation", "SOPClassUID",
)
IDENTIFYING_KEYWORDS = {
    "PatientName", "PatientID", "InstitutionName", "InstitutionAddress", "StationName",
    "StudyID", "AccessionNumber", "ReferringPhysicianName", "OperatorsName",
    "PerformingPhysicianName", "StudyDescription", "SeriesDescription", "ImageComments",
    "DeviceSerialNumber", "RequestingPhysician", "OtherPatientIDs", "PatientAddress",
}


def _identifying_values(ds: pydicom.Dataset) -> set[str]:
    """Every identifying value of a dataset, its nested items and its file meta."""
    values: set[str] = set()

    def visit(d):
        for elem in d:
            if elem.VR == "SQ":
                for item in elem.value:
                    visit(item)
                continue
            if elem.value in (None, "", b""):
                continue
            vals = elem.value if elem.VM > 1 else [elem.value]
            for v in vals:
                text = str(v)
                if elem.VR == "UI" and not text.startswith("1.2.840.10008"):
                    values.add(text)
                elif elem.VR in ("PN", "DA", "DT", "TM"):
                    values.add(text)
                elif elem.keyword in IDENTIFYING_KEYWORDS or elem.keyword == "SourceApplicationEntityTitle":
                    values.add(text)

    visit(ds)
    visit(ds.file_meta)
    return {v.strip() for v in values if len(v.strip()) >= 4}


def _written(ds) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_no_identifying_value_survives_in_written_bytes(name):
    original = pydicom.dcmread(get_testdata_file(name))
    secrets_ = _identifying_values(original)
    assert str(original.PatientName) in secrets_ and len(secrets_) > 8
    data = _written(deidentify(original, KEY))
    # a secret may be part of a value the profile keeps on purpose (MR_small's
    # institution "TOSHIBA" is inside its manufacturer "TOSHIBA_MEC")
    kept_text = " ".join(str(original.get(k, "")) for k in KEPT + ("ManufacturerModelName",))
    leaked = [
        v for v in secrets_ if v.encode("latin-1", "replace") in data and v not in kept_text
    ]
    assert leaked == []
    clean = pydicom.dcmread(io.BytesIO(data))
    assert clean.PatientIdentityRemoved == "YES"
    assert "PS3.15" in clean.DeidentificationMethod
    assert not any(elem.tag.is_private for elem in clean.iterall())
    for keyword in IDENTIFYING_KEYWORDS - {"PatientName", "PatientID", "StudyID",
                                           "AccessionNumber", "ReferringPhysicianName"}:
        assert keyword not in clean
    assert "OtherPatientIDsSequence" not in clean
    assert clean.PatientName == "DEIDENTIFIED"
    assert clean.PatientID.startswith("ANON-")


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_analysis_attributes_and_pixels_unchanged(name):
    original = pydicom.dcmread(get_testdata_file(name))
    clean = pydicom.dcmread(io.BytesIO(_written(deidentify(original, KEY))))
    for keyword in KEPT:
        if keyword in original:
            assert clean[keyword].value == original[keyword].value, keyword
    assert clean.PixelData == original.PixelData
    assert clean.PatientSex == original.PatientSex


def test_input_not_modified_and_deterministic_per_key():
    original = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    before = _written(original)
    a = deidentify(original, KEY)
    b = deidentify(original, KEY)
    c = deidentify(original, b"another key")
    assert _written(original) == before
    assert a.SOPInstanceUID == b.SOPInstanceUID != c.SOPInstanceUID
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    assert a.SOPInstanceUID.startswith("2.25.") and len(a.SOPInstanceUID) <= 64
    assert a.PatientID == b.PatientID != c.PatientID
    assert a.StudyDate == b.StudyDate


def test_dates_shift_consistently_and_keep_intervals():
    original = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    clean = deidentify(original, KEY)
    days = date_shift_days(KEY)
    assert 1 <= days <= 3650 and days == date_shift_days(KEY.decode())

    def d(s):
        return dt.date(int(s[:4]), int(s[4:6]), int(s[6:8]))

    assert d(original.StudyDate) - d(clean.StudyDate) == dt.timedelta(days=days)
    assert d(original.StudyDate) - d(original.SeriesDate) == d(clean.StudyDate) - d(clean.SeriesDate)
    assert clean.StudyTime == ""


def test_empty_key_is_refused():
    with pytest.raises(DicomError, match="key"):
        deidentify(pydicom.dcmread(get_testdata_file("CT_small.dcm")), b"")


def test_deidentify_tree_folder(tmp_path):
    vol = np.random.default_rng(2).integers(-500, 500, size=(5, 24, 24)).astype(np.float32)
    write_ct_series(tmp_path / "in" / "ct", vol, (2.0, 0.9, 0.9), 2.0, seed=4, patient_label="t")
    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "in" / "mr.dcm")
    (tmp_path / "in" / "notes.txt").write_text("not dicom")
    report = deidentify_tree(tmp_path / "in", tmp_path / "out", KEY)
    assert report.n_written == 6 and report.n_series == 2
    assert report.skipped == ("notes.txt: not a DICOM file",)
    files = sorted((tmp_path / "out").rglob("*.dcm"))
    assert len(files) == 6
    for f in files:
        ds = pydicom.dcmread(f)
        assert ds.PatientIdentityRemoved == "YES"
        assert "SYNTHETIC" not in str(ds.get("PatientName", "")) or ds.PatientName == "DEIDENTIFIED"
    hu_in, meta_in = read_series(tmp_path / "in" / "ct", key=KEY)
    hu_out, meta_out = read_series(tmp_path / "out", key=KEY)
    np.testing.assert_array_equal(hu_in, hu_out)
    assert meta_in["series_uid"] == meta_out["series_uid"]
    with pytest.raises(DicomError, match="not empty"):
        deidentify_tree(tmp_path / "in", tmp_path / "out", KEY)


def test_deidentify_tree_writes_nothing_when_a_file_is_truncated(tmp_path):
    vol = np.zeros((3, 16, 16), dtype=np.float32)
    paths = write_ct_series(tmp_path / "in", vol, (2.0, 1.0, 1.0), 2.0, seed=4, patient_label="t")
    data = paths[-1].read_bytes()
    paths[-1].write_bytes(data[:-100])
    with pytest.raises(DicomError, match="truncated"):
        deidentify_tree(tmp_path / "in", tmp_path / "out", KEY)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in"]


def test_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("CRLM_DEID_KEY", "command-key")
    vol = np.zeros((3, 16, 16), dtype=np.float32)
    write_ct_series(tmp_path / "in", vol, (2.0, 1.0, 1.0), 2.0, seed=4, patient_label="t")
    (tmp_path / "in" / "junk.bin").write_bytes(b"\x00" * 300)
    text = inspect_command(tmp_path / "in")
    assert "readable CT" in text and "3 slice(s)" in text and "junk.bin: not a DICOM file" in text
    summary = deidentify_command(tmp_path / "in", tmp_path / "out")
    assert "wrote 3 de-identified file(s) in 1 series" in summary and "junk.bin" in summary
