"""Sign-ins that last across reloads and tabs: a signed, HttpOnly session cookie.

A local sign-in is checked over Streamlit's websocket, which cannot set a cookie. So
the page that checked the password gets a *ticket* from here (random, one use, valid
for ``TICKET_MAX_AGE_S``, bound to the browser's XSRF cookie) and sends the browser to
the HTTP route ``/_crlm/session?ticket=...`` (``crlm.ui.session_routes``, mounted by
``serve.py``). That route swaps the ticket for the cookie and redirects to the page the
user asked for before signing in.

The cookie ``crlm_session`` holds the user name, a random session id and a fingerprint
of the user's password hash, signed with ``itsdangerous`` and stamped with the time of
issue. It is set only by the server, ``HttpOnly``, ``SameSite=Lax``, ``Secure`` behind
HTTPS, for ``SESSION_MAX_AGE_S``. A new browser session (reload, new tab) is signed in
from it only if the signature holds, it is at most 12 hours old, its session was not
signed out, and the user is still in the users file with the same password.

The signing key is random per server process and never written anywhere: restarting
the server ends every session, and a signed-out session id needs to be remembered only
for the life of the process. The process's one keeper is ``crlm.session_routes.keeper()``.
No Streamlit import here.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE_NAME = "crlm_session"
SESSION_MAX_AGE_S = 12 * 3600
TICKET_MAX_AGE_S = 60.0
START_PATH = "_crlm/session"  # under the app's base URL path
END_PATH = "_crlm/sign-out"
_MAX_TICKETS = 10_000


@dataclass(frozen=True)
class Ticket:
    """What a redeemed ticket hands to the cookie route."""

    name: str
    session_id: str
    fingerprint: str
    next_path: str


@dataclass(frozen=True)
class SessionClaim:
    """A cookie whose signature and age were checked (not yet the users file)."""

    name: str
    session_id: str
    fingerprint: str
    issued_at: float


def fingerprint(password_hash: str | None) -> str:
    """A short digest of a stored password hash: a password change ends older sessions."""
    return hashlib.sha256((password_hash or "").encode("utf-8")).hexdigest()[:16]


def binding(token: bytes | str | None) -> str:
    """A digest of the browser's XSRF token that a ticket is tied to ('' without one)."""
    if not token:
        return ""
    raw = token.encode("utf-8") if isinstance(token, str) else token
    return hashlib.sha256(raw).hexdigest()


def safe_next_path(path: str) -> str:
    """A same-site path to return to ('/' for anything else: no scheme, host or '//')."""
    if (not isinstance(path, str) or not path.startswith("/") or path.startswith("//")
            or "\\" in path or any(ord(c) < 0x20 for c in path) or len(path) > 4000):
        return "/"
    return path


class SessionKeeper:
    """Tickets, cookie signing and signed-out session ids for one server process."""

    def __init__(self, key: bytes | None = None, *, clock=time.time,
                 max_age_s: float = SESSION_MAX_AGE_S) -> None:
        self._serializer = URLSafeTimedSerializer(key or secrets.token_bytes(32),
                                                  salt="crlm-session")
        self._clock = clock
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._tickets: dict[str, tuple[float, str, Ticket]] = {}
        self._revoked: dict[str, float] = {}
        # set when the server mounts the cookie routes (``serve.py``); without them a
        # sign-in lasts only as long as its browser tab
        self.routes_mounted = False

    # -- tickets: from the page that checked the password to the cookie route ----------
    def issue_ticket(self, name: str, session_id: str, fingerprint: str, next_path: str,
                     bound_to: str) -> str:
        ticket = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._prune(now)
            if len(self._tickets) >= _MAX_TICKETS:
                raise RuntimeError("too many sign-ins waiting for their cookie")
            self._tickets[ticket] = (now, bound_to,
                                     Ticket(name, session_id, fingerprint,
                                            safe_next_path(next_path)))
        return ticket

    def redeem_ticket(self, ticket: str, bound_to: str) -> Ticket | None:
        """The ticket's content, once; ``None`` if unknown, used, expired or from another
        browser."""
        now = self._clock()
        with self._lock:
            self._prune(now)
            entry = self._tickets.pop(str(ticket or ""), None)
        if entry is None:
            return None
        issued, expected, content = entry
        if now - issued > TICKET_MAX_AGE_S or not hmac.compare_digest(expected, bound_to):
            return None
        return content

    # -- the cookie ------------------------------------------------------------------
    def make_cookie(self, ticket: Ticket) -> str:
        return self._serializer.dumps([ticket.name, ticket.session_id, ticket.fingerprint])

    def read_cookie(self, value: str | None) -> SessionClaim | None:
        """The claim of a cookie signed by this process and at most ``max_age_s`` old whose
        session was not signed out; ``None`` otherwise."""
        if not value or len(value) > 4096:
            return None
        try:
            payload, signed_at = self._serializer.loads(value, return_timestamp=True)
        except (BadSignature, ValueError, TypeError):
            return None
        if not (isinstance(payload, list) and len(payload) == 3
                and all(isinstance(p, str) for p in payload)):
            return None
        issued_at = signed_at.timestamp()
        if not 0 <= self._clock() - issued_at <= self.max_age_s:
            return None
        name, session_id, print_ = payload
        if self.is_revoked(session_id):
            return None
        return SessionClaim(name, session_id, print_, issued_at)

    # -- sign-out --------------------------------------------------------------------
    def revoke(self, session_id: str) -> None:
        with self._lock:
            self._revoked[session_id] = self._clock() + self.max_age_s

    def is_revoked(self, session_id: str) -> bool:
        with self._lock:
            self._prune(self._clock())
            return session_id in self._revoked

    def _prune(self, now: float) -> None:
        for t in [t for t, (issued, _, _) in self._tickets.items()
                  if now - issued > TICKET_MAX_AGE_S]:
            del self._tickets[t]
        for s in [s for s, until in self._revoked.items() if until < now]:
            del self._revoked[s]


def new_session_id() -> str:
    return secrets.token_urlsafe(16)
