"""Trajectories over time (spaghetti plot with median and band) and the RECIST waterfall.

Pure builders of ``crlm.analysis.trajectories`` results: no query, no Streamlit.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import plotly.graph_objects as go

from crlm.figures.style import REFERENCE_COLOR, apply_house_style, color, with_alpha

RECIST_COLORS = {"CR": "#009E73", "PR": "#56B4E9", "SD": "#E69F00", "PD": "#D55E00"}


def make_trajectory_figure(result, *, y_label: str, title: str = "",
                           case: Mapping | None = None, height: int | None = 480) -> go.Figure:
    """Individual series (thin, faint) and the median with its 25th-75th percentile band per
    group. ``case`` (``months``, ``value``, ``label``) draws one patient over the cohort."""
    fig = go.Figure()
    grid = np.asarray(result.grid_months, float)
    for i, group in enumerate(result.groups):
        c = color(i)
        lines = result.lines[result.lines["group"] == group]
        xs, ys = [], []
        for _, series in lines.groupby("patient_id", sort=False):
            xs.extend(series["months"].tolist() + [None])
            ys.extend(series["value"].tolist() + [None])
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=with_alpha(c, 0.25),
                                                                         width=0.8),
                                     name=f"{group}: individual patients", legendgroup=group,
                                     showlegend=False, hoverinfo="skip"))
        med, lo, hi = result.median[group], result.lower[group], result.upper[group]
        ok = np.isfinite(med)
        if ok.any():
            fig.add_trace(go.Scatter(
                x=np.concatenate([grid[ok], grid[ok][::-1]]),
                y=np.concatenate([hi[ok], lo[ok][::-1]]), fill="toself",
                fillcolor=with_alpha(c, 0.18), line=dict(width=0), hoverinfo="skip",
                legendgroup=group, showlegend=False, name=f"{group}: 25th-75th percentile"))
            fig.add_trace(go.Scatter(
                x=grid[ok], y=med[ok], mode="lines+markers", line=dict(color=c, width=2.6),
                marker=dict(size=4), legendgroup=group,
                name=f"{group} (n = {result.n_patients[group]:,})",
                customdata=result.n_at_grid[group][ok],
                hovertemplate=f"{group}<br>%{{x:.1f}} months: median %{{y:.3g}}"
                              "<br>%{customdata} patients<extra></extra>"))
    if case is not None and len(case.get("months", [])):
        fig.add_trace(go.Scatter(x=list(case["months"]), y=list(case["value"]),
                                 mode="lines+markers", name=str(case.get("label", "this case")),
                                 line=dict(color="#000000", width=3),
                                 marker=dict(size=9, symbol="diamond")))
    if result.kind == "cea":
        fig.update_yaxes(type="log")
        fig.add_hline(y=50, line=dict(color=REFERENCE_COLOR, dash="dot"),
                      annotation_text="50 % fall", annotation_position="bottom right")
    elif result.kind == "target_lesion_sum":
        for y, text in ((-30, "PR: -30 %"), (20, "PD: +20 %")):
            fig.add_hline(y=y, line=dict(color=REFERENCE_COLOR, dash="dot"),
                          annotation_text=text, annotation_position="bottom right")
    fig.update_xaxes(title_text="Months from the start of treatment", dtick=2)
    fig.update_yaxes(title_text=y_label)
    return apply_house_style(fig, title=title, height=height)


def make_waterfall_figure(result, *, color_by: str = "derived_response", title: str = "",
                          height: int | None = 440) -> go.Figure:
    """One bar per patient: best % change of the target-lesion sum, largest increase on the
    left; coloured by the derived RECIST category (or by ``group``); -30 % and +20 % lines."""
    fig = go.Figure()
    shown = result.shown
    if color_by == "group" and "group" in shown.columns:
        levels = sorted(shown["group"].unique())
        colours = {g: color(i) for i, g in enumerate(levels)}
        key = "group"
    else:
        levels = [c for c in RECIST_COLORS if c in set(shown["derived_response"].dropna())]
        colours = RECIST_COLORS
        key = "derived_response"
    for level in levels:
        part = shown[shown[key] == level]
        fig.add_trace(go.Bar(
            x=part["rank"], y=np.clip(part["best_change_pct"].to_numpy(float), -100, 150),
            name=f"{level} (n = {int((result.table[key] == level).sum()):,})",
            marker=dict(color=colours[level], line=dict(width=0)),
            customdata=part["best_change_pct"],
            hovertemplate=f"{level}<br>best change %{{customdata:.0f}} %<extra></extra>"))
    for y in (-30, 20):
        fig.add_hline(y=y, line=dict(color=REFERENCE_COLOR, dash="dot"))
    fig.update_layout(bargap=0.0, barmode="overlay")
    fig.update_xaxes(title_text="Patients, ordered by best change" + (
        f" (every {result.n_patients / len(shown):.0f}th of {result.n_patients:,} shown)"
        if result.thinned else ""), showticklabels=False)
    fig.update_yaxes(title_text="Best change in target-lesion sum, %", range=[-105, 155])
    return apply_house_style(fig, title=title, height=height)
