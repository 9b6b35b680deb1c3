"""The leaf of a readable decision tree (the ``cart`` families, drawn on the Models page)
that a scored case falls in: the path of splits from the root in the inputs' own words
and units ("CEA > 200 ng/mL → Number of liver lesions ≤ 4"), the leaf's share of the
positive outcome among its training patients and their number.

``leaf_of(nodes, path)`` reads a path of node ids through a tree's nodes
(``crlm.models.readable_tree.TreeNode``); ``case_leaves`` finds the leaf of every tree
model that answered a case, for the Score page and the case report.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import pandas as pd

from crlm import config
from crlm.cases._values import _finite

TREE_FAMILIES = ("cart", "cart_tuned")
# what the leaf's share counts, per task (the tree's positive class)
OUTCOME_WORDS = {"response": "responders", "anti_egfr_benefit": "responders",
                 "pathological_response": "major pathological responses",
                 "ras_from_ct": "RAS mutant", "desmoplastic_from_ct": "desmoplastic"}
OPERATORS = ("≤", ">", "=", "≠")
# a leaf is shown only when its share reproduces the model's score of the case
SCORE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class CaseLeaf:
    """The leaf a case falls in: ``rules`` the tests from the root to the leaf in
    words, ``risk`` the share of the task's positive outcome among the leaf's training
    patients, ``n`` their number, ``node`` the leaf's id."""

    model_id: str
    task: str
    rules: tuple[str, ...]
    risk: float
    n: int
    node: int

    @property
    def path_text(self) -> str:
        return " → ".join(self.rules) if self.rules else "no split (the tree is one leaf)"

    @property
    def leaf_text(self) -> str:
        share = f"{self.risk:.0%}" if _finite(self.risk) else "–"
        return f"{share} {OUTCOME_WORDS.get(self.task, 'positive')} among {self.n} " \
               "training patients"

    def text(self, label: str = "") -> str:
        """One line for the report: model, path and leaf."""
        return f"{label or self.model_id}: {self.path_text}; leaf: {self.leaf_text}"


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def readable_rule(rule: str) -> str:
    """A node's test (``cea_ng_ml > 200``, ``primary_side = left``) in the contract's
    label and unit: ``CEA > 200 ng/mL``; a whole-number input reads its cut as a whole
    number (``≤ 4.5`` → ``≤ 4``), a yes/no input reads yes or no. Anything else (a
    stored feature) is kept as it is."""
    parts = rule.split(" ", 2)
    if len(parts) != 3 or parts[1] not in OPERATORS:
        return rule
    name, op, value = parts
    column = config.COLUMNS_BY_NAME.get(name)
    if column is None:
        return rule
    if op in ("=", "≠"):
        return f"{column.label} {op} {value}"
    try:
        cut = float(value)
    except ValueError:
        return rule
    if column.kind == "bool":
        yes = (op == ">") == (cut < 1)
        return f"{column.label}: {'yes' if yes else 'no'}"
    if column.kind == "int":
        return f"{column.label} {op} {math.floor(cut)}"
    unit = f" {column.unit}" if column.unit else ""
    return f"{column.label} {op} {_number(cut)}{unit}"


def leaf_of(nodes: Sequence, path: Sequence[int], *, model_id: str = "",
            task: str = "") -> CaseLeaf:
    """The leaf at the end of ``path`` (node ids from the root) through ``nodes``
    (``TreeNode`` items, indexed by their ``node``); ``ValueError`` when the path does
    not run from the root to a leaf through parent and child."""
    by_id = {int(n.node): n for n in nodes}
    path = [int(i) for i in path]
    if not path or path[0] not in by_id or by_id[path[0]].parent is not None:
        raise ValueError("a tree path starts at the root")
    for parent, child in zip(path, path[1:]):
        if child not in by_id or by_id[child].parent != parent:
            raise ValueError(f"node {child} is not a child of node {parent}")
    leaf = by_id[path[-1]]
    if not leaf.leaf:
        raise ValueError(f"the path ends at node {leaf.node}, which is not a leaf")
    rules = tuple(readable_rule(by_id[i].rule) for i in path[1:])
    return CaseLeaf(model_id=model_id, task=task, rules=rules,
                    risk=float(leaf.responder_share), n=int(leaf.n), node=int(leaf.node))


def prepared_case(case: pd.DataFrame) -> pd.DataFrame:
    """A case's first row checked, typed and its derived columns computed, as scoring
    prepares it (``crlm.models.scoring``)."""
    # imported on use: importing crlm.models loads the model libraries
    from crlm.models.inputs import validate_patients
    from crlm.models.modelling_data import prepare_patients

    typed, _ = validate_patients(case.head(1).reset_index(drop=True))
    return prepare_patients(typed).reset_index(drop=True)


def case_leaf(model, case: pd.DataFrame) -> CaseLeaf:
    """The leaf of a fitted tree model (``FittedModel`` of a ``TREE_FAMILIES``
    family) that the first row of the prepared ``case`` falls in."""
    from crlm.models.readable_tree import tree_nodes, tree_path

    return leaf_of(tree_nodes(model), tree_path(model, case), model_id=model.model_id,
                   task=model.task)


def case_leaves(case: pd.DataFrame, scores: pd.DataFrame, registry: pd.DataFrame,
                load: Callable[[Mapping], object | None]) -> tuple[CaseLeaf, ...]:
    """The leaf of every tree model of ``registry`` that answered the case in
    ``scores`` (``score_cases`` rows), in the registry's order. ``load(record)`` gives a
    registry row's fitted model, or None when it cannot be loaded (that model is left
    out). A leaf whose share differs from the model's score of the case (the case was
    scored with inputs this frame lacks) is left out rather than shown wrong."""
    answered = {r["model_id"]: float(r["score"]) for r in scores.to_dict("records")
                if _finite(r.get("score")) and bool(r.get("sufficient", True))}
    trees = [r for r in registry.to_dict("records")
             if r.get("family") in TREE_FAMILIES and r["model_id"] in answered]
    if not trees:
        return ()
    frame = prepared_case(case)
    out = []
    for rec in trees:
        model = load(rec)
        if model is None:
            continue
        leaf = case_leaf(model, frame)
        if abs(leaf.risk - answered[rec["model_id"]]) <= SCORE_TOLERANCE:
            out.append(leaf)
    return tuple(out)
