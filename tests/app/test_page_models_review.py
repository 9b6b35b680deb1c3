"""The Models page's additions for the review's families: the CART drawing and the
estimator details in the model card, and the time-dependent AUC of survival models."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture()
def models_page(demo_store_path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("views/models.py").run()
    assert not at.exception, at.exception
    return at


def test_cart_card_draws_the_tree_and_lists_its_splits(models_page):
    at = models_page
    at.selectbox(key="models_card_response").set_value("response.cart").run()
    assert not at.exception
    assert not [c for c in at.get("plotly_chart") if "all patients" in c.proto.spec]
    at.toggle(key="models_tree_show_response.cart").set_value(True).run()
    assert not at.exception
    trees = [c.proto.spec for c in at.get("plotly_chart") if "all patients" in c.proto.spec]
    assert len(trees) == 1 and "n = " in trees[0] and "responders" in trees[0]
    details = [d.value for d in at.dataframe if list(d.value.columns) == ["item", "value"]]
    assert any("splits (preprocessed scale)" in set(d["item"]) for d in details)
    at.selectbox(key="models_card_response").set_value("response.cost_sensitive_rf").run()
    assert not at.exception
    assert not [c for c in at.get("plotly_chart") if "all patients" in c.proto.spec]
    details = [d.value for d in at.dataframe if list(d.value.columns) == ["item", "value"]]
    assert any("cost ratio (missed responder : unnecessary treatment)" in set(d["item"])
               for d in details)


def test_survival_models_show_time_dependent_auc(models_page):
    at = models_page
    at.selectbox(key="models_task").set_value("os_risk").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert {"harrell_c", "auc_12m", "auc_36m", "auc_60m"} <= set(table.columns)
    assert table["auc_36m"].between(0, 1).all()
    assert "os_risk.lightgbm_cox" in set(at.selectbox(key="models_card_os_risk").options) or \
        any("LightGBM Cox" in o for o in at.selectbox(key="models_card_os_risk").options)
