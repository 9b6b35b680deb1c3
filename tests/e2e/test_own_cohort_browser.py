"""The colon trial (a centre's own cohort) in a real browser: its treatment arm filters
the cohort (the count checked against pandas on the CSV, the filter in the link), and
the sidebar offers no control for a column the cohort does not record."""
from __future__ import annotations

import re
import urllib.parse

import pandas as pd
import pytest

from crlm.store import Store, load_recorded_columns
from tests.e2e.conftest import choose_option, screenshot, serve_app, wait_idle
from tests.own_cohorts import (
    COLON_CSV, FILTER_COLUMNS, PASSWORD, add_clinician, build_colon_store, label,
)

pytestmark = pytest.mark.e2e
SIDEBAR = '[data-testid="stSidebar"]'


def _matching(page) -> int:
    metric = page.locator(f'{SIDEBAR} [data-testid="stMetric"]').filter(
        has_text="Patients matching")
    return int(re.sub(r"[^0-9]", "", metric.locator('[data-testid="stMetricValue"]').inner_text()))


def _wait_matching(page, n: int) -> None:
    page.wait_for_function(
        "n => [...document.querySelectorAll('[data-testid=stSidebar] [data-testid=stMetricValue]')]"
        ".some(e => parseInt(e.innerText.replace(/[^0-9]/g, '')) === n)", arg=n, timeout=90_000)
    wait_idle(page)


def test_the_colon_trials_arm_filters_the_cohort_in_the_browser(tmp_path_factory, page):
    root = tmp_path_factory.mktemp("colon_browser")
    store = build_colon_store(root)
    with Store(store, create=False) as s:
        unrecorded = [c for c in FILTER_COLUMNS
                      if c not in load_recorded_columns(s, "colon", FILTER_COLUMNS)]
    env = {"CRLM_DEMO_MODE": "", "CRLM_USERS": str(add_clinician(root))}
    csv = pd.read_csv(COLON_CSV)
    with serve_app(store, tmp_path_factory.mktemp("colon_server"), env=env) as served:
        page.goto(f"{served.url}/?cohort=colon")
        page.get_by_role("textbox", name="User name").fill("cara")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Signed in as").first.wait_for(timeout=90_000)
        _wait_matching(page, len(csv))

        labels = page.locator(f'{SIDEBAR} [data-testid="stWidgetLabel"]').all_inner_texts()
        assert labels, "no sidebar control drawn"
        for column in unrecorded:
            assert not any(text.strip().startswith(label(column)) for text in labels), column
        assert page.locator(SIDEBAR).get_by_text("Not recorded in this cohort").is_visible()

        wait_idle(page)
        page.locator(SIDEBAR).get_by_text("This cohort's own variables").click()
        arm = page.locator(f'{SIDEBAR} [data-testid="stMultiSelect"]').filter(
            has_text="Treatment arm")
        arm.wait_for(state="visible", timeout=60_000)
        arm.scroll_into_view_if_needed()   # its list opens only when it is on screen
        choose_option(page, arm, "Lev+5FU")
        expected = int((csv["rx"] == "Lev+5FU").sum())
        _wait_matching(page, expected)
        assert _matching(page) == expected == 304
        query = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
        assert query.get("extra:rx") == ["Lev+5FU"], page.url
        headline = page.locator('[data-testid="stMain"] [data-testid="stMetric"]').filter(
            has_text="Patients").first
        assert headline.locator('[data-testid="stMetricValue"]').inner_text() == "304"
        screenshot(page, "colon_arm_filter", tmp_path_factory.mktemp("shots"))
