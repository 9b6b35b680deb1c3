"""The session cookie of local sign-ins (``crlm.sessions``): signed, aged, one-time tickets.

Times are simulated with a clock offset; nothing here waits."""
from __future__ import annotations

import time

import pytest

from crlm import sessions


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def keeper(clock):
    return sessions.SessionKeeper(clock=clock)


def _ticket(keeper, next_path="/survival?fong_score=0..1", bound_to="browser-a"):
    return keeper.issue_ticket("vera", "sid-1", sessions.fingerprint("$argon2id$hash"),
                               next_path, bound_to)


def test_a_ticket_gives_its_cookie_once_and_only_to_its_browser(keeper):
    t = _ticket(keeper)
    assert keeper.redeem_ticket(t, "browser-b") is None  # another browser: refused ...
    t = _ticket(keeper)
    got = keeper.redeem_ticket(t, "browser-a")
    assert got.name == "vera" and got.next_path == "/survival?fong_score=0..1"
    assert keeper.redeem_ticket(t, "browser-a") is None  # ... and each ticket works once
    assert keeper.redeem_ticket("made-up", "browser-a") is None


def test_a_ticket_expires_after_a_minute(keeper, clock):
    t = _ticket(keeper)
    clock.offset = sessions.TICKET_MAX_AGE_S + 1
    assert keeper.redeem_ticket(t, "browser-a") is None


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example/x",
                                       "/\\evil.example", "javascript:alert(1)", "/a\nb"])
def test_a_ticket_returns_only_to_a_path_on_this_server(keeper, next_path):
    got = keeper.redeem_ticket(_ticket(keeper, next_path), "browser-a")
    assert got.next_path == "/"


def test_the_cookie_signs_in_for_twelve_hours_and_no_longer(keeper, clock):
    cookie = keeper.make_cookie(keeper.redeem_ticket(_ticket(keeper), "browser-a"))
    claim = keeper.read_cookie(cookie)
    assert (claim.name, claim.session_id) == ("vera", "sid-1")
    clock.offset = sessions.SESSION_MAX_AGE_S - 60
    assert keeper.read_cookie(cookie) is not None
    clock.offset = sessions.SESSION_MAX_AGE_S + 60
    assert keeper.read_cookie(cookie) is None


def test_a_tampered_or_foreign_cookie_is_refused(keeper):
    cookie = keeper.make_cookie(keeper.redeem_ticket(_ticket(keeper), "browser-a"))
    payload, _, rest = cookie.partition(".")
    forged = payload.replace(payload[:4], "WyJh", 1) + "." + rest  # another name, old signature
    assert keeper.read_cookie(forged) is None
    assert keeper.read_cookie(cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB")) is None
    # a cookie signed by another server process (or before a restart) is worthless here
    other = sessions.SessionKeeper()
    assert other.read_cookie(cookie) is None
    for junk in ("", "x" * 5000, "not.a.cookie", None):
        assert keeper.read_cookie(junk) is None


def test_sign_out_ends_the_session_everywhere(keeper):
    cookie = keeper.make_cookie(keeper.redeem_ticket(_ticket(keeper), "browser-a"))
    keeper.revoke("sid-1")
    assert keeper.is_revoked("sid-1")
    assert keeper.read_cookie(cookie) is None


def test_a_password_change_changes_the_fingerprint():
    assert sessions.fingerprint("$argon2id$one") != sessions.fingerprint("$argon2id$two")
    assert len(sessions.fingerprint(None)) == 16
