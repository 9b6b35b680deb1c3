"""De-identification of DICOM objects (PS3.15 Annex E, Basic Application Level
Confidentiality Profile, with the *Retain Longitudinal Temporal Information with
Modified Dates*, *Retain Patient Characteristics* and *Retain Device Identity*
options for the attributes that image analysis needs).

Convention, applied recursively to every nested sequence item:

* private (odd-group) elements are removed;
* patient name becomes ``DEIDENTIFIED``; patient id becomes ``ANON-<pseudonym>``
  where the pseudonym is a keyed hash of the original id (same key and same
  patient give the same pseudonym, so series of one patient stay linked);
* every other person name (PN), every free-text element (LT, ST, UT) and the
  identifying attributes listed in ``_REMOVE`` are removed; the type-2 ones in
  ``_EMPTY`` are kept with an empty value so the object stays valid;
* dates (DA) are shifted back by a whole number of days derived from the key
  (1 to 3,650 days; the same key always gives the same shift, so intervals
  between studies are preserved); date-times (DT) keep only their shifted date;
  times (TM) are emptied;
* every UID that is not a DICOM-defined UID (root ``1.2.840.10008``) is replaced
  by ``2.25.<integer>``, the integer being the first 128 bits of
  HMAC-SHA256(key, uid) — deterministic for a key, not reversible without it;
  the file meta Media Storage SOP Instance UID follows the SOP Instance UID;
* free-text ROI, segment and structure set labels (RTSTRUCT, SEG) are replaced by
  neutral ones that keep what the image import needs to recognise a tumour
  (:mod:`crlm.ingest.dicom.deid_labels`);
* ``PatientIdentityRemoved`` = ``YES``, ``DeidentificationMethod`` and its code
  sequence record what was done;
* kept unchanged: pixel data, rows/columns, pixel spacing, slice thickness,
  spacing between slices, image position and orientation, rescale slope and
  intercept, modality, manufacturer and model, convolution kernel, KVP, contrast
  agent, patient sex, age (capped at 90 years), size and weight.

Not handled: identifying text burned into the pixels (CT axial images rarely
carry it; ``BurnedInAnnotation`` = ``YES`` is reported by :func:`inspect`).
"""
from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import hmac
import os

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

from crlm.ingest.dicom.deid_labels import neutralise_labels
from crlm.ingest.dicom.errors import DicomError

DICOM_UID_ROOT = "1.2.840.10008"
KEY_ENV = "CRLM_DEID_KEY"
MAX_DATE_SHIFT_DAYS = 3650

# Long String (LO): at most 64 characters.
DEIDENTIFICATION_METHOD = "PS3.15 basic profile; keyed date shift and UID remap; no private"
_METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("113108", "Retain Patient Characteristics Option"),
    ("113109", "Retain Device Identity Option"),
)

# Attributes removed wherever they occur (besides every PN, LT, ST, UT element).
_REMOVE = frozenset(
    """
    OtherPatientIDs OtherPatientIDsSequence OtherPatientNames PatientBirthName
    PatientMotherBirthName PatientAddress PatientTelephoneNumbers
    PatientTelecomInformation MilitaryRank BranchOfService MedicalRecordLocator
    EthnicGroup Occupation AdditionalPatientHistory PatientComments PatientReligiousPreference
    PatientBirthTime PatientInsurancePlanCodeSequence PatientPrimaryLanguageCodeSequence
    IssuerOfPatientID IssuerOfPatientIDQualifiersSequence PatientState PregnancyStatus
    MedicalAlerts Allergies SmokingStatus LastMenstrualDate ResponsiblePerson
    ResponsibleOrganization ResponsiblePersonRole CountryOfResidence RegionOfResidence
    InstitutionName InstitutionAddress InstitutionalDepartmentName InstitutionCodeSequence
    InstitutionalDepartmentTypeCodeSequence
    ReferringPhysicianAddress ReferringPhysicianTelephoneNumbers
    ReferringPhysicianIdentificationSequence PhysiciansOfRecordIdentificationSequence
    PerformingPhysicianIdentificationSequence PhysiciansReadingStudyIdentificationSequence
    OperatorIdentificationSequence RequestingService
    StationName DeviceSerialNumber DeviceUID PlateID GantryID CassetteID DetectorID
    AccessionNumber IssuerOfAccessionNumberSequence StudyID RequestAttributesSequence
    RequestedProcedureID RequestedProcedureDescription ScheduledProcedureStepID
    ScheduledProcedureStepDescription PerformedProcedureStepID
    PerformedProcedureStepDescription PerformedStationName PerformedLocation
    ScheduledStationName ScheduledPerformingPhysicianName PlacerOrderNumberImagingServiceRequest
    FillerOrderNumberImagingServiceRequest AdmissionID IssuerOfAdmissionIDSequence
    ServiceEpisodeID ServiceEpisodeDescription VisitComments CurrentPatientLocation
    PatientInstitutionResidence ReasonForStudy RequestingPhysician
    StudyDescription SeriesDescription ProtocolName ImageComments StudyComments
    DerivationDescription AcquisitionComments FrameComments AdmittingDiagnosesDescription
    AdmittingDiagnosesCodeSequence DischargeDiagnosisDescription ContentCreatorName
    ContentCreatorIdentificationCodeSequence VerifyingObserverName VerifyingObserverSequence
    VerifyingOrganization PersonName PersonAddress PersonTelephoneNumbers
    OrderEnteredBy OrderEntererLocation OrderCallbackPhoneNumber
    TimezoneOffsetFromUTC DataSetTrailingPadding DigitalSignaturesSequence
    MACParametersSequence EncryptedAttributesSequence OriginalAttributesSequence
    ModifiedAttributesSequence SourceApplicationEntityTitle ReferencedPatientSequence
    ReferencedPatientPhotoSequence PatientSexNeutered ConsultingPhysicianName
    ConsultingPhysicianIdentificationSequence TextString TextValue
    """.split()
)

# Type-2 attributes kept with an empty value.
_EMPTY = frozenset(
    """
    PatientBirthDate ReferringPhysicianName AccessionNumber StudyID
    """.split()
)

_REMOVE_VRS = frozenset({"PN", "LT", "ST", "UT"})
_KEEP_PN = frozenset({"PatientName"})


def _key_bytes(key: bytes | str) -> bytes:
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)) or len(key) == 0:
        raise DicomError("de-identification key must be a non-empty str or bytes")
    return bytes(key)


def default_key(key_file: str | os.PathLike | None = None) -> bytes:
    """The installation's de-identification key.

    ``CRLM_DEID_KEY`` if set; else the key stored in ``data/deid.key`` (created
    once with 32 random bytes, file mode 0600). Keep that file secret and backed
    up: the same key is needed to give the same pseudonyms and UIDs later.
    """
    from crlm.privacy import KeyFileError, secret_key

    if key_file is None:
        from crlm.config import DATA_DIR

        key_file = DATA_DIR / "deid.key"
    try:
        return secret_key(key_file, KEY_ENV)
    except KeyFileError as exc:
        raise DicomError(f"{exc} (de-identification key)") from None


def remap_uid(uid: str, key: bytes | str) -> str:
    """The de-identified form of a UID: ``2.25.`` + 128 bits of HMAC-SHA256(key, uid).

    DICOM-defined UIDs (SOP classes, transfer syntaxes, root 1.2.840.10008) are
    returned unchanged.
    """
    uid = str(uid).strip().rstrip("\x00")
    if not uid or uid.startswith(DICOM_UID_ROOT + ".") or uid == DICOM_UID_ROOT:
        return uid
    digest = hmac.new(_key_bytes(key), b"uid:" + uid.encode("ascii", "replace"), hashlib.sha256)
    return "2.25." + str(int.from_bytes(digest.digest()[:16], "big"))


def pseudonym(value: str, key: bytes | str, prefix: str = "ANON-") -> str:
    """A keyed pseudonym of an identifier (12 hex characters)."""
    digest = hmac.new(_key_bytes(key), b"id:" + str(value).encode("utf-8"), hashlib.sha256)
    return prefix + digest.hexdigest()[:12].upper()


def date_shift_days(key: bytes | str) -> int:
    """Days that dates are moved back by for this key (1..3650)."""
    digest = hmac.new(_key_bytes(key), b"date-shift", hashlib.sha256).digest()
    return 1 + int.from_bytes(digest[:4], "big") % MAX_DATE_SHIFT_DAYS


def _shift_date(value: str, days: int) -> str:
    text = str(value).strip()
    if len(text) < 8:
        return ""
    try:
        day = _dt.date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return ""
    return (day - _dt.timedelta(days=days)).strftime("%Y%m%d")


def _cap_age(value: str) -> str:
    text = str(value).strip()
    if len(text) == 4 and text[:3].isdigit() and text[3] == "Y" and int(text[:3]) > 89:
        return "090Y"
    return text


def _clean(ds: Dataset, key: bytes, days: int) -> None:
    for elem in list(ds):
        tag = elem.tag
        if tag.is_private:
            del ds[tag]
            continue
        keyword = elem.keyword
        vr = elem.VR
        if keyword in _EMPTY:
            elem.value = ""
            continue
        if keyword in _REMOVE or (vr in _REMOVE_VRS and keyword not in _KEEP_PN):
            del ds[tag]
            continue
        if keyword == "PatientName":
            elem.value = "DEIDENTIFIED"
        elif keyword == "PatientID":
            elem.value = pseudonym(elem.value, key) if elem.value else ""
        elif keyword == "PatientAge":
            elem.value = _cap_age(elem.value) if elem.value else elem.value
        elif vr == "SQ":
            for item in elem.value:
                _clean(item, key, days)
        elif vr == "UI":
            if elem.VM > 1:
                elem.value = [remap_uid(u, key) for u in elem.value]
            elif elem.value:
                elem.value = remap_uid(elem.value, key)
        elif vr == "DA":
            if elem.VM > 1:
                elem.value = [_shift_date(v, days) for v in elem.value]
            elif elem.value:
                elem.value = _shift_date(elem.value, days)
        elif vr == "DT":
            if elem.VM > 1:
                elem.value = [_shift_date(v, days) for v in elem.value]
            elif elem.value:
                elem.value = _shift_date(elem.value, days)
        elif vr == "TM":
            elem.value = ""


def deidentify(dataset: Dataset, key: bytes | str) -> Dataset:
    """A de-identified copy of ``dataset`` (the input is not modified); see the module doc."""
    key_b = _key_bytes(key)
    days = date_shift_days(key_b)
    ds = copy.deepcopy(dataset)
    _clean(ds, key_b, days)
    neutralise_labels(ds)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEIDENTIFICATION_METHOD
    codes = []
    for value, meaning in _METHOD_CODES:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(codes)
    ds.LongitudinalTemporalInformationModified = "MODIFIED"
    if "PatientName" not in ds:
        ds.PatientName = "DEIDENTIFIED"
    meta = getattr(dataset, "file_meta", None)
    if meta is not None:
        new_meta = FileMetaDataset()
        for elem in meta:
            if elem.keyword in ("ImplementationClassUID", "ImplementationVersionName",
                                "SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
                                "ReceivingApplicationEntityTitle", "PrivateInformation",
                                "PrivateInformationCreatorUID", "SourcePresentationAddress",
                                "SendingPresentationAddress", "ReceivingPresentationAddress"):
                continue
            new_meta.add(copy.deepcopy(elem))
        if "SOPInstanceUID" in ds:
            new_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        new_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        new_meta.ImplementationVersionName = "CRLM_DEID"
        ds.file_meta = new_meta
    return ds
