"""The review's further families: CART with its drawing, Gaussian naive Bayes, the
cost-sensitive forest, elastic-net Cox, LightGBM (binary and Cox), GBDT top-6, the
tabular Transformer, and the nested-CV tuned counterparts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import models
from crlm import store as st
from crlm.ingest.demo import generate_cohort_frames
from crlm.models.families_review import (
    CostSensitiveForest, LightGBMCox, TopKSelected, cox_objective, lightgbm, signed_time,
    tree_nodes, tree_path,
)
from crlm.models.fitted import FittedModel, build_pipeline
from crlm.models.survival import survival_target
from crlm.stats import concordance_index, roc

SEED = 11


def _partial_likelihood(raw, time, event):
    """Negative Breslow partial log-likelihood, written out loop by loop."""
    total = 0.0
    for j in range(len(time)):
        if event[j]:
            at_risk = time >= time[j]
            total -= raw[j] - np.log(np.exp(raw[at_risk]).sum())
    return total


def test_cox_objective_gradient_is_the_partial_likelihood_derivative():
    # five patients, a tie at t = 3 (one event, one censored) and a censoring first
    time = np.array([1.0, 3.0, 3.0, 4.0, 6.0])
    event = np.array([False, True, False, True, True])
    raw = np.array([0.2, -0.1, 0.4, 0.0, -0.3])
    grad, hess = cox_objective(np.where(event, time, -time), raw)
    eps = 1e-6
    numeric = np.array([(_partial_likelihood(raw + eps * np.eye(5)[i], time, event)
                         - _partial_likelihood(raw - eps * np.eye(5)[i], time, event)) / (2 * eps)
                        for i in range(5)])
    np.testing.assert_allclose(grad, numeric, atol=1e-6)
    # patient 0 (censored at t = 1) is in no event's risk set (events at 3, 4, 6 need
    # t >= 3), so the likelihood does not depend on its score: gradient 0
    assert grad[0] == pytest.approx(0.0, abs=1e-12)
    assert (hess > 0).all()


def test_signed_time_marks_censorings_negative():
    y = survival_target([2.0, 5.0], [True, False])
    np.testing.assert_array_equal(signed_time(y), [2.0, -5.0])


def test_lightgbm_cox_orders_risk():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 4))
    t = rng.exponential(1 / np.exp(1.0 * x[:, 0] - 0.6 * x[:, 1]))
    c = rng.exponential(2.0, size=400)
    time, event = np.minimum(t, c), t <= c
    model = LightGBMCox(n_estimators=80, random_state=1).fit(x, survival_target(time, event))
    assert concordance_index(time, event, model.predict(x)).concordance > 0.7
    again = LightGBMCox(n_estimators=80, random_state=1).fit(x, survival_target(time, event))
    np.testing.assert_array_equal(model.predict(x), again.predict(x))


def test_top_k_keeps_the_informative_columns():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(500, 12))
    y = (x[:, 3] + 0.8 * x[:, 7] + 0.3 * rng.normal(size=500) > 0).astype(int)
    model = TopKSelected(ranker=lightgbm(1, True), estimator=lightgbm(1, True), k=2).fit(x, y)
    assert list(model.selected_) == [3, 7]
    names = [f"x{i}" for i in range(12)]
    assert model.selected_names(names) == ["x3", "x7"]
    assert "x3" in next(iter(model.card_details(names).values()))
    assert model.predict_proba(x).shape == (500, 2)


def test_cost_sensitive_forest_weighs_the_stated_costs():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(300, 3))
    y = (x[:, 0] + rng.normal(size=300) > 0).astype(int)
    common = dict(n_estimators=30, min_samples_leaf=5, random_state=0)
    equal = CostSensitiveForest(class_weight={0: 1.0, 1: 1.0}, **common).fit(x, y)
    costly = CostSensitiveForest(class_weight={0: 3.0, 1: 1.0}, **common).fit(x, y)
    # an unnecessary treatment costing three times a missed responder lowers every
    # predicted probability of response on average
    assert costly.predict_proba(x)[:, 1].mean() < equal.predict_proba(x)[:, 1].mean()
    details = costly.card_details(["a", "b", "c"])
    assert details["cost ratio (missed responder : unnecessary treatment)"] == "1 : 3"


def test_ft_transformer_learns_a_simple_signal_and_is_seeded():
    from crlm.models.tabular_transformer import FTTransformerClassifier

    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] - x[:, 2] + 0.5 * rng.normal(size=300) > 0).astype(int)
    kw = dict(max_epochs=60, patience=60, learning_rate=0.01, random_state=3)
    a = FTTransformerClassifier(**kw).fit(x, y)
    b = FTTransformerClassifier(**kw).fit(x, y)
    p = a.predict_proba(x)[:, 1]
    np.testing.assert_array_equal(p, b.predict_proba(x)[:, 1])
    assert roc(y, p).auc > 0.8
    # a fitted network pickles (the artefact) and predicts the same after loading
    import pickle

    again = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(again.predict_proba(x)[:, 1], p)


@pytest.fixture(scope="module")
def cart_model():
    """A CART on a cohort where responders are the patients under 60 with a left primary."""
    rng = np.random.default_rng(8)
    n = 400
    frame = pd.DataFrame({
        "age_years": rng.uniform(35, 85, n),
        "primary_side": rng.choice(["left", "right", "rectum"], n),
        "cea_ng_ml": rng.lognormal(2, 1, n)})
    y = ((frame["age_years"] < 60) & (frame["primary_side"] == "left")).astype(int).to_numpy()
    family = models.FAMILIES["cart"]
    cols = ["age_years", "primary_side", "cea_ng_ml"]
    model = FittedModel(model_id="response.cart", task="response", family="cart",
                        explainer=family.explainer, columns=cols,
                        pipeline=build_pipeline(family, cols, SEED, True), seed=SEED)
    return model.fit(frame, y), frame, y


def test_tree_nodes_read_in_clinical_units(cart_model):
    model, frame, y = cart_model
    nodes = tree_nodes(model)
    assert nodes[0].rule == "" and nodes[0].n == len(frame)
    assert nodes[0].responder_share == pytest.approx(y.mean())
    rules = " ".join(n.rule for n in nodes)
    # the age cut is back in years (about 60), the side test reads as = / ≠
    cut = [n for n in nodes if n.rule.startswith("age_years ≤")][0]
    assert 58 < float(cut.rule.split("≤")[1]) < 62
    assert "primary_side = left" in rules or "primary_side ≠ left" in rules
    # children partition their parent
    for parent in nodes:
        kids = [n for n in nodes if n.parent == parent.node]
        if kids:
            assert sum(k.n for k in kids) == parent.n
    # a young patient with a left primary lands in a pure responder leaf
    case = pd.DataFrame({"age_years": [45.0], "primary_side": ["left"], "cea_ng_ml": [5.0]})
    path = tree_path(model, case)
    assert path[0] == 0 and nodes[path[-1]].leaf
    assert nodes[path[-1]].responder_share == pytest.approx(1.0)


def test_tree_figure_draws_every_node_and_highlights_the_path(cart_model):
    from crlm.figures.tree import make_tree_figure, tree_table

    model, frame, _ = cart_model
    nodes = tree_nodes(model)
    case = pd.DataFrame({"age_years": [45.0], "primary_side": ["left"], "cea_ng_ml": [5.0]})
    path = tree_path(model, case)
    fig = make_tree_figure(nodes, path=path, title="tree")
    assert len(fig.layout.annotations) == len(nodes)
    highlighted = [a for a in fig.layout.annotations if a.borderwidth == 2]
    assert len(highlighted) == len(path)
    assert "n = 400" in fig.layout.annotations[0].text
    assert len(tree_table(nodes)) == len(nodes)


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("review_families")
    store = st.Store(root / "demo.duckdb")
    chunk = generate_cohort_frames(360, SEED)
    st.save_cohort(store, "demo", chunk.patients, chunk.features, kind="synthetic", seed=SEED)
    report = models.train(
        store, cohort="demo", tasks=["response", "os_risk"], folds=3, seed=SEED,
        artefact_dir=root / "art", progress=False, fast=True,
        families=["cart", "gaussian_nb", "cost_sensitive_rf", "lightgbm", "lightgbm_top6",
                  "elastic_net_cox", "lightgbm_cox", "lightgbm_cox_top6", "cart_tuned",
                  "elastic_net_cox_tuned", "fong_score"])
    yield store, report
    store.close()


def test_new_families_train_with_out_of_fold_and_external_predictions(trained_store):
    store, report = trained_store
    assert not report.skipped, report.skipped_lines()
    reg = st.load_models(store, cohort="demo").set_index("model_id")
    for model_id in ("response.cart", "response.gaussian_nb", "response.cost_sensitive_rf",
                     "response.lightgbm", "response.lightgbm_top6", "os_risk.elastic_net_cox",
                     "os_risk.lightgbm_cox", "os_risk.lightgbm_cox_top6", "response.cart_tuned",
                     "os_risk.elastic_net_cox_tuned"):
        assert model_id in reg.index
        preds = st.load_predictions(store, st.CohortFilter(cohort="demo"), model_id=model_id)
        assert {"out-of-fold", "external"} <= set(preds["split"])
        assert preds.loc[preds["split"] == "out-of-fold", "patient_id"].is_unique
    oof = reg.loc["response.lightgbm", "metrics"]["out_of_fold"]
    assert 0.5 < oof["auc"] < 1.0
    assert reg.loc["os_risk.lightgbm_cox", "metrics"]["out_of_fold"]["c_index"] > 0.5


def test_model_cards_state_costs_selection_and_search(trained_store):
    from crlm.models.cards import ModelCard

    store, _ = trained_store
    reg = st.load_models(store, cohort="demo").set_index("model_id")

    def details(model_id):
        card = ModelCard.from_record({**reg.loc[model_id].to_dict(), "model_id": model_id})
        return dict(card.details)

    assert details("response.cost_sensitive_rf")[
        "cost ratio (missed responder : unnecessary treatment)"] == "1 : 2"
    top = details("os_risk.lightgbm_cox_top6")
    assert len(next(v for k, v in top.items() if k.startswith("top 6")).split(", ")) == 6
    tuned = details("response.cart_tuned")
    assert "optuna" in tuned["hyper-parameter search"]
    assert "max_depth ∈ [1, 4]" in tuned["search space"]
    assert "max_depth = " in tuned["chosen values (final fit)"]
    assert "splits (preprocessed scale)" in tuned  # the tuned tree still describes itself
    enet = details("os_risk.elastic_net_cox_tuned")
    assert "l1_ratio" in enet["chosen values (final fit)"]


def test_tuned_search_sees_only_the_rows_it_is_given():
    """Nested CV: the search is inside fit, so it can only use the outer training rows;
    the same rows and seed give the same choice, other rows may give another."""
    from crlm.models.tuning import TunedEstimator

    rng = np.random.default_rng(9)
    x = rng.normal(size=(240, 4))
    y = (x[:, 0] + rng.normal(size=240) > 0).astype(int)
    a = TunedEstimator(family="logistic", n_trials=5, random_state=2).fit(x[:160], y[:160])
    b = TunedEstimator(family="logistic", n_trials=5, random_state=2).fit(x[:160], y[:160])
    assert a.best_params_ == b.best_params_ and a.n_trials_ == 5
    assert 1e-3 <= a.best_params_["C"] <= 10.0
    np.testing.assert_array_equal(a.predict_proba(x[160:]), b.predict_proba(x[160:]))
    assert a.estimator_.n_features_in_ == 4 and a.coef_.shape == (1, 4)


def test_train_cli_tune_names_the_tuned_families(monkeypatch):
    from crlm import cli
    from crlm.cli import training as cli_training
    from crlm.models.tuning import tunable

    assert tunable(["cart", "fong_score", "lightgbm"]) == ["cart_tuned", "lightgbm_tuned"]
    seen = {}

    def fake_train(store, cohort, tasks, families, folds, seed, **kw):
        seen["families"] = families
        return 0

    class FakeStore:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(cli_training, "train_and_report", fake_train)
    monkeypatch.setattr(cli_training, "open_store", lambda args, **kw: FakeStore())
    assert cli.main(["train", "--tune", "--family", "cart", "--family", "lightgbm_cox"]) == 0
    assert seen["families"] == ["cart_tuned", "lightgbm_cox_tuned"]
    assert cli.main(["train", "--no-tune", "--family", "cart"]) == 0
    assert seen["families"] == ["cart"]


def test_comparison_table_lists_every_model_with_delong_against_fong(trained_store):
    from crlm.models.comparison import compare, markdown

    store, report = trained_store
    rows = {r.model_id: r for r in compare(store, "demo")}
    assert set(rows) == set(report.table["model"])
    assert rows["response.fong_score"].delong_p_vs_fong == "reference"
    p = rows["response.lightgbm"].delong_p_vs_fong
    assert p == "< 0.001" or 0 <= float(p) <= 1
    assert rows["os_risk.lightgbm_cox"].out_of_fold and rows["os_risk.lightgbm_cox"].td_auc_36m
    assert rows["os_risk.lightgbm_cox"].delong_p_vs_fong == ""  # DeLong is for binary tasks
    text = markdown(list(rows.values()))
    assert text.count("\n") == len(rows) + 1


def test_new_families_train_on_an_imported_tcia_cohort(tmp_path):
    """The TCIA table has no response and 30 patients: the survival families train (LightGBM
    with leaves small enough for the cohort), the binary tasks are skipped with a reason."""
    from crlm.ingest.importer import import_file
    from tests.support.tcia import tcia_frame

    path = tmp_path / "tcia.csv"
    tcia_frame().to_csv(path, index=False)
    store = st.Store(tmp_path / "tcia.duckdb")
    try:
        assert import_file(store, path, cohort="tcia").written
        report = models.train(store, cohort="tcia", folds=2, fast=True, progress=False,
                              artefact_dir=tmp_path / "art",
                              families=["cart", "lightgbm", "elastic_net_cox", "lightgbm_cox",
                                        "lightgbm_cox_top6"])
    finally:
        store.close()
    trained = set(report.table["model"])
    assert {"os_risk.elastic_net_cox", "os_risk.lightgbm_cox", "os_risk.lightgbm_cox_top6",
            "os_after_resection.lightgbm_cox"} <= trained
    assert any("task response" in line for line in report.skipped_lines())


def test_forest_trials_use_the_small_forest_and_the_final_fit_the_full_one():
    from crlm.models.tuning import TunedEstimator

    rng = np.random.default_rng(10)
    x = rng.normal(size=(150, 3))
    y = (x[:, 0] + rng.normal(size=150) > 0).astype(int)
    tuned = TunedEstimator(family="random_forest", n_trials=2, random_state=1).fit(x, y)
    assert tuned.estimator_.n_estimators == 200  # the full forest in the final fit
    assert "small (fast) forest" in tuned.card_details(["a", "b", "c"])["hyper-parameter search"]
