"""Fixtures of the security tests: small real stores, a users file, clean caches."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
PASSWORDS = {
    "vera": ("viewer", "viewer-password-1"),
    "clara": ("clinician", "clinician-password-1"),
    "adam": ("admin", "admin-password-1"),
}


@pytest.fixture(scope="session")
def synthetic_store_template(tmp_path_factory) -> Path:
    """A store with a small synthetic demo cohort (no models), built once."""
    from crlm.cli import main

    path = tmp_path_factory.mktemp("security_template") / "crlm.duckdb"
    assert main(["--db", str(path), "-q", "demo", "--no-train", "--patients", "300",
                 "--seed", "11"]) == 0
    return path


@pytest.fixture
def store_path(synthetic_store_template, tmp_path) -> Path:
    """A private copy of the synthetic store for one test."""
    path = tmp_path / "store" / "crlm.duckdb"
    path.parent.mkdir()
    shutil.copyfile(synthetic_store_template, path)
    return path


@pytest.fixture(scope="session")
def users_template(tmp_path_factory) -> Path:
    """The users file of PASSWORDS, hashed once per session (argon2 is slow on purpose)."""
    from crlm import auth

    path = tmp_path_factory.mktemp("users") / "users.toml"
    for name, (role, password) in PASSWORDS.items():
        auth.add_user(path, name, role, password)
    return path


@pytest.fixture
def app_env(monkeypatch, store_path, users_template, tmp_path):
    """Environment of an app run: its own store and users file, no demo mode, fresh caches."""
    import streamlit as st

    users = tmp_path / "users.toml"
    shutil.copyfile(users_template, users)
    monkeypatch.setenv("CRLM_DB", str(store_path))
    monkeypatch.setenv("CRLM_USERS", str(users))
    monkeypatch.delenv("CRLM_DEMO_MODE", raising=False)
    from crlm import auth

    for name in PASSWORDS:
        auth.default_limiter().reset(name)
    from crlm.ui import loaders

    loaders.release_stores()
    st.cache_resource.clear()
    yield {"db": store_path, "users": users}
    loaders.release_stores()
    st.cache_resource.clear()


@pytest.fixture
def auth_log(caplog):
    caplog.set_level(logging.INFO, logger="crlm.auth")
    return caplog
