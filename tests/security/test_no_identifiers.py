"""No identifier of an uploaded DICOM file or of a typed label reaches the store or the logs."""
from __future__ import annotations

import json
import logging

import pytest

pydicom = pytest.importorskip("pydicom")

from crlm import privacy  # noqa: E402
from crlm.store import Store, save_case  # noqa: E402
from tests.support.identifiers import (  # noqa: E402
    ADDED, FAKE_DOB, FAKE_NAME, identifying_values, strings_of_store,
)

LABEL = f"MDT review, patient {FAKE_NAME}, DOB {FAKE_DOB}, MRN 4455667"
KEY = b"test-deidentification-key-0123456789"



def test_deidentified_upload_and_screened_label_leave_no_identifier(store_path, tmp_path, caplog):
    from pydicom.data import get_testdata_file

    from crlm.ingest.dicom import deidentify, read_series

    caplog.set_level(logging.DEBUG)
    privacy.install_log_filter()
    try:
        source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        for keyword, value in ADDED.items():
            setattr(source, keyword, value)
        secrets = identifying_values(source)
        assert "CompressedSamples^CT1" in secrets and "JFK IMAGING CENTER" in secrets

        clean_ds = deidentify(source, KEY)
        upload = tmp_path / "upload"
        upload.mkdir()
        clean_ds.save_as(upload / "slice.dcm")
        raw = (upload / "slice.dcm").read_bytes()
        assert not [s for s in secrets if s.encode() in raw and s not in (FAKE_NAME, FAKE_DOB)]

        volume, meta = read_series(upload, key=KEY)
        assert volume.ndim == 3

        from crlm import cases
        with pytest.raises(ValueError, match="identif"):
            cases.screen_label(LABEL)  # the page refuses it outright
        label, findings = privacy.screen_free_text(LABEL)  # and this is what masking keeps
        assert findings
        logging.getLogger("crlm.test").info("saving case labelled %s", LABEL)

        with Store(store_path) as store:
            case_id = save_case(store, actor="clara", inputs={"age_years": 61}, scores={},
                                label=label, image_metadata=meta)
            assert case_id
            texts = strings_of_store(store, tmp_path)
    finally:
        privacy.uninstall_log_filter()

    blob = "\n".join(texts) + "\n" + json.dumps(meta, default=str)
    logs = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in sorted(secrets):
        assert secret.lower() not in blob.lower(), f"{secret!r} is in the store"
        assert secret.lower() not in logs.lower(), f"{secret!r} is in the logs"
    assert "[name]" in label and "[date]" in label
