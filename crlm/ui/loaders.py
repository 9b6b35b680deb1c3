"""Cached access to the store for pages.

The store connection is a process-wide resource (``st.cache_resource``);
query results are cached per filter (``st.cache_data`` keys on ``filter_key``, a
tuple of the filter's fields) and on the cohort's data version (``cohort_version``),
so that a write invalidates only that cohort's entries.
"""
from __future__ import annotations

import threading
from typing import Sequence

import pandas as pd
import streamlit as st

from crlm import config, store
from crlm.analysis.snapshot import (  # noqa: F401 (filter keys: re-exported for pages)
    Snapshot, close_stores, filter_from_key, filter_key, open_store,
)
from crlm.analysis.snapshot import snapshot as _snapshot
from crlm.store import CohortFilter


def store_path() -> str:
    return str(config.db_path())


@st.cache_resource(show_spinner=False)
def _open_store(path: str) -> store.Store:
    return open_store(path)


def release_stores() -> None:
    """Close every store connection this process opened and forget cached results, so that
    another process may open the files (the next page run opens them again)."""
    _open_store.clear()
    close_stores()
    st.cache_data.clear()


def get_store() -> store.Store:
    """The process's one read-write connection to the store file."""
    return _open_store(store_path())


_RUN = threading.local()   # per script run (one thread each): the versions read in it


def begin_run() -> None:
    """At the start of a page run: the data versions are read again, once each."""
    _RUN.versions = {}


def cohort_version(cohort: str) -> tuple:
    """The cohort's data version (``crlm.store.data_version``), read once per page run
    (``begin_run``; every time outside one): the cached reads below key on it, so that a
    write to one cohort (here, or by another process) leaves every other cohort's cached
    reads in place."""
    versions = getattr(_RUN, "versions", None)
    if versions is None:
        return store.data_version(get_store(), cohort)
    if cohort not in versions:
        versions[cohort] = store.data_version(get_store(), cohort)
    return versions[cohort]


def snapshot(cohort: str) -> Snapshot:
    """The cohort's snapshot now: what the analysis functions (``crlm.analysis``) key on."""
    return _snapshot(store_path(), cohort, cohort_version(cohort))


@st.cache_data(show_spinner=False, max_entries=64)
def _load_cohort(path: str, key: tuple, columns: tuple | None, version: tuple) -> pd.DataFrame:
    filt = filter_from_key(key)
    return store.load_cohort(_open_store(path), filt, columns)


def load_cohort(filt: CohortFilter, columns: Sequence[str] | None = None) -> pd.DataFrame:
    return _load_cohort(store_path(), filter_key(filt), tuple(columns) if columns else None,
                        cohort_version(filt.cohort))


@st.cache_data(show_spinner=False, max_entries=256)
def _count(path: str, key: tuple, version: tuple) -> int:
    return store.count_patients(_open_store(path), filter_from_key(key))


def count_patients(filt: CohortFilter) -> int:
    return _count(store_path(), filter_key(filt), cohort_version(filt.cohort))


@st.cache_data(show_spinner=False, max_entries=64)
def _load_predictions(path: str, key: tuple, task, model_id, split, columns, version: tuple) -> pd.DataFrame:
    filt = filter_from_key(key)
    return store.load_predictions(_open_store(path), filt, task=task, model_id=model_id,
                                  split=split, columns=columns)


def load_predictions(filt: CohortFilter, *, task: str | None = None, model_id: str | None = None,
                     split: str | Sequence[str] | None = None,
                     columns: Sequence[str] = ()) -> pd.DataFrame:
    split_key = split if split is None or isinstance(split, str) else tuple(split)
    return _load_predictions(store_path(), filter_key(filt), task, model_id, split_key,
                             tuple(columns), cohort_version(filt.cohort))


@st.cache_data(show_spinner=False, ttl=30)
def _load_models(path: str, cohort: str, task: str | None, version: tuple) -> pd.DataFrame:
    return store.load_models(_open_store(path), cohort=cohort, task=task)


def load_models(cohort: str, task: str | None = None) -> pd.DataFrame:
    return _load_models(store_path(), cohort, task, cohort_version(cohort))


@st.cache_data(show_spinner=False, ttl=30)
def _load_cohort_info(path: str, cohort: str, version: tuple) -> dict | None:
    return store.load_cohort_info(_open_store(path), cohort)


def load_cohort_info(cohort: str) -> dict | None:
    return _load_cohort_info(store_path(), cohort, cohort_version(cohort))


@st.cache_data(show_spinner=False, max_entries=16)
def _load_features(path: str, cohort: str, feature_sets: tuple | None, version: tuple) -> pd.DataFrame:
    return store.load_features(_open_store(path), cohort, feature_sets)


def load_features(cohort: str, feature_sets: Sequence[str] | None = None) -> pd.DataFrame:
    return _load_features(store_path(), cohort, tuple(feature_sets) if feature_sets else None,
                          cohort_version(cohort))


@st.cache_data(show_spinner=False, ttl=30)
def _load_extra_variables(path: str, cohort: str, version: tuple):
    from crlm.analysis.extras import load_extra_variables as load
    return load(_open_store(path), cohort)


def load_extra_variables(cohort: str):
    """The cohort's own (extra) variables: ``crlm.analysis.extras.ExtraVariable`` records."""
    return _load_extra_variables(store_path(), cohort, cohort_version(cohort))


@st.cache_data(show_spinner=False, max_entries=64)
def _load_cohort_with_extras(path: str, key: tuple, columns: tuple | None, version: tuple) -> pd.DataFrame:
    from crlm.analysis.extras import with_extra_values
    filt = filter_from_key(key)
    if columns is not None and "patient_id" not in columns:
        columns = ("patient_id",) + columns
    patients = store.load_cohort(_open_store(path), filt, columns)
    variables = _load_extra_variables(path, filt.cohort, version)
    wide = _load_features(path, filt.cohort, ("extra",), version) if variables else None
    return with_extra_values(patients, wide, variables) if variables else patients


def load_cohort_with_extras(filt: CohortFilter, columns: Sequence[str] | None = None
                            ) -> pd.DataFrame:
    """The filtered cohort plus one ``extra:<name>`` column per extra variable."""
    return _load_cohort_with_extras(store_path(), filter_key(filt),
                                    tuple(columns) if columns else None,
                                    cohort_version(filt.cohort))


@st.cache_data(show_spinner=False, ttl=30)
def _list_cohorts(path: str) -> pd.DataFrame:
    return store.list_cohorts(_open_store(path))


def list_cohorts() -> pd.DataFrame:
    return _list_cohorts(store_path())


@st.cache_data(show_spinner=False, ttl=30)
def _column_levels(path: str, cohort: str, column: str, version: tuple) -> list[str]:
    return store.load_column_levels(_open_store(path), cohort, column)


def column_levels(cohort: str, column: str) -> list[str]:
    return _column_levels(store_path(), cohort, column, cohort_version(cohort))


@st.cache_data(show_spinner=False, ttl=30)
def _load_imports(path: str, cohort: str, version: tuple) -> pd.DataFrame:
    return store.load_imports(_open_store(path), cohort)


def load_imports(cohort: str) -> pd.DataFrame:
    return _load_imports(store_path(), cohort, cohort_version(cohort))


def load_audit_log(limit: int = 200) -> pd.DataFrame:
    """The newest audit rows (read each time: the log is live, and small)."""
    return store.load_audit_log(get_store(), int(limit))


def clear_caches() -> None:
    """After a write (import, retrain) in this process: read the data versions and the
    list of cohorts again. The written cohort's cached reads are then keyed on its new
    version; every other cohort's stay cached, for every user."""
    begin_run()
    _list_cohorts.clear()


@st.cache_data(show_spinner=False, ttl=30)
def _recorded_columns(path: str, cohort: str, columns: tuple, version: tuple) -> tuple[str, ...]:
    return tuple(store.load_recorded_columns(_open_store(path), cohort, columns))


def recorded_columns(cohort: str, columns: Sequence[str]) -> tuple[str, ...]:
    """Those of ``columns`` that the cohort records (at least one known value)."""
    return _recorded_columns(store_path(), cohort, tuple(columns), cohort_version(cohort))


@st.cache_data(show_spinner=False, ttl=30)
def _extra_spans(path: str, cohort: str, version: tuple) -> dict:
    spans = store.load_extra_spans(_open_store(path), cohort)
    return {str(r.feature): (float(r.lo), float(r.hi), bool(r.whole), int(r.n))
            for r in spans.itertuples()}


def extra_spans(cohort: str) -> dict[str, tuple[float, float, bool, int]]:
    """Per extra variable with a value: (lowest, highest, every value whole, number of
    patients with a value)."""
    return _extra_spans(store_path(), cohort, cohort_version(cohort))

