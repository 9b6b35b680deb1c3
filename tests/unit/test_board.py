"""The board's session on a real store file: cases of a meeting in order, notes with
their audit rows, screening, and the board pack (a page per case)."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from crlm import board as boards
from crlm import cases, store
from tests.support.pdf import pdf_pages, pdf_text

MEETING = dt.date(2026, 12, 3)
ANSWERS = pd.DataFrame([
    {"task_id": "response", "model_id": "response.logistic", "model": "Logistic regression",
     "answered": True, "answer": "probability of response 62 %",
     "interval": "90% prediction set: responder", "calibration": "slope 0.9"},
    {"task_id": "os_risk", "model_id": "os_risk.cox", "model": "Cox",
     "answered": True, "answer": "1 y 89 % (87–92); 3 y 66 % (61–70); 5 y 47 % (41–52)",
     "interval": "90% bootstrap intervals in brackets", "calibration": ""},
])


@pytest.fixture()
def board_store(tmp_path):
    s = store.Store(tmp_path / "board.duckdb")
    yield s
    s.close()


def _save(s, label: str, summary: str = "Response: 62 %") -> int:
    case = cases.case_from_form(cases.form_values({"max_diameter_cm": 4.0,
                                                   "n_liver_lesions": 2}))
    record = cases.case_record(case, pd.DataFrame(columns=["patient_id", "task", "model_id",
                                                           "model_version", "score"]),
                               cohort="demo", answers=ANSWERS, summary=summary)
    return store.save_case(s, actor="anna", inputs=record["inputs"], scores=record["scores"],
                           label=label, cohort="demo")


def test_cases_of_a_meeting_keep_their_order_and_every_change_is_audited(board_store):
    a, b, c = (_save(board_store, f"MDT case {x}") for x in "ABC")
    for cid in (a, b, c):
        assert store.add_board_item(board_store, meeting_date=MEETING, board="HPB MDT",
                                    case_id=cid, actor="anna")
    assert not store.add_board_item(board_store, meeting_date=MEETING, board="HPB MDT",
                                    case_id=a, actor="anna")          # already listed
    assert store.move_board_item(board_store, meeting_date=MEETING, board="HPB MDT",
                                 case_id=c, step=-1, actor="anna")
    assert not store.move_board_item(board_store, meeting_date=MEETING, board="HPB MDT",
                                     case_id=a, step=-1, actor="anna")  # first already
    session = boards.load_session(board_store, MEETING, "HPB MDT")
    assert [e.case_id for e in session.entries] == [a, c, b]
    assert [e.position for e in session.entries] == [1, 2, 3]
    assert session.entries[0].summary == "Response: 62 %"
    # another meeting is its own list
    assert boards.load_session(board_store, MEETING, "Colorectal MDT").entries == ()
    assert store.remove_board_item(board_store, meeting_date=MEETING, board="HPB MDT",
                                   case_id=c, actor="bob")
    audit = store.load_audit_log(board_store)
    actions = list(audit["action"])
    assert actions.count("board_add_case") == 3 and "board_reorder" in actions
    assert "board_remove_case" in actions
    assert set(audit.loc[audit["action"].str.startswith("board"), "object"]) <= {
        f"case:{a}", f"case:{b}", f"case:{c}"}
    with pytest.raises(ValueError, match="does not exist"):
        store.add_board_item(board_store, meeting_date=MEETING, board="HPB MDT", case_id=999,
                             actor="anna")


def test_notes_are_screened_recorded_with_an_audit_row_and_deleted_with_their_case(board_store):
    cid = _save(board_store, "MDT case A")
    store.add_board_item(board_store, meeting_date=MEETING, board="HPB MDT", case_id=cid,
                         actor="anna")
    before = store.table_checksums(board_store)
    for bad in ("", "Mrs Jones seen today", "MRN 12345678", "x" * 501):
        with pytest.raises(ValueError):
            boards.add_note(board_store, case_id=cid, note=bad, actor="anna")
    assert store.table_checksums(board_store) == before              # nothing written
    note_id = boards.add_note(board_store, case_id=cid, note="Resect after 4 cycles",
                              actor="anna", meeting_date=MEETING, board="HPB MDT")
    entry = boards.load_session(board_store, MEETING, "HPB MDT").entries[0]
    assert len(entry.notes) == 1 and entry.notes[0].endswith("anna: Resect after 4 cycles")
    audit = store.load_audit_log(board_store)
    row = audit[audit["action"] == "case_note"].iloc[0]
    assert row["object"] == f"case:{cid}" and row["detail"].startswith(f"note:{note_id}")
    assert "Resect" not in " ".join(audit["detail"].fillna(""))       # text not in the log
    store.delete_case(board_store, cid, actor="anna")
    assert boards.load_session(board_store, MEETING, "HPB MDT").entries == ()
    assert store.load_case_notes(board_store, [cid]).empty


def test_a_meeting_needs_a_date_and_a_non_identifying_board_label():
    assert boards.check_meeting(MEETING, " HPB MDT ") == (MEETING, "HPB MDT")
    for bad in ("", "Dr Smith's list"):
        with pytest.raises(ValueError):
            boards.check_meeting(MEETING, bad)
    with pytest.raises(ValueError, match="date"):
        boards.check_meeting(None, "HPB MDT")


def test_the_board_pack_has_a_page_per_case_with_its_answers_and_notes(board_store):
    ids = [_save(board_store, f"MDT case {x}", summary=f"summary {x}") for x in "AB"]
    for cid in ids:
        store.add_board_item(board_store, meeting_date=MEETING, board="HPB MDT", case_id=cid,
                             actor="anna")
    boards.add_note(board_store, case_id=ids[1], note="Second opinion on imaging",
                    actor="anna")
    session = boards.load_session(board_store, MEETING, "HPB MDT")
    pdf = boards.board_pack(board_store, session)
    assert pdf.startswith(b"%PDF-") and pdf_pages(pdf) == 2
    text = pdf_text(pdf)
    assert "Board pack: HPB MDT, 2026-12-03" in text
    assert "Case: MDT case A" in text and "Case: MDT case B" in text
    assert "probability of response 62 %" in text and "90% prediction set: responder" in text
    assert "Summary: summary B" in text and "Second opinion on imaging" in text
    assert "Research use only, not a medical device." in text
    with pytest.raises(ValueError, match="no case"):
        boards.board_pack(board_store, boards.load_session(board_store, MEETING, "Other"))
