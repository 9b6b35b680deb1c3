"""The "Score a case" page in a real browser: a sample CT+SEG zip and pydicom's real
scanner file CT_small.dcm are uploaded and scored, the PDF report is downloaded and
checked, a table of cases with bad rows and a wrong file give clear messages.

The page is served from a copy of the session's demo store, so that the test
process's own connection to the original (AppTests) does not lock the server out.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot, serve_app, wait_for_app
from tests.support.pdf import pdf_pages, pdf_text

pytestmark = pytest.mark.e2e

IDENTIFYING_LABEL = "Mr Holloway, DOB 19/03/1961"
LABEL = "Case label (optional; no names, numbers or dates)"
CT_MODE = "CT series (DICOM .zip) + form"
TABLE_MODE = "Table of cases (CSV / Excel)"


@pytest.fixture(scope="module")
def score_server(demo_store_path, tmp_path_factory):
    """The app on its own copy of the demo store: ``(url, store copy, server log)``."""
    with serve_app(demo_store_path, tmp_path_factory.mktemp("score_store")) as served:
        yield served


@pytest.fixture()
def score_url(score_server) -> str:
    return score_server.url


# an element the current script run has drawn (during a rerun, what the previous run drew
# stays on screen, marked stale, until the new run replaces or removes it)
FRESH = '[data-testid="stElementContainer"]:not([data-stale="true"])'
WAIT = 300_000  # ms an expectation waits: the first run loads every model; scoring takes a while


def _settled(page) -> None:
    """Wait until no script run is in progress (the app root's run state)."""
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=WAIT)


def _open_score_page(page, url) -> None:
    page.goto(f"{url}/score")
    expect(page.get_by_text("Score a case", exact=True).first).to_be_visible(timeout=WAIT)
    _settled(page)


def _choose_mode(page, label: str) -> None:
    _settled(page)
    page.locator('[data-testid="stRadio"]').get_by_text(label, exact=True).click()
    expect(page.locator(FRESH).get_by_role("radio", name=label)).to_be_checked(timeout=WAIT)
    _settled(page)


def _upload(page, label_fragment: str, path) -> None:
    _settled(page)
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text=label_fragment)
    uploader.locator('input[type="file"]').set_input_files(str(path))
    expect(uploader).to_contain_text(Path(path).name, timeout=WAIT)
    _settled(page)


def _fill_number(page, label: str, value: str) -> None:
    """Type into the number input the current run drew, and wait until the rerun it
    starts keeps the value."""
    _settled(page)
    field = page.locator(FRESH).get_by_role("spinbutton", name=label)
    expect(field).to_have_count(1, timeout=WAIT)
    field.fill(value)
    field.press("Enter")
    _settled(page)
    expect(field).to_have_value(value, timeout=WAIT)


def _fill_text(page, label: str, value: str) -> None:
    _settled(page)
    field = page.locator(FRESH).get_by_label(label)
    field.fill(value)
    field.press("Enter")
    _settled(page)
    expect(field).to_have_value(value, timeout=WAIT)


def _score(page) -> None:
    _settled(page)
    page.locator(FRESH).get_by_role("button", name="Score case").click()
    expect(page.get_by_text("Why: contributions to the chosen model's score")).to_be_visible(
        timeout=WAIT)
    expect(page.get_by_text("Saved cases", exact=True)).to_be_visible(timeout=WAIT)
    _settled(page)


def test_ct_upload_scores_and_report_downloads(score_url, page, tmp_path):
    from crlm.ingest.synthetic_ct import make_sample_cases

    sample = make_sample_cases(tmp_path / "samples", n=1)[0]
    _open_score_page(page, score_url)
    expect(page.get_by_text("Research use only, not a medical device").first
           ).to_be_visible(timeout=WAIT)
    _choose_mode(page, CT_MODE)
    _upload(page, "CT series", sample.path)
    expect(page.get_by_text("Lesion region from the DICOM SEG in the upload.")
           ).to_be_visible(timeout=WAIT)
    _fill_number(page, "Largest lesion diameter (cm)", "4.5")
    _score(page)
    body = page.locator("body")
    for text in ("Response (RECIST CR/PR)", "Overall survival risk", "No answer",
                 "no trained model of this family",
                 # the lesion count is not entered: no trained model gives a class, each says why
                 "not enough information — needed: Number of liver lesions",
                 "Lesion features used by the tabular models"):
        expect(body).to_contain_text(text, timeout=WAIT)
    wait_for_app(page)
    screenshot(page, "score_ct_sample", tmp_path)

    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name="Download report (PDF)").click()
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf_pages(pdf) == 1
    text = pdf_text(pdf)
    assert "Research use only, not a medical device." in text
    assert "Largest lesion diameter (cm): 4.5" in text and "Model scores" in text

    # a real scanner file: one CT slice without a SEG, lesion marked on the viewer
    import pydicom.data

    real = tmp_path / "CT_small.dcm"
    shutil.copy(pydicom.data.get_testdata_file("CT_small.dcm"), real)
    _upload(page, "CT series", real)
    expect(page.get_by_text("No DICOM SEG in the upload: mark the lesion on a slice.")
           ).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Read 1 slices of 128 × 128 pixels")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Why: contributions to the chosen model's score")
           ).to_have_count(0, timeout=WAIT)
    _score(page)
    expect(page.locator("body")).to_contain_text("Response (RECIST CR/PR)", timeout=WAIT)
    screenshot(page, "score_ct_small", tmp_path)

    # a label that names the patient is refused; a neutral one is saved with the case
    _fill_text(page, LABEL, IDENTIFYING_LABEL)
    page.locator(FRESH).get_by_role("button", name="Save case").click()
    expect(page.get_by_text("Not saved: the case label looks like")).to_be_visible(timeout=WAIT)
    _fill_text(page, LABEL, "MDT week 12, case 3")
    page.locator(FRESH).get_by_role("button", name="Save case").click()
    expect(page.get_by_text("Saved as case")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Not saved: the case label looks like")).to_have_count(0, timeout=WAIT)


def test_table_upload_lists_bad_rows_and_wrong_files_are_refused(score_url, page, tmp_path):
    _open_score_page(page, score_url)
    _choose_mode(page, TABLE_MODE)
    good_bad = tmp_path / "cases.csv"
    good_bad.write_text("age_years,sex,max_diameter_cm,n_liver_lesions,kras\n"
                        "55,male,3.5,2,mutant\n61,female,45,1,wild-type\n")
    _upload(page, "Cases (CSV", good_bad)
    expect(page.get_by_text("1 of 2 rows have problems and were not scored")
           ).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Scores of 1 cases")).to_be_visible(timeout=WAIT)
    wrong = tmp_path / "notes.pdf"
    wrong.write_bytes(b"%PDF-1.4 not a table")
    _upload(page, "Cases (CSV", wrong)
    expect(page.get_by_text("cases are read from .csv, .tsv or .xlsx files")
           ).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Scores of 1 cases")).to_have_count(0, timeout=WAIT)
    screenshot(page, "score_table_refused", tmp_path)


def test_no_identifier_of_the_uploads_reached_the_store_or_the_server_log(score_server, tmp_path):
    """Runs after the uploads above: every identifying value CT_small.dcm and the sample
    zip carried, and the refused label, are absent from the server's store and its log."""
    import zipfile

    import pydicom
    import pydicom.data

    from tests.support.identifiers import KEYWORDS, identifying_values, strings_of_store
    from crlm.ingest.synthetic_ct import make_sample_cases
    from crlm.store import Store, load_cases

    # the real scanner file: every identifying value, and each part of its person names
    secrets = identifying_values(pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm")))
    # the synthetic sample: whole values only (its names are the words "SYNTHETIC^DEMO")
    sample = make_sample_cases(tmp_path / "samples", n=1)[0]  # deterministic: the same zip
    with zipfile.ZipFile(sample.path) as zf:
        for name in zf.namelist()[:3]:
            with zf.open(name) as fh:
                ds = pydicom.dcmread(fh)
            secrets |= {str(ds.get(k)) for k in KEYWORDS if len(str(ds.get(k) or "")) >= 4}
    secrets |= {"Holloway", "19/03/1961"}
    score_server.stop()
    with Store(score_server.store, read_only=True, create=False) as store:
        assert len(load_cases(store)) >= 1, "the browser test saved no case"
        texts = strings_of_store(store, tmp_path)
    blob = "\n".join(texts + [score_server.log.read_text()])
    found = sorted(s for s in secrets
                   if re.search(rf"(?<![A-Za-z0-9]){re.escape(s)}(?![A-Za-z0-9])", blob, re.I))
    assert not found, f"identifying values in the store or the log: {found}"
