"""Figures for survival models: time-dependent ROC curves at several horizons and the
calibration of predicted against observed survival at a horizon."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import plotly.graph_objects as go

from crlm.figures.diagnostic import make_roc_figure
from crlm.figures.style import REFERENCE_COLOR, REFERENCE_DASH, apply_house_style, color


def horizon_label(months: float) -> str:
    """``1 year``, ``3 years``, ``18 months``."""
    m = float(months)
    if m % 12 == 0:
        years = int(m // 12)
        return f"{years} year" + ("" if years == 1 else "s")
    return f"{m:g} months"


def make_td_roc_figure(curves: Mapping[float, object], *, title: str = "",
                       height: int = 600) -> go.Figure:
    """One time-dependent ROC curve per horizon (months → result with ``fpr``, ``tpr``,
    ``auc``), on the square axes of the binary ROC figure; the legend gives each AUC."""
    named = {horizon_label(h): res for h, res in sorted(curves.items())}
    return make_roc_figure(named, title=title, height=height)


def make_survival_calibration_figure(results: Mapping[str, object], *, title: str = "",
                                     height: int = 560) -> go.Figure:
    """Observed (Kaplan–Meier, with its 95% interval) against mean predicted survival at
    a horizon, one point per group of predicted risk; ``results`` maps a name (a split)
    to a result with ``horizon``, ``groups``, ``n``, ``events``, ``mean_predicted``,
    ``observed`` and ``observed_ci_lower/upper``. The diagonal is perfect calibration."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="Perfect calibration",
                             line=dict(color=REFERENCE_COLOR, dash=REFERENCE_DASH, width=1.2),
                             hoverinfo="skip"))
    horizon = None
    for i, (name, res) in enumerate(results.items()):
        horizon = res.horizon
        x = np.asarray(res.mean_predicted, float)
        y = np.asarray(res.observed, float)
        lo = np.asarray(res.observed_ci_lower, float)
        hi = np.asarray(res.observed_ci_upper, float)
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines+markers", name=name,
            line=dict(color=color(i), width=1.6), marker=dict(size=8, color=color(i)),
            error_y=dict(type="data", symmetric=False, array=np.clip(hi - y, 0, None),
                         arrayminus=np.clip(y - lo, 0, None), thickness=1.2, width=4,
                         color=color(i)),
            customdata=np.column_stack([np.asarray(res.groups, dtype=object),
                                        np.asarray(res.n), np.asarray(res.events)]),
            hovertemplate=(f"{name}: %{{customdata[0]}}<br>predicted %{{x:.2f}}<br>"
                           "observed %{y:.2f}<br>n %{customdata[1]}, events %{customdata[2]}"
                           "<extra></extra>"),
        ))
    at = f" at {horizon_label(horizon)}" if horizon is not None else ""
    ticks = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    fig.update_xaxes(range=[-0.01, 1.01], tickvals=ticks, constrain="domain",
                     title_text=f"Predicted survival{at}")
    fig.update_yaxes(range=[-0.01, 1.01], tickvals=ticks, scaleanchor="x", scaleratio=1,
                     constrain="domain", title_text=f"Observed survival{at} (Kaplan–Meier)")
    apply_house_style(fig, title=title, height=height)
    fig.update_layout(legend=dict(x=0.98, y=0.02, xanchor="right", yanchor="bottom"))
    return fig


__all__ = ["horizon_label", "make_survival_calibration_figure", "make_td_roc_figure"]
