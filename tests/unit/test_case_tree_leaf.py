"""The decision-tree leaf a case falls in (Score page, case report): the path of splits
in the inputs' words and units, the leaf's share and its training patients."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm.cases.tree_leaf import CaseLeaf, case_leaf, case_leaves, leaf_of, readable_rule
from crlm.models.readable_tree import TreeNode

# a worked tree of 200 training patients:
#   0: CEA ≤ 200 ? -> 1 (leaf, 120 patients, 60 % responders)
#                   -> 2: lesions ≤ 4.5 ? -> 3 (leaf, 50, 40 %) / 4 (leaf, 30, 10 %)
NODES = (
    TreeNode(node=0, depth=0, parent=None, rule="", split="cea_ng_ml ≤ 200", n=200,
             responder_share=0.445, leaf=False),
    TreeNode(node=1, depth=1, parent=0, rule="cea_ng_ml ≤ 200", split=None, n=120,
             responder_share=0.6, leaf=True),
    TreeNode(node=2, depth=1, parent=0, rule="cea_ng_ml > 200", split="n_liver_lesions ≤ 4.5",
             n=80, responder_share=0.2875, leaf=False),
    TreeNode(node=3, depth=2, parent=2, rule="n_liver_lesions ≤ 4.5", split=None, n=50,
             responder_share=0.4, leaf=True),
    TreeNode(node=4, depth=2, parent=2, rule="n_liver_lesions > 4.5", split=None, n=30,
             responder_share=0.1, leaf=True),
)


def test_the_leaf_of_a_worked_tree_reads_its_path_share_and_patients():
    leaf = leaf_of(NODES, [0, 2, 3], model_id="response.cart", task="response")
    assert leaf == CaseLeaf(model_id="response.cart", task="response",
                            rules=("CEA > 200 ng/mL", "Number of liver lesions ≤ 4"),
                            risk=0.4, n=50, node=3)
    assert leaf.path_text == "CEA > 200 ng/mL → Number of liver lesions ≤ 4"
    assert leaf.leaf_text == "40% responders among 50 training patients"
    assert leaf.text("Decision tree") == ("Decision tree: CEA > 200 ng/mL → Number of liver "
                                          "lesions ≤ 4; leaf: 40% responders among 50 "
                                          "training patients")
    other = leaf_of(NODES, [0, 2, 4], task="ras_from_ct")
    assert other.rules[-1] == "Number of liver lesions > 4" and other.n == 30
    assert other.leaf_text == "10% RAS mutant among 30 training patients"
    assert leaf_of(NODES, [0, 1]).path_text == "CEA ≤ 200 ng/mL"


def test_a_one_leaf_tree_and_bad_paths():
    root = TreeNode(node=0, depth=0, parent=None, rule="", split=None, n=10,
                    responder_share=0.3, leaf=True)
    assert leaf_of([root], [0]).path_text == "no split (the tree is one leaf)"
    with pytest.raises(ValueError, match="root"):
        leaf_of(NODES, [2, 3])
    with pytest.raises(ValueError, match="not a child"):
        leaf_of(NODES, [0, 3])
    with pytest.raises(ValueError, match="not a leaf"):
        leaf_of(NODES, [0, 2])
    with pytest.raises(ValueError, match="root"):
        leaf_of(NODES, [])


@pytest.mark.parametrize("rule,words", [
    ("cea_ng_ml > 1.23e+03", "CEA > 1230 ng/mL"),
    ("max_diameter_cm ≤ 3.25", "Largest lesion diameter ≤ 3.25 cm"),
    ("node_positive > 0.5", "Node-positive primary: yes"),
    ("node_positive ≤ 0.5", "Node-positive primary: no"),
    ("primary_side ≠ right", "Primary tumour side ≠ right"),
    ("rad_glcm_entropy ≤ 0.4", "rad_glcm_entropy ≤ 0.4"),       # a stored feature: as is
    ("", ""),
])
def test_rules_read_in_the_contract_labels_and_units(rule, words):
    assert readable_rule(rule) == words


@pytest.fixture(scope="module")
def cart_model():
    """A CART on a cohort where responders are the patients under 60 with a left primary."""
    from crlm.models import FAMILIES
    from crlm.models.fitted import FittedModel, build_pipeline

    rng = np.random.default_rng(8)
    n = 400
    frame = pd.DataFrame({
        "age_years": rng.uniform(35, 85, n),
        "primary_side": rng.choice(["left", "right", "rectum"], n),
        "cea_ng_ml": rng.lognormal(2, 1, n)})
    y = ((frame["age_years"] < 60) & (frame["primary_side"] == "left")).astype(int).to_numpy()
    family = FAMILIES["cart"]
    cols = ["age_years", "primary_side", "cea_ng_ml"]
    model = FittedModel(model_id="response.cart", task="response", family="cart",
                        explainer=family.explainer, columns=cols,
                        pipeline=build_pipeline(family, cols, 11, True), seed=11)
    return model.fit(frame, y)


def test_a_fitted_tree_gives_the_leaf_whose_share_is_the_case_score(cart_model):
    case = pd.DataFrame({"age_years": [45.0], "primary_side": ["left"], "cea_ng_ml": [5.0]})
    leaf = case_leaf(cart_model, case)
    assert leaf.risk == pytest.approx(1.0) and leaf.n > 0
    assert any(r.startswith("Age ≤") and r.endswith("years") for r in leaf.rules)
    assert "Primary tumour side = left" in leaf.rules
    assert leaf.risk == pytest.approx(float(cart_model.predict_scores(case)[0]))
    old = pd.DataFrame({"age_years": [75.0], "primary_side": ["left"], "cea_ng_ml": [5.0]})
    assert case_leaf(cart_model, old).risk == pytest.approx(0.0)


def test_case_leaves_keeps_the_tree_models_that_answered(cart_model):
    case = pd.DataFrame({"age_years": [45.0], "primary_side": ["left"], "cea_ng_ml": [5.0]})
    registry = pd.DataFrame({"model_id": ["response.cart", "response.logistic",
                                          "anti_egfr_benefit.cart"],
                             "family": ["cart", "logistic", "cart"]})

    def scores(cart_score):
        return pd.DataFrame({"model_id": ["response.cart", "response.logistic",
                                          "anti_egfr_benefit.cart"],
                             "score": [cart_score, 0.7, np.nan],
                             "sufficient": [True, True, False]})

    loaded = []

    def load(rec):
        loaded.append(rec["model_id"])
        return cart_model

    leaves = case_leaves(case, scores(1.0), registry, load)
    assert [leaf.model_id for leaf in leaves] == ["response.cart"]
    assert loaded == ["response.cart"]     # no score for the other tree: not loaded
    # a score the leaf does not reproduce (inputs this frame lacks): no leaf shown
    assert case_leaves(case, scores(0.5), registry, load) == ()
    assert case_leaves(case, scores(1.0), registry, lambda rec: None) == ()
