"""The CART family's tree, readable: scikit-learn's tree with its structure for drawing
(``ReadableTree``), and the nodes of a fitted ``cart`` model in the inputs' own units
(``tree_nodes``, ``tree_path``) for the Models page and the case report.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted

CART_MAX_DEPTH = 3


class ReadableTree(DecisionTreeClassifier):
    """A shallow CART (Gini): scikit-learn's tree with ``tree_structure(names)`` for
    drawing it and ``card_details`` for the model card. Built with ``max_depth`` ≤ 3 and
    leaves of at least 5 % of the training patients (``min_samples_leaf=0.05``)."""

    def decision_path_nodes(self, x) -> list[int]:
        """Node ids from the root to the leaf of one row."""
        path = self.decision_path(np.asarray(x, dtype=float).reshape(1, -1))
        return [int(i) for i in path.indices]

    def tree_structure(self, names) -> list[dict]:
        """Every node: id, depth, parent, side ("≤" left / ">" right), the split
        (feature name and threshold on the preprocessed scale) or None for a leaf,
        the training patients in it and the share of responders (``risk``)."""
        check_is_fitted(self, "tree_")
        t = self.tree_
        nodes: list[dict] = []
        parent = {0: (None, "")}
        depth = {0: 0}
        for i in range(t.node_count):
            left, right = int(t.children_left[i]), int(t.children_right[i])
            counts = np.asarray(t.value[i][0], dtype=float)
            share = float(counts[-1] / counts.sum()) if counts.sum() > 0 else float("nan")
            is_leaf = left == -1
            if not is_leaf:
                parent[left], parent[right] = (i, "≤"), (i, ">")
                depth[left] = depth[right] = depth[i] + 1
            nodes.append({
                "node": i, "depth": depth[i], "parent": parent[i][0], "side": parent[i][1],
                "feature": None if is_leaf else str(names[int(t.feature[i])]),
                "threshold": None if is_leaf else float(t.threshold[i]),
                "n": int(t.n_node_samples[i]), "risk": share, "leaf": is_leaf})
        return nodes

    def card_details(self, names) -> dict:
        nodes = self.tree_structure(names)
        splits = [f"node {d['node']}: {d['feature']} ≤ {d['threshold']:.3g}"
                  for d in nodes if not d["leaf"]]
        return {"tree depth": str(self.get_depth()), "leaves": str(self.get_n_leaves()),
                "splits (preprocessed scale)": "; ".join(splits) or "none (one leaf)"}


@dataclass(frozen=True)
class TreeNode:
    """One node of a fitted CART in clinical units: ``rule`` is the test that leads
    into it from its parent (``necrosis_fraction ≤ 0.23``, ``primary_side ≠ right``;
    empty at the root), ``split`` the test it applies to its children (None at a leaf),
    ``n`` training patients, ``responder_share`` their share of responders."""

    node: int
    depth: int
    parent: int | None
    rule: str
    split: str | None
    n: int
    responder_share: float
    leaf: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _column_scales(pipeline) -> list[tuple[str, str, float, float]]:
    """For each preprocessed column: (input, level or "", mean, scale); the level is set
    for a one-hot column, the mean and scale for a scaled number."""
    from crlm.models.inputs import transformed_groups

    preprocess = pipeline.named_steps["preprocess"]
    groups = transformed_groups(preprocess)
    out: list[tuple[str, str, float, float]] = []
    for name, transformer, columns in preprocess.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        if name == "numeric":
            scaler = transformer.named_steps["scale"]
            out += [(c, "", float(m), float(sc))
                    for c, m, sc in zip(columns, scaler.mean_, scaler.scale_)]
        else:
            encoder = transformer.named_steps["onehot"]
            for column, levels in zip(columns, encoder.categories_):
                out += [(column, str(level), 0.0, 1.0) for level in levels]
    assert len(out) == len(groups)
    return out


def tree_nodes(model) -> tuple[TreeNode, ...]:
    """The nodes of a fitted ``cart`` model (a ``FittedModel``), thresholds turned back
    into the inputs' own units (the scaling undone; a one-hot test read as = / ≠)."""
    pipeline = model.pipeline
    tree = pipeline[-1]
    inner = getattr(tree, "estimator_", tree)  # a tuned tree holds the fitted one
    if not isinstance(inner, DecisionTreeClassifier):
        raise ValueError(f"{model.model_id} is not a decision tree")
    scales = _column_scales(pipeline)
    t = inner.tree_

    def tests(i: int) -> tuple[str, str]:
        column, level, mean, scale = scales[int(t.feature[i])]
        if level:
            return f"{column} ≠ {level}", f"{column} = {level}"
        cut = float(t.threshold[i]) * scale + mean
        return f"{column} ≤ {cut:.3g}", f"{column} > {cut:.3g}"

    parent: dict[int, tuple[int | None, str]] = {0: (None, "")}
    depth = {0: 0}
    nodes = []
    for i in range(t.node_count):
        left, right = int(t.children_left[i]), int(t.children_right[i])
        counts = np.asarray(t.value[i][0], dtype=float)
        share = float(counts[-1] / counts.sum()) if counts.sum() > 0 else float("nan")
        leaf = left == -1
        split = None
        if not leaf:
            go_left, go_right = tests(i)
            parent[left], parent[right] = (i, go_left), (i, go_right)
            depth[left] = depth[right] = depth[i] + 1
            split = go_left
        nodes.append(TreeNode(node=i, depth=depth[i], parent=parent[i][0], rule=parent[i][1],
                              split=split, n=int(t.n_node_samples[i]),
                              responder_share=share, leaf=leaf))
    return tuple(nodes)


def tree_path(model, frame) -> list[int]:
    """Node ids from the root to the leaf the first row of ``frame`` falls in."""
    tree = model.pipeline[-1]
    inner = getattr(tree, "estimator_", tree)
    z = model.transform(model.matrix(frame.head(1)))
    return [int(i) for i in inner.decision_path(np.asarray(z, dtype=float)).indices]
