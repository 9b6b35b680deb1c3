"""The Clusters page under Streamlit's AppTest, on the session's small demo store."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture()
def clusters_page(demo_store_path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("views/clusters.py").run()
    assert not at.exception, at.exception
    return at


def _specs(at) -> list[str]:
    return [c.proto.spec for c in at.get("plotly_chart")]


def test_profiles_survival_dendrogram_and_table_render(clusters_page):
    at = clusters_page
    specs = _specs(at)
    assert len(specs) == 3  # heatmap, Kaplan–Meier, dendrogram
    assert '"heatmap"' in specs[0] and "Number at risk" in specs[1]
    assert "Ward linkage distance" in specs[2]
    labels = [m.label for m in at.metric]
    assert "Stability (bootstrap adjusted Rand)" in labels
    assert any("Log-rank p" in label for label in labels)
    assert len(at.dataframe) == 2  # silhouette by k, Table 1
    assert "Cluster 1" in at.dataframe[1].value.columns


def test_controls_recluster(clusters_page):
    at = clusters_page
    at.selectbox(key="clusters_k").set_value(2).run()
    assert not at.exception
    assert at.metric[0].value == "2"
    at.selectbox(key="clusters_method").set_value("kmeans").run()
    assert not at.exception
    assert len(_specs(at)) == 2  # no dendrogram for k-means
    at.multiselect(key="clusters_inputs").set_value(["age_years"]).run()
    assert not at.exception
    assert any("at least two inputs" in i.value for i in at.info)
