"""A case's predicted survival curve drawn over the Kaplan–Meier curve of the cohort's
patients of similar predicted risk."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from crlm.figures.style import color, with_alpha
from crlm.figures.survival import make_km_figure
from crlm.figures.thinning import thin_step


def make_case_survival_figure(similar_km, times: Sequence[float], survival: Sequence[float],
                              lower: Sequence[float], upper: Sequence[float], *,
                              coverage: float, group_label: str = "Similar predicted risk",
                              case_label: str = "This case (predicted)", title: str = "",
                              horizons: Sequence[float] = ()) -> go.Figure:
    """The Kaplan–Meier curve (with its band and number at risk) of ``similar_km`` and,
    over it, the case's predicted curve ``survival`` at ``times`` with its ``coverage``
    interval band (``lower``, ``upper``); marks at ``horizons``."""
    fig = make_km_figure({group_label: similar_km}, title=title)
    t = np.concatenate(([0.0], np.asarray(times, dtype=float)))
    rows = [np.concatenate(([1.0], np.asarray(a, dtype=float))) for a in (survival, lower, upper)]
    c = color(1)
    tt, s = thin_step(t, rows[0])
    _, lo = thin_step(t, rows[1])
    _, hi = thin_step(t, rows[2])
    fig.add_trace(go.Scatter(x=tt, y=hi, mode="lines", line=dict(width=0, shape="hv"),
                             showlegend=False, hoverinfo="skip", legendgroup=case_label))
    fig.add_trace(go.Scatter(x=tt, y=lo, mode="lines", line=dict(width=0, shape="hv"),
                             fill="tonexty", fillcolor=with_alpha(c, 0.18),
                             name=f"{coverage:.0%} interval", legendgroup=case_label,
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=tt, y=s, mode="lines", line=dict(color=c, width=2.5, shape="hv",
                                                               dash="dash"),
                             name=case_label, legendgroup=case_label,
                             hovertemplate="%{x:.0f} months: %{y:.0%}<extra></extra>"))
    h = np.asarray(horizons, dtype=float)
    if len(h):
        idx = np.searchsorted(t, h, side="right") - 1
        ok = (idx >= 0) & (h <= t[-1])
        fig.add_trace(go.Scatter(x=h[ok], y=rows[0][idx[ok]], mode="markers+text",
                                 marker=dict(color=c, size=8),
                                 text=[f"{v:.0%}" for v in rows[0][idx[ok]]],
                                 textposition="top right", showlegend=False,
                                 hoverinfo="skip"))
    return fig
