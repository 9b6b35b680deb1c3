"""Small cohorts: a 60-patient centre or a 200-patient demo trains what it can, and each
family or task it cannot fit is skipped with a one-line reason, never a traceback."""
from __future__ import annotations

import pytest

from crlm import models
from crlm import store as st
from crlm.cli import main
from crlm.ingest.demo import generate_cohort_frames
from crlm.models.families import FAMILIES, Family, register_family
from crlm.models.tasks import SURVIVAL


class _Diverging:
    """An estimator whose fit fails numerically, as coxnet does on some small cohorts."""

    def fit(self, X, y):
        raise ArithmeticError("Numerical error, because weights are too large")


@pytest.mark.slow
def test_the_reported_small_demo_builds_and_trains_without_a_traceback(tmp_path, capsys):
    db = tmp_path / "small.duckdb"
    rc = main(["--db", str(db), "demo", "--patients", "200", "--seed", "3", "--fast",
               "--no-imaging", "--folds", "3"])
    out, err = capsys.readouterr()
    assert rc == 0, err[-2000:]
    assert "Traceback" not in out + err
    with st.Store(db, create=False) as store:
        trained = st.load_models(store, cohort="demo")
    assert {"response", "os_risk"} <= set(trained["task"])


@pytest.mark.parametrize("n,seed", [(60, 3), (120, 7)])
def test_tiny_cohorts_train_what_they_can_and_name_the_rest(tmp_path, n, seed):
    store = st.Store(tmp_path / "tiny.duckdb")
    chunk = generate_cohort_frames(n, seed)
    st.save_cohort(store, "demo", chunk.patients, chunk.features, kind="synthetic", seed=seed)
    report = models.train(store, folds=3, seed=seed, artefact_dir=tmp_path / "art",
                          progress=False, fast=True,
                          families=["logistic", "cox", "lasso_cox", "fong_score"])
    assert len(report) > 0
    for line in report.skipped_lines():
        assert "\n" not in line and ": " in line
    store.close()


def test_a_family_that_fails_numerically_is_skipped_and_the_others_train(tmp_path):
    register_family(Family("diverging_cox", SURVIVAL, "A Cox fit that diverges",
                           build=lambda seed, fast: _Diverging(), explainer="none",
                           default=False))
    store = st.Store(tmp_path / "d.duckdb")
    chunk = generate_cohort_frames(200, 3)
    st.save_cohort(store, "demo", chunk.patients, chunk.features, kind="synthetic", seed=3)
    try:
        report = models.train(store, tasks=["os_risk"], families=["diverging_cox", "cox"],
                              folds=3, seed=3, artefact_dir=tmp_path / "art", progress=False,
                              fast=True)
    finally:
        FAMILIES.pop("diverging_cox")
    assert list(report.table["model"]) == ["os_risk.cox"]
    [skipped] = report.skipped
    assert skipped.family == "diverging_cox"
    assert skipped.reason == ("the fit failed numerically on this cohort (ArithmeticError: "
                              "Numerical error, because weights are too large)")
    store.close()
