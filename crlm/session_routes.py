"""The two HTTP routes that set and clear the session cookie (see ``crlm.sessions``).

``serve.py`` mounts them beside Streamlit's own routes (``st.App(..., routes=...)``):

- ``GET /_crlm/session?ticket=T``: swaps a one-time ticket from a sign-in for the
  signed, HttpOnly cookie and redirects (303) to the page the user asked for; an
  unknown, used, expired or foreign ticket only redirects to the app's start page.
- ``GET /_crlm/sign-out``: ends the cookie's session, clears the cookie and redirects to
  the start page.

Both answer ``Cache-Control: no-store``. Neither reads the store.

This module is imported by ``serve.py`` before Streamlit's runtime starts, so it imports
nothing of ``crlm.ui`` (whose cached loaders need the runtime).
"""
from __future__ import annotations

import streamlit as st
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from crlm import sessions

XSRF_COOKIE = "_streamlit_xsrf"


@st.cache_resource(show_spinner=False)
def keeper() -> sessions.SessionKeeper:
    """The process's one keeper, shared by the pages and the cookie routes. Held by
    ``st.cache_resource`` because Streamlit re-imports the app's modules when a file of
    the app changes; a module-level object would be replaced (and every session lost)."""
    return sessions.SessionKeeper()


def base_path() -> str:
    """The app's URL prefix ('' or '/crlm'), from ``server.baseUrlPath``."""
    from streamlit import config

    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def xsrf_token(cookie_value: str | None) -> bytes | str | None:
    """The token inside Streamlit's XSRF cookie (its masked form changes, the token does
    not); ``None`` without the cookie."""
    if not isinstance(cookie_value, str) or not cookie_value:
        return None
    try:
        from streamlit.web.server.starlette.starlette_app_utils import (
            decode_xsrf_token_string,
        )

        token, _ = decode_xsrf_token_string(cookie_value)
    except (ImportError, ValueError):
        return cookie_value
    return token or cookie_value


def _redirect(path: str) -> RedirectResponse:
    response = RedirectResponse(sessions.safe_next_path(path), status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def _secure(request: Request) -> bool:
    return (request.url.scheme == "https"
            or request.headers.get("x-forwarded-proto", "").lower() == "https")


async def start_session(request: Request) -> RedirectResponse:
    keeper_ = keeper()
    bound_to = sessions.binding(xsrf_token(request.cookies.get(XSRF_COOKIE)))
    ticket = keeper_.redeem_ticket(request.query_params.get("ticket", ""), bound_to)
    if ticket is None:
        return _redirect(base_path() + "/")
    response = _redirect(ticket.next_path)
    response.set_cookie(sessions.COOKIE_NAME, keeper_.make_cookie(ticket),
                        max_age=int(keeper_.max_age_s), path=base_path() + "/",
                        httponly=True, samesite="lax", secure=_secure(request))
    return response


async def end_session(request: Request) -> RedirectResponse:
    keeper_ = keeper()
    claim = keeper_.read_cookie(request.cookies.get(sessions.COOKIE_NAME))
    if claim is not None:
        keeper_.revoke(claim.session_id)
    response = _redirect(base_path() + "/")
    response.delete_cookie(sessions.COOKIE_NAME, path=base_path() + "/", httponly=True,
                           samesite="lax", secure=_secure(request))
    return response


def session_routes() -> list[Route]:
    """The routes for ``st.App``; from now on sign-ins in this process set the cookie."""
    keeper().routes_mounted = True
    base = base_path()
    return [Route(f"{base}/{sessions.START_PATH}", start_session, methods=["GET"]),
            Route(f"{base}/{sessions.END_PATH}", end_session, methods=["GET"])]
