"""Each family fits and scores a small cohort; contributions add up as their method says."""
from __future__ import annotations

import numpy as np
import pytest

from crlm.ingest.demo import generate_cohort_frames
from crlm.models.families import FAMILIES, TABULAR_FAMILIES
from crlm.models.fitted import FittedModel, build_pipeline
from crlm.models.survival import LassoCox, PenalizedCox, survival_target
from crlm.models.tasks import BINARY, TASKS
from crlm.models.training import prepare_patients

SEED = 7


@pytest.fixture(scope="module")
def small():
    chunk = generate_cohort_frames(240, SEED)
    frame = prepare_patients(chunk.patients)
    wide = chunk.features.pivot(index="patient_id", columns="feature", values="value")
    wide.columns = [str(c) for c in wide.columns]
    frame = frame.merge(wide.reset_index(), on="patient_id", how="left")
    sets = chunk.features.drop_duplicates("feature").groupby("feature_set", observed=True)["feature"]
    sets = {str(k): [str(v) for v in vals] for k, vals in sets}
    return frame, sets


def _columns(family, sets):
    from crlm.models.inputs import INPUT_COLUMNS

    cols = list(INPUT_COLUMNS) if "clinical" in family.feature_sets else []
    for name in family.feature_sets:
        cols += sets.get(name, [])
    return cols


def _fit(name, small, task_name):
    frame, sets = small
    family, task = FAMILIES[name], TASKS[task_name]
    rows = frame[task.has_outcome(frame).to_numpy()]
    if task.kind == BINARY:
        y = task.outcome(rows)
    else:
        y = survival_target(*task.outcome(rows))
    cols = _columns(family, sets)
    model = FittedModel(model_id=f"{task_name}.{name}", task=task_name, family=name,
                        explainer=family.explainer, columns=cols,
                        pipeline=build_pipeline(family, cols, SEED, True), seed=SEED)
    return model.fit(rows, y), rows


@pytest.mark.parametrize("name", [n for n in TABULAR_FAMILIES])
def test_family_fits_scores_and_explains(name, small):
    task_name = "response" if FAMILIES[name].task_kind == BINARY else "os_risk"
    model, rows = _fit(name, small, task_name)
    head = rows.head(4)
    scores = model.predict_scores(head)
    assert scores.shape == (4,) and np.isfinite(scores).all()
    if task_name == "response":
        assert ((scores >= 0) & (scores <= 1)).all()
    # the pipeline itself gives the same scores as the compiled path
    direct = model.pipeline.predict_proba(model.matrix(head))[:, 1] if task_name == "response" \
        else model.pipeline.predict(model.matrix(head))
    np.testing.assert_allclose(scores, direct, rtol=0, atol=1e-12)
    contributions = model.contributions(head.head(2))
    assert len(contributions) == 2
    assert set(contributions[0]) == set(model.columns)
    z = model.transform(model.matrix(head.head(2)))
    if model.explainer == "baseline_shapley":
        ref = model._final_scores(model.reference_transformed_[None, :])[0]
        for c, s in zip(contributions, scores[:2]):
            assert sum(c.values()) == pytest.approx(s - ref, abs=1e-9)
    elif model.explainer == "linear":
        est = model.pipeline[-1]
        linear = z @ np.ravel(est.coef_)
        centre = model.transformed_mean_ @ np.ravel(est.coef_)
        for c, lin in zip(contributions, linear):
            assert sum(c.values()) == pytest.approx(lin - centre, abs=1e-9)
    elif model.explainer == "tree":
        import shap

        explainer = shap.TreeExplainer(model.pipeline[-1])
        base = np.ravel(explainer.expected_value)[-1]
        raw = scores[:2] if name != "gradient_boosting" else \
            model.pipeline[-1].decision_function(z)
        for c, value in zip(contributions, raw):
            assert base + sum(c.values()) == pytest.approx(value, abs=1e-6)


def test_same_seed_same_scores_other_seed_differs(small):
    a, rows = _fit("mlp", small, "response")
    b, _ = _fit("mlp", small, "response")
    np.testing.assert_array_equal(a.predict_scores(rows), b.predict_scores(rows))
    frame, sets = small
    family = FAMILIES["mlp"]
    cols = _columns(family, sets)
    c = FittedModel(model_id="response.mlp", task="response", family="mlp",
                    explainer=family.explainer, columns=cols,
                    pipeline=build_pipeline(family, cols, SEED + 1, True), seed=SEED + 1)
    c.fit(rows, TASKS["response"].outcome(rows))
    assert not np.array_equal(a.predict_scores(rows), c.predict_scores(rows))


def test_genomic_rf_reads_only_genomic_features(small):
    model, _ = _fit("genomic_rf", small, "response")
    _, sets = small
    assert set(model.columns) == set(sets["genomic"])


def test_cox_wrappers_recover_a_known_effect():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 3))
    hazard = np.exp(0.8 * x[:, 0] - 0.5 * x[:, 1])
    time = rng.exponential(1 / hazard)
    censor = rng.exponential(2.0, size=400)
    y = survival_target(np.minimum(time, censor), time <= censor)
    ridge = PenalizedCox(penalizer=0.01).fit(x, y)
    assert ridge.coef_[0] == pytest.approx(0.8, abs=0.2)
    assert ridge.coef_[1] == pytest.approx(-0.5, abs=0.2)
    assert abs(ridge.coef_[2]) < 0.2
    lasso = LassoCox(alpha=0.05).fit(x, y)
    assert lasso.coef_[0] > 0.3 and lasso.coef_[1] < -0.1
    assert ridge.score(x, y) > 0.65
    with pytest.raises(ValueError, match="at least one event"):
        PenalizedCox().fit(x, survival_target(np.ones(400), np.zeros(400, dtype=bool)))


def test_deepsurv_orders_risk():
    from crlm.models.neural import DeepSurv

    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 4))
    time = rng.exponential(1 / np.exp(1.2 * x[:, 0]))
    y = survival_target(time, np.ones(300, dtype=bool))
    net = DeepSurv(max_epochs=200, patience=20, random_state=1, device="cpu").fit(x, y)
    from crlm.stats import concordance_index

    assert concordance_index(time, np.ones(300, bool), net.predict(x)).concordance > 0.7
