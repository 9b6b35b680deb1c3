"""The Clusters page in a real browser: the heatmap, the Kaplan–Meier curves and the
dendrogram draw, the stability is shown, and the profile CSV downloads."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import wait_for_app, wait_for_plots

pytestmark = pytest.mark.e2e


def test_clusters_page_draws_and_exports(app_url, page, tmp_path):
    page.goto(f"{app_url}/clusters")
    wait_for_app(page)
    wait_for_plots(page, 3)
    assert page.get_by_role("heading", name="Clusters").first.is_visible()
    assert page.get_by_text("Stability (bootstrap adjusted Rand)").first.is_visible()
    assert not page.locator('[data-testid="stException"]').count()
    button = page.locator('[data-testid="stDownloadButton"]').filter(has_text="CSV").first
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=90_000) as info:
        button.locator("button").click()
    path = tmp_path / "profiles.csv"
    info.value.save_as(path)
    text = path.read_text()
    assert "Cluster 1" in text
