"""Trajectories and the waterfall in a real browser: both draw, and the waterfall's PNG and
CSV download (on a store of its own: a small synthetic cohort with measurements)."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshot, serve_app, wait_for_app, wait_idle

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def trajectory_store(tmp_path_factory):
    from crlm import store as st
    from crlm.ingest.demo_images import write_demo_cohort

    path = tmp_path_factory.mktemp("trajectory_browser_store") / "crlm.duckdb"
    store = st.Store(path)
    write_demo_cohort(store, 300, 13, images=False)
    store.close()
    return path


def test_trajectories_and_waterfall_draw_and_export(trajectory_store, tmp_path_factory, page,
                                                    tmp_path):
    with serve_app(trajectory_store, tmp_path_factory.mktemp("trajectory_server")) as served:
        page.goto(served.url)
        wait_for_app(page)
        heading = page.get_by_role("heading", name="Over time")
        heading.scroll_into_view_if_needed()
        wait_idle(page)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
            ".some(e => e.textContent.includes('waterfall'))", timeout=90_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
            ".some(e => e.textContent.includes('over the first year'))", timeout=90_000)
        # the waterfall's bars are drawn (one path per bar)
        bars = page.locator(".js-plotly-plot").filter(has_text="waterfall").locator(
            ".barlayer path")
        assert bars.count() > 100
        csv_buttons = page.get_by_role("button", name="CSV", exact=True)
        png_buttons = page.get_by_role("button", name="PNG", exact=True)
        with page.expect_download(timeout=60_000) as got:
            csv_buttons.last.click()
        text = open(got.value.path(), encoding="utf-8").read()
        assert text.splitlines()[0].startswith("rank,patient_id,baseline_sum_cm,best_change_pct")
        with page.expect_download(timeout=120_000) as got:
            png_buttons.last.click()
        assert open(got.value.path(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
        assert got.value.suggested_filename.startswith("waterfall")
        shot = screenshot(page, "trajectories", tmp_path)
        assert shot.stat().st_size > 10_000
