"""Survival models as deeply as binary ones, on R's survival::colon imported as a
survival-only cohort: two risk scores registered as os_risk models, then Harrell's C with
its standard error, the paired comparison of the two, Kaplan–Meier, log-rank and Cox by
risk tertile — against R — and the Models and Survival pages showing them.

The reference numbers come from ``tests/reference/r/colon_survival_models.R``
(``concordance`` with its infinitesimal-jackknife variance, ``concordance(fit_a, fit_b)``
for the covariance, ``survfit`` with log-log intervals, ``survdiff``, ``coxph`` with
Efron ties); with Rscript present the script runs again here and must agree.
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

from crlm.analysis import extras
from crlm.analysis import survival_models as sm
from crlm.ingest.importer import import_file
from crlm.stats.survival_discrimination import compare_concordance, harrell_c
from crlm.store import CohortFilter, Store, load_cohort, load_features, save_model
from tests.support.colon import MAPPING

HERE = Path(__file__).parent
DATA = HERE / "data"
APP = str(HERE.parents[1] / "app.py")
REL = 1e-6
GROUPS = ("Low risk", "Intermediate risk", "High risk")


def _scores(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The two scores of the R script (higher = shorter survival)."""
    a = frame["node4"] + 0.3 * frame["extent"] + 0.2 * frame["obstruct"]
    b = frame["age"] / 100 + 0.5 * frame["node4"] + 0.1 * frame["perfor"]
    return a.to_numpy(float), b.to_numpy(float)


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((DATA / "colon_survival_models.json").read_text())


@pytest.fixture(scope="module")
def trial():
    frame = pd.read_csv(DATA / "colon_trial.csv")
    t = frame["os_days"].to_numpy(float) / 30.4375
    e = frame["died"].astype(bool).to_numpy()
    return frame, t, e


def test_the_stored_numbers_are_what_r_computes(tmp_path, ref):
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript not installed (scripts/setup_r.sh installs it)")
    out = tmp_path / "ref.json"
    subprocess.run([rscript, str(HERE / "r" / "colon_survival_models.R"),
                    str(DATA / "colon_trial.csv"), str(out)], check=True, capture_output=True,
                   timeout=120)
    from tests.support.colon import flat

    assert flat(json.loads(out.read_text())) == pytest.approx(flat(ref), rel=1e-9)


def test_harrell_c_its_variance_and_the_paired_covariance_agree_with_r(trial, ref):
    frame, t, e = trial
    a, b = _scores(frame)
    for name, score in (("a", a), ("b", b)):
        c = harrell_c(t, e, score)
        assert c.concordance == pytest.approx(ref[f"c_{name}"]["c"], rel=REL)
        assert c.se ** 2 == pytest.approx(ref[f"c_{name}"]["var"], rel=REL)
        assert (c.ci_lower, c.ci_upper) == pytest.approx(
            (c.concordance - 1.959963984540054 * c.se, c.concordance + 1.959963984540054 * c.se),
            rel=1e-12)
    pair = compare_concordance(t, e, a, b)
    assert [pair.concordance_a, pair.concordance_b] == pytest.approx(ref["c_pair"]["c"], rel=REL)
    assert pair.covariance == pytest.approx(ref["c_pair"]["cov"], rel=REL)
    assert pair.se ** 2 == pytest.approx(ref["c_pair"]["diff_var"], rel=REL)
    assert pair.difference == pytest.approx(ref["c_pair"]["c"][0] - ref["c_pair"]["c"][1], rel=REL)


def test_km_log_rank_and_cox_by_risk_tertile_agree_with_r(trial, ref):
    frame, t, e = trial
    _, b = _scores(frame)
    res = sm.risk_group_survival(t, e, b)
    assert res.order == GROUPS
    assert list(res.cuts) == pytest.approx(ref["tertile_cuts"], rel=1e-12)
    for name, key in zip(GROUPS, ("low", "mid", "high")):
        km, want = res.curves[name], ref[f"km_{key}"]
        assert (km.n, km.n_events) == (want["n"], want["events"])
        at = km.survival_at([12, 36, 60])
        np.testing.assert_allclose(at.survival, want["surv"], rtol=REL)
        np.testing.assert_allclose(at.ci_lower, want["lower"], rtol=REL)
        np.testing.assert_allclose(at.ci_upper, want["upper"], rtol=REL)
    assert res.logrank_chisq == pytest.approx(ref["logrank"]["chisq"], rel=REL)
    assert res.logrank_p == pytest.approx(ref["logrank"]["p"], rel=REL)
    np.testing.assert_allclose([res.hr[g][0] for g in GROUPS[1:]], ref["cox"]["hr"], rtol=REL)
    np.testing.assert_allclose([res.hr[g][1] for g in GROUPS[1:]], ref["cox"]["lower"], rtol=REL)
    np.testing.assert_allclose([res.hr[g][2] for g in GROUPS[1:]], ref["cox"]["upper"], rtol=REL)


# -- the pages ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def colon_models_store(tmp_path_factory):
    """The colon trial imported, with the two scores registered as os_risk models
    (out-of-fold predictions of every patient)."""
    root = tmp_path_factory.mktemp("colon_models")
    (root / "colon.yaml").write_text(MAPPING)
    path = root / "colon.duckdb"
    with Store(path) as store:
        assert import_file(store, DATA / "colon_trial.csv", mapping=root / "colon.yaml",
                           cohort="colon").written
        variables = extras.load_extra_variables(store, "colon")
        patients = load_cohort(store, CohortFilter(cohort="colon"))
        wide = load_features(store, "colon", ["extra"])
        frame = extras.with_extra_values(patients, wide, variables)
        assert len(frame) == 929
        a, b = _scores(frame.rename(columns={"age_years": "age", "extra:node4": "node4",
                                             "extra:extent": "extent",
                                             "extra:obstruct": "obstruct",
                                             "extra:perfor": "perfor"}))
        ids = frame["patient_id"]
        for model_id, name, score, c in (("os_risk.nodes_extent", "Nodes and extent", a, 0.65),
                                         ("os_risk.age_nodes", "Age and nodes", b, 0.62)):
            save_model(store, {"model_id": model_id, "name": name, "family": "cox",
                               "task": "os_risk", "cohort": "colon", "kind": "trained",
                               "feature_set": ["node4"], "threshold": None,
                               "metrics": {"out_of_fold": {"c_index": c}}},
                       pd.DataFrame({"patient_id": ids, "split": "out-of-fold", "score": score}))
    return path


@pytest.fixture()
def colon_app(colon_models_store, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from crlm import auth

    users = tmp_path / "users.toml"
    auth.add_user(users, "vera", "viewer", "viewer-password-1")
    monkeypatch.setenv("CRLM_DB", str(colon_models_store))
    monkeypatch.setenv("CRLM_USERS", str(users))
    monkeypatch.delenv("CRLM_DEMO_MODE", raising=False)
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["auth_user"] = auth.User("vera", "viewer", signed_in_at=time.time())
    yield at.run()
    from crlm.ui import loaders

    loaders.release_stores()


def _frames(at) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe]


@pytest.mark.slow
def test_models_page_of_a_survival_only_cohort_has_the_depth_of_a_binary_one(colon_app, ref):
    at = colon_app
    at.switch_page("views/models.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="models_task").value == "os_risk"
    # C with its interval, against R's concordance to 1e-6
    table = _frames(at)[0].set_index("model")
    for name, key in (("Nodes and extent", "c_a"), ("Age and nodes", "c_b")):
        assert table.loc[name, "harrell_c"] == pytest.approx(ref[key]["c"], rel=REL)
        assert table.loc[name, "c_se"] ** 2 == pytest.approx(ref[key]["var"], rel=1e-4)
        assert table.loc[name, "C [95% CI]"].startswith(f"{ref[key]['c']:.3f} [")
    # paired comparison: best C first (model A), the other second
    assert at.selectbox(key="models_compare_a_os_risk").value == "os_risk.nodes_extent"
    pair = next(f for f in _frames(at) if "difference" in f.columns)
    assert pair["difference"].iloc[0] == pytest.approx(
        ref["c_pair"]["c"][0] - ref["c_pair"]["c"][1], rel=1e-4)
    assert pair["se"].iloc[0] ** 2 == pytest.approx(ref["c_pair"]["diff_var"], rel=1e-4)
    # KM by risk tertile of the chosen model, with log-rank and HR as in R
    at.selectbox(key="shared_model_os_risk").set_value("os_risk.age_nodes").run()
    assert not at.exception, at.exception
    keys = [c.key for c in at.get("plotly_chart")]
    assert {"models_risk_km_out-of-fold", "models_td_roc_out-of-fold",
            "models_survival_calibration_out-of-fold"} <= set(keys)
    km = next(f for f in _frames(at) if "Group" in f.columns)
    assert km["Group"].tolist() == list(GROUPS)
    assert km["n"].tolist() == [ref[f"km_{k}"]["n"] for k in ("low", "mid", "high")]
    hr, lo, hi = (ref["cox"][k][1] for k in ("hr", "lower", "upper"))
    assert km["HR vs Low risk (95% CI)"].iloc[2] == f"{hr:.2f} [{lo:.2f}–{hi:.2f}]"
    assert any(f"chi-square {ref['logrank']['chisq']:.2f}" in c.value for c in at.caption)
    # a chosen horizon: the time-dependent ROC and the AUC column follow it
    at.multiselect(key="models_horizons_os_risk").set_value([2, 5]).run()
    assert not at.exception, at.exception
    assert {"auc_24m", "auc_60m"} <= set(_frames(at)[0].columns)
    roc = next(c for c in at.get("plotly_chart") if c.key == "models_td_roc_out-of-fold")
    assert "2 years" in roc.proto.spec and "5 years" in roc.proto.spec
    # calibration at a horizon: three risk groups, predicted and observed with CIs
    at.selectbox(key="models_calibration_horizon_os_risk").set_value(60.0).run()
    assert not at.exception, at.exception
    cal = next(f for f in _frames(at) if "mean_predicted" in f.columns)
    assert cal["group"].tolist() == list(GROUPS) and (cal["horizon_months"] == 60).all()
    assert cal["observed"].round(4).tolist() == pytest.approx(
        [round(ref[f"km_{k}"]["surv"][2], 4) for k in ("low", "mid", "high")])
    assert (cal["ci_lower"] < cal["observed"]).all() and (cal["observed"] < cal["ci_upper"]).all()
    assert cal["mean_predicted"].is_monotonic_decreasing
    # a chosen cut: two groups
    at.selectbox(key="models_risk_groups_os_risk").set_value("a cut at a percentile").run()
    assert not at.exception, at.exception
    km = next(f for f in _frames(at) if "Group" in f.columns)
    assert km["Group"].tolist() == ["Low risk", "High risk"]
    # every figure has the export buttons of the binary figures
    labels = [b.label for b in at.get("download_button")]
    assert labels.count("PNG") >= 3 and labels.count("CSV") >= 3
    # both splits side by side: the external centre (none here) says so, nothing breaks
    at.selectbox(key="models_split").set_value("both").run()
    assert not at.exception, at.exception
    assert any(i.value.startswith("External centre: ") for i in at.info)
    assert "models_risk_km_out-of-fold" in [c.key for c in at.get("plotly_chart")]


@pytest.mark.slow
def test_survival_page_splits_by_a_survival_models_risk_group(colon_app, ref):
    at = colon_app
    at.switch_page("views/survival.py").run()
    assert not at.exception, at.exception
    split = at.selectbox(key="survival_split_by")
    assert split.value == "extra:rx"                  # the arm still opens the page
    assert "predicted responder" not in split.options  # no response model: no dead end
    choice = "risk group:os_risk.age_nodes"
    assert "Predicted risk: Age and nodes (tertiles)" in split.options
    split.set_value(choice).run()
    assert not at.exception, at.exception
    table = _frames(at)[0]
    assert table["Group"].tolist() == list(GROUPS)
    assert table["n"].tolist() == [ref[f"km_{k}"]["n"] for k in ("low", "mid", "high")]
    assert table["Events"].tolist() == [ref[f"km_{k}"]["events"] for k in ("low", "mid", "high")]
    hr = ref["cox"]["hr"][1]
    assert table["HR vs Low risk (95% CI)"].iloc[2].startswith(f"{hr:.2f}")


def test_the_risk_group_r_export_of_the_models_page_runs_in_r_and_agrees(
        colon_models_store, tmp_path, monkeypatch, ref):
    """The Models page's "R script (zip)" next to Kaplan–Meier by risk group: built as the
    button builds it, run in R, every number agreeing (the script compares them)."""
    from tests.support.r import r_ready, run_in_r

    if not r_ready():
        pytest.skip("Rscript with survival and pROC not installed (scripts/setup_r.sh)")
    from crlm.store import CohortFilter as Filter
    from crlm.ui import loaders
    from crlm.ui import survival_models as ui_sm

    monkeypatch.setenv("CRLM_DB", str(colon_models_store))
    try:
        export = ui_sm._risk_group_export(loaders.filter_key(Filter(cohort="colon")), "os_risk",
                                          "out-of-fold", "os_risk.age_nodes", sm.TERTILES,
                                          order=GROUPS)
        got = {q.name: q.value for q in export.quantities}
        logrank = next(v for k, v in got.items() if "logrank" in k and k.endswith("chisq"))
        assert logrank == pytest.approx(ref["logrank"]["chisq"], rel=REL)
        run_in_r(export, tmp_path / "km_risk", shutil.which("Rscript"))
    finally:
        loaders.release_stores()
