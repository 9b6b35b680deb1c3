"""Trajectories over time (spaghetti plot with median and band) and the RECIST waterfall.

Pure builders of ``crlm.analysis.trajectories`` results: no query, no Streamlit.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from crlm.figures.style import REFERENCE_COLOR, TEMPLATE, color, figure_of, with_alpha

RECIST_COLORS = {"CR": "#009E73", "PR": "#56B4E9", "SD": "#E69F00", "PD": "#D55E00"}


def _hline(y: float, text: str | None = None) -> tuple[dict, dict | None]:
    """A dotted reference line across the plot (and its label at the bottom right), as
    ``add_hline`` draws them."""
    shape = dict(type="line", line=dict(color=REFERENCE_COLOR, dash="dot"), x0=0, x1=1,
                 xref="x domain", y0=y, y1=y, yref="y")
    label = None if text is None else dict(showarrow=False, text=text, x=1, xanchor="right",
                                           xref="x domain", y=y, yanchor="top", yref="y")
    return shape, label


def _spaghetti(lines) -> tuple[list, list]:
    """Each patient's series one after the other, a gap (None) after each."""
    codes = pd.factorize(lines["patient_id"].to_numpy())[0]   # first-appearance order
    order = np.argsort(codes, kind="stable")
    ends = np.r_[np.flatnonzero(np.diff(codes[order])) + 1, len(order)] if len(order) else []
    xs = np.insert(lines["months"].to_numpy()[order].astype(object), ends, None)
    ys = np.insert(lines["value"].to_numpy()[order].astype(object), ends, None)
    return xs.tolist(), ys.tolist()


def _layout(layout: dict, title: str | None, height: int | None) -> dict:
    """``apply_house_style``'s template, title and height added to a layout."""
    layout["template"] = TEMPLATE
    if title is not None:
        layout["title"] = dict(text=title)
    if height is not None:
        layout["height"] = int(height)
    return layout


def make_trajectory_figure(result, *, y_label: str, title: str = "",
                           case: Mapping | None = None, height: int | None = 480) -> go.Figure:
    """Individual series (thin, faint) and the median with its 25th-75th percentile band per
    group. ``case`` (``months``, ``value``, ``label``) draws one patient over the cohort.
    Traces and layout are built as plain data and made into a figure once."""
    traces = []
    grid = np.asarray(result.grid_months, float)
    group_of_line = result.lines["group"].to_numpy()
    for i, group in enumerate(result.groups):
        c = color(i)
        xs, ys = _spaghetti(result.lines[group_of_line == group])
        if xs:
            traces.append(dict(type="scatter", x=xs, y=ys, mode="lines",
                               line=dict(color=with_alpha(c, 0.25), width=0.8),
                               name=f"{group}: individual patients", legendgroup=group,
                               showlegend=False, hoverinfo="skip"))
        med, lo, hi = result.median[group], result.lower[group], result.upper[group]
        ok = np.isfinite(med)
        if ok.any():
            traces.append(dict(
                type="scatter", x=np.concatenate([grid[ok], grid[ok][::-1]]),
                y=np.concatenate([hi[ok], lo[ok][::-1]]), fill="toself",
                fillcolor=with_alpha(c, 0.18), line=dict(width=0), hoverinfo="skip",
                legendgroup=group, showlegend=False, name=f"{group}: 25th-75th percentile"))
            traces.append(dict(
                type="scatter", x=grid[ok], y=med[ok], mode="lines+markers",
                line=dict(color=c, width=2.6), marker=dict(size=4), legendgroup=group,
                name=f"{group} (n = {result.n_patients[group]:,})",
                customdata=result.n_at_grid[group][ok],
                hovertemplate=f"{group}<br>%{{x:.1f}} months: median %{{y:.3g}}"
                              "<br>%{customdata} patients<extra></extra>"))
    if case is not None and len(case.get("months", [])):
        traces.append(dict(type="scatter", x=list(case["months"]), y=list(case["value"]),
                           mode="lines+markers", name=str(case.get("label", "this case")),
                           line=dict(color="#000000", width=3),
                           marker=dict(size=9, symbol="diamond")))
    yaxis = dict(title=dict(text=y_label))
    lines = []
    if result.kind == "cea":
        yaxis["type"] = "log"
        lines = [_hline(50, "50 % fall")]
    elif result.kind == "target_lesion_sum":
        lines = [_hline(-30, "PR: -30 %"), _hline(20, "PD: +20 %")]
    layout = dict(xaxis=dict(title=dict(text="Months from the start of treatment"), dtick=2),
                  yaxis=yaxis)
    if lines:
        layout["shapes"] = [shape for shape, _ in lines]
        layout["annotations"] = [label for _, label in lines]
    return figure_of(traces, _layout(layout, title, height))


def make_waterfall_figure(result, *, color_by: str = "derived_response", title: str = "",
                          height: int | None = 440) -> go.Figure:
    """One bar per patient: best % change of the target-lesion sum, largest increase on the
    left; coloured by the derived RECIST category (or by ``group``); -30 % and +20 % lines.
    Traces and layout are built as plain data and made into a figure once."""
    shown = result.shown
    if color_by == "group" and "group" in shown.columns:
        levels = sorted(shown["group"].unique())
        colours = {g: color(i) for i, g in enumerate(levels)}
        key = "group"
    else:
        levels = [c for c in RECIST_COLORS if c in set(shown["derived_response"].dropna())]
        colours = RECIST_COLORS
        key = "derived_response"
    traces = []
    shown_level, every_level = shown[key].to_numpy(), result.table[key].to_numpy()
    for level in levels:
        part = shown[shown_level == level]
        traces.append(dict(
            type="bar", x=part["rank"],
            y=np.clip(part["best_change_pct"].to_numpy(float), -100, 150),
            name=f"{level} (n = {int((every_level == level).sum()):,})",
            marker=dict(color=colours[level], line=dict(width=0)),
            customdata=part["best_change_pct"],
            hovertemplate=f"{level}<br>best change %{{customdata:.0f}} %<extra></extra>"))
    layout = dict(
        shapes=[_hline(y)[0] for y in (-30, 20)], bargap=0.0, barmode="overlay",
        xaxis=dict(title=dict(text="Patients, ordered by best change" + (
            f" (every {result.n_patients / len(shown):.0f}th of {result.n_patients:,} shown)"
            if result.thinned else "")), showticklabels=False),
        yaxis=dict(title=dict(text="Best change in target-lesion sum, %"), range=[-105, 155]))
    return figure_of(traces, _layout(layout, title, height))
