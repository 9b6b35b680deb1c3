"""Score a case: the landmark sequence models read the case's serial values (AppTest on
the session's demo store, whose build trains them)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parents[2] / "app.py")
SERIES = pd.DataFrame({"day": [0, 28, 56, 0, 63, 0, 120],
                       "kind": ["cea", "cea", "cea", "target_lesion_sum", "target_lesion_sum",
                                "lesion_count", "cea"],
                       "value": [40.0, 20.0, 8.0, 6.0, 3.0, 3.0, 900.0]})


@pytest.fixture()
def score_page(demo_store_path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("views/score.py").run()
    assert not at.exception, at.exception
    return at


def _answers(at):
    return next((d.value for d in at.dataframe if "risk score" in d.value.columns), None)


def test_the_sequence_models_answer_for_an_uploaded_series(score_page, demo_store):
    from crlm import store as st
    from crlm.models.sequence_case import landmark_case_scores

    at = score_page
    assert any("sequence models say" in s.value for s in at.subheader)
    assert _answers(at) is None and any("Enter the case's values" in c.value for c in at.caption)
    at.file_uploader(key="score_traj_upload").set_value(
        ("case.csv", SERIES.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception, at.exception
    table = _answers(at)
    assert len(table) == 6 and table["12 months (90% CI)"].str.contains("[", regex=False).all()
    registry = st.load_models(demo_store, cohort="demo")
    expected = landmark_case_scores(SERIES, store=demo_store, registry=registry)
    assert sorted(table["risk score"].round(3)) == sorted(expected["score"].round(3))
    assert any("1 value(s) later than the landmark" in c.value for c in at.caption)


def test_a_series_without_a_baseline_is_refused_with_the_reason(score_page):
    at = score_page
    bad = SERIES[SERIES["day"] > 0]
    at.file_uploader(key="score_traj_upload").set_value(
        ("case.csv", bad.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception, at.exception
    assert _answers(at) is None
    assert any("Not scored" in e.value and "baseline value" in e.value for e in at.error)
