"""Distributions of one variable, where a case's score falls, and what drives a score."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from crlm.figures._format import is_finite
from crlm.stats.sorted_quantiles import sorted_median, sorted_percentiles
from crlm.figures.style import (
    AXIS_COLOR, OKABE_ITO, REFERENCE_COLOR, TEMPLATE, apply_house_style, color, figure_of,
    with_alpha,
)

MAX_BINS = 40
MISSING = "missing"


def _numeric(values) -> np.ndarray:
    arr = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float)
    return arr[np.isfinite(arr)]


def _auto_bin_count(v: np.ndarray) -> int:
    """The number of bins of ``np.histogram_bin_edges(v, bins="auto")`` for sorted finite
    ``v`` (the smaller width of Freedman–Diaconis, kept at least half the square-root
    rule's, and Sturges), with its quartiles read from the sorted values."""
    if len(v) == 0:
        return 1
    p75, p25 = sorted_percentiles(v, [75, 25])
    ptp = np.subtract(v[-1], v[0])
    fd = 2.0 * np.subtract(p75, p25) * v.size ** (-1.0 / 3.0)
    width = min(max(fd, ptp / np.sqrt(v.size) / 2), ptp / (np.log2(v.size) + 1.0))
    return int(np.ceil(np.subtract(v[-1], v[0]) / width)) if width else 1


def _sorted_counts(v: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(v, bins=edges)[0]`` for sorted ``v``: the same counts (every bin
    half-open but the last), without sorting again."""
    return np.diff(np.concatenate((v.searchsorted(edges[:-1], "left"),
                                   v.searchsorted(edges[-1:], "right"))))


def _edges(values: np.ndarray, bins: int | None, log: bool) -> np.ndarray:
    v = np.log10(values) if log else values
    if len(v) == 0:
        return np.array([0.0, 1.0])
    if bins is None:
        edges = np.histogram_bin_edges(v, bins=_auto_bin_count(v))
        if len(edges) - 1 > MAX_BINS:
            edges = np.histogram_bin_edges(v, bins=MAX_BINS)
    else:
        edges = np.histogram_bin_edges(v, bins=int(bins))
    if len(edges) < 2 or edges[0] == edges[-1]:
        edges = np.array([v.min() - 0.5, v.min() + 0.5])
    return 10 ** edges if log else edges


def _wants_log(values: np.ndarray) -> bool:
    if len(values) < 10 or values.min() <= 0:
        return False
    med = sorted_median(values)
    return med > 0 and float(values.max()) / med > 50


def _step_hist(fig, values, edges, name, i, *, showlegend, log, n_groups):
    v = np.log10(values) if log else values
    e = np.log10(edges) if log else edges
    counts, _ = np.histogram(v, bins=e)
    _step_trace(fig, counts, edges, name, len(values), i, showlegend=showlegend,
                n_groups=n_groups)


def _step_trace(fig, counts, edges, name, n, i, *, showlegend, n_groups):
    x = np.concatenate((edges, [edges[-1]]))
    y = np.concatenate((counts, [counts[-1] if len(counts) else 0, 0])).astype(float)
    x = np.concatenate(([edges[0]], x))
    y = np.concatenate(([0.0], y))
    c = color(i)
    fig.add_trace(go.Scatter(
        x=x, y=y, mode="lines", line=dict(shape="hv", color=c, width=1.6),
        fill="tozeroy", fillcolor=with_alpha(c, 0.25 if n_groups > 1 else 0.45),
        name=f"{name} (n = {n:,})", showlegend=showlegend,
        hovertemplate=f"{name}<br>from %{{x:.3g}}: %{{y}} patients<extra></extra>",
    ))


def _levels(values: pd.Series) -> pd.Series:
    s = pd.Series(values).copy()
    if s.dtype == bool or str(s.dtype) == "boolean":
        s = s.map({True: "yes", False: "no"})
    return s.astype(object).where(s.notna(), MISSING).astype(str)


def _order(levels) -> list[str]:
    levels = [lv for lv in dict.fromkeys(levels) if lv != MISSING]
    try:
        levels = sorted(levels, key=float)
    except ValueError:
        levels = sorted(levels)
    return levels


def _positional(values) -> pd.Series:
    """``values`` as a Series indexed 0..n-1 (not copied when it already is one)."""
    s = pd.Series(values)
    if isinstance(s.index, pd.RangeIndex) and s.index.start == 0 and s.index.step == 1:
        return s
    return s.reset_index(drop=True)


def _level_index(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each value's level as an index into the levels in display order (``_order``, then
    ``missing`` when a value is missing), and those levels; a level's name is the value's
    text as ``_levels`` writes it (computed once per distinct value)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names = _levels(pd.Series(uniques)).tolist()
    order = _order(names) + ([MISSING] if (codes < 0).any() or MISSING in names else [])
    position = {name: k for k, name in enumerate(order)}
    lookup = np.array([position[name] for name in names] + [position.get(MISSING, -1)],
                      dtype=np.int64)
    return lookup[codes], order   # code -1 reads the last entry: missing


@dataclass(frozen=True, eq=False)
class BinnedDistribution:
    """What a distribution figure draws: counts per group (rows, in ``groups`` order) and
    per histogram bin (``edges``) or bar level (``levels``); ``n`` per group is the
    number of values drawn (histogram: the numbers; bar: every value, missing included);
    ``missing`` is the number of missing values of a histogram's variable."""

    kind: str
    label: str
    groups: tuple[str, ...]
    grouped: bool
    counts: np.ndarray
    n: tuple[int, ...]
    edges: np.ndarray | None = None
    levels: tuple[str, ...] = ()
    log: bool = False
    missing: int = 0

    def to_dict(self) -> dict:
        return {"kind": self.kind, "label": self.label, "groups": list(self.groups),
                "counts": self.counts.tolist(), "n": list(self.n),
                "edges": None if self.edges is None else self.edges.tolist(),
                "levels": list(self.levels), "log": self.log, "missing": self.missing}


def bin_distribution(series, *, kind: str = "histogram", group=None, x_label: str | None = None,
                     bins: int | None = None, log_x: bool | None = None) -> BinnedDistribution:
    """The counts ``make_distribution_figure`` draws (see there), computed once."""
    if kind not in ("histogram", "bar"):
        raise ValueError(f"kind must be 'histogram' or 'bar', got {kind!r}")
    s = _positional(series)
    if group is not None and len(group) != len(s):
        raise ValueError(f"group has {len(group)} values but series has {len(s)}")
    if group is None:
        gcode, groups = None, ["all"]
    else:
        gcode, groups = _level_index(_positional(group))
    label = x_label if x_label is not None else (s.name or "")
    if kind == "histogram":
        numbers = pd.to_numeric(s, errors="coerce").to_numpy(float)
        finite = np.isfinite(numbers)
        numbers_ok = numbers[finite]
        by_value = None if gcode is None else np.argsort(numbers_ok, kind="stable")
        # sorted once: the quantiles (bin width, log test) and every group's counts read it
        values = np.sort(numbers_ok) if by_value is None else numbers_ok[by_value]
        log = _wants_log(values) if log_x is None else bool(log_x) and len(values) and values.min() > 0
        edges = _edges(values, bins, log)
        e = np.log10(edges) if log else edges
        v = np.log10(values) if log else values
        if by_value is None:
            counts, n = [_sorted_counts(v, e)], [len(v)]
        else:
            g = gcode[finite][by_value]
            parts = [v[g == k] for k in range(len(groups))]
            counts, n = [_sorted_counts(p, e) for p in parts], [len(p) for p in parts]
        return BinnedDistribution("histogram", str(label), tuple(groups), group is not None,
                                  np.asarray(counts), tuple(n), edges=edges, log=bool(log),
                                  missing=int(np.isnan(numbers).sum()))
    lcode, levels = _level_index(s)
    if gcode is None:
        gcode = np.zeros(len(s), dtype=np.int64)
    counts = np.bincount(gcode * len(levels) + lcode, minlength=len(groups) * len(levels))
    counts = counts.reshape(len(groups), len(levels))
    return BinnedDistribution("bar", str(label), tuple(groups), group is not None, counts,
                              tuple(int(c) for c in counts.sum(axis=1)), levels=tuple(levels))


def make_distribution_figure(series, *, kind: str = "histogram", group=None, title: str = "",
                             x_label: str | None = None, bins: int | None = None,
                             log_x: bool | None = None, height: int = 380) -> go.Figure:
    """Histogram (``kind="histogram"``) or bar chart of counts (``kind="bar"``) of one variable.

    ``group`` (same length as ``series``) splits it: overlaid histograms or
    grouped bars, one colour per group. Missing values are counted apart (bar:
    a ``missing`` bar; histogram: noted under the plot). Skewed positive values
    (CEA) get logarithmic bins unless ``log_x`` says otherwise.
    """
    return make_binned_distribution_figure(
        bin_distribution(series, kind=kind, group=group, x_label=x_label, bins=bins,
                         log_x=log_x), title=title, height=height)


def _step_trace_data(counts, edges, name, n, i, *, showlegend, n_groups) -> dict:
    """``_step_trace``'s trace as plain data."""
    x = np.concatenate(([edges[0]], edges, [edges[-1]]))
    y = np.concatenate(([0.0], np.concatenate((counts, [counts[-1] if len(counts) else 0, 0]))
                        .astype(float)))
    c = color(i)
    return dict(type="scatter", x=x, y=y, mode="lines", line=dict(shape="hv", color=c, width=1.6),
                fill="tozeroy", fillcolor=with_alpha(c, 0.25 if n_groups > 1 else 0.45),
                name=f"{name} (n = {n:,})", showlegend=showlegend,
                hovertemplate=f"{name}<br>from %{{x:.3g}}: %{{y}} patients<extra></extra>")


def make_binned_distribution_figure(binned: BinnedDistribution, *, title: str = "",
                                    height: int = 380) -> go.Figure:
    """The distribution figure of counts from ``bin_distribution`` (its traces and layout
    built as plain data and made into a figure once: one validation)."""
    grouped = binned.grouped
    traces, layout = [], {}
    if binned.kind == "histogram":
        for i, name in enumerate(binned.groups):
            traces.append(_step_trace_data(binned.counts[i], binned.edges, name, binned.n[i], i,
                                           showlegend=grouped, n_groups=len(binned.groups)))
        if binned.missing:
            layout["annotations"] = [dict(
                text=f"{binned.missing:,} missing not shown", xref="paper", yref="paper", x=1,
                y=1.0, xanchor="right", yanchor="bottom", showarrow=False,
                font=dict(color=AXIS_COLOR))]
        layout["xaxis"] = dict(title=dict(text=binned.label),
                               type="log" if binned.log else "linear",
                               **(dict(dtick=1) if binned.log else {}))
        layout["yaxis"] = dict(title=dict(text="Patients"), rangemode="tozero")
    else:
        order = list(binned.levels)
        for i, name in enumerate(binned.groups):
            counts = binned.counts[i]
            total = max(int(counts.sum()), 1)
            traces.append(dict(
                type="bar", x=order, y=counts, name=f"{name} (n = {binned.n[i]:,})",
                marker=dict(color=color(i)), showlegend=grouped, customdata=counts / total,
                hovertemplate=f"{name}<br>%{{x}}: %{{y}} (%{{customdata:.1%}})<extra></extra>",
            ))
        layout["xaxis"] = dict(title=dict(text=binned.label), type="category",
                               categoryorder="array", categoryarray=order)
        layout["yaxis"] = dict(title=dict(text="Patients"))
        layout.update(barmode="group", bargap=0.2)
    layout.update(template=TEMPLATE, title=dict(text=title), height=int(height),
                  legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom", xanchor="left"),
                  margin=dict(t=90 if grouped else 60))
    return figure_of(traces, layout)


def make_score_distribution_figure(cohort_scores, case_score: float | None,
                                   threshold: float | None = None, *, title: str = "",
                                   x_label: str = "Predicted probability",
                                   case_label: str = "This case", bins: int = 30,
                                   height: int = 380) -> go.Figure:
    """Where one case's score falls in the cohort's scores.

    ``cohort_scores`` is an array, or a mapping label → array (e.g. responders
    and non-responders) drawn as overlaid histograms. The case is a solid
    vertical line labelled with its score and percentile in the cohort; the
    threshold, when given, a dashed line.
    """
    parts = dict(cohort_scores) if isinstance(cohort_scores, Mapping) else {"Cohort": cohort_scores}
    arrays = {k: _numeric(v) for k, v in parts.items()}
    everything = np.concatenate(list(arrays.values())) if arrays else np.zeros(0)
    lo = float(min(everything.min(), case_score if is_finite(case_score) else everything.min())) \
        if len(everything) else 0.0
    hi = float(max(everything.max(), case_score if is_finite(case_score) else everything.max())) \
        if len(everything) else 1.0
    if 0 <= lo and hi <= 1:
        lo, hi = 0.0, 1.0
    edges = np.linspace(lo, hi if hi > lo else lo + 1, int(bins) + 1)
    fig = go.Figure()
    for i, (name, values) in enumerate(arrays.items()):
        _step_hist(fig, values, edges, name, i, showlegend=True, log=False, n_groups=len(arrays))
    if threshold is not None and is_finite(threshold):
        fig.add_vline(x=float(threshold), line=dict(color=REFERENCE_COLOR, dash="dash", width=1.6),
                      annotation=dict(text=f"threshold {float(threshold):.2f}",
                                      yanchor="bottom", xanchor="left", bgcolor="white",
                                      font=dict(color=AXIS_COLOR)),
                      annotation_position="bottom right")
    if case_score is not None and is_finite(case_score):
        pct = 100.0 * float(np.mean(everything <= float(case_score))) if len(everything) else float("nan")
        text = f"<b>{case_label}: {float(case_score):.2f}</b>"
        if math.isfinite(pct):
            text += f"<br>{pct:.0f}th percentile"
        fig.add_vline(x=float(case_score), line=dict(color=OKABE_ITO["vermillion"], width=3),
                      annotation=dict(text=text, yanchor="top", xanchor="right", align="right",
                                      bgcolor="rgba(255,255,255,0.8)",
                                      font=dict(color=OKABE_ITO["vermillion"])),
                      annotation_position="top left")
    fig.update_xaxes(title_text=x_label, range=[lo, hi])
    fig.update_yaxes(title_text="Patients", rangemode="tozero")
    apply_house_style(fig, title=title, height=height)
    fig.update_layout(legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom", xanchor="left"),
                      margin=dict(t=90))
    return fig


def make_contribution_figure(contributions: Mapping[str, float], top: int = 12, *,
                             title: str = "", x_label: str = "Contribution to the score",
                             height: int | None = None) -> go.Figure:
    """The ``top`` largest contributions (by size) as horizontal bars, largest on top.

    Positive contributions (towards the predicted outcome) are vermillion,
    negative ones blue; the number of smaller ones left out is noted.
    """
    items = [(str(k), float(v)) for k, v in dict(contributions).items() if is_finite(v)]
    items.sort(key=lambda kv: abs(kv[1]), reverse=True)
    shown, rest = items[:int(top)], items[int(top):]
    shown = shown[::-1]
    names = [k for k, _ in shown]
    values = [v for _, v in shown]
    colours = [OKABE_ITO["vermillion"] if v > 0 else OKABE_ITO["blue"] for v in values]
    fig = go.Figure(go.Bar(
        x=values, y=names, orientation="h", marker=dict(color=colours),
        text=[f"{v:+.2f}" for v in values], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:+.3f}<extra></extra>", showlegend=False,
    ))
    fig.add_vline(x=0, line=dict(color=AXIS_COLOR, width=1))
    if rest:
        fig.add_annotation(text=f"{len(rest)} smaller contribution{'s' if len(rest) > 1 else ''} "
                                "not shown", xref="paper", yref="paper", x=1, y=1,
                           xanchor="right", yanchor="bottom", showarrow=False,
                           font=dict(color=AXIS_COLOR))
    span = max([abs(v) for v in values] + [1e-9])
    fig.update_xaxes(title_text=x_label, range=[-span * 1.3 if min(values + [0]) < 0 else 0,
                                                span * 1.3 if max(values + [0]) > 0 else 0])
    fig.update_yaxes(type="category", showgrid=False, automargin=True)
    apply_house_style(fig, title=title, height=height or int(120 + 30 * max(len(shown), 1)))
    return fig
