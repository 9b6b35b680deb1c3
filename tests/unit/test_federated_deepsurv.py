"""Federated DeepSurv (FedAvg, in-process transport) against the same network trained on
the pooled rows with the partial likelihood stratified by centre: the federated loss is
the sum of the sites' partial likelihoods (each site's own risk sets), which is the
pooled stratified loss, so the two models should rank patients alike.

Tolerance: the federated out-of-fold Harrell C lies within 0.03 of the pooled stratified
network's on the same rows, folds and preprocessing (measured here: 0.015; FedAvg takes
its local steps from the averaged parameters, so the two paths are not identical)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from crlm import stats
from crlm import store as st
from crlm.federated import deepsurv, mlp
from crlm.federated import site as site_mod
from crlm.federated.coordinator import LocalTransport, run_consortium
from crlm.federated.protocol import FederatedError, RunSpec

from tests.support.demo_split import copy_demo_split

MODEL_ID = "os_risk.federated_deepsurv"
TOLERANCE = 0.03


@pytest.fixture(scope="module")
def sites(demo_split, tmp_path_factory):
    _, sites = copy_demo_split(demo_split, tmp_path_factory.mktemp("fed_deepsurv"), pooled=False)
    return {k: v for k, v in sites.items() if k in "ABC"}


def _brute_force_loss(r, t, e, strata):
    total = 0.0
    for i in np.flatnonzero(e):
        at_risk = (t >= t[i]) & (strata == strata[i])
        total += r[i] - np.log(np.exp(r[at_risk]).sum())
    return -total / e.sum()


def test_the_partial_likelihood_is_breslow_within_each_stratum():
    rng = np.random.default_rng(3)
    n = 60
    t = rng.integers(1, 12, n).astype(float)  # many ties
    e = (rng.random(n) < 0.6).astype(float)
    r = rng.normal(size=n)
    strata = rng.choice(["A", "B", "C"], n)
    got = float(deepsurv.partial_likelihood_loss(torch.tensor(r), t, e, strata))
    assert got == pytest.approx(_brute_force_loss(r, t, e, strata), rel=1e-12)
    one = float(deepsurv.partial_likelihood_loss(torch.tensor(r), t, e))
    assert one == pytest.approx(_brute_force_loss(r, t, e, np.zeros(n)), rel=1e-12)
    assert got != pytest.approx(one)  # stratifying changes the risk sets


def test_deepsurv_serves_survival_tasks_only():
    assert RunSpec(run_id="ds", task="os_risk", family="deepsurv").kind == "survival"
    with pytest.raises(FederatedError, match="does not serve task response"):
        RunSpec(run_id="ds", task="response", family="deepsurv")


def _pooled_stratified_c(datas: dict, columns: list[str], spec: RunSpec) -> float:
    """The same network, started from the same parameters, trained on the pooled
    development rows of each fold (loss stratified by centre, as many full-batch steps
    as the federated run took locally per site), scoring the fold's rows."""
    from crlm.models.inputs import split_columns

    numeric, categorical = split_columns(columns)
    frames = {c: d.matrix(columns) for c, d in datas.items()}
    outcome = {c: [np.asarray(v, float) for v in d.outcome()] for c, d in datas.items()}
    scores, times, events = [], [], []
    for m in range(spec.folds):
        rows = {c: d.fold_of != m for c, d in datas.items()}
        X = pd.concat([frames[c][rows[c]] for c in datas])
        values = X[numeric].to_numpy(float)
        mean = np.nanmean(values, axis=0)  # the consortium's statistics, pooled
        var = np.nansum((values - mean) ** 2, axis=0) / len(values)
        ct = site_mod.build_preprocessor(X, numeric, categorical, mean,
                                         np.where(var > 1e-12, np.sqrt(var), 1.0))
        Z = site_mod.design(ct, X)
        start = mlp.initial(Z.shape[1], spec.folds + 1, spec.seed)[m]
        theta = deepsurv.local_train(
            Z, np.concatenate([outcome[c][0][rows[c]] for c in datas]),
            np.concatenate([outcome[c][1][rows[c]] for c in datas]), start,
            epochs=spec.max_rounds * spec.local_epochs, seed=spec.seed + m,
            strata=np.concatenate([[c] * int(rows[c].sum()) for c in datas]))
        for c, d in datas.items():
            held = d.fold_of == m
            scores.append(deepsurv.risk(site_mod.design(ct, frames[c][held]), theta))
            times.append(outcome[c][0][held])
            events.append(outcome[c][1][held])
    return stats.concordance_index(np.concatenate(times), np.concatenate(events),
                                   np.concatenate(scores)).concordance


@pytest.mark.slow
def test_federated_deepsurv_is_near_the_pooled_stratified_network_and_registers(sites,
                                                                               monkeypatch):
    from crlm.models.artefacts import load_artefact

    # every message re-reads the site's rows from its store; the rows are the same for
    # the whole run, so the test reads them once per site (seconds instead of a minute)
    real, read = site_mod.SiteData, {}

    def read_once(store, cohort, spec, site):
        if (site, spec.run_id) not in read:
            read[(site, spec.run_id)] = real(store, cohort, spec, site)
        return read[(site, spec.run_id)]
    monkeypatch.setattr(site_mod, "SiteData", read_once)
    spec = RunSpec(run_id="test-deepsurv", task="os_risk", family="deepsurv", folds=2,
                   max_rounds=5, local_epochs=4)
    result = run_consortium(LocalTransport(sites), spec, log=lambda *_: None)
    assert set(result.registered) == {"A", "B", "C"} and not result.dropped
    assert sum(r.kind == "fedavg" for r in result.rounds) == spec.max_rounds
    assert "hazard_ratios" not in result.metrics  # a network has no coefficients to report
    assert result.metrics["out_of_fold"]["c_index"] > 0.55

    datas = {c: read[(c, spec.run_id)] for c in sites}
    frames, times, events = [], [], []
    for c, (path, cohort) in sites.items():
        with st.Store(path, read_only=True) as s:
            p = st.load_predictions(s, st.CohortFilter(cohort=cohort), model_id=MODEL_ID)
        p = p[p["split"] == "out-of-fold"].set_index("patient_id")
        t, e = datas[c].outcome()
        index = datas[c].frame.index.astype(str)
        frames.append(p.loc[index, "score"].to_numpy(float))
        times.append(np.asarray(t, float))
        events.append(np.asarray(e, float))
    federated = stats.concordance_index(np.concatenate(times), np.concatenate(events),
                                        np.concatenate(frames)).concordance
    pooled = _pooled_stratified_c(datas, list(result.columns), spec)
    assert abs(federated - pooled) < TOLERANCE, (federated, pooled)

    # registered like any model: kind federated, scored from its artefact without torch
    path, _ = sites["A"]
    with st.Store(path, read_only=True) as s:
        row = st.load_models(s).set_index("model_id").loc[MODEL_ID]
    assert row["kind"] == "federated" and row["family"] == "deepsurv"
    assert row["metrics"]["federated"]["run_id"] == spec.run_id
    model, _ = load_artefact(Path(row["artefact_path"]), expect_model_id=MODEL_ID)
    risk = model.pipeline.predict(datas["A"].matrix(list(row["feature_set"])))
    assert np.isfinite(risk).all() and np.std(risk) > 0
    with pytest.raises(TypeError, match="agreed by a federated run"):
        model.pipeline.named_steps["model"].fit(np.zeros((2, 2)))
