"""Who is using the app and what they may do.

Every page and action asks here. Roles are ordered: viewer < clinician < admin
(``ACTIONS`` names the least role per action; the rules live in ``crlm.auth``).

Sign-in, in this order:

1. ``CRLM_DEMO_MODE=1``: no sign-in, user "demo" with role admin, allowed only
   while every cohort in the store is synthetic; otherwise the page shows why
   demo mode is refused and stops.
2. ``.streamlit/secrets.toml`` has an ``[auth]`` section: the hospital's OIDC
   provider (``st.login``); the role comes from the users file by e-mail
   (``viewer`` when the e-mail is not listed).
3. Otherwise a local users file (``CRLM_USERS``, default ``data/users.toml``)
   with argon2 password hashes, through a sign-in form; failed sign-ins are
   rate-limited per user name. Served by ``serve.py``, a sign-in sets a signed,
   HttpOnly session cookie (``crlm.sessions``) that signs in later browser sessions
   (reloads, new tabs) for 12 hours; under ``app.py`` alone it lasts as long as the tab.

After a sign-in the user lands on the page (and filter) the link named.
"""
from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import replace
from urllib.parse import urlencode, urlsplit

import streamlit as st

from crlm import auth, session_routes, sessions, store
from crlm.auth import ACTIONS, ROLES, User  # noqa: F401  (re-exported: pages read them here)
from crlm.store import StoreError
from crlm.ui import loaders

log = logging.getLogger("crlm.auth")

SESSION_KEY = "auth_user"
_REQUESTED_KEY = "auth_requested"  # the page and link parameters asked for before sign-in
_RETURN_KEY = "auth_return_to"
DEMO_ENV = "CRLM_DEMO_MODE"
DEMO_NOTICE = "Demo mode, no sign-in: synthetic data only."
SESSION_MAX_AGE_S = 12 * 3600
ANONYMOUS = auth.ANONYMOUS
_DEMO_USER = User("demo", "admin", source="demo")


def demo_mode_requested() -> bool:
    return os.environ.get(DEMO_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def demo_mode_refusal() -> str | None:
    """Why demo mode may not run on this store (``None`` when every cohort is synthetic).

    The message is for visitors nobody has signed in: it names neither the store's
    cohorts nor its path (the server log does)."""
    try:
        cohorts = store.list_cohorts(loaders.get_store())
    except StoreError as exc:
        # Busy (held by another process), missing or unreadable: what it holds is unknown,
        # so nobody is let in without signing in.
        log.warning("demo mode refused: the store cannot be read: %s", exc)
        return (
            f"Demo mode ({DEMO_ENV}=1) needs a readable store of synthetic cohorts, and the "
            "store cannot be opened now (another process may hold it). Build the demo with "
            "`python -m crlm demo` or stop the process that holds the store; the server "
            "log says more."
        )
    real = [str(c) for c, k in zip(cohorts["cohort"], cohorts["kind"]) if k != "synthetic"]
    if not real:
        return None
    log.warning("demo mode refused: the store holds non-synthetic cohorts: %s", ", ".join(real))
    return (
        f"Demo mode ({DEMO_ENV}=1) is refused: this store holds non-synthetic cohorts. "
        f"Start the app without {DEMO_ENV} and sign in (see docs/operations.md)."
    )


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file, or an unreadable one
        return False


def _oidc_user() -> User | None:
    info = st.user
    if not info.get("is_logged_in"):
        return None
    if info.get("email_verified") is False:
        return None
    email = str(info.get("email") or "").strip().lower()
    if not email:
        return None
    role = auth.lookup_role(None, email) or auth.DEFAULT_ROLE
    return User(email, role, source="oidc")


def _listed(name: str) -> tuple[str, str] | None:
    """``(role, password fingerprint)`` of a user in the users file; ``None`` if not listed.
    The fingerprint (``crlm.sessions.fingerprint``) changes with the password."""
    try:
        entry = auth.load_users(None).get(auth.normalise_name(name))
    except auth.UsersFileError:
        return None
    if entry is None:
        return None
    return entry.role, sessions.fingerprint(entry.password_hash)


def _cookie_user() -> User | None:
    """The user of a valid session cookie (a reload or a new tab after a sign-in)."""
    value = st.context.cookies.get(sessions.COOKIE_NAME)
    if not isinstance(value, str):
        return None  # no cookie, or no browser behind this run
    claim = session_routes.keeper().read_cookie(value)
    if claim is None:
        return None
    listed = _listed(claim.name)
    if listed is None or listed[1] != claim.fingerprint:
        return None  # removed, or the password changed since: that session is over
    log.info("session resumed from its cookie: %s", auth.safe_name(claim.name))
    user = User(claim.name, listed[0], source="local", signed_in_at=claim.issued_at,
                session_id=claim.session_id, fingerprint=claim.fingerprint)
    st.session_state[SESSION_KEY] = user
    return user


def _valid_session_user() -> User | None:
    """The session's user, re-checked against the users file on every run."""
    user = st.session_state.get(SESSION_KEY)
    if not isinstance(user, User) or not user.signed_in:
        user = _cookie_user()
        if user is None:
            return None
    if user.is_demo:
        return None  # demo users exist only while demo mode is on (checked by the gate)
    if user.source == "local":
        if time.time() - float(user.signed_in_at) > SESSION_MAX_AGE_S:
            st.session_state["auth_message"] = "Your session expired; please sign in again."
            return None
        if user.session_id and session_routes.keeper().is_revoked(user.session_id):
            return None  # signed out in another tab
        listed = _listed(user.name)
        if listed is None:
            return None  # removed from the users file: signed out at once
        role, fingerprint = listed
        if user.fingerprint and user.fingerprint != fingerprint:
            return None  # the password changed since this sign-in
        if role != user.role:
            user = replace(user, role=role)
            st.session_state[SESSION_KEY] = user
    return user


def _audit(name: str, action: str) -> None:
    """A sign-in or sign-out row in the store's audit log (never blocks the sign-in)."""
    try:
        store.log_action(loaders.get_store(), actor=name, action=action)
    except StoreError as exc:
        log.warning("could not write %s of %s to the audit log: %s", action,
                    auth.safe_name(name), exc)


def _sidebar_account(user: User) -> None:
    sb = st.sidebar
    if user.is_demo:
        sb.info(DEMO_NOTICE, icon=":material/lock_open:")
        return
    sb.caption(f"Signed in as **{user.name}** ({user.role})")
    if sb.button("Sign out", key="auth_sign_out", icon=":material/logout:"):
        log.info("signed out: %s", auth.safe_name(user.name))
        _audit(user.name, "sign_out")
        st.session_state.pop(SESSION_KEY, None)
        if user.source == "oidc":
            st.logout()
        if user.session_id:
            session_routes.keeper().revoke(user.session_id)  # every tab, at once
            if session_routes.keeper().routes_mounted:
                _redirect_browser(f"{_base_path()}/{sessions.END_PATH}")  # clears the cookie
                st.stop()
        st.rerun()


def _oidc_form() -> None:
    st.title("CRLM Cohort Explorer")
    st.write("Sign in with your hospital account to continue.")
    if st.button("Sign in", key="auth_oidc_sign_in", type="primary"):
        try:
            st.login()
        except Exception as exc:  # missing Authlib, incomplete [auth] section
            st.error(f"Sign-in through the hospital's identity provider failed: {exc}")
    info = st.user
    if info.get("is_logged_in") and info.get("email_verified") is False:
        st.error("Your account's e-mail address is not verified by the identity provider.")


def _local_form() -> None:
    st.title("CRLM Cohort Explorer")
    path = auth.users_path()
    try:
        has_users = bool(auth.load_users(path))
    except auth.UsersFileError as exc:
        log.error("users file unusable: %s", exc)
        st.error("The users file cannot be read; ask the administrator to check the server log.")
        return
    if not has_users:
        st.warning(
            "No users are set up yet. The administrator creates the first one on the server "
            "with `python -m crlm users add NAME --role admin`. To try the synthetic demo "
            f"without sign-in, start the app with {DEMO_ENV}=1."
        )
        return
    if st.session_state.get("auth_message"):
        st.info(st.session_state.pop("auth_message"))
    with st.form("auth_sign_in", clear_on_submit=True):
        name = st.text_input("User name", key="auth_name", autocomplete="username")
        password = st.text_input("Password", type="password", key="auth_password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary", key="auth_submit")
    if not submitted:
        return
    try:
        user = auth.sign_in(path, name, password)
    except auth.AccountLocked as exc:
        st.error(str(exc), icon=":material/lock:")
        return
    except auth.SignInFailed:
        st.error("Wrong user name or password.")
        return
    except auth.UsersFileError as exc:
        log.error("users file unusable: %s", exc)
        st.error("The users file cannot be read; ask the administrator to check the server log.")
        return
    session_id = sessions.new_session_id()
    fingerprint = (_listed(user.name) or ("", ""))[1]
    st.session_state[SESSION_KEY] = replace(user, source="local", signed_in_at=time.time(),
                                            session_id=session_id, fingerprint=fingerprint)
    _audit(user.name, "sign_in")
    requested = st.session_state.pop(_REQUESTED_KEY, None) or {"page": "", "params": {}}
    if session_routes.keeper().routes_mounted:
        # The cookie can only come with an HTTP response: a one-time ticket takes the
        # browser through the cookie route and back to the page the link named.
        ticket = session_routes.keeper().issue_ticket(
            user.name, session_id, fingerprint,
            _location(requested), sessions.binding(_xsrf_token()))
        _redirect_browser(f"{_base_path()}/{sessions.START_PATH}?"
                          + urlencode({"ticket": ticket}))
        st.stop()
    st.session_state[_RETURN_KEY] = requested
    st.rerun()


# -- where to go after signing in ----------------------------------------------------
_PAGE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _base_path() -> str:
    return session_routes.base_path()


def _xsrf_token() -> bytes | str | None:
    return session_routes.xsrf_token(st.context.cookies.get(session_routes.XSRF_COOKIE))


def _remember_requested_page() -> None:
    """On a signed-out session's first run: the page and filter the link asked for."""
    if _REQUESTED_KEY in st.session_state:
        return
    page = ""
    url = st.context.url if isinstance(st.context.url, str) else ""  # None without a browser
    parts = [p for p in urlsplit(url).path.split("/") if p]
    base = [p for p in _base_path().split("/") if p]
    if parts[:len(base)] == base:
        parts = parts[len(base):]
    if parts and _PAGE_NAME.fullmatch(parts[-1]):
        page = parts[-1]
    params = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
    st.session_state[_REQUESTED_KEY] = {"page": page, "params": params}


def _location(requested: dict) -> str:
    path = f"{_base_path()}/{requested.get('page') or ''}"
    query = urlencode(requested.get("params") or {}, doseq=True)
    return path + (f"?{query}" if query else "")


def _redirect_browser(url: str) -> None:
    """Send the browser to ``url`` (a path on this server) with the message Streamlit's own
    ``st.login`` uses; the caller stops the page after it."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return
    msg = ForwardMsg()
    msg.auth_redirect.url = sessions.safe_next_path(url)
    ctx.enqueue(msg)


def return_to_requested_page(pages) -> None:
    """After a sign-in in this tab (no cookie route): open the page the link named, with
    its filter. Call right after ``st.navigation``; ``pages`` are the user's pages."""
    requested = st.session_state.pop(_RETURN_KEY, None)
    if not requested or not requested.get("page"):
        return
    for page in pages:
        if page.url_path == requested["page"]:
            st.switch_page(page, query_params=requested.get("params") or {})


def sign_in_gate() -> User:
    """Show the sign-in form and stop the page until a user is signed in; returns the user."""
    if demo_mode_requested():
        refusal = demo_mode_refusal()
        if refusal:
            st.session_state.pop(SESSION_KEY, None)
            st.error(refusal, icon=":material/block:")
            st.stop()
        user = _DEMO_USER
        st.session_state[SESSION_KEY] = user
        _sidebar_account(user)
        return user
    if _oidc_configured():
        user = _oidc_user()
        if user is not None:
            previous = st.session_state.get(SESSION_KEY)
            if not (isinstance(previous, User) and previous.source == "oidc"
                    and previous.name == user.name):
                log.info("signed in through OIDC: %s", auth.safe_name(user.name))
                _audit(user.name, "sign_in")  # once per session, not on every rerun
            st.session_state[SESSION_KEY] = user
            _sidebar_account(user)
            return user
        st.session_state.pop(SESSION_KEY, None)
        _oidc_form()
        st.stop()
    user = _valid_session_user()
    if user is not None:
        _sidebar_account(user)
        return user
    st.session_state.pop(SESSION_KEY, None)
    _remember_requested_page()
    _local_form()
    st.stop()
    return ANONYMOUS  # not reached: st.stop() ends the run


def current_user() -> User:
    """The signed-in user (the demo user in demo mode); ``ANONYMOUS``, a user with no
    role, when nobody is signed in."""
    user = st.session_state.get(SESSION_KEY)
    if isinstance(user, User) and user.signed_in:
        return user
    return ANONYMOUS


def user_can(action_or_role: str, user: User | None = None) -> bool:
    user = user if user is not None else current_user()
    return user.may(action_or_role)


def require_role(action_or_role: str) -> User:
    """Stop the page (with a message) unless the user may do this; returns the user.

    Every view calls this first. When nobody is signed in it shows the sign-in
    gate itself, so a view run on its own (without ``app.py``) never relies on
    ``app.py`` having asked."""
    user = current_user()
    if user.source == "local":
        user = _valid_session_user() or ANONYMOUS  # the users file decides, every run
    if not user.signed_in or (user.is_demo and not demo_mode_requested()):
        user = sign_in_gate()
    if not user_can(action_or_role, user):
        st.error(f"Your role ({user.role or 'not signed in'}) does not allow this: "
                 f"{action_or_role}.")
        st.stop()
    return user
