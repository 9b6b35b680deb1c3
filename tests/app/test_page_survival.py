"""The Survival page under Streamlit's AppTest, on the session's small trained demo store."""
from __future__ import annotations

from pathlib import Path

import pytest

from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture()
def survival_page(demo_store_path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("views/survival.py").run()
    assert not at.exception, at.exception
    return at


def _table(at):
    return at.dataframe[0].value


def test_predicted_responder_split_is_the_default(survival_page):
    at = survival_page
    table = _table(at)
    assert table["Group"].tolist() == ["Predicted non-responder", "Predicted responder"]
    assert {"n", "Events", "Median, months (95% CI)", "1-year (95% CI)", "3-year (95% CI)",
            "5-year (95% CI)", "RMST 36 mo (95% CI)"} <= set(table.columns)
    assert table.iloc[0, -1] == "reference"
    # the Kaplan-Meier curves, and the landmark analysis by early CEA response below them
    assert [c.key for c in at.get("plotly_chart")] == ["survival_km", "survival_landmark_cea"]


def test_every_control_changes_the_result(survival_page):
    at = survival_page
    first = _table(at)
    at.selectbox(key="survival_endpoint").set_value("PFS").run()
    assert not at.exception
    assert _table(at)["Events"].tolist() != first["Events"].tolist()
    at.slider(key="survival_rmst_horizon").set_value(60).run()
    assert not at.exception
    assert "RMST 60 mo (95% CI)" in _table(at).columns
    chart = at.get("plotly_chart")[0].proto.spec
    at.checkbox(key="survival_show_ci").uncheck().run()
    assert not at.exception
    assert at.get("plotly_chart")[0].proto.spec != chart
    before = _table(at)
    at.selectbox(key="survival_task").set_value("anti_egfr_benefit").run()
    assert not at.exception
    assert _table(at)["n"].sum() < before["n"].sum()


@pytest.mark.parametrize("column, levels", [
    ("ras_status", {"mutant", "wild-type"}),
    ("primary_side", {"left", "right", "rectum"}),
    ("tbs_zone", {"low", "medium"}),
    ("center", None),
    ("hepatectomy", {"yes", "no"}),
])
def test_split_by_a_clinical_group(survival_page, column, levels):
    at = survival_page
    at.selectbox(key="survival_split_by").set_value(column).run()
    assert not at.exception
    groups = set(_table(at)["Group"])
    assert len(groups) >= 2
    if levels:
        assert levels <= groups
    assert _table(at)["n"].sum() == 600


def test_whole_cohort_without_split(survival_page):
    at = survival_page
    at.selectbox(key="survival_split_by").set_value("none").run()
    assert not at.exception
    assert _table(at)["Group"].tolist() == ["All patients"]
