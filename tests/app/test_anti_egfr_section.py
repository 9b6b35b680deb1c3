"""The multi-omics anti-EGFR study section on the Models and Survival pages, under AppTest,
on the session's small trained demo store."""
from __future__ import annotations

from pathlib import Path

import pytest

from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parents[2] / "app.py")
MODELS_HEADING = "Benefit, not prognosis: the multi-omics study's design on this cohort"
SURVIVAL_HEADING = "PFS by signature within each arm (the multi-omics study's design)"


def _headings(at) -> list[str]:
    return [h.value for h in at.subheader]


def _texts(at) -> str:
    return "\n".join([c.value for c in at.caption] + [m.value for m in at.markdown])


@pytest.fixture()
def app(demo_store_path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception, at.exception
    return at


def test_models_page_shows_the_study_design_for_an_anti_egfr_model(app):
    at = app
    at.switch_page("views/models.py").run()
    assert MODELS_HEADING not in _headings(at)  # the response task does not show it
    at.selectbox(key="models_task").set_value("anti_egfr_benefit").run()
    assert not at.exception, at.exception
    assert MODELS_HEADING in _headings(at)
    keys = [c.key for c in at.get("plotly_chart")]
    assert {"anti_egfr_roc", "anti_egfr_interaction", "anti_egfr_multivariable"} <= set(keys)
    tables = [t.value for t in at.dataframe]
    ours = next(t for t in tables if {"Quantity", "Events"} <= set(t.columns) and
                "AUC of the signature for response" in set(t["Quantity"]))
    assert {"Anti-EGFR", "Chemotherapy alone"} <= set(ours["Arm"])
    paper = next(t for t in tables if "Note" in t.columns and "Events" not in t.columns)
    assert "0.86" in set(paper["Value"]) and "0.54" in set(paper["Value"])
    assert "The paper's numbers" in _texts(at)
    labels = {b.label for b in at.get("download_button")}
    assert {"PNG", "SVG", "PDF", "CSV", "All numbers of this section (CSV)",
            "Paper's numbers (CSV)"} <= labels
    at.radio(key="shared_anti_egfr_chemo_arm").set_value("none+anti-VEGF").run()
    assert not at.exception, at.exception
    ours = next(t.value for t in at.dataframe if {"Quantity", "Events"} <= set(t.value.columns))
    assert "Chemotherapy alone or with anti-VEGF" in set(ours["Arm"])


def test_survival_page_splits_pfs_by_signature_within_each_arm(app):
    at = app
    at.switch_page("views/survival.py").run()
    at.selectbox(key="survival_split_by").set_value("predicted responder").run()
    at.selectbox(key="survival_task").set_value("anti_egfr_benefit").run()
    assert not at.exception, at.exception
    assert SURVIVAL_HEADING in _headings(at)
    assert "anti_egfr_km" in [c.key for c in at.get("plotly_chart")]
    ours = next(t.value for t in at.dataframe if {"Quantity", "Events"} <= set(t.value.columns)
                and "HR signature-high vs low" in set(t.value["Quantity"]))
    assert {"Anti-EGFR", "Chemotherapy alone"} <= set(ours["Arm"])
    paper = next(t.value for t in at.dataframe if "Note" in t.value.columns
                 and "Events" not in t.value.columns)
    assert "0.44 [0.20–0.99]" in set(paper["Value"])
    at.selectbox(key="survival_split_by").set_value("ras_status").run()
    assert not at.exception
    assert SURVIVAL_HEADING not in _headings(at)
