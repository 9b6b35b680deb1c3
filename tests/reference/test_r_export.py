"""The "R script" exports, run with Rscript: every exported number agrees with R.

Each test builds a page's export (data.csv, analysis.R, ours.csv), runs
``Rscript analysis.R`` in a temporary folder and reads the comparison.csv it writes:
every number must agree to 1e-6 relative (1e-12 absolute), both as the script judges
it and as checked here against our own numbers.

R comes from Debian (r-base-core, r-cran-survival, r-cran-proc), installed by
``scripts/setup_r.sh`` (run by ``scripts/setup.sh``, and by these tests when R is
missing). Only where apt-get is not available are the tests skipped, with that message,
and never under CI (``CI=true``), where they fail.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crlm.reports.r_export import (
    ModelScores, concordance_export, models_export, subgroups_export, survival_export,
    table_one_export,
)
from tests.support.r import r_ready, run_in_r

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]




@pytest.fixture(scope="module")
def rscript() -> str:
    """Rscript with survival and pROC, installed from Debian by scripts/setup_r.sh if missing."""
    if not r_ready():
        setup = subprocess.run(["bash", str(ROOT / "scripts" / "setup_r.sh")], capture_output=True,
                               text=True, stdin=subprocess.DEVNULL, timeout=900)
        if setup.returncode == 2:
            reason = ("apt-get is not available to install R: install R with the survival and "
                      "pROC packages to run the R export tests")
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(reason)
            pytest.skip(reason)
        assert setup.returncode == 0 and r_ready(), \
            f"installing Debian's R (scripts/setup_r.sh) failed:\n{setup.stderr[-2000:]}"
    return shutil.which("Rscript")




# ------------------------------------------------------------------ survival::colon
@pytest.fixture(scope="module")
def colon() -> pd.DataFrame:
    # death records of survival::colon (time in days) with a logistic risk fitted in R
    return pd.read_csv(DATA / "colon.csv")


def test_survival_export_on_colon_agrees_with_r(colon, rscript, tmp_path):
    data = pd.DataFrame({"time": colon.time, "event": colon.status, "group": colon.rx})
    export = survival_export(data, horizon=1500, order=["Obs", "Lev", "Lev+5FU"],
                             landmarks=[365, 1095, 1826.25])
    cmp = run_in_r(export, tmp_path, rscript)
    # the page's headline numbers are among them
    for name in ("logrank.p", "hr[Lev+5FU vs Obs]", "ph.global_p", "rmst_1500[Obs]",
                 "km[Obs].median", "km[Lev].surv_at_1826.25_lower", "km[Obs].at_risk_365"):
        assert name in set(cmp["quantity"])
    assert (cmp["kind"] == "curve").sum() > 2000


def test_survival_export_with_one_group_and_unreached_median(colon, rscript, tmp_path):
    # one group (no tests), a horizon past the last time, medians not reached (NA in R)
    part = colon[colon.rx == "Lev+5FU"]
    data = pd.DataFrame({"time": part.time, "event": part.status, "group": "All patients"})
    export = survival_export(data, horizon=4000, landmarks=[0.5, 365, 5000])
    assert np.isnan(export.numbers["km[All patients].median"])
    cmp = run_in_r(export, tmp_path / "a folder with spaces", rscript)  # Rscript writes them as ~+~
    assert "logrank.p" not in set(cmp["quantity"])


def test_models_export_on_colon_agrees_with_r(colon, rscript, tmp_path):
    # the logistic risk (a probability model), age and > 4 nodes (scores), and age
    # missing for patients with obstruction (a model that scored fewer patients)
    age_part = np.where(colon.obstruct == 1, np.nan, colon.age)
    export = models_export(colon.status, [
        ModelScores("logistic risk", colon.risk.to_numpy(), 0.5, probability=True),
        ModelScores("age", colon.age.to_numpy(float), 60.0),
        ModelScores("age, no obstruction", age_part, 60.0),
        ModelScores("node4", colon.node4.to_numpy(float), 1.0),
    ], reference="node4", chosen="logistic risk")
    cmp = run_in_r(export, tmp_path, rscript)
    names = set(cmp["quantity"])
    for name in ("roc[logistic risk].auc_lower", "delong[age vs node4].p",
                 "at_threshold[age, no obstruction].ppv", "calibration[logistic risk].slope",
                 "calibration[logistic risk].intercept_upper", "net_benefit[logistic risk].model[50]"):
        assert name in names


def test_table_one_export_on_lung_agrees_with_r(rscript, tmp_path):
    # survival's lung: two continuous variables with missing values, ECOG (4 levels, one
    # missing), a yes/no variable, by institution group (3 groups and "unknown")
    lung = pd.read_csv(DATA / "table_one_lung.csv", dtype={"ecog": "string"})
    lung["big_weight_loss"] = (lung["wt.loss"] > 10).astype(object).where(lung["wt.loss"].notna())
    lung["centre"] = pd.cut(lung["inst"], [0, 9, 19, 40], labels=["low", "mid", "high"]).astype(object)
    variables = [("age", "Age, years", "continuous"), ("wt.loss", "Weight loss", "continuous"),
                 ("ecog", "ECOG", "categorical"), ("big_weight_loss", "Weight loss > 10", "categorical"),
                 ("sex", "Sex", "categorical")]
    cmp = run_in_r(table_one_export(lung, variables, by="centre"), tmp_path / "by_centre", rscript)
    assert {"ECOG.p_value", "Age, years.smd", "Weight loss[unknown].missing",
            "ECOG=1[mid].percent"} <= set(cmp["quantity"])
    # by sex: the p-values R's table_one.R recorded (tests/reference/data/table_one_lung.json)
    export = table_one_export(lung, variables[:3], by="sex")
    run_in_r(export, tmp_path / "by_sex", rscript)
    assert export.numbers["Age, years.p_value"] == pytest.approx(0.0568723825517478, rel=1e-9)
    run_in_r(table_one_export(lung, variables, by=None), tmp_path / "overall", rscript)


def test_table_one_export_on_colon_agrees_with_r(colon, rscript, tmp_path):
    # survival::colon by treatment arm: age, sex, obstruction, > 4 nodes, extent (4 levels)
    frame = colon.assign(sex=np.where(colon.sex == 1, "male", "female"),
                         obstruct=colon.obstruct == 1, node4=colon.node4 == 1)
    variables = [("age", "Age, years", "continuous"), ("sex", "Sex", "categorical"),
                 ("obstruct", "Obstruction", "categorical"), ("node4", "More than 4 nodes", "categorical"),
                 ("extent", "Extent", "categorical"), ("time", "Follow-up, days", "continuous")]
    cmp = run_in_r(table_one_export(frame, variables, by="rx"), tmp_path, rscript)
    assert {"Extent.p_value", "Obstruction=yes[Lev+5FU].percent", "Age, years[Obs].q3"} \
        <= set(cmp["quantity"])


def test_subgroups_export_on_colon_agrees_with_r(colon, rscript, tmp_path):
    # predicted = logistic risk >= 0.5; the "outcome" is death within 1000 days; some times
    # and outcomes unknown; extent has levels too small for a hazard ratio
    data = pd.DataFrame({
        "time": colon.time.astype(float), "event": colon.status.astype(float),
        "predicted": (colon.risk >= 0.5).astype(int), "score": colon.risk,
        "outcome": ((colon.time < 1000) & (colon.status == 1)).astype(float),
        "sex": np.where(colon.sex == 1, "male", "female"), "extent": colon.extent.astype(str),
        "rx": colon.rx, "obstruct": np.where(colon.obstruct == 1, "yes", "no")})
    data.loc[::17, "time"] = np.nan
    data.loc[::23, "outcome"] = np.nan
    export = subgroups_export(data, [("sex", "Sex"), ("extent", "Extent"), ("rx", "Treatment"),
                                     ("obstruct", "Obstruction")])
    assert "hr[Extent=1]" not in export.numbers  # not estimable: too few events
    cmp = run_in_r(export, tmp_path, rscript)
    assert {"interaction[Treatment].p", "hr[Sex=male].upper", "auc[Extent=3].auc_lower",
            "km[Obstruction=yes][Predicted responder].median", "logrank[Sex=female].p"} \
        <= set(cmp["quantity"])


def test_concordance_export_on_colon_and_lung_agrees_with_r(colon, rscript, tmp_path):
    # survival tasks on the Models page: Harrell's C and the time-dependent AUC, here at the
    # two reference cases (colon 5 years, logistic risk; lung 1 year, age), whose AUC is
    # riskRegression::Score's (tests/reference/data/r_results.json)
    import json

    ref = json.loads((DATA / "r_results.json").read_text())["td_auc"]
    export = concordance_export(colon.time, colon.status,
                                [ModelScores("logistic risk", colon.risk.to_numpy()),
                                 ModelScores("age", colon.age.to_numpy(float))],
                                times=[365, 1095, 1826.25])
    run_in_r(export, tmp_path / "colon", rscript)
    assert export.numbers["survival_model[logistic risk].auc_1826.25"] == pytest.approx(
        ref["colon_os_5y_logistic"]["auc"], rel=1e-6)
    lung = pd.read_csv(DATA / "lung.csv")
    export = concordance_export(lung.time, lung.event, [ModelScores("age", lung.age.to_numpy(float)),
                                                        ModelScores("ECOG", lung["ph.ecog"].to_numpy(float))],
                                times=[365])
    run_in_r(export, tmp_path / "lung", rscript)
    assert export.numbers["survival_model[age].auc_365"] == pytest.approx(ref["lung_1y_age"]["auc"], rel=1e-6)
    assert export.numbers["survival_model[ECOG].n"] == 227  # one ECOG missing


# ------------------------------------------------------------------ the demo cohort
def test_survival_export_on_the_demo_cohort_agrees_with_r(demo_store, rscript, tmp_path):
    from crlm.reports.r_export.inputs import survival_inputs
    from crlm.store import CohortFilter

    for split_by in ("ras_status", "predicted responder"):
        inputs = survival_inputs(demo_store, CohortFilter(), endpoint="OS", split_by=split_by)
        export = survival_export(inputs.data, order=inputs.order, horizon=36, title=inputs.title)
        run_in_r(export, tmp_path / split_by.replace(" ", "_"), rscript)


def test_models_export_from_the_cli_on_the_demo_cohort_agrees_with_r(demo_store_path, demo_store,
                                                                     rscript, tmp_path):
    import zipfile

    from crlm.cli import main
    from crlm.reports.r_export.inputs import models_inputs
    from crlm.store import CohortFilter

    # the same export as the CLI writes, to read our numbers back
    inputs = models_inputs(demo_store, CohortFilter(), task="response", split="out-of-fold")
    assert inputs.reference is not None and inputs.chosen is not None
    export = models_export(inputs.outcome, inputs.models, reference=inputs.reference,
                           chosen=inputs.chosen, title=inputs.title)
    cmp = run_in_r(export, tmp_path / "direct", rscript)
    assert any(q.startswith("calibration[") for q in cmp["quantity"])
    assert any(q.startswith("delong[") for q in cmp["quantity"])

    out = tmp_path / "models.zip"
    assert main(["--db", str(demo_store_path), "-q", "export-analysis", "models", str(out)]) == 0
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["models/README.txt", "models/analysis.R", "models/data.csv",
                                         "models/ours.csv"]
        zf.extractall(tmp_path / "cli")
        assert zf.read("models/ours.csv") == export.ours_csv()
    data = pd.read_csv(tmp_path / "cli" / "models" / "data.csv")
    assert list(data.columns[:2]) == ["pid", "outcome"] and data["pid"].str.match(r"P\d{4}$").all()
    proc = subprocess.run([rscript, str(tmp_path / "cli" / "models" / "analysis.R")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "numbers agree" in proc.stdout


def test_export_analysis_refuses_bad_choices(demo_store_path, tmp_path, capsys):
    from crlm.cli import main

    rc = main(["--db", str(demo_store_path), "export-analysis", "survival", str(tmp_path / "x"),
               "--split-by", "no_such_column"])
    assert rc != 0 and "no_such_column" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("page,options", [
    ("table1", ["--split-by", "predicted responder"]),
    ("subgroups", ["--endpoint", "PFS"]),
    ("models", ["--task", "os_risk"]),
])
def test_table_one_subgroups_and_survival_task_exports_from_the_cli_agree_with_r(demo_store_path, rscript, tmp_path,
                                                                    page, options):
    from crlm.cli import main

    out = tmp_path / page
    assert main(["--db", str(demo_store_path), "-q", "export-analysis", page, str(out), *options]) == 0
    data = pd.read_csv(out / "data.csv")
    assert "patient_id" not in data.columns and data["pid"].str.match(r"P\d{4}$").all()
    proc = subprocess.run([rscript, str(out / "analysis.R")], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    cmp = pd.read_csv(out / "comparison.csv")
    assert cmp["agree"].all() and len(cmp) > 50
