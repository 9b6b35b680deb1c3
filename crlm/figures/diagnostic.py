"""Discrimination and calibration figures: ROC curves, calibration plot, decision curve."""
from __future__ import annotations

from typing import Collection, Mapping

import numpy as np
import plotly.graph_objects as go

from crlm.figures._format import format_auc, format_estimate, is_finite
from crlm.figures.style import (
    BASELINE_DASH, REFERENCE_COLOR, REFERENCE_DASH, apply_house_style, color,
)
from crlm.figures.thinning import thin_curve

MAX_POINTS = 2000
LEGEND_INSIDE_MAX = 5


def _as_mapping(results, default_name: str) -> dict:
    if results is None:
        return {}
    if isinstance(results, Mapping):
        return dict(results)
    return {default_name: results}


def _split_baselines(curves: Mapping, baselines) -> tuple[dict, dict]:
    """Models and clinical baselines: ``baselines`` is a mapping of extra curves or names in ``curves``."""
    curves = dict(curves)
    if isinstance(baselines, Mapping):
        return curves, dict(baselines)
    names = set(baselines or ())
    return ({k: v for k, v in curves.items() if k not in names},
            {k: v for k, v in curves.items() if k in names})


def roc_legend_text(name: str, result) -> str:
    """The legend entry of one ROC curve: ``name AUC 0.78 [0.74–0.82]``."""
    return f"{name} {format_auc(result)}"


def _unit_square(fig: go.Figure, x_title: str, y_title: str) -> None:
    fig.update_xaxes(range=[-0.01, 1.01], tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1.0],
                     title_text=x_title, constrain="domain")
    fig.update_yaxes(range=[-0.01, 1.01], tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1.0],
                     title_text=y_title, scaleanchor="x", scaleratio=1, constrain="domain")


def make_roc_figure(curves: Mapping[str, object], *, baselines: Mapping | Collection[str] = (),
                    title: str = "", operating_points: Mapping[str, tuple[float, float]] | None = None,
                    max_points: int = MAX_POINTS, height: int = 600) -> go.Figure:
    """ROC curves of several models on one square axes, clinical baselines dashed.

    ``curves`` maps a model name to an ROC result (``fpr``, ``tpr``, ``auc``,
    ``auc_ci``). ``baselines`` is either a mapping of further (clinical) curves
    or the names in ``curves`` that are clinical baselines. The legend reads
    ``name AUC 0.78 [0.74–0.82]``. ``operating_points`` maps a name to the
    (false-positive rate, sensitivity) of its chosen threshold.
    """
    models, clinical = _split_baselines(curves, baselines)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="Chance (AUC 0.50)",
                             line=dict(color=REFERENCE_COLOR, dash=REFERENCE_DASH, width=1.2),
                             hoverinfo="skip", showlegend=False))
    colours = {}
    for i, (name, res) in enumerate(list(models.items()) + list(clinical.items())):
        dash = BASELINE_DASH if name in clinical else "solid"
        colours[name] = color(i)
        x, y = thin_curve(np.asarray(res.fpr, float), np.asarray(res.tpr, float), max_points)
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines", name=roc_legend_text(name, res),
            line=dict(color=colours[name], dash=dash, width=2.4 if dash == "solid" else 2.0),
            legendgroup=name, meta=dict(model=name, auc=float(res.auc)),
            hovertemplate=(f"{name}<br>1 − specificity %{{x:.2f}}<br>sensitivity %{{y:.2f}}"
                           "<extra></extra>"),
        ))
    for name, point in (operating_points or {}).items():
        if name not in colours or point is None:
            continue
        fpr, tpr = point
        fig.add_trace(go.Scatter(
            x=[fpr], y=[tpr], mode="markers", name=f"{name} threshold", legendgroup=name,
            showlegend=False,
            marker=dict(color=colours[name], size=12, symbol="circle",
                        line=dict(color="white", width=1.5)),
            hovertemplate=(f"{name} at the chosen threshold<br>sensitivity %{{y:.2f}}<br>"
                           "specificity %{customdata:.2f}<extra></extra>"),
            customdata=[1 - fpr],
        ))
    _unit_square(fig, "1 − specificity (false-positive rate)", "Sensitivity (true-positive rate)")
    apply_house_style(fig, title=title, height=height)
    if len(colours) <= LEGEND_INSIDE_MAX:
        fig.update_layout(legend=dict(x=0.98, y=0.02, xanchor="right", yanchor="bottom"))
    else:  # many curves: the legend goes under the square so it hides none of them
        fig.update_layout(legend=dict(x=0, y=-0.16, xanchor="left", yanchor="top",
                                      font=dict(size=12)),
                          height=height + 22 * len(colours))
    return fig


def make_calibration_figure(results, *, title: str = "", height: int = 560) -> go.Figure:
    """Observed event rate (with 95% CI) against mean predicted probability, per bin.

    ``results`` is one calibration result or a mapping name → result
    (``mean_predicted``, ``observed``, ``observed_ci_lower/upper``, ``count``,
    ``slope``, ``intercept``). The legend gives the calibration slope and
    intercept; the diagonal is perfect calibration.
    """
    results = _as_mapping(results, "Model")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="Perfect calibration",
                             line=dict(color=REFERENCE_COLOR, dash=REFERENCE_DASH, width=1.2),
                             hoverinfo="skip"))
    for i, (name, res) in enumerate(results.items()):
        x = np.asarray(res.mean_predicted, float)
        y = np.asarray(res.observed, float)
        lo = np.asarray(res.observed_ci_lower, float)
        hi = np.asarray(res.observed_ci_upper, float)
        parts = []
        if is_finite(getattr(res, "slope", None)):
            parts.append(f"slope {res.slope:.2f}")
        if is_finite(getattr(res, "intercept", None)):
            parts.append(f"intercept {res.intercept:.2f}")
        label = f"{name} ({', '.join(parts)})" if parts else name
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines+markers", name=label,
            line=dict(color=color(i), width=1.6), marker=dict(size=8, color=color(i)),
            error_y=dict(type="data", symmetric=False, array=np.clip(hi - y, 0, None),
                         arrayminus=np.clip(y - lo, 0, None), thickness=1.2, width=4,
                         color=color(i)),
            customdata=np.column_stack([np.asarray(res.count), np.asarray(res.events)]),
            hovertemplate=(f"{name}<br>predicted %{{x:.2f}}<br>observed %{{y:.2f}}"
                           "<br>n %{customdata[0]}, events %{customdata[1]}<extra></extra>"),
        ))
    _unit_square(fig, "Predicted probability", "Observed proportion")
    apply_house_style(fig, title=title, height=height)
    fig.update_layout(legend=dict(x=0.98, y=0.02, xanchor="right", yanchor="bottom"))
    return fig


def make_decision_curve_figure(results, *, title: str = "", baselines: Collection[str] = (),
                               height: int = 500) -> go.Figure:
    """Net benefit against threshold probability for each model, with treat-all and treat-none.

    ``results`` is one net-benefit result or a mapping name → result
    (``thresholds``, ``model``, ``treat_all``, ``treat_none``, ``prevalence``).
    Names in ``baselines`` are drawn dashed.
    """
    results = _as_mapping(results, "Model")
    fig = go.Figure()
    first = next(iter(results.values()), None)
    top = 0.05
    if first is not None:
        th = np.asarray(first.thresholds, float)
        fig.add_trace(go.Scatter(x=th, y=np.asarray(first.treat_all, float), mode="lines",
                                 name="Treat all", line=dict(color=REFERENCE_COLOR, width=1.5),
                                 hovertemplate="Treat all<br>threshold %{x:.2f}<br>"
                                               "net benefit %{y:.3f}<extra></extra>"))
        fig.add_trace(go.Scatter(x=th, y=np.asarray(first.treat_none, float), mode="lines",
                                 name="Treat none",
                                 line=dict(color="#000000", width=1.2, dash=REFERENCE_DASH),
                                 hoverinfo="skip"))
        top = max(top, float(max(r.prevalence for r in results.values())))
    for i, (name, res) in enumerate(results.items()):
        fig.add_trace(go.Scatter(
            x=np.asarray(res.thresholds, float), y=np.asarray(res.model, float), mode="lines",
            name=name, line=dict(color=color(i), dash=BASELINE_DASH if name in baselines else "solid"),
            hovertemplate=f"{name}<br>threshold %{{x:.2f}}<br>net benefit %{{y:.3f}}<extra></extra>",
        ))
        finite = np.asarray(res.model, float)
        finite = finite[np.isfinite(finite)]
        if len(finite):
            top = max(top, float(finite.max()))
    fig.update_xaxes(title_text="Threshold probability", range=[0, 1] if first is None else
                     [0, float(np.max(first.thresholds))])
    fig.update_yaxes(title_text="Net benefit", range=[-0.05, top * 1.1 + 0.01])
    apply_house_style(fig, title=title, height=height)
    fig.update_layout(legend=dict(x=0.98, y=0.98, xanchor="right", yanchor="top"))
    return fig


__all__ = ["make_calibration_figure", "make_decision_curve_figure", "make_roc_figure",
           "roc_legend_text", "format_estimate"]
