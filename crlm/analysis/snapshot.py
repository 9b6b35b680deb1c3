"""What an analysis is computed from, and the cache that keeps its results.

A ``Snapshot`` names a store file, a cohort and the cohort's data version
(``crlm.store.data_version``). Analysis functions take a snapshot, a filter key and
their choices, all hashable, and are cached on exactly those arguments with ``memo``:
after a write to one cohort its version changes, so only that cohort's results are
recomputed; every other cohort's stay cached, for every user.

The process holds one read-write connection per store file (``open_store``); the pages,
the command line and the reports share it.
"""
from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from crlm import store as st
from crlm.store import CohortFilter

T = TypeVar("T")

_STORES: dict[str, st.Store] = {}
_STORES_LOCK = threading.Lock()
_MEMOS: list["_Memo"] = []


@dataclass(frozen=True)
class Snapshot:
    """A cohort of a store file at one data version."""

    path: str
    cohort: str
    version: tuple

    def store(self) -> st.Store:
        return open_store(self.path)


def open_store(path: str | Path) -> st.Store:
    """The process's one read-write connection to the store file at ``path``."""
    key = str(Path(path).resolve())
    with _STORES_LOCK:
        opened = _STORES.get(key)
        if opened is None:
            opened = st.Store(key, create=False, retry_s=10.0)
            _STORES[key] = opened
        return opened


_BEFORE_CLOSE: list[Callable[[], None]] = []   # e.g. let background reads end first


def close_stores() -> None:
    """Close every connection ``open_store`` made and drop every cached result, so that
    another process may open the files (the next call opens them again). Reads under way
    in the background end first."""
    for hook in list(_BEFORE_CLOSE):
        hook()
    with _STORES_LOCK:
        while _STORES:
            _STORES.popitem()[1].close()
    clear_memos()


def snapshot(path: str | Path, cohort: str, version: tuple | None = None) -> Snapshot:
    """The cohort's snapshot now (one small query), or at ``version`` when the caller has
    just read it (``crlm.store.data_version``)."""
    opened = open_store(path)
    if version is None:
        version = st.data_version(opened, cohort)
    return Snapshot(str(opened.path.resolve()), cohort, version)


def filter_key(filt: CohortFilter) -> tuple:
    """A filter as a hashable key: every field that selects patients, as it is (no text
    round trip: a level holding a comma or a bound with many digits stays itself), the
    columns sorted so that the order the choices were made in does not matter."""
    def items(mapping):
        return tuple(sorted((name, tuple(values)) for name, values in mapping.items()))
    return (filt.cohort, items(filt.categories), items(filt.ranges), filt.date_from,
            filt.date_to, items(filt.extra_levels), items(filt.extra_ranges))


def filter_from_key(key: tuple) -> CohortFilter:
    """The filter ``filter_key`` was made from (equal to it)."""
    cohort, categories, ranges, date_from, date_to, extra_levels, extra_ranges = key
    return CohortFilter(cohort=cohort, categories=dict(categories), ranges=dict(ranges),
                        date_from=date_from, date_to=date_to, extra_levels=dict(extra_levels),
                        extra_ranges=dict(extra_ranges))


class _Memo:
    """A thread-safe least-recently-used cache of one function's results."""

    def __init__(self, fn: Callable, maxsize: int) -> None:
        self.fn, self.maxsize = fn, maxsize
        self.results: OrderedDict = OrderedDict()
        self.lock = threading.Lock()
        self.key_locks: dict = {}

    def __call__(self, *args, **kwargs):
        key = (args, tuple(sorted(kwargs.items())))
        with self.lock:
            if key in self.results:
                self.results.move_to_end(key)
                return self.results[key]
            key_lock = self.key_locks.setdefault(key, threading.Lock())
        with key_lock:   # two sessions asking for one new result compute it once
            with self.lock:
                if key in self.results:
                    return self.results[key]
            value = self.fn(*args, **kwargs)
            with self.lock:
                self.results[key] = value
                while len(self.results) > self.maxsize:
                    self.results.popitem(last=False)
                self.key_locks.pop(key, None)
        return value

    def cached(self, *args, **kwargs):
        """The result already computed for these arguments, or None (nothing computed)."""
        key = (args, tuple(sorted(kwargs.items())))
        with self.lock:
            return self.results.get(key)

    def clear(self) -> None:
        with self.lock:
            self.results.clear()


def memo(maxsize: int = 32) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Cache a pure function on its (hashable) arguments. Its results are shared between
    callers, so they must be immutable: frozen dataclasses, tuples, or frames a caller
    never modifies."""
    def wrap(fn):
        cache = _Memo(fn, maxsize)
        _MEMOS.append(cache)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            return cache(*args, **kwargs)
        call.cache_clear = cache.clear
        call.cached = cache.cached
        return call
    return wrap


def clear_memos() -> None:
    for cache in _MEMOS:
        cache.clear()


@memo(maxsize=64)
def cohort_frame(snap: Snapshot, key: tuple, columns: tuple | None = None):
    """The filtered cohort's patient rows (``crlm.store.load_cohort``), shared: read only."""
    return st.load_cohort(snap.store(), filter_from_key(key), columns)
