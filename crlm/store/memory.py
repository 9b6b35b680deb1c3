"""Handing back the memory DuckDB keeps after a large read.

DuckDB keeps the table blocks a query read in its buffer pool, and its allocator keeps
freed pages, until the memory limit (by default 80 % of the machine) presses: after a
cohort of 10^6 patients is read for training that is over a gigabyte that the fits could
use. ``release_memory`` lowers the limit for a moment, which makes DuckDB evict the
unpinned blocks and free its pages, and then restores it.
"""
from __future__ import annotations

import duckdb

from crlm.store.connection import Store

_FLOOR = "1MB"


def memory_limit(store: Store) -> str:
    """The store's DuckDB memory limit, as DuckDB writes it (``18.8 GiB``)."""
    return str(store.cursor().execute("SELECT current_setting('memory_limit')").fetchone()[0])


def _unrounded(limit: str) -> str:
    """A limit DuckDB prints as ``limit`` (one decimal, rounded down): half a step above
    its printed number, so that it prints the same again and never shrinks."""
    number, _, unit = limit.partition(" ")
    try:
        return f"{float(number) + 0.05} {unit}" if unit else limit
    except ValueError:
        return limit


def release_memory(store: Store) -> None:
    """Evict DuckDB's cached blocks and free its allocator's pages; the memory limit is
    the same afterwards. Meant for a process that has done its large reads (training):
    a query running at the same moment in another thread could be refused memory."""
    cur = store.cursor()
    try:
        before = memory_limit(store)
        try:
            cur.execute(f"SET memory_limit = '{_FLOOR}'")
        except duckdb.Error:   # pinned blocks above the floor: what could be freed was
            pass
        finally:
            cur.execute("RESET memory_limit")   # the default limit, exactly
            if memory_limit(store) != before:
                cur.execute(f"SET memory_limit = '{_unrounded(before)}'")
    finally:
        cur.close()
