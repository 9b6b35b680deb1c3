"""The server entry for a hospital installation: ``streamlit run serve.py``.

It serves the app (``app.py``) together with the two routes that set and clear the
signed, HttpOnly session cookie (``crlm.session_routes``), so that a local sign-in
lasts across reloads and new tabs for 12 hours. ``streamlit run app.py`` serves the
same app without them: a local sign-in then lasts only as long as its browser tab.
"""
import streamlit as st

from crlm.session_routes import session_routes

app = st.App("app.py", routes=session_routes())
