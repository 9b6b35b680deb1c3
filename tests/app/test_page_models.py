"""The Models page under Streamlit's AppTest, on the session's small trained demo store."""
from __future__ import annotations

from pathlib import Path

import pytest

from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture()
def models_page(demo_store_path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("views/models.py").run()
    assert not at.exception, at.exception
    return at


def _charts(at):
    return at.get("plotly_chart")


def _auc_column(at):
    return at.dataframe[0].value["AUC [95% CI]"].tolist()


def test_roc_table_and_calibration_render(models_page):
    at = models_page
    assert any("Synthetic demo cohort" in w.value for w in at.warning)
    assert len(_charts(at)) == 3  # ROC, calibration, decision curve
    table = at.dataframe[0].value
    assert {"Model", "AUC [95% CI]", "Sensitivity", "PPV", "Brier", "Calibration slope",
            "DeLong p vs reference"} <= set(table.columns)
    assert "Fong clinical risk score" in set(table["Model"])
    assert (table["DeLong p vs reference"] == "reference").sum() == 1


def test_split_selector_shows_both_side_by_side(models_page):
    at = models_page
    oof = _auc_column(at)
    at.selectbox(key="models_split").set_value("external").run()
    assert not at.exception
    assert _auc_column(at) != oof
    at.selectbox(key="models_split").set_value("both").run()
    assert not at.exception
    roc_tables = [d for d in at.dataframe if "AUC [95% CI]" in d.value.columns]
    assert len(roc_tables) == 2 and len(_charts(at)) == 4


def test_threshold_slider_changes_metrics_and_is_shared(models_page):
    at = models_page
    slider = at.slider[0]
    model_id = slider.key.removeprefix("models_threshold_")
    before = at.dataframe[0].value["Sensitivity"].tolist()
    slider.set_value(0.9).run()
    assert not at.exception
    assert at.session_state[f"shared_threshold_{model_id}"] == pytest.approx(0.9)
    assert at.dataframe[0].value["Sensitivity"].tolist() != before
    at.switch_page("views/survival.py").run()
    assert not at.exception
    assert any("0.900" in c.value for c in at.caption)


def test_reference_models_and_task_controls(models_page):
    at = models_page
    before = at.dataframe[0].value["DeLong p vs reference"].tolist()
    at.selectbox(key="models_reference_response").set_value("response.tumour_burden_score").run()
    assert not at.exception
    assert at.dataframe[0].value["DeLong p vs reference"].tolist() != before
    at.multiselect(key="models_shown_response").set_value(["response.fong_score"]).run()
    assert not at.exception
    assert at.dataframe[0].value["Model"].tolist() == ["Fong clinical risk score"]
    at.selectbox(key="models_task").set_value("os_risk").run()
    assert not at.exception
    assert "harrell_c" in at.dataframe[0].value.columns


def test_no_models_gives_a_clear_message(tmp_path, monkeypatch):
    from crlm.cli import main

    path = tmp_path / "untrained.duckdb"
    assert main(["--db", str(path), "-q", "demo", "--patients", "200", "--seed", "3",
                 "--no-train"]) == 0
    monkeypatch.setenv("CRLM_DB", str(path))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("views/models.py").run()
    assert not at.exception
    assert any("python -m crlm train" in i.value for i in at.info)


def test_model_card_shows_decision_time_and_inputs_known_by_then(models_page):
    at = models_page
    card_box = at.selectbox(key="models_card_response")
    card_box.set_value("response.logistic").run()
    assert not at.exception
    summary = next(d.value for d in at.dataframe if list(d.value.columns) == ["item", "value"])
    facts = dict(zip(summary["item"], summary["value"]))
    assert facts["Decision time"] == "treatment plan"
    assert "development patients" in facts["Training"] and "Centre" in facts["Training"]
    assert "Centre D" in facts["External validation"]
    inputs = next(d.value for d in at.dataframe if "known at" in d.value.columns)
    assert set(inputs["known at"]) <= {"staging", "treatment plan"}
    assert "biologic" in set(inputs["input"]) and "hepatectomy" not in set(inputs["input"])
    refused = next(d.value for d in at.dataframe if "not used" in d.value.columns)
    assert "hepatectomy" in set(refused["not used"])


def test_post_resection_task_has_its_own_decision_time(models_page):
    at = models_page
    at.selectbox(key="models_task").set_value("os_after_resection").run()
    assert not at.exception
    assert any("Decision time: after surgery" in c.value for c in at.caption)
    at.selectbox(key="models_card_os_after_resection").set_value("os_after_resection.cox").run()
    inputs = next(d.value for d in at.dataframe if "known at" in d.value.columns)
    assert "growth_pattern" in set(inputs["input"])
