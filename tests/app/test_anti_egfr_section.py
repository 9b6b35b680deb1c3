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


def _ours(at):
    """The section's table of this cohort's numbers (arms as columns)."""
    return next(t.value for t in at.dataframe if "Anti-EGFR" in t.value.columns)


def _paper(at):
    """The paper's numbers, in their own table."""
    return next(t.value for t in at.dataframe if "Anti-EGFR (cetuximab)" in t.value.columns)


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
    ours, paper = _ours(at), _paper(at)
    auc = ours.set_index("Quantity").loc["AUC of the signature for response"]
    assert auc["Anti-EGFR"].startswith("0.") and auc["Chemotherapy alone"].startswith("0.")
    published = paper.set_index("Quantity").loc["AUC of the fusion signature for response"]
    assert published["Anti-EGFR (cetuximab)"] == "0.86"
    assert published["Chemotherapy alone"] == "0.54"
    assert "The paper's numbers" in _texts(at)
    interaction = next(t.value.set_index("Quantity") for t in at.dataframe
                       if "Ratio of ORs (anti-EGFR / chemotherapy) (Wald)" in set(t.value.iloc[:, 0]))
    for outcome in ("response", "PFS"):  # one row each, never one overwriting the other
        assert interaction.loc[f"Interaction likelihood-ratio test ({outcome})",
                               "Both arms"].startswith("p ")
    labels = {b.label for b in at.get("download_button")}
    assert {"PNG", "SVG", "PDF", "CSV", "All numbers of this section (CSV)",
            "Paper's numbers (CSV)"} <= labels
    at.radio(key="shared_anti_egfr_chemo_arm").set_value("none+anti-VEGF").run()
    assert not at.exception, at.exception
    assert "Chemotherapy alone or with anti-VEGF" in _ours(at).columns


def test_survival_page_splits_pfs_by_signature_within_each_arm(app):
    at = app
    at.switch_page("views/survival.py").run()
    at.selectbox(key="survival_split_by").set_value("predicted responder").run()
    at.selectbox(key="survival_task").set_value("anti_egfr_benefit").run()
    assert not at.exception, at.exception
    assert SURVIVAL_HEADING in _headings(at)
    assert "anti_egfr_km" in [c.key for c in at.get("plotly_chart")]
    ours = _ours(at).set_index("Quantity")
    assert ours.loc["HR signature-high vs low", "Anti-EGFR"]
    assert ours.loc["HR signature-high vs low", "Chemotherapy alone"]
    assert ours.loc["Interaction likelihood-ratio test (PFS)", "Both arms"].startswith("p ")
    paper = _paper(at).set_index("Quantity")
    assert paper.loc["HR signature-high vs low", "Anti-EGFR (cetuximab)"] == \
        "0.44 [0.20–0.99], p = 0.047"
    assert paper.loc["HR signature-high vs low", "Chemotherapy alone"] == \
        "not reported in the abstract"
    at.selectbox(key="survival_split_by").set_value("ras_status").run()
    assert not at.exception
    assert SURVIVAL_HEADING not in _headings(at)
