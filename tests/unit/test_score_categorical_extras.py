"""Scoring a case with a model that reads a categorical extra one-hot (the colon trial's
arm): the case gives the level by name, an unknown level is refused by name."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crlm.ingest.importer import import_file
from crlm.models.inputs import one_hot_case_levels
from crlm.models.scoring import score_cases
from crlm.store import Store, load_feature_info, load_models

DATA = Path(__file__).resolve().parents[1] / "reference" / "data"
ARMS = ("Obs", "Lev", "Lev+5FU")


@pytest.fixture(scope="module")
def colon_trained(tmp_path_factory):
    from crlm.cli import main
    from tests.support.colon import MAPPING

    root = tmp_path_factory.mktemp("colon_score")
    (root / "colon.yaml").write_text(MAPPING)
    path = root / "colon.duckdb"
    with Store(path) as store:
        assert import_file(store, DATA / "colon_trial.csv", mapping=root / "colon.yaml",
                           cohort="colon").written
    assert main(["--db", str(path), "-q", "train", "--cohort", "colon", "--task", "os_risk",
                 "--family", "cox", "--folds", "3", "--fast"]) == 0
    store = Store(path)
    yield store
    store.close()


def test_a_level_name_becomes_the_models_one_hot_columns(colon_trained):
    info = load_feature_info(colon_trained, "colon")
    case = pd.DataFrame({"age_years": [60, 61, 62], "rx": ["Lev+5FU", " obs", None]})
    out = one_hot_case_levels(case, info)
    assert "rx" not in out.columns and out["age_years"].tolist() == [60, 61, 62]
    assert out["rx=Lev+5FU"].tolist()[:2] == [1.0, 0.0]
    assert out["rx=Obs"].tolist()[:2] == [0.0, 1.0] and out["rx=Lev"].tolist()[:2] == [0.0, 0.0]
    assert all(np.isnan(out.loc[2, [f"rx={a}" for a in ARMS]].to_numpy(float)))
    # differ's levels are labels of codes 1/2/3: the label is the level name
    assert one_hot_case_levels(pd.DataFrame({"differ": ["poor"]}), info)[
        "differ=poor"].tolist() == [1.0]


def test_a_model_reading_the_arm_scores_a_case_that_gives_it(colon_trained):
    model = load_models(colon_trained, cohort="colon").iloc[0]
    assert {f"rx={a}" for a in ARMS} <= set(model["feature_set"])
    cases = pd.DataFrame({"patient_id": ["a", "b", "c"], "age_years": [60, 60, 60],
                          "sex": ["male"] * 3, "rx": ["Obs", "Lev+5FU", None]})
    table = score_cases(cases, store=colon_trained, cohort="colon",
                        explain=False).table.set_index("patient_id")
    assert not table["reason"].str.contains("retrain").any(), table["reason"].tolist()
    assert np.isfinite(table["score"]).all()
    # the arm moves the risk score; the same case with Lev+5FU is lower risk than Obs
    assert table.loc["b", "score"] < table.loc["a", "score"]
    assert not any(c.startswith("rx=") for c in table.loc["a", "imputed"])
    assert {f"rx={a}" for a in ARMS} <= set(table.loc["c", "imputed"])


def test_an_unknown_level_is_refused_with_the_levels(colon_trained):
    cases = pd.DataFrame({"age_years": [60], "rx": ["Placebo"]})
    with pytest.raises(ValueError, match=r"row 0, column rx: 'Placebo' is not one of its "
                                         r"levels \(Obs, Lev, Lev\+5FU\)"):
        score_cases(cases, store=colon_trained, cohort="colon", explain=False)
