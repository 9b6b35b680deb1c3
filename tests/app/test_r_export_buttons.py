"""The Cohort, Survival, Models and Subgroups pages offer the "R script (zip)" download next
to the figure or table exports."""
from __future__ import annotations

from pathlib import Path

import pytest

from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.mark.parametrize("page", ["views/survival.py", "views/models.py", "views/subgroups.py"])
def test_page_offers_the_r_script_download(demo_store_path, page):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    labels = [b.label for b in at.get("download_button")]
    assert "R script (zip)" in labels
    # next to the figure downloads: right after the CSV of the first figure
    assert labels[labels.index("R script (zip)") - 1] == "CSV"


def test_cohort_page_offers_the_r_script_download_after_table_one(demo_store_path):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("views/cohort.py").run()
    assert not at.exception, at.exception
    labels = [b.label for b in at.get("download_button")]
    assert labels[labels.index("R script (zip)") - 1] == "Download table (CSV)"


def test_models_page_for_a_survival_task_offers_the_r_script_download(demo_store_path):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("views/models.py").run()
    at.selectbox(key="models_task").set_value("os_risk").run()
    assert not at.exception, at.exception
    assert "R script (zip)" in [b.label for b in at.get("download_button")]
