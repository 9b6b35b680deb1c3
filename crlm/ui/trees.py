"""The decision tree drawing of a ``cart`` model on the Models page (splits in the
inputs' own units, training patients and share of responders per node)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from crlm.figures.tree import make_tree_figure, tree_table
from crlm.models import ModelError, load_model
from crlm.models.families_review import tree_nodes
from crlm.ui.widgets import export_buttons, show_error

TREE_FAMILIES = ("cart", "cart_tuned")


@st.cache_data(show_spinner=False, max_entries=16)
def _nodes(artefact: str, model_id: str, version: int) -> list[dict]:
    model = load_model(model_id, version, folder=Path(artefact))
    return [n.to_dict() for n in tree_nodes(model)]


def tree_section(record: pd.Series, model_id: str) -> None:
    """The drawing and its CSV, for a tree model's registry row; nothing for others."""
    if record.get("family") not in TREE_FAMILIES or not record.get("artefact_path"):
        return
    from crlm.models.families_review import TreeNode

    if not st.toggle("Draw the decision tree", value=False, key=f"models_tree_show_{model_id}"):
        return
    try:
        nodes = [TreeNode(**n) for n in _nodes(str(record["artefact_path"]), model_id,
                                                int(record["version"]))]
    except ModelError as exc:
        show_error(str(exc))
        return
    fig = make_tree_figure(nodes, title=f"{record['name']}: the tree (training patients)")
    st.plotly_chart(fig, width="stretch", theme=None, key=f"models_tree_{model_id}")
    export_buttons(fig, pd.DataFrame(tree_table(nodes)), f"tree_{model_id}",
                   n=nodes[0].n if nodes else None)
