"""Shared fixtures: a small trained demo store built once per test session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


TEST_PATIENTS = 600
TEST_SEED = 7


@pytest.fixture(scope="session")
def demo_store_path(tmp_path_factory) -> Path:
    """A real DuckDB store with a small synthetic cohort and fast-trained models.

    Sets ``CRLM_DB`` for the whole session so the app and the CLI under test read it
    (its models are beside it, in ``crlm_models/``).
    """
    from crlm.cli import main

    root = tmp_path_factory.mktemp("demo_store")
    path = root / "crlm.duckdb"
    os.environ["CRLM_DB"] = str(path)
    rc = main(["--db", str(path), "-q", "demo", "--patients", str(TEST_PATIENTS),
               "--seed", str(TEST_SEED), "--folds", "3", "--fast"])
    assert rc == 0, "building the test demo store failed"
    return path


@pytest.fixture(scope="session")
def demo_store(demo_store_path):
    from crlm.store import Store

    store = Store(demo_store_path)
    yield store
    store.close()


@pytest.fixture(scope="session")
def demo_split(tmp_path_factory) -> Path:
    """A 600-patient demo (no models, no images) split into one store per centre, built
    once; tests take copies (tests/support/demo_split.py: ``copy_demo_split``)."""
    from tests.support.demo_split import build_demo_split

    return build_demo_split(tmp_path_factory.mktemp("demo_split"))
