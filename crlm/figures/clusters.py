"""Figures of the Clusters page: the cluster profile heatmap (standardised centres by
input) and the dendrogram of the last merges of a Ward tree. Pure: results in, figure out."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from crlm.figures.style import REFERENCE_COLOR, apply_house_style


def make_cluster_heatmap_figure(centres: np.ndarray, clusters: Sequence[str],
                                inputs: Sequence[str], *, title: str = "") -> go.Figure:
    """Clusters (rows) × inputs (columns), colour = centre in SD from the cohort mean."""
    z = np.asarray(centres, dtype=float)
    if z.shape != (len(clusters), len(inputs)):
        raise ValueError("centres must be clusters × inputs")
    bound = float(max(1.0, np.nanmax(np.abs(z))))
    fig = go.Figure(go.Heatmap(
        z=z, x=list(inputs), y=list(clusters), zmin=-bound, zmax=bound, colorscale="RdBu_r",
        colorbar={"title": {"text": "SD from mean"}},
        text=np.round(z, 2), texttemplate="%{text}",
        hovertemplate="%{y}<br>%{x}: %{z:.2f} SD<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    apply_house_style(fig, title=title, height=140 + 45 * len(clusters))
    return fig


def make_dendrogram_figure(tree: Mapping, *, title: str = "") -> go.Figure:
    """The dendrogram from scipy's coordinates (``icoord``, ``dcoord``, ``leaves``); a
    leaf "(n)" stands for a merged branch of n patients."""
    icoord, dcoord = tree.get("icoord") or [], tree.get("dcoord") or []
    if not icoord:
        raise ValueError("no dendrogram: only hierarchical clustering has one")
    fig = go.Figure()
    for xs, ys in zip(icoord, dcoord):
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", showlegend=False, hoverinfo="skip",
                                 line={"color": REFERENCE_COLOR, "width": 1.4}))
    leaves = list(tree.get("leaves") or [])
    fig.update_xaxes(tickvals=[5 + 10 * i for i in range(len(leaves))], ticktext=leaves,
                     tickangle=-60, title_text="patients (merged branches: n)")
    fig.update_yaxes(title_text="Ward linkage distance")
    apply_house_style(fig, title=title, height=380)
    return fig
