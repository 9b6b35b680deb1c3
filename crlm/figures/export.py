"""Exporting figures (PNG / SVG / PDF through kaleido and Chromium) and the data behind them (CSV).

One Chromium renderer is started on the first export of a process and kept
warm, so later exports take a fraction of a second. Every exported file
carries its title and a caption line (the cohort filter in words, n, date),
added to a copy of the figure. PNGs are 7 inches wide at 300 dpi (2,100 px).
"""
from __future__ import annotations

import copy
import os
import re
import shutil
import textwrap
import threading
import warnings
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from crlm.figures.style import AXIS_COLOR, FONT_SIZE, apply_house_style
from crlm.privacy import csv_bytes

FORMATS = ("png", "svg", "pdf")
WIDTH_IN = 7.0
PX_PER_IN = 100          # layout pixels per inch of the exported page
PNG_DPI = 300
DEFAULT_HEIGHT_PX = 500
CAPTION_WIDTH_CHARS = 110
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

_lock = threading.Lock()
_server_started = False


class ExportError(RuntimeError):
    """The renderer could not produce the file; the message says why."""


def chromium_path() -> str | None:
    """The browser kaleido drives: ``BROWSER_PATH`` if set, else Debian's chromium."""
    env = os.environ.get("BROWSER_PATH")
    if env and Path(env).exists():
        return env
    for cand in CHROMIUM_CANDIDATES:
        if Path(cand).exists():
            return cand
    found = shutil.which("chromium")
    return found


def _start_renderer(restart: bool = False) -> None:
    """Start kaleido's process-wide renderer once, through its public API; ``restart``
    stops it first (after a render failed, e.g. because its browser died)."""
    global _server_started
    import kaleido

    if _server_started and not restart:
        return
    if restart:
        kaleido.stop_sync_server(silence_warnings=True)
        _server_started = False
    path = chromium_path()
    if path is None:
        raise ExportError("no Chromium found for figure export (install Debian's chromium "
                          "or set BROWSER_PATH)")
    kaleido.start_sync_server(path=path, mathjax=False, silence_warnings=True)
    _server_started = True


def _render(out: go.Figure, fmt: str, width: int, height: int, scale: float) -> bytes:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The kopts argument is ignored")
        return out.to_image(format=fmt, width=width, height=height, scale=scale)


def _wrap(text: str) -> str:
    return "<br>".join(textwrap.wrap(text, CAPTION_WIDTH_CHARS)) if text else ""


def prepare_for_export(fig: go.Figure, *, title: str = "", caption: str = "") -> go.Figure:
    """A copy of ``fig`` with the title on top and the caption line at the bottom (taller by the caption)."""
    out = go.Figure(copy.deepcopy(fig.to_dict()))
    apply_house_style(out)
    margin = out.layout.margin
    top = margin.t if margin.t is not None else 60
    bottom = margin.b if margin.b is not None else 60
    if title:
        out.update_layout(title=dict(text=title, x=0.0, xanchor="left", xref="paper"))
        top = max(top, 70)
    extra = 0
    if caption:
        wrapped = _wrap(caption)
        lines = wrapped.count("<br>") + 1
        extra = 14 + 16 * lines
        out.add_annotation(text=wrapped, xref="paper", yref="paper", x=0, y=0,
                           xanchor="left", yanchor="bottom", align="left", showarrow=False,
                           yshift=-(bottom + extra) + 4,
                           font=dict(size=FONT_SIZE - 4, color=AXIS_COLOR), name="caption")
    height = (out.layout.height or DEFAULT_HEIGHT_PX) + extra + max(top - (margin.t or 60), 0)
    out.update_layout(margin=dict(t=top, b=bottom + extra), height=height)
    return out


def export_figure(fig: go.Figure, fmt: str, *, title: str = "", caption: str = "",
                  width_in: float = WIDTH_IN, height_px: int | None = None) -> bytes:
    """The figure as PNG (300 dpi at ``width_in``), SVG or PDF bytes, with title and caption."""
    fmt = str(fmt).lower()
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = prepare_for_export(fig, title=title, caption=caption)
    width = int(round(width_in * PX_PER_IN))
    height = int(height_px or out.layout.height)
    out.update_layout(width=width, height=height)
    scale = PNG_DPI / PX_PER_IN if fmt == "png" else 1
    with _lock:
        _start_renderer()
        try:
            try:
                return _render(out, fmt, width, height, scale)
            except Exception:  # noqa: BLE001 - the renderer may have died: restart it once
                _start_renderer(restart=True)
                return _render(out, fmt, width, height, scale)
        except Exception as exc:  # the renderer's own errors carry little context
            raise ExportError(f"could not export the figure as {fmt.upper()}: {exc}") from exc


def figure_data_csv(df: pd.DataFrame | None) -> bytes:
    """The data behind a figure as UTF-8 CSV; text cells that a spreadsheet would run
    as a formula (starting with =, +, -, @, tab, carriage return) get a leading quote."""
    return csv_bytes(df)


def safe_filename(*parts) -> str:
    """Join ``parts`` into a file name of letters, digits, dot, underscore and hyphen only."""
    cleaned = []
    for part in parts:
        text = re.sub(r"[^A-Za-z0-9._-]+", "-", str(part)).strip("-._")
        if text:
            cleaned.append(text)
    name = re.sub(r"-{2,}", "-", "_".join(cleaned))[:150].strip("-._")
    return name or "figure"


def plotly_config(filename: str, *, scale: float = PNG_DPI / PX_PER_IN) -> dict:
    """The interactive chart's config: its toolbar downloads a high-resolution PNG named ``filename``."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": safe_filename(filename),
                                 "scale": scale},
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
    }
