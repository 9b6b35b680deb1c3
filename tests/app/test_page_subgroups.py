"""The Subgroups page under Streamlit's AppTest, on the session's small trained demo store."""
from __future__ import annotations

from pathlib import Path

import pytest

from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture()
def subgroups_page(demo_store_path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("views/subgroups.py").run()
    assert not at.exception, at.exception
    return at


def _spec(at, i):
    return at.get("plotly_chart")[i].proto.spec


def test_forest_auc_and_curves_render(subgroups_page):
    at = subgroups_page
    assert len(at.get("plotly_chart")) == 3
    forest = _spec(at, 0)
    for label in ("RAS status", "KRAS", "TBS zone", "Primary tumour side", "BRAF V600E",
                  "MSI", "Fong group", "Centre"):
        assert label in forest
    assert "interaction p" in forest
    assert "AUC (95% CI)" in _spec(at, 1)


def test_controls_change_the_figures(subgroups_page):
    at = subgroups_page
    grid = _spec(at, 2)
    at.selectbox(key="subgroups_km_by").set_value("primary_side").run()
    assert not at.exception
    assert _spec(at, 2) != grid and "rectum" in _spec(at, 2)
    forest = _spec(at, 0)
    at.selectbox(key="subgroups_endpoint").set_value("PFS").run()
    assert not at.exception
    assert _spec(at, 0) != forest
    at.multiselect(key="subgroups_columns").set_value(["ras_status", "tbs_zone"]).run()
    assert not at.exception
    assert "Centre" not in _spec(at, 0) and "TBS zone" in _spec(at, 0)
    auc = _spec(at, 1)
    at.selectbox(key="subgroups_task").set_value("anti_egfr_benefit").run()
    assert not at.exception
    assert _spec(at, 1) != auc


def test_threshold_from_the_models_page_moves_the_split(subgroups_page):
    at = subgroups_page
    model_id = at.session_state["shared_model_response"]
    forest = _spec(at, 0)
    at.session_state[f"shared_threshold_{model_id}"] = 0.8
    at.run()
    assert not at.exception
    assert any("0.800" in c.value for c in at.caption)
    assert _spec(at, 0) != forest
