"""The Admin page's CT image import (folder on the server) under Streamlit's AppTest."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from crlm.auth import User
from crlm.ingest.synthetic_tree import TreePatient, write_tree
from tests.support.tcia import tcia_frame

pytestmark = pytest.mark.slow
APP = Path(__file__).resolve().parents[2] / "app.py"
IDS = ["CRLM-CT-1001", "CRLM-CT-1002", "CRLM-CT-1003", "CRLM-CT-1004"]


@pytest.fixture()
def admin_store(tmp_path, monkeypatch):
    from crlm import auth
    from crlm.ingest.importer import import_file
    from crlm.store import Store

    monkeypatch.setenv("CRLM_DEID_KEY", "admin-images-key")
    frame = tcia_frame(len(IDS), seed=3)
    frame["Patient-ID"] = IDS
    frame.to_csv(tmp_path / "clinical.csv", index=False)
    write_tree(tmp_path / "tree", [TreePatient(IDS[0], n_slices=10, size_px=48),
                                   TreePatient(IDS[1], seg="none", n_slices=10, size_px=48)])
    path = tmp_path / "admin.duckdb"
    with Store(path) as store:
        assert import_file(store, tmp_path / "clinical.csv", cohort="tcia").written
    users = tmp_path / "users.toml"
    auth.add_user(users, "adam", "admin", "admin-password-1")
    monkeypatch.setenv("CRLM_DB", str(path))
    monkeypatch.setenv("CRLM_USERS", str(users))
    monkeypatch.delenv("CRLM_DEMO_MODE", raising=False)
    return tmp_path


def test_check_shows_the_report_and_import_stores_the_crops(admin_store):
    from crlm.store import Store, load_images
    from crlm.ui import loaders

    at = AppTest.from_file(str(APP), default_timeout=180)
    at.session_state["auth_user"] = User("adam", "admin", signed_in_at=time.time())
    at.run()
    at.switch_page("views/admin.py").run()
    assert not at.exception, at.exception
    at.text_input(key="admin_images_folder").set_value(str(admin_store / "tree")).run()
    at.selectbox(key="admin_images_cohort").set_value("tcia")
    at.button(key="admin_images_check").click().run()
    assert not at.exception, at.exception
    report = next(d.value for d in at.dataframe if "seg_matches_ct" in d.value.columns)
    assert list(report["imported"]) == [True, False]
    assert "no DICOM SEG" in report["problems"].iloc[1]
    assert any("dry run: 1 patient(s)" in c.value for c in at.caption)
    loaders.release_stores()
    with Store(admin_store / "admin.duckdb") as store:
        assert load_images(store, "tcia").empty  # the check wrote nothing
    at.button(key="admin_images_import").click().run()
    assert not at.exception, at.exception
    assert any("imported the baseline CT of 1 patient(s)" in s.value for s in at.success)
    loaders.release_stores()
    with Store(admin_store / "admin.duckdb") as store:
        assert len(load_images(store, "tcia")) == 1
