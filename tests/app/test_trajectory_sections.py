"""The Cohort page's trajectories and waterfall and the Survival page's landmark analysis
under AppTest, on a store of its own (a small synthetic cohort with measurements, no models)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trajectory_store(tmp_path_factory):
    from crlm import store as st
    from crlm.ingest.demo_images import write_demo_cohort

    path = tmp_path_factory.mktemp("trajectory_store") / "crlm.duckdb"
    store = st.Store(path)
    write_demo_cohort(store, 400, 11, images=False)
    store.close()
    return path


@pytest.fixture()
def app(trajectory_store, monkeypatch) -> AppTest:
    monkeypatch.setenv("CRLM_DB", str(trajectory_store))
    return AppTest.from_file(APP, default_timeout=90)


def _chart_titles(at: AppTest) -> list[str]:
    import json

    titles = []
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        titles.append(((spec.get("layout") or {}).get("title") or {}).get("text", ""))
    return titles


def test_cohort_page_draws_trajectories_and_the_waterfall(app):
    at = app.run()
    assert not at.exception, at.exception
    titles = _chart_titles(at)
    assert any("over the first year" in t for t in titles), titles
    assert any("waterfall" in t for t in titles), titles
    for kind in ("cea", "lesion_count"):
        at.selectbox(key="cohort_traj_kind").set_value(kind).run()
        assert not at.exception, at.exception
    at.selectbox(key="cohort_traj_by").set_value("ras_status").run()
    assert not at.exception, at.exception
    # no trained model in this store: predicted responder falls back to the responder
    at.selectbox(key="cohort_traj_by").set_value("predicted responder").run()
    assert not at.exception
    assert any("No trained response model" in i.value for i in at.info)
    labels = [b.label for b in at.get("download_button")]
    assert labels.count("CSV") >= 2 and labels.count("PNG") >= 2


def test_survival_page_shows_the_landmark_analysis(app):
    at = app.run()
    at.switch_page("views/survival.py").run()
    at.selectbox(key="survival_split_by").set_value("ras_status").run()
    assert not at.exception, at.exception
    assert any("Landmark analysis" in s.value for s in at.subheader)
    titles = _chart_titles(at)
    assert any("from the landmark" in t and "early CEA response" in t for t in titles), titles
    assert any("guarantee-time bias" in c.value for c in at.caption)
    at.selectbox(key="survival_endpoint").set_value("PFS").run()
    assert not at.exception, at.exception


def test_score_page_offers_the_case_series_over_the_cohort(trajectory_store, app):
    from crlm import models
    from crlm import store as st

    store = st.Store(trajectory_store)
    try:  # the Score page needs a model in the registry: a clinical baseline is enough
        models.train(store, tasks=["response"], families=["fong_score"], folds=3,
                     progress=False, artefact_dir=trajectory_store.parent / "models")
    finally:
        store.close()
    at = app.run()
    at.switch_page("views/score.py").run()
    assert not at.exception, at.exception
    assert any("serial values" in s.value for s in at.subheader)
    at.selectbox(key="score_traj_kind").set_value("target_lesion_sum").run()
    assert not at.exception, at.exception
