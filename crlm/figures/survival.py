"""Kaplan–Meier figures: one plot with a number-at-risk table, and small multiples."""
from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from crlm.figures._format import format_months, format_p, is_finite
from crlm.figures.style import (
    AXIS_COLOR, FONT_SIZE, REFERENCE_DASH, apply_house_style, color, figure_of, with_alpha,
)
from crlm.figures.thinning import thin_marks, thin_step

MAX_POINTS = 2000          # per curve sent to the browser
MAX_CENSOR_MARKS = 250     # per curve


def yearly_ticks(max_time: float, step: float = 12.0, max_ticks: int = 12) -> np.ndarray:
    """0, 12, 24, ... up to ``max_time`` (step doubled until there are at most ``max_ticks``)."""
    max_time = float(max_time) if is_finite(max_time) and max_time > 0 else step
    while max_time / step + 1 > max_ticks:
        step *= 2
    if max_time < step:
        step = max(1.0, step / 4) if max_time >= 3 else 1.0
    return np.arange(0.0, math.floor(max_time / step) * step + step / 2, step)


def _curve_end(km) -> float:
    t = np.asarray(km.timeline, dtype=float)
    return float(t[-1]) if len(t) else 0.0


def at_risk_at(km, times: Sequence[float]) -> np.ndarray:
    """Patients still at risk (time >= t) at each ``t``, read off a Kaplan–Meier result."""
    t = np.asarray(km.timeline, dtype=float)
    n = np.asarray(km.at_risk)
    q = np.asarray(times, dtype=float)
    k = np.searchsorted(t, q, side="left")
    return np.where(k < len(t), n[np.clip(k, 0, max(len(n) - 1, 0))] if len(n) else 0, 0).astype(int)


def _step_arrays(km) -> tuple[np.ndarray, np.ndarray]:
    """Timeline starting at 0 with survival 1, and the rows survival / lower / upper."""
    t = np.asarray(km.timeline, dtype=float)
    rows = np.vstack([np.asarray(km.survival, float), np.asarray(km.ci_lower, float),
                      np.asarray(km.ci_upper, float)]) if len(t) else np.zeros((3, 0))
    if len(t) == 0 or t[0] > 0:
        t = np.concatenate(([0.0], t))
        rows = np.hstack((np.ones((3, 1)), rows))
    return t, rows


@functools.lru_cache(maxsize=1)
def _two_rows_grid():
    """The subplot grid of two rows sharing their x axis (what ``add_trace(row=, col=)``
    reads), made once."""
    return make_subplots(rows=2, cols=1, shared_xaxes=True)._grid_ref


@dataclass(frozen=True)
class _Grid:
    layout: dict
    grid_ref: object


@functools.lru_cache(maxsize=16)
def _grid(rows: int, cols: int, n_titles: int) -> _Grid:
    """The layout of the small multiples' grid (axes, their domains, one title annotation
    per panel) as plain data, and its subplot grid (what ``add_trace(row=, col=)`` reads),
    made once per shape."""
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[str(k) for k in range(n_titles)],
                        shared_yaxes=True, horizontal_spacing=0.05,
                        vertical_spacing=0.16 if rows > 1 else 0.1)
    layout = fig.layout.to_plotly_json()
    layout.pop("template", None)
    return _Grid(layout, fig._grid_ref)


def _axis_key(ref: str) -> str:
    """``x2`` -> ``xaxis2``."""
    return f"{ref[0]}axis{ref[1:]}"


def _curve_traces(name: str, km, i: int, *, ticks, show_ci: bool, max_points: int,
                  showlegend=True, time_label="Months", legendgroup=None,
                  axes: dict | None = None) -> list[dict]:
    """One group's traces as plain dicts: CI band, curve, censoring ticks and median."""
    c = color(i)
    group = legendgroup or name
    on = dict(axes or {})
    t, rows = _step_arrays(km)
    tt, (s, lo, hi) = thin_step(t, rows, max_points, ticks=ticks)
    unit = time_label.lower()
    traces = []
    if show_ci and len(tt):
        traces.append(dict(type="scatter", x=tt, y=hi, mode="lines", line=dict(width=0, shape="hv"),
                           showlegend=False, legendgroup=group, hoverinfo="skip",
                           name=f"{name} upper 95% CI", **on))
        traces.append(dict(type="scatter", x=tt, y=lo, mode="lines", line=dict(width=0, shape="hv"),
                           fill="tonexty", fillcolor=with_alpha(c, 0.16),
                           showlegend=False, legendgroup=group, hoverinfo="skip",
                           name=f"{name} lower 95% CI", **on))
    traces.append(dict(
        type="scatter", x=tt, y=s, mode="lines", line=dict(color=c, shape="hv"), name=name,
        legendgroup=group, showlegend=showlegend,
        hovertemplate=f"{name}<br>%{{x:.1f}} {unit}: %{{y:.1%}}<extra></extra>", **on))
    # censoring ticks on the curve, thinned like the curve
    timeline = np.asarray(km.timeline, dtype=float)
    censored = np.asarray(km.censored) > 0 if len(timeline) else np.zeros(0, bool)
    if censored.any():
        ct = timeline[censored]
        cs = np.asarray(km.survival, float)[censored]
        keep = thin_marks(ct, MAX_CENSOR_MARKS)
        size = 8 if len(keep) <= 60 else 6
        traces.append(dict(
            type="scatter", x=ct[keep], y=cs[keep], mode="markers", name=f"{name} censored",
            marker=dict(symbol="line-ns-open", size=size, color=c, line=dict(width=1.1, color=c)),
            legendgroup=group, showlegend=False,
            hovertemplate=f"{name}: censored at %{{x:.1f}} {unit}<extra></extra>", **on))
    median = getattr(km, "median", float("nan"))
    if is_finite(median):
        traces.append(dict(
            type="scatter", x=[0, median, median], y=[0.5, 0.5, 0], mode="lines",
            name=f"{name} median", line=dict(color=c, width=1.2, dash=REFERENCE_DASH),
            legendgroup=group, showlegend=False,
            hovertemplate=f"{name}: median {format_months(median)} {unit}<extra></extra>", **on))
    return traces


def _add_curve(fig, name: str, km, i: int, *, ticks, show_ci: bool, max_points: int,
               row=None, col=None, showlegend=True, time_label="Months", legendgroup=None):
    where = dict(row=row, col=col) if row is not None else {}
    for trace in _curve_traces(name, km, i, ticks=ticks, show_ci=show_ci, max_points=max_points,
                               showlegend=showlegend, time_label=time_label,
                               legendgroup=legendgroup):
        fig.add_trace(trace, **where)


def make_km_figure(curves: Mapping[str, object], *, risk_times: Sequence[float] | None = None,
                   show_ci: bool = True, title: str = "", logrank_p: float | None = None,
                   hr_text: str | None = None, time_label: str = "Months",
                   y_label: str = "Survival probability", max_points: int = MAX_POINTS,
                   height: int | None = None) -> go.Figure:
    """Kaplan–Meier curves with CI bands, censoring ticks, medians and a number-at-risk table.

    ``curves`` maps a group name to a Kaplan–Meier result (``timeline``,
    ``survival``, ``ci_lower``, ``ci_upper``, ``at_risk``, ``censored``,
    ``median``). The x ticks are ``risk_times`` (default: every 12 months), and
    the table under the plot gives the number at risk at exactly those times.
    Each curve is thinned to ``max_points`` steps (see ``thin_step``) and its
    censoring ticks to ``MAX_CENSOR_MARKS``, so the figure's size does not grow
    with the number of patients. Traces and layout are built as plain data, the
    axes as ``make_subplots(rows=2, cols=1, shared_xaxes=True)`` lays them out
    (without its cost): the plot on top, the table below it sharing its x axis.
    """
    curves = dict(curves)
    end = max([_curve_end(km) for km in curves.values()] + [0.0])
    ticks = np.asarray(risk_times if risk_times is not None else yearly_ticks(end), dtype=float)
    n_groups = max(len(curves), 1)
    height = int(height or 440 + 30 * n_groups)
    plot_px = height - 60 - 60          # minus the template's top and bottom margins
    table_px = 14 + 28 * n_groups
    gap_px = 78                         # tick labels, axis title and the table's heading
    spacing = gap_px / plot_px
    table_top = (1 - spacing) * table_px / (plot_px - gap_px)
    traces = []
    for i, (name, km) in enumerate(curves.items()):
        traces += _curve_traces(name, km, i, ticks=ticks, show_ci=show_ci,
                                max_points=max_points, time_label=time_label,
                                axes=dict(xaxis="x", yaxis="y"))
    # number-at-risk table: one text row per group at the tick times
    names = list(curves)
    for i, (name, km) in enumerate(curves.items()):
        counts = at_risk_at(km, ticks)
        traces.append(dict(
            type="scatter", x=ticks, y=[name] * len(ticks), mode="text",
            text=[f"{c:,}" for c in counts], textfont=dict(color=color(i), size=FONT_SIZE - 1),
            name=f"at risk: {name}", showlegend=False, hoverinfo="skip", cliponaxis=False,
            customdata=counts, xaxis="x2", yaxis="y2"))
    x_hi = max(float(ticks[-1]) if len(ticks) else 0.0, end)
    x_range = [-0.02 * x_hi if x_hi > 0 else -0.5, x_hi * 1.03 if x_hi > 0 else 1]
    annotations = [dict(text="<b>Number at risk</b>", xref="paper", yref="y2 domain", x=0,
                        y=1.0, yanchor="bottom", xanchor="right", showarrow=False, yshift=2,
                        font=dict(size=FONT_SIZE - 1))]
    lines = []
    if logrank_p is not None:
        lines.append(f"Log-rank {format_p(logrank_p)}")
    if hr_text:
        lines.append(str(hr_text))
    if lines:
        annotations.append(dict(text="<br>".join(lines), xref="x domain", yref="y domain",
                                x=1.0, y=1.01, xanchor="right", yanchor="bottom",
                                showarrow=False, align="right"))
    layout = dict(
        xaxis=dict(anchor="y", domain=[0.0, 1.0], matches="x2", range=x_range, tickvals=ticks,
                   ticktext=[f"{t:g}" for t in ticks], showticklabels=True,
                   title=dict(text=time_label)),
        xaxis2=dict(anchor="y2", domain=[0.0, 1.0], range=x_range, tickvals=ticks,
                    showticklabels=False, showline=False, ticks="", showgrid=False),
        yaxis=dict(anchor="x", domain=[table_top + spacing, 1.0], range=[0, 1.03],
                   tickvals=[0, 0.25, 0.5, 0.75, 1.0], tickformat=".0%",
                   title=dict(text=y_label)),
        yaxis2=dict(anchor="x2", domain=[0.0, table_top], type="category",
                    categoryorder="array", categoryarray=names[::-1], tickvals=names,
                    ticktext=[f'<span style="color:{color(i)}">{n}</span>'
                              for i, n in enumerate(names)],
                    showline=False, ticks="", showgrid=False, range=[-0.5, len(names) - 0.5],
                    ticklabelstandoff=28),
        annotations=annotations,
        legend=dict(x=0.99, y=0.99, xanchor="right", yanchor="top"), hovermode="closest",
        margin=dict(l=110, t=60 + 18 * len(lines)))
    fig = figure_of(traces, layout)
    fig._grid_ref = _two_rows_grid()    # callers may add traces by row and column
    apply_house_style(fig, title=title, height=height)
    fig.update_layout(margin=dict(l=110, t=60 + 18 * len(lines)))
    return fig


def make_km_grid_figure(panels: Mapping[str, Mapping[str, object] | None], *, cols: int = 3,
                        title: str = "", time_label: str = "Months", show_ci: bool = False,
                        logrank_p: Mapping[str, float] | None = None,
                        empty_text: str = "too few patients",
                        max_points: int = 1000) -> go.Figure:
    """Small multiples: one Kaplan–Meier panel per key of ``panels`` (e.g. per RAS status).

    Each panel maps group names to Kaplan–Meier results; a group keeps its
    colour in every panel. An empty or ``None`` panel says ``empty_text``.
    """
    panels = dict(panels)
    if not panels:
        panels = {"no data": None}
    cols = max(1, min(int(cols), len(panels)))
    rows = math.ceil(len(panels) / cols)
    groups: list[str] = []
    for curves in panels.values():
        for name in (curves or {}):
            if name not in groups:
                groups.append(name)
    end = max([_curve_end(km) for c in panels.values() for km in (c or {}).values()] + [0.0])
    ticks = yearly_ticks(end, max_ticks=7 if cols > 1 else 12)
    titles = []
    for key, curves in panels.items():
        n = sum(int(getattr(km, "n", len(np.asarray(km.timeline)))) for km in (curves or {}).values())
        label = f"{key} (n = {n:,})" if curves else str(key)
        if logrank_p and key in logrank_p and is_finite(logrank_p[key]):
                label += f", {format_p(logrank_p[key])}"
        titles.append(label)
    skeleton = _grid(rows, cols, len(titles))
    layout = copy.deepcopy(skeleton.layout)
    axes = [(f"x{k + 1}" if k else "x", f"y{k + 1}" if k else "y") for k in range(rows * cols)]
    annotations = layout.setdefault("annotations", [])
    for ann, text in zip(annotations, titles):
        ann.update(text=text, font=dict(size=FONT_SIZE))
    traces: list[dict] = []
    shown: set[str] = set()
    for k, (key, curves) in enumerate(panels.items()):
        x, y = axes[k]
        if not curves:
            annotations.append(dict(
                text=empty_text, showarrow=False, xref="paper", yref="paper",
                x=sum(layout[_axis_key(x)]["domain"]) / 2, y=sum(layout[_axis_key(y)]["domain"]) / 2,
                font=dict(color=AXIS_COLOR)))
            continue
        for name, km in curves.items():
            traces += _curve_traces(name, km, groups.index(name), ticks=ticks, show_ci=show_ci,
                                    max_points=max_points, showlegend=name not in shown,
                                    time_label=time_label, axes=dict(xaxis=x, yaxis=y))
            shown.add(name)
    x_hi = max(float(ticks[-1]), end) if len(ticks) else max(end, 1.0)
    for k, (x, y) in enumerate(axes):
        layout[_axis_key(x)].update(range=[-0.02 * x_hi, x_hi * 1.03], tickvals=ticks,
                                    ticktext=[f"{t:g}" for t in ticks])
        layout[_axis_key(y)].update(range=[0, 1.03], tickvals=[0, 0.5, 1.0], tickformat=".0%")
        if k % cols == 0:
            layout[_axis_key(y)]["title"] = dict(text="Survival")
        if k // cols == rows - 1:
            layout[_axis_key(x)]["title"] = dict(text=time_label)
    fig = figure_of(traces, layout)
    fig._grid_ref = skeleton.grid_ref     # callers may add traces by row and column
    apply_house_style(fig, title=title, height=int(290 * rows + 150))
    fig.update_layout(legend=dict(orientation="h", x=1, y=1.0 + 50 / (290 * rows),
                                  xanchor="right", yanchor="bottom"),
                      margin=dict(t=110))
    return fig
