"""The pages' cached reads key on the cohort's data version: a write to one cohort, then
``clear_caches``, reads that cohort again and leaves every other cohort's reads cached."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from crlm import store
from crlm.config import PATIENT_COLUMN_NAMES
from crlm.ui import loaders


def _patients(n: int, prefix: str) -> pd.DataFrame:
    frame = pd.DataFrame({c: [None] * n for c in PATIENT_COLUMN_NAMES})
    frame["patient_id"] = [f"{prefix}{i:03d}" for i in range(n)]
    frame["age_years"] = np.linspace(40, 80, n)
    return frame


def _model(s, cohort: str, model_id: str) -> None:
    ids = [f"{cohort}{i:03d}" for i in range(10)]
    store.save_model(s, {"model_id": model_id, "name": model_id, "family": "logistic",
                         "task": "response", "cohort": cohort, "threshold": 0.5},
                     pd.DataFrame({"patient_id": ids, "split": "out-of-fold", "fold": 1,
                                   "score": np.linspace(0, 1, 10)}))


def test_a_write_to_one_cohort_leaves_the_other_cohorts_reads_cached(tmp_path, monkeypatch):
    path = tmp_path / "v.duckdb"
    store.Store(path).close()                          # a new, empty store
    s = loaders.open_store(path)
    for cohort in ("a", "b"):
        store.save_cohort(s, cohort, _patients(10, cohort), kind="imported")
        _model(s, cohort, f"{cohort}.first")
    monkeypatch.setattr(loaders, "store_path", lambda: str(path))
    calls = []
    real = store.load_models
    monkeypatch.setattr(store, "load_models",
                        lambda st_, cohort=None, task=None: calls.append(cohort) or
                        real(st_, cohort=cohort, task=task))
    st.cache_data.clear()
    try:
        assert list(loaders.load_models("a")["model_id"]) == ["a.first"]
        loaders.load_models("b")
        loaders.load_models("a")
        loaders.load_models("b")
        assert calls == ["a", "b"]                     # cached
        _model(s, "a", "a.second")                     # a write to cohort a
        loaders.clear_caches()
        assert sorted(loaders.load_models("a")["model_id"]) == ["a.first", "a.second"]
        loaders.load_models("b")
        assert calls == ["a", "b", "a"]                # b's read stayed cached
    finally:
        st.cache_data.clear()
        loaders.close_stores()


def test_a_page_run_reads_each_version_once_and_a_write_here_reads_it_again(tmp_path,
                                                                           monkeypatch):
    path = tmp_path / "r.duckdb"
    store.Store(path).close()
    s = loaders.open_store(path)
    store.save_cohort(s, "a", _patients(10, "a"), kind="imported")
    monkeypatch.setattr(loaders, "store_path", lambda: str(path))
    reads = []
    real = store.data_version
    monkeypatch.setattr(store, "data_version", lambda st_, c: reads.append(c) or real(st_, c))
    try:
        loaders.begin_run()
        first = loaders.snapshot("a")
        assert loaders.snapshot("a") == first and reads == ["a"]     # once in the run
        _model(s, "a", "a.new")                                         # a write ...
        loaders.clear_caches()                                          # ... said here
        assert loaders.snapshot("a").version != first.version and reads == ["a", "a"]
    finally:
        loaders._RUN.__dict__.clear()
        loaders.close_stores()
