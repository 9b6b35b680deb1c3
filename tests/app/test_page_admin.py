"""The Admin page's import section under Streamlit's AppTest."""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from crlm.auth import User

pytestmark = pytest.mark.slow
APP = Path(__file__).resolve().parents[2] / "app.py"

ROWS = pd.DataFrame({
    "Patient-ID": [f"X{i}" for i in range(6)],
    "age_years": [55, 61, 70, 48, 66, 500],
    "sex": ["male", "female", "female", "male", "male", "female"],
    "node_positive": [1, 0, 1, 0, 1, 1],
    "os_months": [12.5, 40, 33, 60, 8, 20],
    "os_event": [1, 0, 1, 0, 1, 1],
})


@pytest.fixture()
def admin_store(tmp_path, monkeypatch):
    """A store with a small synthetic demo cohort (no models) and a users file with one
    admin, who is signed in: importing real patients needs a signed-in admin."""
    from crlm import auth
    from crlm.ingest.demo import generate_cohort_frames
    from crlm.store import Store, save_cohort

    path = tmp_path / "admin.duckdb"
    demo = generate_cohort_frames(200, 5)
    with Store(path) as store:
        save_cohort(store, "demo", demo.patients, kind="synthetic")
    users = tmp_path / "users.toml"
    auth.add_user(users, "adam", "admin", "admin-password-1")
    monkeypatch.setenv("CRLM_DB", str(path))
    monkeypatch.setenv("CRLM_USERS", str(users))
    monkeypatch.delenv("CRLM_DEMO_MODE", raising=False)
    return path


def _table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first data frame on the page that has this column."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _admin(store_path, signed_in: bool = True) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    if signed_in:
        at.session_state["auth_user"] = User("adam", "admin", signed_in_at=time.time())
    at.run()  # the default page; only the Admin page is under test here
    at.switch_page("views/admin.py").run()
    assert not at.exception, at.exception
    return at


def test_upload_shows_report_then_import_lists_the_cohort(admin_store):
    at = _admin(admin_store)
    assert any(u.label.startswith("Cohort table") for u in at.file_uploader)
    at.file_uploader(key="admin_upload").set_value(
        ("board-cohort.csv", ROWS.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows read"] == "6" and metrics["Rows accepted"] == "5"
    assert metrics["Rows rejected"] == "1"
    report = _table_with(at, "severity")
    assert ((report["row"] == 6) & (report["column"] == "age_years")).any()
    assert at.text_input(key="admin_cohort").value == "board-cohort"
    at.button(key="admin_import").click().run()
    assert not at.exception, at.exception
    assert any("imported 5 patients" in s.value for s in at.success)
    listed = _table_with(at, "description")
    assert "board-cohort" in set(listed["cohort"])


def test_refused_upload_disables_import(admin_store):
    at = _admin(admin_store)
    dup = pd.concat([ROWS.head(2), ROWS.head(1)])
    at.file_uploader(key="admin_upload").set_value(
        ("dup.csv", dup.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception, at.exception
    assert any("duplicate patient ids" in e.value for e in at.error)
    assert at.button(key="admin_import").disabled


def test_bad_cohort_name_gets_a_message(admin_store):
    at = _admin(admin_store)
    at.file_uploader(key="admin_upload").set_value(
        ("x.csv", ROWS.to_csv(index=False).encode(), "text/csv")).run()
    at.text_input(key="admin_cohort").set_value("demo").run()
    assert not at.exception, at.exception
    assert any("reserved for the synthetic demo cohort" in e.value for e in at.error)


def test_demo_mode_shows_the_report_but_does_not_import(admin_store, monkeypatch):
    from crlm.store import Store, list_cohorts

    monkeypatch.setenv("CRLM_DEMO_MODE", "1")
    at = _admin(admin_store, signed_in=False)
    at.file_uploader(key="admin_upload").set_value(
        ("board-cohort.csv", ROWS.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Rows accepted"] == "5"
    assert any("Demo mode has no sign-in" in i.value for i in at.info)
    assert at.button(key="admin_import").disabled
    from crlm.ui import loaders

    loaders.release_stores()
    with Store(admin_store) as store:
        assert list(list_cohorts(store)["cohort"]) == ["demo"]


def test_train_a_cohort_from_the_page(admin_store):
    from crlm.store import Store, load_models

    at = _admin(admin_store)
    at.selectbox(key="admin_train_cohort").set_value("demo")
    at.number_input(key="admin_train_folds").set_value(2)
    at.checkbox(key="admin_train_fast").check()
    at.button(key="admin_train").click().run(timeout=300)
    assert not at.exception, at.exception
    assert any("Trained and registered" in s.value for s in at.success), [e.value for e in at.error]
    trained = _table_with(at, "task")
    assert {"response", "os_risk"} <= set(trained["task"])
    from crlm.ui import loaders

    loaders.release_stores()
    with Store(admin_store) as store:
        models = load_models(store, cohort="demo")
    assert len(models) == len(trained)


def test_training_a_cohort_without_outcomes_says_why(admin_store):
    at = _admin(admin_store)
    at.file_uploader(key="admin_upload").set_value(
        ("board-cohort.csv", ROWS.to_csv(index=False).encode(), "text/csv")).run()
    at.button(key="admin_import").click().run()
    assert any("imported 5 patients" in s.value for s in at.success)
    at.selectbox(key="admin_train_cohort").set_value("board-cohort")
    at.button(key="admin_train").click().run()
    assert not at.exception, at.exception
    assert any(e.value.startswith("Not trained:") for e in at.error)
    assert not any("Trained and registered" in s.value for s in at.success)


def test_a_viewer_cannot_open_the_admin_page_even_directly(admin_store):
    import os

    from crlm import auth

    auth.set_role(os.environ["CRLM_USERS"], "adam", "viewer")
    at = AppTest.from_file(str(APP.parent / "views" / "admin.py"), default_timeout=60)
    at.session_state["auth_user"] = auth.User("adam", "admin", signed_in_at=time.time())
    at.run()
    assert not at.exception, at.exception
    assert any("does not allow this: import" in e.value for e in at.error)
    assert not at.file_uploader and not at.button


def test_the_audit_log_is_readable_on_admin_after_an_import(admin_store):
    at = _admin(admin_store)
    at.file_uploader(key="admin_upload").set_value(
        ("board-cohort.csv", ROWS.to_csv(index=False).encode(), "text/csv")).run()
    at.button(key="admin_import").click().run()
    assert not at.exception, at.exception
    audit = _table_with(at, "action")
    assert {"logged_at", "actor", "action", "object"} <= set(audit.columns)
    row = audit[audit["action"] == "import"].iloc[0]
    assert row["object"] == "cohort:board-cohort" and row["actor"] == "adam"
    text = " ".join(audit.astype(str).to_numpy().ravel())
    assert "X1" not in text.split()  # a source patient id never reaches the log
