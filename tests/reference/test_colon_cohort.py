"""A centre's own cohort, first class: R's survival::colon adjuvant trial imported with
its arm (Obs / Lev / Lev+5FU) and numeric extras, then Kaplan–Meier, log-rank and Cox
by arm, Table 1 with the extras and a subgroup forest by arm — against R.

The CSV and the reference numbers come from ``tests/reference/r/colon_trial.R``
(``survfit`` with log-log intervals, ``survdiff``, ``coxph`` with Efron ties,
``chisq.test(correct = FALSE)``, ``kruskal.test``); with Rscript present the script is
run again here and must give the same numbers as the stored ones.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crlm import stats
from crlm.analysis import extras
from crlm.ingest.import_validate import prepare_table
from crlm.ingest.importer import import_file
from crlm.ingest.mapping import parse_mapping
from crlm.ingest.table_read import read_table
from crlm.stats.baseline_table import baseline_table
from crlm.store import CohortFilter, Store, load_cohort, load_feature_info, load_features
from tests.support.colon import MAPPING, flat

HERE = Path(__file__).parent
DATA = HERE / "data"
APP = str(HERE.parents[1] / "app.py")
REL = 1e-6
ARMS = ("Obs", "Lev", "Lev+5FU")


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((DATA / "colon_trial.json").read_text())


@pytest.fixture(scope="module")
def colon_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("colon")
    (root / "colon.yaml").write_text(MAPPING)
    path = root / "colon.duckdb"
    with Store(path) as store:
        result = import_file(store, DATA / "colon_trial.csv", mapping=root / "colon.yaml",
                             cohort="colon")
        assert result.written, result.report.to_text()
    return path


@pytest.fixture(scope="module")
def colon(colon_store):
    """The imported cohort with its extra variables, as the pages read it."""
    with Store(colon_store) as store:
        variables = extras.load_extra_variables(store, "colon")
        patients = load_cohort(store, CohortFilter(cohort="colon"))
        wide = load_features(store, "colon", ["extra"])
        info = load_feature_info(store, "colon")
    return variables, extras.with_extra_values(patients, wide, variables), info


def test_the_stored_csv_and_numbers_are_what_r_writes(tmp_path, ref):
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript not installed (scripts/setup_r.sh installs it)")
    subprocess.run([rscript, str(HERE / "r" / "colon_trial.R"), str(tmp_path)], check=True,
                   capture_output=True, timeout=120)
    assert (tmp_path / "colon_trial.csv").read_bytes() == (DATA / "colon_trial.csv").read_bytes()
    fresh = json.loads((tmp_path / "colon_trial.json").read_text())
    assert flat(fresh) == pytest.approx(flat(ref), rel=1e-9)   # another R, another BLAS




def test_arm_is_stored_as_level_codes_with_its_levels(colon):
    variables, frame, info = colon
    by_name = {v.name: v for v in variables}
    assert by_name["rx"].kind == "categorical" and by_name["rx"].levels == ARMS
    assert by_name["rx"].label == "Treatment arm" and by_name["rx"].known_at == "treatment plan"
    assert by_name["differ"].levels == ("well", "moderate", "poor")
    assert by_name["nodes"].kind == "numeric" and by_name["nodes"].title == \
        "Positive lymph nodes, nodes"
    rx = info.set_index("feature").loc["rx"]
    assert rx["kind"] == "categorical" and list(rx["levels"]) == list(ARMS)
    # 315 Obs, 310 Lev, 304 Lev+5FU (table(colon$rx) / 2)
    assert frame["extra:rx"].value_counts().to_dict() == {"Obs": 315, "Lev": 310, "Lev+5FU": 304}
    assert frame["extra:nodes"].isna().sum() == 18


def test_a_text_column_without_levels_becomes_categorical_with_a_report_line():
    frame = read_table(DATA / "colon_trial.csv")
    mapping = parse_mapping(MAPPING.split("extra_info:")[0])
    report = prepare_table(frame, mapping).report
    assert report.ok
    rx = next(e for e in report.extra_details if e.name == "rx")
    assert rx.kind == "categorical" and rx.levels == ("Lev", "Lev+5FU", "Obs")
    assert any("'rx': not numeric, kept as a categorical variable with its 3 observed levels"
               in w for w in report.warnings)
    assert not any("not numbers" in w for w in report.warnings)


def test_a_column_with_too_many_distinct_values_is_refused():
    frame = read_table(DATA / "colon_trial.csv")
    frame["note"] = [f"note {i}" for i in range(len(frame))]
    mapping = parse_mapping(MAPPING.replace("extra: [rx,", "extra: [note, rx,"))
    report = prepare_table(frame, mapping).report
    assert not report.ok
    assert any("'note': 929 distinct values, too many" in p for p in report.file_problems)


def test_kaplan_meier_log_rank_and_cox_by_arm_agree_with_r(colon, ref):
    variables, frame, _ = colon
    rx = next(v for v in variables if v.name == "rx")
    grouping = extras.extra_groups(frame["extra:rx"], rx)
    assert grouping.order == ARMS
    t = frame["os_months"].to_numpy(float)
    e = frame["os_event"].astype(bool).to_numpy()
    g = grouping.groups
    for arm in ARMS:
        km = stats.kaplan_meier(t[g == arm], e[g == arm])
        want = ref[f"km_{arm}"]
        assert (km.n, km.n_events) == (want["n"], want["events"])
        at = km.survival_at([12, 36, 60])
        np.testing.assert_allclose(at.survival, want["surv"], rtol=REL)
        np.testing.assert_allclose(at.ci_lower, want["lower"], rtol=REL)
        np.testing.assert_allclose(at.ci_upper, want["upper"], rtol=REL)
        if want["median"] is not None:
            assert km.median == pytest.approx(want["median"], rel=REL)
    lr = stats.logrank(t, e, g)
    assert lr.statistic == pytest.approx(ref["logrank_rx"]["chisq"], rel=REL)
    assert lr.p_value == pytest.approx(ref["logrank_rx"]["p"], rel=REL)
    design = pd.DataFrame({arm: (g == arm).astype(float) for arm in ARMS[1:]})
    fit = stats.cox(t, e, design)
    np.testing.assert_allclose([term.hr for term in fit.terms], ref["cox_rx"]["hr"], rtol=REL)
    np.testing.assert_allclose([term.ci_lower for term in fit.terms], ref["cox_rx"]["lower"],
                               rtol=REL)
    np.testing.assert_allclose([term.ci_upper for term in fit.terms], ref["cox_rx"]["upper"],
                               rtol=REL)


def test_a_numeric_extra_is_split_at_its_median_as_in_r(colon, ref):
    variables, frame, _ = colon
    nodes = next(v for v in variables if v.name == "nodes")
    grouping = extras.extra_groups(frame["extra:nodes"], nodes)
    assert grouping.cut == ref["logrank_nodes_median"]["median"] == 2
    assert grouping.order == ("≤ 2", "> 2", "unknown")
    counts = pd.Series(grouping.groups).value_counts()
    # R: survdiff's n per group (high, low, unknown in R's alphabetical order)
    assert [counts["> 2"], counts["≤ 2"], counts["unknown"]] == list(
        ref["logrank_nodes_median"]["n"].values())
    lr = stats.logrank(frame["os_months"].to_numpy(float),
                       frame["os_event"].astype(bool).to_numpy(), grouping.groups)
    assert lr.statistic == pytest.approx(ref["logrank_nodes_median"]["chisq"], rel=REL)


def test_table_one_with_the_extras_agrees_with_r(colon, ref):
    variables, frame, _ = colon
    table = baseline_table(frame, extras.table_one_variables(variables), by="sex").table
    table = table.set_index(["variable", "level"])
    assert table.loc["Treatment arm", "p_value"].iloc[0] == pytest.approx(
        ref["table1_rx_by_sex_p"], rel=REL)
    nodes = table.loc[("Positive lymph nodes, nodes", "median [IQR]")]
    assert nodes["p_value"] == pytest.approx(ref["table1_nodes_by_sex_p"], rel=REL)
    q1, med, q3 = ref["nodes_quartiles"]
    assert nodes["Overall"] == f"{med:.1f} [{q1:.1f}–{q3:.1f}]"


def test_the_arm_compared_within_subgroups_agrees_with_r(colon, ref):
    variables, frame, _ = colon
    sex = frame["sex"].astype(str).to_numpy()
    result = extras.compare_within_subgroups(
        frame["os_months"], frame["os_event"], frame["extra:rx"], "Obs", "Lev+5FU",
        {"Sex": extras.ExtraGroups(sex, ("female", "male"))})
    effects = {eff.level: eff for eff in result.results["Sex"].subgroups}
    for level, code in (("female", 0), ("male", 1)):
        want = ref[f"forest_sex_{code}"]
        got = effects[level]
        assert (got.n, got.events) == (want["n"], want["events"])
        assert got.hr == pytest.approx(want["hr"], rel=REL)
        assert (got.ci_lower, got.ci_upper) == (pytest.approx(want["lower"], rel=REL),
                                                pytest.approx(want["upper"], rel=REL))
    assert result.results["Sex"].interaction_p_value == pytest.approx(
        ref["forest_sex_interaction_p"], rel=REL)
    with pytest.raises(ValueError, match="two different levels"):
        extras.compare_within_subgroups(frame["os_months"], frame["os_event"],
                                        frame["extra:rx"], "Obs", "Obs", {})


# -- the pages ------------------------------------------------------------------------
@pytest.fixture()
def colon_app(colon_store, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from crlm import auth

    users = tmp_path / "users.toml"
    auth.add_user(users, "vera", "viewer", "viewer-password-1")
    monkeypatch.setenv("CRLM_DB", str(colon_store))
    monkeypatch.setenv("CRLM_USERS", str(users))
    monkeypatch.delenv("CRLM_DEMO_MODE", raising=False)
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["auth_user"] = auth.User("vera", "viewer", signed_in_at=time.time())
    yield at.run()
    from crlm.ui import loaders

    loaders.release_stores()


@pytest.mark.slow
def test_pages_show_km_by_arm_table_one_with_extras_and_a_forest_by_arm(colon_app, ref):
    at = colon_app
    at.switch_page("views/survival.py").run()
    assert not at.exception, at.exception
    # no response model in this cohort: the split starts at its treatment arm
    assert at.selectbox(key="survival_split_by").value == "extra:rx"
    table = at.dataframe[0].value
    assert table["Group"].tolist() == list(ARMS)
    assert table["n"].tolist() == [ref[f"km_{a}"]["n"] for a in ARMS]
    assert table["Events"].tolist() == [ref[f"km_{a}"]["events"] for a in ARMS]
    hr, lo, hi = (ref["cox_rx"][k][1] for k in ("hr", "lower", "upper"))
    assert table["HR vs Obs (95% CI)"].iloc[2].startswith(f"{hr:.2f}")
    assert at.get("plotly_chart")[0].key == "survival_km"

    at.switch_page("views/cohort.py").run()
    assert not at.exception, at.exception
    table1 = at.dataframe[0].value
    assert {"Treatment arm", "Positive lymph nodes, nodes", "Differentiation"} <= set(
        table1["variable"])
    at.selectbox(key="cohort_split_by").set_value("extra:rx").run()
    assert not at.exception, at.exception
    assert set(ARMS) <= set(at.dataframe[0].value.columns)

    at.switch_page("views/subgroups.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="subgroups_compare").value == "extra:rx"
    assert at.selectbox(key="subgroups_arm_compared").value == "Lev+5FU"
    forest = at.get("plotly_chart")[0]
    assert forest.key == "subgroups_arm_forest"
    assert "Lev+5FU vs Obs" in forest.proto.spec and "female" in forest.proto.spec


def test_a_categorical_extra_with_a_decision_time_is_a_one_hot_model_input(colon_store):
    from crlm.models import get_task
    from crlm.models.decision import plan_inputs
    from crlm.models.training import load_modelling_data

    with Store(colon_store) as store:
        data = load_modelling_data(store, "colon")
    arms = [f"rx={arm}" for arm in ARMS]
    assert set(arms) <= set(data.feature_sets["extra"]) and "rx" not in data.feature_sets["extra"]
    # one 0/1 column per arm: 315 / 310 / 304 patients
    assert data.frame[arms].sum().tolist() == [315, 310, 304]
    plan = plan_inputs(get_task("os_risk"), data.feature_sets["extra"], data.feature_times)
    assert set(arms) <= set(plan.used)              # known with the treatment plan
    assert "differ=well" not in plan.used           # no known_at in the mapping: unknown


@pytest.mark.parametrize("extra_info, message", [
    ("{arm: {label: Arm}}", "extra_info['arm']: not one of the extra columns"),
    ("{rx: {levels: [Obs, Obs]}}", "levels lists a value twice"),
    ("{rx: {levels: [Obs, Lev], labels: {X: x}}}", "labels name value(s) not in levels: x"),
    ("{rx: {colour: red}}", "unknown key(s) 'colour'"),
])
def test_a_bad_extra_info_entry_is_refused_with_its_key(extra_info, message):
    from crlm.ingest.mapping import MappingError

    text = MAPPING.split("extra_info:")[0] + f"extra_info: {extra_info}\n"
    with pytest.raises(MappingError) as exc:
        parse_mapping(text)
    assert message in str(exc.value)


def test_the_pages_r_exports_by_arm_run_in_r_and_agree(colon, tmp_path):
    """The Survival page's KM-by-arm and the Cohort page's Table 1 split by arm, exported
    as data + R script, give R's numbers (the script compares them itself)."""
    from crlm.analysis.pages import TABLE_ONE_VARIABLES
    from crlm.reports.r_export import survival_export, table_one_export
    from tests.support.r import r_ready, run_in_r

    if not r_ready():
        pytest.skip("Rscript with survival and pROC not installed (scripts/setup_r.sh)")
    variables, frame, _ = colon
    rx = next(v for v in variables if v.name == "rx")
    groups = extras.extra_groups(frame["extra:rx"], rx)
    data = pd.DataFrame({"time": frame["os_months"].to_numpy(float),
                         "event": frame["os_event"].astype(bool).to_numpy(),
                         "group": groups.groups})
    run_in_r(survival_export(data, order=groups.order, horizon=36.0), tmp_path / "km",
             shutil.which("Rscript"))
    rows = [v for v in TABLE_ONE_VARIABLES + extras.table_one_variables(variables)
            if v[0] in frame.columns and v[0] != rx.key and frame[v[0]].notna().any()]
    run_in_r(table_one_export(frame, rows, by=rx.key), tmp_path / "table1",
             shutil.which("Rscript"))


def test_a_yes_no_extra_splits_by_value_and_a_median_at_the_maximum_splits_below_it():
    yes_no = extras.ExtraVariable(name="obstruct", label="Obstruction")
    # median 1 here: "≤ 1" would hold everybody, so a 0/1 variable splits by its values
    grouping = extras.extra_groups(pd.Series([0.0, 1.0, 1.0, 1.0, np.nan]), yes_no)
    assert grouping.order == ("0", "1", "unknown") and grouping.cut is None
    assert grouping.groups.tolist() == ["0", "1", "1", "1", "unknown"]
    # median 3 is the largest value: < 3 vs ≥ 3
    grouping = extras.extra_groups(pd.Series([1.0, 2.0, 3.0, 3.0, 3.0]), yes_no)
    assert grouping.order == ("< 3", "≥ 3")
    assert grouping.groups.tolist() == ["< 3", "< 3", "≥ 3", "≥ 3", "≥ 3"]
    assert extras.order_groups(["≥ 3", "unknown", "< 3"], yes_no) == ["< 3", "≥ 3", "unknown"]


@pytest.mark.slow
def test_extra_variables_are_subgroups_of_a_response_model(tmp_path, monkeypatch):
    """With a response model registered, the Subgroups page compares predicted responders
    within the cohort's own variables too (the arm by level, nodes cut at the median)."""
    from streamlit.testing.v1 import AppTest

    from crlm import auth
    from crlm.store import save_model

    frame = pd.read_csv(DATA / "colon_trial.csv")
    rng = np.random.default_rng(22)
    frame["best_response"] = rng.choice(["CR", "PR", "SD", "PD"], size=len(frame))
    frame.to_csv(tmp_path / "colon.csv", index=False)
    (tmp_path / "colon.yaml").write_text(MAPPING)
    path = tmp_path / "colon.duckdb"
    with Store(path) as store:
        assert import_file(store, tmp_path / "colon.csv", mapping=tmp_path / "colon.yaml",
                           cohort="colon").written
        ids = load_cohort(store, CohortFilter(cohort="colon"), ["patient_id", "age_years"])
        save_model(store, {"model_id": "response.logistic", "name": "Logistic regression",
                           "family": "logistic", "task": "response", "cohort": "colon",
                           "kind": "trained", "feature_set": ["age_years"], "threshold": 0.5},
                   pd.DataFrame({"patient_id": ids["patient_id"], "split": "out-of-fold",
                                 "score": (ids["age_years"] - 18) / 67.0}))
    users = tmp_path / "users.toml"
    auth.add_user(users, "vera", "viewer", "viewer-password-1")
    monkeypatch.setenv("CRLM_DB", str(path))
    monkeypatch.setenv("CRLM_USERS", str(users))
    monkeypatch.delenv("CRLM_DEMO_MODE", raising=False)
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["auth_user"] = auth.User("vera", "viewer", signed_in_at=time.time())
    try:
        at.run()
        at.switch_page("views/subgroups.py").run()
        assert not at.exception, at.exception
        assert at.selectbox(key="subgroups_compare").value == "predicted response"
        at.multiselect(key="subgroups_columns").set_value(["extra:rx", "extra:nodes"]).run()
        assert not at.exception, at.exception
        spec = str(json.loads(at.get("plotly_chart")[0].proto.spec))
        assert "Treatment arm" in spec and "Lev+5FU" in spec and "≤ 2" in spec
        at.selectbox(key="subgroups_km_by").set_value("extra:rx").run()
        assert not at.exception, at.exception
    finally:
        from crlm.ui import loaders

        loaders.release_stores()
