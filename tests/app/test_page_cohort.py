"""The app shell and the Cohort page under Streamlit's AppTest."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP

pytestmark = pytest.mark.slow


def _app(demo_store_path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    return at


def _patients_matching(at: AppTest) -> int:
    metric = [m for m in at.sidebar.metric if m.label == "Patients matching"][0]
    return int(metric.value.replace(",", ""))


def test_cohort_page_loads_with_headline_and_table(demo_store_path):
    at = _app(demo_store_path).run()
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert "Patients" in labels and "Median follow-up (reverse KM)" in labels
    assert any("Synthetic demo cohort" in w.value for w in at.warning)
    assert len(at.dataframe) >= 1
    assert _patients_matching(at) == 600


def test_filter_changes_the_count_and_the_url(demo_store_path):
    at = _app(demo_store_path).run()
    total = _patients_matching(at)
    at.sidebar.multiselect(key="flt_sex").set_value(["female"]).run()
    assert not at.exception
    female = _patients_matching(at)
    assert 0 < female < total
    sex = at.query_params["sex"]
    assert (sex if isinstance(sex, list) else [sex]) == ["female"]
    headline = [m for m in at.metric if m.label == "Patients"][0]
    assert int(headline.value.replace(",", "")) == female


def test_link_reproduces_the_view(demo_store_path):
    at = _app(demo_store_path)
    at.query_params["ras_status"] = "mutant"
    at.query_params["age_years"] = "40..70"
    at.run()
    assert not at.exception
    assert at.sidebar.multiselect(key="flt_ras_status").value == ["mutant"]
    assert at.sidebar.slider(key="flt_age").value == (40, 70)
    assert _patients_matching(at) < 600


def test_bad_link_values_get_a_message_not_an_error(demo_store_path):
    at = _app(demo_store_path)
    at.query_params["age_years"] = "old..older"
    at.run()
    assert not at.exception
    assert any("Ignored the link's filter" in w.value for w in at.sidebar.warning)
    assert _patients_matching(at) == 600


def test_split_by_column_shows_groups_and_p_values(demo_store_path):
    at = _app(demo_store_path).run()
    at.selectbox(key="cohort_split_by").set_value("ras_status").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert {"mutant", "wild-type", "p_value", "smd"} <= set(table.columns)


def test_every_page_loads(demo_store_path):
    at = _app(demo_store_path).run()
    for page in ("views/models.py", "views/survival.py", "views/subgroups.py", "views/score.py",
                 "views/admin.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        # every page runs inside app.py: the shared filter and the account box are drawn
        assert _patients_matching(at) == 600, page


def test_split_by_predicted_responder_uses_the_models_threshold(demo_store_path):
    at = _app(demo_store_path).run()
    at.selectbox(key="cohort_split_by").set_value("predicted responder").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert {"predicted responder", "predicted non-responder"} <= set(table.columns)
    n_row = table[table["variable"] == "n"].iloc[0]
    groups = int(n_row["predicted responder"]) + int(n_row["predicted non-responder"])
    assert groups + int(n_row.get("unknown", 0) or 0) == 600
