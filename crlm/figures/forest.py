"""Forest plots: an effect with its CI per subgroup level, grouped under each variable.

Rows come as a data frame (one row per level) or straight from the
statistics results; ``forest_rows`` / ``auc_rows`` give the frame that is
drawn, which is also the data behind the figure for CSV export.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from crlm.figures._format import format_estimate, format_p, is_finite
from crlm.figures.style import (
    AXIS_COLOR, FONT_SIZE, REFERENCE_COLOR, REFERENCE_DASH, apply_house_style, color, figure_of,
)

ROW_COLUMNS = ["variable", "level", "n", "events", "estimate", "ci_lower", "ci_upper",
               "estimable", "reason", "interaction_p_value"]
INDENT = "\u2003"
TEXT_SIZE = FONT_SIZE - 1
CHAR_PX = 7.4            # average width of a character of the text columns
COLUMN_GAP_PX = 14
ASSUMED_AXES_PX = 560    # width of the plotting area at the 7-inch export size


RUNAWAY = ("hazard ratio not finite: every event of one group comes before any of the "
           "other's (monotone likelihood)")


def _subgroup_result_rows(variable: str, res) -> list[dict]:
    """A level whose fit ran off (``converged`` False: its hazard ratio is infinite or
    zero) is a row without an estimate, with the reason, not a huge number."""
    rows, nan = [], float("nan")
    for eff in res.subgroups:
        runaway = bool(eff.estimable) and not eff.converged
        rows.append(dict(variable=variable, level=str(eff.level), n=int(eff.n),
                         events=int(eff.events), estimate=nan if runaway else float(eff.hr),
                         ci_lower=nan if runaway else float(eff.ci_lower),
                         ci_upper=nan if runaway else float(eff.ci_upper),
                         estimable=bool(eff.estimable) and not runaway,
                         reason=RUNAWAY if runaway else str(eff.reason or ""),
                         interaction_p_value=float(res.interaction_p_value)))
    return rows


def forest_rows(results) -> pd.DataFrame:
    """Hazard-ratio rows from ``{variable: subgroup result}``, one result, or a frame.

    A frame may name the estimate ``hr`` or ``estimate``; missing optional
    columns (events, estimable, reason, interaction_p_value) are filled in.
    """
    if isinstance(results, pd.DataFrame):
        frame = results.copy()
        if "estimate" not in frame and "hr" in frame:
            frame = frame.rename(columns={"hr": "estimate"})
    elif isinstance(results, Mapping):
        rows = [r for variable, res in results.items() for r in _subgroup_result_rows(variable, res)]
        frame = pd.DataFrame(rows, columns=ROW_COLUMNS)
    else:
        frame = pd.DataFrame(_subgroup_result_rows("Subgroup", results), columns=ROW_COLUMNS)
    return _complete(frame)


def auc_rows(results: Mapping[str, Mapping[str, object]]) -> pd.DataFrame:
    """AUC rows from ``{variable: {level: ROC result}}``.

    A level that is not estimable maps to its reason, or to a dict with ``n``,
    ``events`` and ``reason``.
    """
    rows = []
    for variable, levels in results.items():
        for level, res in levels.items():
            if res is None or isinstance(res, (str, Mapping)):
                info = dict(res) if isinstance(res, Mapping) else {"reason": res}
                rows.append(dict(variable=variable, level=str(level), n=info.get("n"),
                                 events=info.get("events"), estimate=float("nan"),
                                 ci_lower=float("nan"), ci_upper=float("nan"), estimable=False,
                                 reason=info.get("reason") or "not estimable"))
            else:
                lo, hi = res.auc_ci
                rows.append(dict(variable=variable, level=str(level), n=int(res.n),
                                 events=int(res.n_positive), estimate=float(res.auc),
                                 ci_lower=float(lo), ci_upper=float(hi), estimable=True, reason=""))
    return _complete(pd.DataFrame(rows, columns=ROW_COLUMNS[:-1]))


def _complete(frame: pd.DataFrame) -> pd.DataFrame:
    for col in ("variable", "level", "estimate", "ci_lower", "ci_upper"):
        if col not in frame:
            raise ValueError(f"forest rows need a {col!r} column; got {', '.join(map(str, frame.columns))}")
    frame = frame.copy()
    if "n" not in frame:
        frame["n"] = np.nan
    if "events" not in frame:
        frame["events"] = np.nan
    if "estimable" not in frame:
        frame["estimable"] = frame["estimate"].map(is_finite)
    frame["estimable"] = frame["estimable"].astype(bool) & frame["estimate"].map(is_finite)
    if "reason" not in frame:
        frame["reason"] = ""
    frame["reason"] = frame["reason"].fillna("").astype(str)
    if "interaction_p_value" not in frame:
        frame["interaction_p_value"] = np.nan
    frame["variable"] = frame["variable"].astype(str)
    frame["level"] = frame["level"].astype(str)
    return frame[ROW_COLUMNS + [c for c in frame.columns if c not in ROW_COLUMNS]]


def _count(v) -> str:
    return f"{int(v):,}" if is_finite(v) else ""


def _forest(frame: pd.DataFrame, *, reference: float, log_x: bool, x_label: str,
            estimate_header: str, events_header: str, title: str,
            interaction: bool) -> go.Figure:
    y, labels, kinds = [], [], []
    pos = 0
    variables = list(dict.fromkeys(frame["variable"]))
    header_rows = []
    for variable in variables:
        part = frame[frame["variable"] == variable]
        header_rows.append((pos, variable, part["interaction_p_value"].iloc[0]))
        labels.append(f"<b>{variable}</b>")
        kinds.append(None)
        y.append(pos)
        pos -= 1
        for _, row in part.iterrows():
            labels.append(f"{INDENT}{row['level']}")
            kinds.append(row)
            y.append(pos)
            pos -= 1
    # traces and layout as plain data, made into a figure once (one validation)
    traces, annotations = [], []
    ok = frame[frame["estimable"]]
    n_max = float(np.nanmax(frame["n"].to_numpy(float))) if frame["n"].notna().any() else 1.0
    level_y = [yy for yy, k in zip(y, kinds) if k is not None]
    level_rows = [k for k in kinds if k is not None]
    for i, variable in enumerate(variables):
        ys = [yy for yy, r in zip(level_y, level_rows) if r["variable"] == variable and r["estimable"]]
        rows = [r for r in level_rows if r["variable"] == variable and r["estimable"]]
        if not rows:
            continue
        est = np.array([r["estimate"] for r in rows], float)
        lo = np.array([r["ci_lower"] for r in rows], float)
        hi = np.array([r["ci_upper"] for r in rows], float)
        size = [7 + 9 * math.sqrt(float(r["n"]) / n_max) if is_finite(r["n"]) and n_max > 0 else 10
                for r in rows]
        traces.append(dict(
            type="scatter", x=est, y=ys, mode="markers", name=variable, showlegend=False,
            marker=dict(symbol="square", size=size, color=color(0), opacity=1),
            error_x=dict(type="data", symmetric=False, array=np.clip(hi - est, 0, None),
                         arrayminus=np.clip(est - lo, 0, None), thickness=1.6, width=0,
                         color=color(0)),
            customdata=np.column_stack([[r["level"] for r in rows], lo, hi]),
            hovertemplate=(f"{variable}: %{{customdata[0]}}<br>{estimate_header.split(' ')[0]} "
                           "%{x:.2f} [%{customdata[1]:.2f}–%{customdata[2]:.2f}]<extra></extra>"),
        ))
    # text columns on a second x axis to the right of the plot, laid out in pixels
    n_text, ev_text, est_text, note_y, note_text = [], [], [], [], []
    for yy, k in zip(y, kinds):
        if k is None:
            n_text.append("")
            ev_text.append("")
            est_text.append("")
            continue
        n_text.append(_count(k["n"]))
        ev_text.append(_count(k["events"]))
        if k["estimable"]:
            est_text.append(format_estimate(k["estimate"], k["ci_lower"], k["ci_upper"]))
        else:
            est_text.append("–")
            note_y.append(yy)
            note_text.append(f"not estimable ({k['reason'] or 'too few patients'})")
    columns = [("n", n_text), (events_header, ev_text), (estimate_header, est_text)]
    x_px, lefts = 0.0, []
    for head, texts in columns:
        lefts.append(x_px)
        x_px += max([len(head)] + [len(t) for t in texts]) * CHAR_PX + COLUMN_GAP_PX
    text_px = x_px
    for left, (head, texts) in zip(lefts, columns):
        traces.append(dict(type="scatter", x=[left] * len(y), y=y, text=texts, mode="text",
                           xaxis="x2", textposition="middle right", showlegend=False,
                           hoverinfo="skip", textfont=dict(size=TEXT_SIZE), cliponaxis=False))
        annotations.append(dict(text=f"<b>{head}</b>", xref="x2", yref="paper", x=left, y=1.0,
                                xanchor="left", yanchor="bottom", showarrow=False,
                                font=dict(size=TEXT_SIZE)))
    if interaction:
        p_text = [f"<i>interaction {format_p(p)}</i>" if is_finite(p) else "" for _, _, p in header_rows]
        traces.append(dict(type="scatter", x=[0.0] * len(header_rows),
                           y=[h[0] for h in header_rows], text=p_text, mode="text", xaxis="x2",
                           textposition="middle right", showlegend=False, hoverinfo="skip",
                           cliponaxis=False, textfont=dict(size=TEXT_SIZE, color=AXIS_COLOR)))
    # axis ranges
    finite = np.concatenate([ok["ci_lower"].to_numpy(float), ok["ci_upper"].to_numpy(float),
                             ok["estimate"].to_numpy(float), [reference]])
    finite = finite[np.isfinite(finite)]
    if log_x:
        finite = finite[finite > 0]
        lo_v, hi_v = float(finite.min()), float(finite.max())
        lo_v, hi_v = max(lo_v, 1e-3), min(hi_v, 1e3)
        span = [math.log10(lo_v / 1.25), math.log10(hi_v * 1.25)]
        nice = [v for v in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10, 20,
                            50, 100) if span[0] <= math.log10(v) <= span[1]]
        if len(nice) < 4:
            nice = sorted(set(nice) | {v for v in (0.6, 0.8, 1.25, 1.6)
                                       if span[0] <= math.log10(v) <= span[1]})
        xaxis = dict(type="log", range=span, tickvals=nice, ticktext=[f"{v:g}" for v in nice])
    else:
        lo_v, hi_v = float(finite.min()), float(finite.max())
        pad = 0.05 * max(hi_v - lo_v, 0.1)
        xaxis = dict(range=[lo_v - pad, hi_v + pad])
    shapes = [dict(type="line", x0=reference, x1=reference, xref="x", yref="paper", y0=0, y1=1,
                   line=dict(color=REFERENCE_COLOR, dash=REFERENCE_DASH, width=1.4))]
    for yy, text in zip(note_y, note_text):
        annotations.append(dict(text=f"<i>{text}</i>", xref="x domain", yref="y", x=0.5, y=yy,
                                showarrow=False, bgcolor="white",
                                font=dict(size=TEXT_SIZE - 1, color=AXIS_COLOR)))
    split = min(max(1.0 - text_px / ASSUMED_AXES_PX, 0.3), 0.7)
    layout = dict(
        xaxis=dict(xaxis, domain=[0, split - 0.02], title=dict(text=x_label), showgrid=True),
        xaxis2=dict(domain=[split, 1.0], range=[-4, text_px], visible=False, fixedrange=True),
        yaxis=dict(tickvals=y, ticktext=labels, range=[pos + 0.4, 0.7], showgrid=False,
                   showline=False, ticks="", fixedrange=True),
        annotations=annotations, shapes=shapes, margin=dict(t=90, l=20), hovermode="closest",
    )
    fig = figure_of(traces, layout)
    apply_house_style(fig, title=title, height=int(150 + 27 * len(y)))
    fig.update_layout(margin=dict(t=90, l=20))
    return fig


def make_forest_figure(rows, *, x_label: str = "HR (predicted responders vs non-responders)",
                       log_x: bool = True, title: str = "",
                       estimate_header: str = "HR (95% CI)") -> go.Figure:
    """Hazard ratio with 95% CI per subgroup level, grouped under each subgroup variable.

    ``rows``: a frame (variable, level, n, events, hr or estimate, ci_lower,
    ci_upper, estimable, reason, interaction_p_value) or ``{variable: subgroup
    result}``. Non-estimable levels stay in the plot as "not estimable
    (reason)"; the interaction p-value is given per variable; the dotted line
    marks HR = 1 on a log axis.
    """
    frame = forest_rows(rows)
    return _forest(frame, reference=1.0, log_x=log_x, x_label=x_label,
                   estimate_header=estimate_header, events_header="Events", title=title,
                   interaction=True)


def make_auc_forest_figure(rows, *, x_label: str = "AUC (95% CI, DeLong)", title: str = "",
                           events_header: str = "Responders") -> go.Figure:
    """AUC with 95% CI per subgroup level; the dotted line marks chance (AUC 0.5).

    ``rows``: a frame (variable, level, n, events, auc or estimate, ci_lower,
    ci_upper, estimable, reason) or ``{variable: {level: ROC result or reason}}``.
    """
    if isinstance(rows, pd.DataFrame):
        frame = rows.rename(columns={"auc": "estimate"}) if "estimate" not in rows else rows
        frame = _complete(frame)
    else:
        frame = auc_rows(rows)
    return _forest(frame, reference=0.5, log_x=False, x_label=x_label,
                   estimate_header="AUC (95% CI)", events_header=events_header, title=title,
                   interaction=False)
