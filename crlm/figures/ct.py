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


def make_lesion_explanation_figure(crops: np.ndarray, weights, occlusion: np.ndarray, *,
                                   patch_px: int, score_kind: str = "score",
                                   window_hu: tuple[float, float] = CT_WINDOW_HU,
                                   title: str = "") -> go.Figure:
    """Each lesion's centre crop slice in grey with its occlusion map over it, titled by
    its weight in the model's pooling. ``crops``: HU ``[n, slices, H, W]``; ``occlusion``:
    ``[n, H / patch_px, W / patch_px]`` (score change when the patch is hidden)."""
    from plotly.subplots import make_subplots

    arr = np.asarray(crops, dtype=float)
    occ = np.asarray(occlusion, dtype=float)
    n = len(arr)
    if occ.shape[0] != n:
        raise ValueError(f"{n} crops but {occ.shape[0]} occlusion maps")
    names = [f"lesion {k + 1}: weight {float(w):.2f}" for k, w in enumerate(weights)]
    fig = make_subplots(rows=1, cols=n, subplot_titles=names, horizontal_spacing=0.04)
    lo, hi = window_hu
    limit = float(np.nanmax(np.abs(occ))) or 1.0
    size = arr.shape[-1]
    centres = (np.arange(occ.shape[-1]) + 0.5) * patch_px - 0.5
    for k in range(n):
        grey = np.clip((arr[k, arr.shape[1] // 2] - lo) / (hi - lo), 0.0, 1.0) * 255.0
        fig.add_trace(go.Heatmap(z=grey, colorscale="Greys_r", zmin=0, zmax=255,
                                 showscale=False, hoverinfo="skip"), row=1, col=k + 1)
        fig.add_trace(go.Heatmap(
            z=occ[k], x=centres, y=centres, colorscale="RdBu_r", zmin=-limit, zmax=limit,
            opacity=0.45, showscale=k == n - 1,
            colorbar=dict(title=dict(text=f"{score_kind}<br>change"), thickness=12),
            hovertemplate=f"hiding this patch lowers the {score_kind} by %{{z:.3f}}"
                          "<extra></extra>"), row=1, col=k + 1)
        fig.update_xaxes(range=[-0.5, size - 0.5], showticklabels=False, row=1, col=k + 1)
        fig.update_yaxes(range=[size - 0.5, -0.5], showticklabels=False, row=1, col=k + 1,
                         scaleanchor=f"x{'' if k == 0 else k + 1}", scaleratio=1)
    apply_house_style(fig, title=title, height=300)
    return fig
