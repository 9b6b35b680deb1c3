"""One CT slice with the lesion region drawn on it."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import plotly.graph_objects as go

from crlm.figures.style import OKABE_ITO, apply_house_style

CT_WINDOW_HU = (-160.0, 240.0)  # abdominal soft-tissue window (centre 40, width 400)
MAX_SIDE_PX = 256


def make_ct_slice_figure(slice_hu: np.ndarray, region: Mapping | None = None, *,
                         window_hu: tuple[float, float] = CT_WINDOW_HU, title: str = "",
                         mask: np.ndarray | None = None, height: int = 460) -> go.Figure:
    """A CT slice (HU ``[y, x]``) in grey at ``window_hu``, with the lesion region.

    ``region`` is ``{"centre_yx": (row, column), "radius_px": r}`` (a circle is
    drawn) and/or ``mask`` a boolean ``[y, x]`` outline (its pixels are tinted).
    Slices larger than 256 pixels a side are shown subsampled; coordinates on the
    axes stay those of the full image.
    """
    image = np.asarray(slice_hu, dtype=float)
    if image.ndim != 2:
        raise ValueError(f"a CT slice is 2-D [y, x], got shape {image.shape}")
    ny, nx = image.shape
    step = max(1, int(np.ceil(max(ny, nx) / MAX_SIDE_PX)))
    lo, hi = window_hu
    grey = np.clip((image[::step, ::step] - lo) / (hi - lo), 0.0, 1.0) * 255.0
    ys = np.arange(0, ny, step)
    xs = np.arange(0, nx, step)
    fig = go.Figure(go.Heatmap(
        z=grey, x=xs, y=ys, colorscale="Greys_r", zmin=0, zmax=255, showscale=False,
        customdata=image[::step, ::step],
        hovertemplate="row %{y}, column %{x}: %{customdata:.0f} HU<extra></extra>",
    ))
    colour = OKABE_ITO["vermillion"]
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != image.shape:
            raise ValueError(f"mask shape {m.shape} differs from the slice {image.shape}")
        rows, cols = np.nonzero(m[::step, ::step])
        if len(rows):
            fig.add_trace(go.Scatter(x=xs[cols], y=ys[rows], mode="markers",
                                     marker=dict(color=colour, size=3, opacity=0.35),
                                     hoverinfo="skip", showlegend=False, name="lesion mask"))
    if region and region.get("centre_yx") is not None and region.get("radius_px"):
        cy, cx = (float(v) for v in region["centre_yx"])
        r = float(region["radius_px"])
        fig.add_shape(type="circle", x0=cx - r, x1=cx + r, y0=cy - r, y1=cy + r,
                      line=dict(color=colour, width=2.5))
    fig.update_xaxes(range=[-0.5, nx - 0.5], showgrid=False, zeroline=False, title_text="column")
    fig.update_yaxes(range=[ny - 0.5, -0.5], showgrid=False, zeroline=False, title_text="row",
                     scaleanchor="x", scaleratio=1)
    apply_house_style(fig, title=title, height=height)
    return fig
