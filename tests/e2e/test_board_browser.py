"""The Board session in a real browser, with sign-in: a clinician lists two saved cases
for a meeting, reorders them, records a note and downloads the board pack (a page per
case, in the meeting's order); a viewer reads the same session and downloads the pack
but sees no control that changes it."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot, serve_app, wait_idle
from tests.support.pdf import pdf_pages, pdf_text

pytestmark = pytest.mark.e2e

CLINICIAN, VIEWER = ("cleo", "clinician-password-1"), ("vera", "viewer-password-1")
BOARD = "HPB MDT"


@pytest.fixture(scope="module")
def board_store(tmp_path_factory):
    """A small untrained demo store with two saved cases."""
    from crlm import cases
    from crlm.cli import main
    from crlm.store import Store, save_case

    path = tmp_path_factory.mktemp("board_store") / "crlm.duckdb"
    assert main(["--db", str(path), "-q", "demo", "--no-train", "--patients", "200",
                 "--seed", "5", "--no-imaging"]) == 0
    case = cases.case_from_form(cases.form_values({"max_diameter_cm": 3.0,
                                                   "n_liver_lesions": 2}))
    answers = pd.DataFrame([{"task_id": "response", "model_id": "response.logistic",
                             "model": "Logistic regression", "answered": True,
                             "answer": "probability of response 62 %",
                             "interval": "90% prediction set: responder", "calibration": ""}])
    with Store(path) as store:
        for label in ("MDT case A", "MDT case B"):
            record = cases.case_record(case, pd.DataFrame(columns=["patient_id", "score"]),
                                       cohort="demo", answers=answers,
                                       summary=f"Response: 62 % ({label})")
            save_case(store, actor="cleo", inputs=record["inputs"], scores=record["scores"],
                      label=label, cohort="demo")
    return path


@pytest.fixture(scope="module")
def board_server(board_store, tmp_path_factory):
    from crlm import auth

    users = tmp_path_factory.mktemp("board_users") / "users.toml"
    auth.add_user(users, CLINICIAN[0], "clinician", CLINICIAN[1])
    auth.add_user(users, VIEWER[0], "viewer", VIEWER[1])
    with serve_app(board_store, tmp_path_factory.mktemp("board_server"),
                   env={"CRLM_DEMO_MODE": "", "CRLM_USERS": str(users)}) as served:
        yield served


def _open_board(browser, url: str, who: tuple[str, str]):
    context = browser.new_context(viewport={"width": 1400, "height": 1100},
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/board")
    page.get_by_role("textbox", name="User name").fill(who[0])
    page.get_by_role("textbox", name="Password").fill(who[1])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Board session", exact=True).first.wait_for()
    wait_idle(page)
    board = page.get_by_role("textbox", name="Board")
    board.fill(BOARD)
    board.press("Enter")
    wait_idle(page)
    page.get_by_text(f"{BOARD}, ").first.wait_for()
    return context, page


def _pack(page) -> bytes:
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name="Download the board pack (PDF)").click()
    return Path(info.value.path()).read_bytes()


def _cases(page):
    """The meeting's case headers (the sidebar's filter groups are expanders too)."""
    return page.locator('[data-testid="stExpander"] summary').filter(has_text="Case ")


def _click(page, name: str, nth: int = 0) -> None:
    page.get_by_role("button", name=name).nth(nth).click()
    wait_idle(page)


def test_a_clinician_prepares_the_session_and_a_viewer_reads_it(board_server, browser,
                                                                tmp_path):
    context, page = _open_board(browser, board_server.url, CLINICIAN)
    page.get_by_text("No case on this meeting's list yet.").wait_for()
    _click(page, "Add to this meeting")
    page.get_by_text("Added case").first.wait_for()
    _click(page, "Add to this meeting")
    page.get_by_text("Every saved case is on the list").wait_for()
    # the saved cases are offered newest first: B, then A; A moves up to the first place
    expect(_cases(page).first).to_contain_text("1. Case 2: MDT case B")
    _click(page, "Move up", 1)
    page.get_by_text("Moved case 1 up.").wait_for()
    expect(_cases(page).first).to_contain_text("1. Case 1: MDT case A")
    note = page.get_by_role("textbox", name="Note").first
    note.fill("Discuss resection after 4 cycles")
    _click(page, "Add note")
    page.get_by_text("cleo: Discuss resection after 4 cycles").wait_for()
    screenshot(page, "board_session_clinician", tmp_path)
    pdf = _pack(page)
    assert pdf.startswith(b"%PDF-") and pdf_pages(pdf) == 2
    text = pdf_text(pdf)
    assert text.index("Case: MDT case A") < text.index("Case: MDT case B")
    assert "Discuss resection after 4 cycles" in text and f"Board pack: {BOARD}" in text
    context.close()

    context, page = _open_board(browser, board_server.url, VIEWER)
    page.get_by_text("reads the session; clinicians prepare it").wait_for()
    expect(_cases(page).first).to_contain_text("1. Case 1: MDT case A")
    expect(_cases(page)).to_have_count(2)
    for name in ("Add to this meeting", "Move up", "Move down", "Remove", "Add note"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("link", name="Score a case")).to_have_count(0)
    assert pdf_pages(_pack(page)) == 2
    screenshot(page, "board_session_viewer", tmp_path)
    context.close()
    log = board_server.log.read_text()
    assert "Traceback" not in log
