"""An uploaded table of colon-trial cases: its own-variable columns that a current model
reads (the arm ``rx`` by level name, ``nodes`` as a number) are kept, so that a row is
scored like the same case given on the form; an unknown level is a problem row with a
clear message, and the other rows are still scored."""
from __future__ import annotations

import pandas as pd
import pytest

from crlm import cases
from crlm.cases.batch_own import with_own_columns
from crlm.models.inputs import categorical_feature_levels
from crlm.models.scoring import score_cases
from crlm.store import Store, load_feature_info
from tests.own_cohorts import build_colon_store, train_colon_cox

pytestmark = pytest.mark.slow
MODEL = "os_risk.cox"


@pytest.fixture(scope="module")
def colon_path(tmp_path_factory):
    path = build_colon_store(tmp_path_factory.mktemp("colon_batch"))
    train_colon_cox(path)
    return path


def _own(path) -> dict:
    with Store(path, create=False) as store:
        levels = categorical_feature_levels(load_feature_info(store, "colon"))
    return {"rx": levels["rx"], "nodes": None}


def _upload(rows: list[dict]) -> bytes:
    return pd.DataFrame(rows).to_csv(index=False).encode()


def test_own_columns_are_kept_checked_and_named(colon_path):
    own = _own(colon_path)
    assert own["rx"] == ["Obs", "Lev", "Lev+5FU"]
    data = _upload([{"age_years": 60, "sex": "male", "rx": "lev+5fu", "nodes": "4", "name": "x"},
                    {"age_years": 61, "sex": "female", "rx": "Placebo", "nodes": 2},
                    {"age_years": 62, "sex": "female", "rx": "", "nodes": "many"},
                    {"age_years": 63, "sex": "male", "rx": "Obs", "nodes": ""}])
    batch = cases.read_batch(data, "colon.csv", own)
    assert list(batch.cases["patient_id"]) == ["row-2", "row-5"]
    assert list(batch.cases["rx"]) == ["Lev+5FU", "Obs"]     # the level's own spelling
    assert batch.cases["nodes"].iloc[0] == 4.0 and pd.isna(batch.cases["nodes"].iloc[1])
    problems = batch.problems.set_index("row")
    assert problems.loc[3, "column"] == "rx"
    assert problems.loc[3, "problem"] == "not one of the levels of rx (Obs, Lev, Lev+5FU)"
    assert problems.loc[4, "problem"] == "nodes must be a number"
    assert batch.bad_rows == [3, 4]
    notes = " ".join(batch.notes)
    assert "rx" not in notes.split("ignored (not columns of the patients table): ")[1] \
        .split(";")[0].split(", ")
    assert "name" in notes and "own variables, read by its models: rx, nodes" in notes
    assert "name" not in batch.cases.columns        # an identifying column is never kept
    # without the cohort's own variables the columns are ignored, as before
    plain = cases.read_batch(data, "colon.csv")
    assert "rx" not in plain.cases.columns and len(plain.cases) == 4


def test_nothing_changes_without_own_columns(colon_path):
    frame = pd.DataFrame([{"age_years": 60, "sex": "male"}])
    result = cases.check_batch(frame)
    assert with_own_columns(result, frame, _own(colon_path)) is result


def test_an_uploaded_case_is_scored_like_the_form_case(colon_path):
    own = _own(colon_path)
    batch = cases.read_batch(_upload([{"age_years": 60, "sex": "male", "rx": "Lev+5FU"},
                                      {"age_years": 60, "sex": "male", "rx": "Obs"}]),
                             "colon.csv", own)
    form = cases.case_from_form({"age_years": 60, "sex": "male"}).assign(rx="Lev+5FU")
    with Store(colon_path, create=False) as store:
        uploaded = score_cases(batch.cases, store=store, cohort="colon", explain=False).table
        typed = score_cases(form, store=store, cohort="colon", explain=False).table
    up = uploaded[uploaded["model_id"] == MODEL].set_index("patient_id")["score"]
    by_form = typed[typed["model_id"] == MODEL]["score"].iloc[0]
    assert up["row-2"] == pytest.approx(float(by_form), rel=1e-9)
    assert up["row-2"] < up["row-3"]          # R: HR 0.69 for Lev+5FU vs Obs
