"""The Models page for a landmark task: what the trajectory adds, on the demo store."""
from __future__ import annotations

from pathlib import Path

import pytest

from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parents[2] / "app.py")
P_COLUMN = "p (paired)"


def _tables(at):
    return [d.value for d in at.dataframe if P_COLUMN in d.value.columns]


@pytest.fixture()
def landmark_page(demo_store_path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("views/models.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="models_task").set_value("pfs_after_restaging").run()
    assert not at.exception, at.exception
    return at


def test_the_landmark_task_shows_what_the_trajectory_adds(landmark_page, demo_store):
    from crlm import store as st
    from crlm.analysis.sequence_report import sequence_comparison, shown_table

    at = landmark_page
    assert any(s.value == "What the trajectory adds" for s in at.subheader)
    [table] = _tables(at)
    assert len(table) == 3
    names = dict(zip(st.load_models(demo_store, cohort="demo")["model_id"],
                     st.load_models(demo_store, cohort="demo")["name"]))
    assert table["model"].tolist() == [names[f"pfs_after_restaging.{f}"] for f in
                                       ("gru_sequence", "gru_baseline", "change_rule")]
    # the page and the command-line report give the same numbers (one function)
    cli = shown_table(sequence_comparison(demo_store, "demo", "pfs_after_restaging"))
    assert table["C-index [95% CI]"].tolist() == cli["C-index [95% CI]"].tolist()
    assert table[P_COLUMN].tolist()[0] == "" and all(p for p in table[P_COLUMN].tolist()[1:])
    assert any("C-index analogue of DeLong" in c.value for c in at.caption)


def test_both_splits_side_by_side_and_other_tasks_without_it(landmark_page):
    at = landmark_page
    at.selectbox(key="models_split").set_value("both").run()
    assert not at.exception
    tables = _tables(at)
    assert len(tables) == 2 and tables[0]["C-index [95% CI]"].tolist() != \
        tables[1]["C-index [95% CI]"].tolist()
    at.selectbox(key="models_task").set_value("pfs_risk").run()
    assert not at.exception
    assert not _tables(at)
    assert not any(s.value == "What the trajectory adds" for s in at.subheader)
