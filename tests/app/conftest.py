"""AppTest fixtures: demo mode (the session's store is synthetic) and, after each test,
the app's cached store connections closed so no later test finds the file held."""
from __future__ import annotations

from pathlib import Path

import pytest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(autouse=True)
def _app_env(monkeypatch):
    monkeypatch.setenv("CRLM_DEMO_MODE", "1")
    yield
    from crlm.ui import loaders

    loaders.release_stores()
