"""The house style of every figure: white, readable at slide and print size, colour-blind safe.

Colours are the Okabe–Ito palette (ordered so that the first colours read well
as lines on white); clinical baselines are drawn dashed, reference lines
dotted grey. ``apply_house_style`` puts a figure into this style.
"""
from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

# Okabe & Ito (2008) colour-blind-safe palette, yellow last (weak on white).
OKABE_ITO = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "bluish_green": "#009E73",
    "orange": "#E69F00",
    "reddish_purple": "#CC79A7",
    "sky_blue": "#56B4E9",
    "black": "#000000",
    "yellow": "#F0E442",
}
PALETTE: tuple[str, ...] = tuple(OKABE_ITO.values())
REFERENCE_COLOR = "#888888"   # chance diagonal, HR = 1, treat-none ...
TEXT_COLOR = "#222222"
AXIS_COLOR = "#444444"
GRID_COLOR = "#EEEEEE"
BASELINE_DASH = "dash"        # clinical baselines (Fong score, TBS, CEA)
REFERENCE_DASH = "dot"
FONT_FAMILY = "Arial, Helvetica, 'Liberation Sans', sans-serif"
FONT_SIZE = 14
LINE_WIDTH = 2.2
TEMPLATE_NAME = "crlm"


def color(i: int) -> str:
    """The i-th colour of the palette (cycling)."""
    return PALETTE[i % len(PALETTE)]


def with_alpha(hex_color: str, alpha: float) -> str:
    """``#RRGGBB`` as an ``rgba(...)`` string with the given opacity."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[k:k + 2], 16) for k in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha:g})"


def _axis() -> dict:
    return dict(
        showline=True, linewidth=1, linecolor=AXIS_COLOR, mirror=False,
        ticks="outside", ticklen=4, tickwidth=1, tickcolor=AXIS_COLOR,
        showgrid=True, gridcolor=GRID_COLOR, gridwidth=1, zeroline=False,
        title=dict(font=dict(size=FONT_SIZE + 1)), automargin=True,
    )


def _template() -> go.layout.Template:
    layout = go.Layout(
        font=dict(family=FONT_FAMILY, size=FONT_SIZE, color=TEXT_COLOR),
        title=dict(font=dict(size=FONT_SIZE + 4), x=0.0, xanchor="left", xref="paper"),
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=list(PALETTE),
        xaxis=_axis(),
        yaxis=_axis(),
        legend=dict(bgcolor="rgba(255,255,255,0.85)", bordercolor="rgba(0,0,0,0)",
                    font=dict(size=FONT_SIZE - 1)),
        hoverlabel=dict(font=dict(family=FONT_FAMILY, size=FONT_SIZE - 1)),
        margin=dict(l=70, r=30, t=60, b=60),
        annotationdefaults=dict(font=dict(size=FONT_SIZE - 1, color=TEXT_COLOR)),
    )
    data = go.layout.template.Data(
        scatter=[go.Scatter(line=dict(width=LINE_WIDTH))],
    )
    return go.layout.Template(layout=layout, data=data)


TEMPLATE = _template()
pio.templates[TEMPLATE_NAME] = TEMPLATE


# plotly checks every property of a figure as it is built (about a sixth of an analysis
# page's time). The builders that make their traces and layout as plain data build the
# same kinds of dicts for every cohort; tests build each of them with the checks on
# (``VALIDATE = True``) and find the same figure (tests/unit/test_figures_oneshot.py).
VALIDATE = False


def figure_of(data: list, layout: dict) -> go.Figure:
    """The figure of plain trace and layout dicts, built once (checked where ``VALIDATE``)."""
    return go.Figure(data=data, layout=layout, _validate=VALIDATE)


def apply_house_style(fig: go.Figure, *, title: str | None = None,
                      height: int | None = None) -> go.Figure:
    """Give ``fig`` the house template (and optionally a title and height); returns ``fig``."""
    fig.update_layout(template=TEMPLATE)
    if title is not None:
        fig.update_layout(title=dict(text=title))
    if height is not None:
        fig.update_layout(height=int(height))
    return fig
