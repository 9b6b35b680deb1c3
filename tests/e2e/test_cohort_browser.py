"""The Cohort page in a real browser: charts draw, a filter changes the count."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.e2e.conftest import choose_option, screenshot, serve_app, wait_for_app, wait_for_plots

pytestmark = pytest.mark.e2e


def _matching(page) -> int:
    metric = page.locator('[data-testid="stSidebar"] [data-testid="stMetric"]').filter(
        has_text="Patients matching")
    text = metric.locator('[data-testid="stMetricValue"]').inner_text()
    return int(re.sub(r"[^0-9]", "", text))


def test_cohort_page_renders_and_filter_changes_count(app_url, page, tmp_path):
    page.goto(app_url)
    wait_for_app(page)
    assert page.get_by_text("Synthetic demo cohort").first.is_visible()
    before = _matching(page)
    assert before == 600
    wait_for_plots(page, 4)

    sex = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').filter(has_text="Sex")
    choose_option(page, sex, "female")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stSidebar] [data-testid=stMetricValue]')]"
        ".some(e => parseInt(e.innerText.replace(/[^0-9]/g, '')) < 600)")
    after = _matching(page)
    assert 0 < after < before
    assert "sex=female" in page.url  # the view is reproducible from the link
    wait_for_app(page)
    # the first distribution's data, made on the click from the filtered rows
    button = page.locator('[data-testid="stDownloadButton"]').filter(
        has=page.get_by_role("button", name="CSV", exact=True)).first
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=90_000) as info:
        button.locator("button").click()
    info.value.save_as(tmp_path / "age.csv")
    ages = pd.read_csv(tmp_path / "age.csv")
    assert list(ages.columns) == ["age_years"] and len(ages) == after
    shot = screenshot(page, "cohort", tmp_path)
    assert shot.stat().st_size > 10_000


def test_a_link_to_a_page_opens_it_inside_the_app_on_a_fresh_server(
        demo_store_path, tmp_path_factory, page):
    """The first request of a new server names a page and a filter: the page runs inside
    app.py (sidebar filter, navigation) with the link's filter applied."""
    with serve_app(demo_store_path, tmp_path_factory.mktemp("fresh")) as served:
        page.goto(f"{served.url}/survival?ras_status=mutant")
        wait_for_app(page)
        assert page.get_by_role("heading", name="Survival").first.is_visible()
        assert 0 < _matching(page) < 600
        nav = page.locator('[data-testid="stTopNavLink"]')
        names = {t.strip().split("\n")[-1] for t in nav.all_inner_texts()}
        assert {"Cohort", "Models", "Survival", "Subgroups", "Score a case"} <= names, names
        nav.filter(has_text="Models").click()
        page.get_by_role("heading", name="Models").first.wait_for()
        wait_for_app(page)
        assert "ras_status=mutant" in page.url and 0 < _matching(page) < 600
        assert "ras_status=mutant" in page.url
