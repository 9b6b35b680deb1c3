"""The identifying values of a DICOM file and of a typed label, and every text a store
keeps, for the tests that look for identifiers where none may be."""
from __future__ import annotations

import pandas as pd

from crlm.store.backup import backup

FAKE_NAME = "Margaret Thatchwood"
FAKE_DOB = "14/02/1957"

# identifying values added to the bundled file (it has no birth date or referrer)
ADDED = {
    "PatientBirthDate": "19570214",
    "ReferringPhysicianName": "Holloway^Gregory",
    "OtherPatientIDs": "RX7654321",
    "AccessionNumber": "ACC99887766",
    "InstitutionAddress": "12 Harbour Street, Portsmouth",
    "PatientAddress": "7 Elm Row, Fareham",
    "PatientTelephoneNumbers": "023 9287 6543",
}
KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "StudyID",
            "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
            "StationName", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate",
            *ADDED)


def identifying_values(ds) -> set[str]:
    values = set()
    for keyword in KEYWORDS:
        value = str(ds.get(keyword, "") or "").strip()
        if len(value) >= 4:
            values.add(value)
            if "^" in value:  # each part of a person name as well
                values.update(p for p in value.split("^") if len(p) >= 4)
    values.update({FAKE_NAME, "Thatchwood", FAKE_DOB, "4455667"})
    return values


def strings_of_store(store, tmp_path) -> list[str]:
    """Every text cell of every table (read back through a backup export)."""
    dest = tmp_path / "scan"
    manifest = backup(store, dest)
    out = []
    for table in manifest["tables"]:
        frame = pd.read_parquet(dest / f"{table}.parquet")
        for column in frame.columns:
            if frame[column].dtype == object:
                # binary cells are compressed pixel arrays (lesion crops), not text
                out.extend(str(v) for v in frame[column].dropna()
                           if not isinstance(v, (bytes, bytearray)))
    return out
