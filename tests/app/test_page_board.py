"""The Board session page under AppTest, signed in as a clinician (prepares) and as a
viewer (reads), on a store with two saved cases."""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from crlm import cases
from crlm.auth import User

APP = str(Path(__file__).resolve().parents[2] / "app.py")
ANSWERS = pd.DataFrame([{"task_id": "response", "model_id": "response.logistic",
                         "model": "Logistic regression", "answered": True,
                         "answer": "probability of response 62 %",
                         "interval": "90% prediction set: responder", "calibration": ""}])


@pytest.fixture()
def board_store(tmp_path, monkeypatch):
    """A store with a small synthetic cohort, two saved cases, a clinician and a viewer."""
    from crlm import auth
    from crlm.ingest.demo import generate_cohort_frames
    from crlm.store import Store, save_case, save_cohort

    path = tmp_path / "board.duckdb"
    demo = generate_cohort_frames(120, 5)
    case = cases.case_from_form(cases.form_values({"max_diameter_cm": 3.0,
                                                   "n_liver_lesions": 2}))
    with Store(path) as store:
        save_cohort(store, "demo", demo.patients, kind="synthetic")
        for label in ("MDT case A", "MDT case B"):
            record = cases.case_record(case, pd.DataFrame(columns=["patient_id", "score"]),
                                       cohort="demo", answers=ANSWERS,
                                       summary=f"Response: 62 % ({label})")
            save_case(store, actor="cleo", inputs=record["inputs"], scores=record["scores"],
                      label=label, cohort="demo")
    users = tmp_path / "users.toml"
    auth.add_user(users, "cleo", "clinician", "clinician-password-1")
    auth.add_user(users, "vic", "viewer", "viewer-password-1")
    monkeypatch.setenv("CRLM_DB", str(path))
    monkeypatch.setenv("CRLM_USERS", str(users))
    monkeypatch.delenv("CRLM_DEMO_MODE", raising=False)
    return path


def _board(name: str, role: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["auth_user"] = User(name, role, signed_in_at=time.time())
    at.run()
    at.switch_page("views/board.py").run()
    assert not at.exception, at.exception
    at.text_input(key="board_name").set_value("HPB MDT").run()
    return at


def _listed(at: AppTest) -> list[str]:
    tables = [d.value for d in at.dataframe if "summary" in d.value.columns]
    return list(tables[0]["label"]) if tables else []


def test_a_clinician_prepares_the_session_with_order_and_notes(board_store):
    from crlm.store import Store, load_audit_log

    at = _board("cleo", "clinician")
    assert any("No case on this meeting's list yet" in i.value for i in at.info)
    for _ in range(2):
        at.button(key="board_add").click().run()
        assert not at.exception, at.exception
    assert _listed(at) == ["MDT case A", "MDT case B"] or _listed(at) == ["MDT case B",
                                                                          "MDT case A"]
    first = _listed(at)[0]
    table = [d.value for d in at.dataframe if "summary" in d.value.columns][0]
    assert table["summary"].str.startswith("Response: 62 %").all()
    top = int(table["case"].iloc[0])
    at.button(key=f"board_down_{top}").click().run()
    assert _listed(at)[1] == first                                      # moved down
    at.text_area(key=f"board_note_{top}").set_value("Resect after 4 cycles").run()
    at.button(key=f"board_add_note_{top}").click().run()
    assert any(c.value.endswith("cleo: Resect after 4 cycles") for c in at.caption)
    at.text_area(key=f"board_note_{top}").set_value("Mrs Jones, DOB 1/2/1950").run()
    at.button(key=f"board_add_note_{top}").click().run()
    assert any(e.value.startswith("Not done: the note looks like") for e in at.error)
    assert at.get("download_button")                                      # the board pack
    from crlm.ui import loaders

    loaders.release_stores()
    with Store(board_store) as store:
        audit = load_audit_log(store)
    assert {"board_add_case", "board_reorder", "case_note"} <= set(audit["action"])
    assert (audit.loc[audit["action"] == "case_note", "actor"] == "cleo").all()


def test_a_viewer_reads_the_session_but_cannot_change_it(board_store):
    from crlm.store import Store, add_board_item

    with Store(board_store) as store:
        add_board_item(store, meeting_date=dt.date.today(), board="HPB MDT", case_id=1,
                       actor="cleo")
    at = _board("vic", "viewer")
    assert _listed(at) == ["MDT case A"]
    assert at.get("download_button")                                      # reads the pack
    keys = {b.key for b in at.button}
    assert not {k for k in keys if k and k.startswith("board_")}          # no preparing
    assert not at.text_area
    assert any("reads the session; clinicians prepare it" in c.value for c in at.caption)
