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


@pytest.fixture()
def demo_store(demo_store_path):
    """The session's demo store, opened for one test and closed after it (the session-wide
    connection of tests/conftest.py would hold the file open for the browser tests that
    run next, which open it read-only)."""
    from crlm.store import Store

    with Store(demo_store_path) as store:
        yield store
