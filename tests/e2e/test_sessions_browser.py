"""Sign-in in a real browser: the session cookie (reload, new tab, sign-out) and the
return to the page a shared link named; links to the Cohort page by name and links with
dates outside the date pickers' range."""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import serve_app, wait_idle

pytestmark = pytest.mark.e2e

PASSWORD = "viewer-password-1"
LINK = "/survival?fong_score=0..1"


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    from crlm.cli import main

    path = tmp_path_factory.mktemp("sessions_store") / "crlm.duckdb"
    assert main(["--db", str(path), "-q", "demo", "--no-train", "--patients", "200",
                 "--seed", "5", "--no-imaging"]) == 0
    return path


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    from crlm import auth

    path = tmp_path_factory.mktemp("sessions_users") / "users.toml"
    auth.add_user(path, "vera", "viewer", PASSWORD)
    return path


def _env(users_file) -> dict:
    return {"CRLM_DEMO_MODE": "", "CRLM_USERS": str(users_file)}


def _sign_in(page, name: str, password: str) -> None:
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _shown(page) -> str:
    """'form' or 'signed in', once the page shows one of them."""
    page.wait_for_function(
        "() => document.querySelector('input[type=password]')"
        " || document.body.innerText.includes('Signed in as')", timeout=90_000)
    wait_idle(page)
    return "form" if page.locator("input[type=password]").count() else "signed in"


def _signed_in(page) -> bool:
    return _shown(page) == "signed in"


def _shows_form(page) -> bool:
    return _shown(page) == "form"


def _session_cookies(context) -> list[dict]:
    return [c for c in context.cookies() if c["name"] == "crlm_session"]


def test_a_sign_in_lasts_across_reloads_and_tabs_until_sign_out(
        small_store, users_file, tmp_path_factory, browser):
    with serve_app(small_store, tmp_path_factory.mktemp("sessions_server"),
                   env=_env(users_file), script="serve.py") as served:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(served.url + LINK)
        assert _shows_form(page)
        _sign_in(page, "vera", PASSWORD)
        # back on the linked page, with its filter
        page.wait_for_url(re.compile(r"/survival\?.*fong_score=0\.\.1"))
        page.get_by_role("heading", name="Survival").first.wait_for()
        assert _signed_in(page)

        [cookie] = _session_cookies(context)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert 11 * 3600 < cookie["expires"] - __import__("time").time() <= 12 * 3600 + 60
        assert "crlm_session" not in page.evaluate("document.cookie")  # scripts cannot read it

        page.reload()
        assert _signed_in(page) and not _shows_form(page)
        tab = context.new_page()
        tab.set_default_timeout(60_000)
        tab.goto(served.url + "/cohort?sex=female")  # the Cohort page's own link
        assert _signed_in(tab)
        tab.get_by_role("heading", name="Cohort").first.wait_for()
        assert tab.get_by_text("Page not found").count() == 0
        assert "sex=female" in tab.url

        # a forged cookie and a copy of the real one taken before signing out
        other = browser.new_context()
        forged = dict(cookie, value=cookie["value"][:-3] + "xyz")
        other.add_cookies([forged])
        stranger = other.new_page()
        stranger.set_default_timeout(60_000)
        stranger.goto(served.url + "/")
        assert _shows_form(stranger)

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(re.compile(re.escape(served.url) + r"/?$"))
        assert _shows_form(page)
        assert not _session_cookies(context)
        tab.reload()
        assert _shows_form(tab)
        other.clear_cookies()
        other.add_cookies([cookie])
        stranger.goto(served.url + "/")
        assert _shows_form(stranger)
        other.close()
        context.close()
    log = served.log.read_text()
    assert "Traceback" not in log, log[-3000:]


def test_without_the_cookie_routes_a_sign_in_still_returns_to_the_linked_page(
        small_store, users_file, tmp_path_factory, page):
    with serve_app(small_store, tmp_path_factory.mktemp("plain_server"),
                   env=_env(users_file)) as served:
        page.goto(served.url + LINK)
        assert _shows_form(page)
        _sign_in(page, "vera", PASSWORD)
        page.wait_for_url(re.compile(r"/survival\?.*fong_score=0\.\.1"))
        page.get_by_role("heading", name="Survival").first.wait_for()
        assert _signed_in(page)
        assert not _session_cookies(page.context)  # this server sets none: the tab holds it
    assert "Traceback" not in served.log.read_text()


@pytest.fixture(scope="module")
def demo_server(small_store, tmp_path_factory):
    with serve_app(small_store, tmp_path_factory.mktemp("demo_server")) as served:
        yield served
    assert "Traceback" not in served.log.read_text(), served.log.read_text()[-3000:]


def test_the_cohort_pages_own_link_opens_it(demo_server, page):
    page.goto(demo_server.url + "/cohort?sex=female")
    wait_idle(page)
    page.get_by_role("heading", name="Cohort").first.wait_for()
    assert page.get_by_text("Page not found").count() == 0
    assert "sex=female" in page.url


@pytest.mark.parametrize("link, heading, word", [
    ("/?from=1989-12-31", "Cohort", "from"),
    ("/survival?to=2101-01-01", "Survival", "to"),
])
def test_a_date_outside_the_pickers_range_is_reported_not_a_traceback(demo_server, page, link,
                                                                      heading, word):
    page.goto(demo_server.url + link)
    wait_idle(page)
    page.get_by_role("heading", name=heading).first.wait_for()
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text(f"Ignored the link's filter: {word}:").wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in demo_server.log.read_text()


def test_link_text_in_a_message_is_shown_as_typed_not_as_a_link(demo_server, page):
    page.goto(demo_server.url + "/?sex=[here](http://evil.example/x)&see_www.evil.example=1")
    wait_idle(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Ignored the link's parameter").wait_for()
    sidebar.get_by_text("[here](http://evil.example/x)").wait_for()
    assert sidebar.locator("a[href*='evil']").count() == 0
    assert page.locator("a[href*='evil']").count() == 0
