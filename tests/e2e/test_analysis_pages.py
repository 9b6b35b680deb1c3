"""The Models, Survival and Subgroups pages in a real browser: figures draw, and the export
buttons hand over valid SVG and PDF files rendered by the real exporter."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.e2e.conftest import screenshot, wait_for_app, wait_for_plots

pytestmark = pytest.mark.e2e

PAGES = [("models", "Models", 3), ("survival", "Survival", 1), ("subgroups", "Subgroups", 3)]


def _open(page, app_url: str, slug: str, charts: int) -> None:
    page.goto(f"{app_url}/{slug}")
    wait_for_app(page)
    wait_for_plots(page, charts)


def _download(page, label: str, tmp_path, name: str):
    button = page.locator('[data-testid="stDownloadButton"]').filter(has_text=label).first
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=90_000) as info:
        button.locator("button").click()
    path = tmp_path / name
    info.value.save_as(path)
    return info.value.suggested_filename, path.read_bytes()


def test_analysis_pages_render_and_export(app_url, page, tmp_path):
    for slug, title, charts in PAGES:
        _open(page, app_url, slug, charts)
        assert page.get_by_role("heading", name=title).first.is_visible()
        assert page.get_by_text("Synthetic demo cohort").first.is_visible()
        assert not page.locator('[data-testid="stException"]').count()
        if slug == "survival":
            # the Kaplan–Meier figure: curves plus the number-at-risk table
            assert page.locator(".js-plotly-plot").first.get_by_text("Number at risk").count()
            name, svg = _download(page, "SVG", tmp_path, "km.svg")
            assert name.endswith(".svg") and set(name) <= set(
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
            root = ET.fromstring(svg)
            assert root.tag.endswith("svg")
            assert any(True for _ in root.iter("{http://www.w3.org/2000/svg}path"))
            assert b"cohort demo" in svg  # the caption line: filter in words
        if slug == "subgroups":
            name, pdf = _download(page, "PDF", tmp_path, "forest.pdf")
            assert name.endswith(".pdf") and pdf.startswith(b"%PDF")
        shot = screenshot(page, f"analysis_{slug}", tmp_path)
        assert shot.stat().st_size > 10_000
