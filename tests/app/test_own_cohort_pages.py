"""A centre's own cohort under AppTest: the colon trial's sidebar filters its own
variables (counted against pandas on the CSV, carried in the link), and neither it nor a
TCIA-layout cohort shows a control for a column it does not record or stops at 'no
trained response model'."""
from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from crlm import config
from crlm.store import Store, load_recorded_columns
from tests.app.conftest import APP
from tests.own_cohorts import (
    COLON_CSV, FILTER_COLUMNS, PASSWORD, add_clinician, build_colon_store, build_tcia_store,
    label,
)

pytestmark = pytest.mark.slow
PAGES = ("views/cohort.py", "views/survival.py", "views/subgroups.py", "views/models.py",
         "views/score.py")


@pytest.fixture(scope="module")
def colon_path(tmp_path_factory):
    return build_colon_store(tmp_path_factory.mktemp("colon_app"))


@pytest.fixture(scope="module")
def tcia_path(tmp_path_factory):
    return build_tcia_store(tmp_path_factory.mktemp("tcia_app"))


@pytest.fixture()
def signed_in(monkeypatch, tmp_path):
    """An AppTest of the app on a store, signed in as a clinician through the form."""
    monkeypatch.delenv("CRLM_DEMO_MODE", raising=False)
    monkeypatch.setenv("CRLM_USERS", str(add_clinician(tmp_path)))

    def start(path, **params) -> AppTest:
        monkeypatch.setenv("CRLM_DB", str(path))
        at = AppTest.from_file(APP, default_timeout=240)
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        at.text_input[0].input("cara")
        at.text_input[1].input(PASSWORD)
        at.button[0].click().run()
        assert not at.exception, at.exception
        return at
    return start


def _count(at: AppTest) -> int:
    return int(next(m for m in at.sidebar.metric if m.label == "Patients matching")
               .value.replace(",", ""))


def _sidebar_labels(at: AppTest) -> set[str]:
    widgets = [*at.sidebar.multiselect, *at.sidebar.slider, *at.sidebar.number_input,
               *at.sidebar.date_input, *at.sidebar.selectbox]
    return {w.label for w in widgets}


def _assert_only_recorded_controls(at: AppTest, path, cohort: str) -> None:
    with Store(path, create=False) as store:
        recorded = set(load_recorded_columns(store, cohort, FILTER_COLUMNS))
    missing = [c for c in FILTER_COLUMNS if c not in recorded]
    assert missing, "the cohort records every filter column"
    shown = _sidebar_labels(at)
    for column in missing:
        assert not any(lab.startswith(label(column)) for lab in shown), (column, shown)
    line = next(c.value for c in at.sidebar.caption if c.value.startswith("Not recorded"))
    assert all(label(c) in line for c in missing)


def _assert_form_asks_only_recorded(at: AppTest, path, cohort: str) -> None:
    from crlm import cases

    names = [n for n in cases.ENTRY_NAMES if n in config.COLUMNS_BY_NAME]
    with Store(path, create=False) as store:
        recorded = set(load_recorded_columns(store, cohort, names))
    asked = {w.label for w in [*at.main.selectbox, *at.main.number_input]}
    assert "Age (years)" in asked
    for name in names:
        if name not in recorded:
            assert not any(lab.startswith(label(name)) for lab in asked), (name, asked)


def _all_text(at: AppTest) -> str:
    return " ".join(str(getattr(e, "value", "")) for kind in ("info", "warning", "error",
                                                               "markdown", "caption")
                    for e in getattr(at, kind))


def test_a_filter_on_the_colon_trials_own_variables_changes_the_numbers(colon_path, signed_in):
    csv = pd.read_csv(COLON_CSV)
    at = signed_in(colon_path, cohort="colon")
    assert _count(at) == len(csv) == 929
    _assert_only_recorded_controls(at, colon_path, "colon")
    assert {"Treatment arm", "Positive lymph nodes (nodes)", "Differentiation"} <= \
        _sidebar_labels(at)

    at.sidebar.multiselect(key="flt_extra_rx").set_value(["Lev+5FU"]).run()
    assert not at.exception, at.exception
    arm = csv["rx"] == "Lev+5FU"
    assert _count(at) == int(arm.sum()) == 304
    assert next(m for m in at.metric if m.label == "Patients").value == "304"
    at.sidebar.slider(key="flt_extra_nodes").set_value((3, 33)).run()
    both = arm & (csv["nodes"] >= 3)
    assert _count(at) == int(both.sum())
    table = at.dataframe[0].value.set_index(["variable", "level"])
    assert table.loc[("n", ""), "Overall"] == str(int(both.sum()))
    assert at.query_params["extra:rx"] in ("Lev+5FU", ["Lev+5FU"])
    link = {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert link["extra:nodes"] == "3..33"

    # the link reproduces the view; a level or a range the cohort lacks is named, ignored
    again = signed_in(colon_path, **link)
    assert _count(again) == int(both.sum())
    assert again.sidebar.multiselect(key="flt_extra_rx").value == ["Lev+5FU"]
    bad = signed_in(colon_path, cohort="colon", **{"extra:rx": "Lev+5FU,Placebo",
                                                   "extra:nodes": "3..many",
                                                   "extra:stage": "IV", "tbs_zone": "high"})
    assert not bad.exception, bad.exception
    assert _count(bad) == int(arm.sum())
    warning = " ".join(w.value for w in bad.sidebar.warning)
    for fragment in ("Treatment arm: 'Placebo'", "Positive lymph nodes: expected 'low..high'",
                     "'extra:stage'", "TBS zone: not recorded in cohort 'colon'"):
        assert fragment in warning, warning


def test_a_yes_no_variable_is_a_yes_no_choice_and_the_caption_names_labels(colon_path,
                                                                          signed_in):
    csv = pd.read_csv(COLON_CSV)
    at = signed_in(colon_path, cohort="colon")
    choice = at.sidebar.multiselect(key="flt_extra_obstruct")   # a 0/1 column of the trial
    assert choice.options == ["yes", "no"]
    assert "flt_extra_obstruct" not in {s.key for s in at.sidebar.slider}
    choice.set_value(["yes"]).run()
    assert not at.exception, at.exception
    assert _count(at) == int((csv["obstruct"] == 1).sum())
    link = {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert link["extra:obstruct"] == "1..1"
    at.sidebar.multiselect(key="flt_extra_rx").set_value(["Obs"]).run()
    assert _count(at) == int(((csv["obstruct"] == 1) & (csv["rx"] == "Obs")).sum())
    caption = at.session_state["shared_filter"].describe()
    assert "Treatment arm: Obs" in caption and "rx:" not in caption
    # both answers, or none: everyone; a link's 0..0 is "no"
    at.sidebar.multiselect(key="flt_extra_rx").set_value([]).run()
    at.sidebar.multiselect(key="flt_extra_obstruct").set_value(["yes", "no"]).run()
    assert _count(at) == len(csv)
    again = signed_in(colon_path, cohort="colon", **{"extra:obstruct": "0..0"})
    assert again.sidebar.multiselect(key="flt_extra_obstruct").value == ["no"]
    assert _count(again) == int((csv["obstruct"] == 0).sum())


def test_the_colon_cohort_page_draws_only_what_it_records(colon_path, signed_in):
    at = signed_in(colon_path, cohort="colon")
    charts = [c.key for c in at.get("plotly_chart")]
    assert "cohort_dist_age_years" in charts
    assert not any(k in charts for k in ("cohort_dist_ras_status", "cohort_dist_primary_side",
                                         "cohort_dist_cea_ng_ml"))
    assert "RAS status" not in set(at.dataframe[0].value["variable"])
    options = at.selectbox(key="cohort_split_by").options   # as shown: labels
    assert "predicted responder" not in options and "RAS status" not in options
    assert "Treatment arm" in options


@pytest.mark.parametrize("cohort", ["tcia", "colon"])
def test_every_analysis_page_opens_without_crlm_only_controls_or_dead_ends(
        cohort, tcia_path, colon_path, signed_in):
    path = tcia_path if cohort == "tcia" else colon_path
    at = signed_in(path, cohort=cohort)
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        _assert_only_recorded_controls(at, path, cohort)
        assert "no trained response model" not in _all_text(at).lower(), page
        if page == "views/score.py":   # the case form asks only what the cohort records
            _assert_form_asks_only_recorded(at, path, cohort)
    at.switch_page("views/subgroups.py").run()
    compare = at.selectbox(key="subgroups_compare")
    assert compare.value == ("extra:chemo_before_liver_resection" if cohort == "tcia"
                             else "extra:rx")
    assert at.get("plotly_chart")[0].key == "subgroups_arm_forest"


@pytest.fixture(scope="module")
def colon_cox_path(tmp_path_factory):
    from tests.own_cohorts import train_colon_cox

    path = build_colon_store(tmp_path_factory.mktemp("colon_cox_app"))
    train_colon_cox(path)
    return path


def test_the_score_form_asks_the_arm_a_model_reads_and_scores_with_it(colon_cox_path,
                                                                      signed_in):
    at = signed_in(colon_cox_path, cohort="colon")
    at.switch_page("views/score.py").run()
    assert not at.exception, at.exception
    arm = at.selectbox(key="score_in_extra_rx")
    assert arm.label == "Treatment arm" and arm.options == ["unknown", *("Obs", "Lev",
                                                                         "Lev+5FU")]
    at.number_input(key="score_in_age_years").set_value(60)
    scores = {}
    for level in ("Obs", "Lev+5FU", "unknown"):
        at.selectbox(key="score_in_extra_rx").set_value(level)
        at.button(key="score_run").click().run()
        assert not at.exception, at.exception
        table = at.session_state["score_result"]["scores"]
        row = table[table["model_id"] == "os_risk.cox"].iloc[0]
        assert "retrain" not in str(row["reason"])
        scores[level] = (float(row["score"]), list(row["imputed"]))
    assert scores["Lev+5FU"][0] < scores["Obs"][0]   # R: HR 0.69 for Lev+5FU vs Obs
    assert not any(c.startswith("rx=") for c in scores["Obs"][1])
    assert "rx=Obs" in scores["unknown"][1]
