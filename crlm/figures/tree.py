"""The drawing of a shallow decision tree (the ``cart`` family): one box per node with
the test that leads into it, its training patients and their share of responders;
the path of one case, when given, drawn in the accent colour.

Takes the nodes of ``crlm.models.families_review.tree_nodes`` (any objects with
``node, depth, parent, rule, split, n, responder_share, leaf``); no model, no store.
"""
from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

from crlm.figures.style import REFERENCE_COLOR, TEXT_COLOR, apply_house_style, color


def _positions(nodes) -> dict[int, tuple[float, float]]:
    """Leaves evenly spaced left to right (in-order), a split centred over its children."""
    children: dict[int, list[int]] = {}
    for n in nodes:
        if n.parent is not None:
            children.setdefault(n.parent, []).append(n.node)
    depth = {n.node: n.depth for n in nodes}
    pos: dict[int, tuple[float, float]] = {}
    next_x = [0.0]

    def place(i: int) -> float:
        kids = children.get(i, [])
        if not kids:
            x = next_x[0]
            next_x[0] += 1.0
        else:
            x = sum(place(k) for k in kids) / len(kids)
        pos[i] = (x, -float(depth[i]))
        return x

    place(0)
    return pos


def make_tree_figure(nodes: Sequence, *, path: Sequence[int] = (), title: str = "",
                     outcome_label: str = "responders") -> go.Figure:
    """Boxes and edges of the tree; ``path`` (node ids root → leaf) is highlighted."""
    nodes = list(nodes)
    if not nodes:
        raise ValueError("a tree needs at least one node")
    pos = _positions(nodes)
    on_path = set(int(i) for i in path)
    fig = go.Figure()
    for n in nodes:
        if n.parent is None:
            continue
        (x0, y0), (x1, y1) = pos[n.parent], pos[n.node]
        hot = n.node in on_path and n.parent in on_path
        fig.add_trace(go.Scatter(x=[x0, x1], y=[y0, y1], mode="lines", hoverinfo="skip",
                                 showlegend=False,
                                 line={"color": color(1) if hot else REFERENCE_COLOR,
                                       "width": 3 if hot else 1.2}))
    for n in nodes:
        x, y = pos[n.node]
        share = "–" if n.responder_share != n.responder_share else f"{100 * n.responder_share:.0f}%"
        head = n.rule or "all patients"
        text = f"<b>{head}</b><br>n = {n.n:,}<br>{outcome_label} {share}"
        fig.add_annotation(x=x, y=y, text=text, showarrow=False, align="center",
                           font={"size": 11, "color": TEXT_COLOR},
                           bgcolor="#FFF4E0" if n.node in on_path else "#FFFFFF",
                           bordercolor=color(1) if n.node in on_path else REFERENCE_COLOR,
                           borderwidth=2 if n.node in on_path else 1, borderpad=4)
    xs = [p[0] for p in pos.values()]
    depth = max(n.depth for n in nodes)
    fig.update_xaxes(visible=False, range=[min(xs) - 0.7, max(xs) + 0.7])
    fig.update_yaxes(visible=False, range=[-depth - 0.5, 0.5])
    apply_house_style(fig, title=title)
    fig.update_layout(height=160 + 130 * depth, showlegend=False)
    return fig


def tree_table(nodes: Sequence) -> list[dict]:
    """The numbers behind the drawing, one row per node (for the CSV export)."""
    return [{"node": n.node, "parent": n.parent, "depth": n.depth, "rule": n.rule,
             "split": n.split, "n": n.n, "responder_share": n.responder_share, "leaf": n.leaf}
            for n in nodes]
