"""Recurrence-free survival and the histopathological growth pattern on the demo (which
records both): RFS is an endpoint of the Survival and Subgroups pages, counted on the
resected patients only, and the growth pattern is a Survival split, a subgroup and a
sidebar filter."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from crlm import config
from crlm.store import CohortFilter, Store, load_cohort

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parents[2] / "app.py")
GROWTH = config.COLUMNS_BY_NAME["growth_pattern"]


@pytest.fixture()
def app(demo_store_path) -> AppTest:
    return AppTest.from_file(APP, default_timeout=120).run()


@pytest.fixture(scope="module")
def demo(demo_store_path):
    with Store(demo_store_path, create=False) as store:
        return load_cohort(store, CohortFilter(cohort=config.DEMO_COHORT))


def test_rfs_is_an_endpoint_counted_on_resected_patients(app, demo):
    at = app.switch_page("views/survival.py").run()
    assert not at.exception, at.exception
    endpoint = at.selectbox(key="survival_endpoint")
    assert endpoint.options == ["Overall survival", "Progression-free survival",
                                "Recurrence-free survival after hepatectomy"]
    at.selectbox(key="survival_split_by").set_value("none").run()
    at.selectbox(key="survival_endpoint").set_value("RFS").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    known = demo.dropna(subset=["rfs_months", "rfs_event"])
    assert 0 < len(known) < len(demo)
    assert known["hepatectomy"].astype(bool).all()
    assert table["n"].tolist() == [len(known)]
    assert table["Events"].tolist() == [int(known["rfs_event"].astype(bool).sum())]
    assert "Recurrence-free survival" in at.get("plotly_chart")[0].proto.spec
    assert [c.key for c in at.get("plotly_chart")] == ["survival_km"]  # no CEA landmark


def test_growth_pattern_is_a_survival_split(app, demo):
    at = app.switch_page("views/survival.py").run()
    at.selectbox(key="survival_split_by").set_value("growth_pattern").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    known = demo.dropna(subset=["os_months", "os_event"])
    counts = known["growth_pattern"].fillna("unknown").value_counts()
    assert {"desmoplastic", "replacement", "unknown"} <= set(table["Group"])
    assert dict(zip(table["Group"], table["n"])) == counts.to_dict()
    assert list(table["Group"]) == [lv for lv in GROWTH.levels if lv in counts] + ["unknown"]


def test_growth_pattern_is_a_subgroup_and_rfs_an_endpoint(app):
    at = app.switch_page("views/subgroups.py").run()
    assert not at.exception, at.exception
    columns = at.multiselect(key="subgroups_columns")
    assert GROWTH.label in columns.options and "growth_pattern" not in columns.value
    columns.set_value(["growth_pattern"]).run()
    assert not at.exception, at.exception
    forest = at.get("plotly_chart")[0].proto.spec
    assert GROWTH.label in forest and "desmoplastic" in forest and "Centre" not in forest
    at.selectbox(key="subgroups_endpoint").set_value("RFS").run()
    assert not at.exception, at.exception
    assert at.get("plotly_chart")[0].proto.spec != forest
    assert any("Recurrence-free survival" in s.value for s in at.subheader)


def test_growth_pattern_is_a_sidebar_filter(app, demo):
    at = app
    choice = at.sidebar.multiselect(key="flt_growth_pattern")
    assert choice.label == GROWTH.label
    assert choice.options == [*GROWTH.levels, "unknown"]
    choice.set_value(["desmoplastic", "unknown"]).run()
    assert not at.exception, at.exception
    metric = next(m for m in at.sidebar.metric if m.label == "Patients matching")
    expected = demo["growth_pattern"].isna() | (demo["growth_pattern"] == "desmoplastic")
    assert int(metric.value.replace(",", "")) == int(expected.sum()) < len(demo)
    link = {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert link["growth_pattern"] == "desmoplastic,unknown"
