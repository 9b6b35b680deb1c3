"""Export through the real renderer (kaleido + Debian chromium), CSV safety, file names."""
from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from crlm import stats
from crlm.figures import (
    export_figure, figure_data_csv, make_km_figure, plotly_config, prepare_for_export,
    safe_filename,
)
from crlm.figures.export import chromium_path

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="figure export needs chromium")


@pytest.fixture(scope="module")
def km_figure():
    rng = np.random.default_rng(0)
    t = rng.exponential(30, 400)
    e = rng.random(400) < 0.7
    g = np.where(rng.random(400) < 0.5, "responder", "non-responder")
    return make_km_figure(stats.kaplan_meier_by(t, e, g), title="Overall survival")


CAPTION = "cohort demo; RAS status: mutant; n = 400; 2026-03-01"


def test_png_is_300_dpi_at_seven_inches(km_figure):
    data = export_figure(km_figure, "png", title="OS by prediction", caption=CAPTION)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 2100 and height > 1000


def test_svg_parses_and_carries_title_and_caption(km_figure):
    data = export_figure(km_figure, "svg", title="OS by prediction", caption=CAPTION)
    root = ET.fromstring(data)
    assert root.tag.endswith("svg")
    assert any(True for _ in root.iter("{http://www.w3.org/2000/svg}path"))
    text = data.decode("utf-8")
    assert "OS by prediction" in text
    assert "RAS status: mutant" in text


def test_pdf_starts_with_the_pdf_header(km_figure):
    data = export_figure(km_figure, "pdf", title="t", caption=CAPTION)
    assert data.startswith(b"%PDF")
    assert b"%%EOF" in data[-64:]


def test_export_leaves_the_figure_alone_and_refuses_unknown_formats(km_figure):
    before = km_figure.to_json()
    copy = prepare_for_export(km_figure, title="New title", caption=CAPTION)
    assert km_figure.to_json() == before
    assert copy.layout.title.text == "New title"
    assert any(a.text == CAPTION for a in copy.layout.annotations)
    with pytest.raises(ValueError, match="format"):
        export_figure(km_figure, "eps")


def test_csv_neutralises_formula_cells():
    frame = pd.DataFrame({"name": ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "plain", None],
                          "value": [1.0, -2.0, 3.0, 4.0, 5.0, 6.0]})
    data = figure_data_csv(frame)
    back = pd.read_csv(io.BytesIO(data))
    assert back["name"].tolist()[:5] == ["'=HYPERLINK(\"x\")", "'+1", "'-2", "'@SUM(A1)", "plain"]
    assert back["value"].tolist() == [1.0, -2.0, 3.0, 4.0, 5.0, 6.0]  # numbers stay numbers
    assert figure_data_csv(None) == b"\n"


def test_safe_filename_keeps_only_safe_characters():
    name = safe_filename("km os", "../../etc/passwd", "RAS: mutant/é", "2026-03-01")
    assert set(name) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
    assert "/" not in name and not name.startswith(".")
    assert safe_filename("", "///") == "figure"


def test_plotly_config_names_the_toolbar_download():
    cfg = plotly_config("roc response/external")
    assert cfg["toImageButtonOptions"]["filename"] == "roc-response-external"
    assert cfg["toImageButtonOptions"]["scale"] >= 3
    assert cfg["displaylogo"] is False
