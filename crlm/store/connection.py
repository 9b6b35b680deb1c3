"""The store: one DuckDB file, one read-write connection per process.

``Store`` owns the connection. Reads take a fresh ``cursor()`` per call (one per
thread); writes go through ``transaction()``, which holds a process-wide lock
so that one writer at a time runs a BEGIN … COMMIT on its own cursor, and rolls
back on any exception so a change lands whole or not at all.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from pathlib import Path
from typing import Iterator

import duckdb

from crlm.store.schema import MIGRATIONS, SCHEMA_VERSION


class StoreError(RuntimeError):
    """The store cannot be opened or used; the message says why in one line."""


class StoreBusy(StoreError):
    """Another process holds the store file for writing."""


_BUSY_MARKERS = ("could not set lock", "conflicting lock", "resource temporarily unavailable")


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        msg = str(exc).lower()
        if any(m in msg for m in _BUSY_MARKERS):
            raise StoreBusy(
                f"store busy: {path} is open for writing in another process; "
                "close that process or try again"
            ) from None
        if "not a valid duckdb" in msg or "file is not a" in msg or "invalid" in msg:
            raise StoreError(f"{path} is not a DuckDB store file") from None
        raise StoreError(f"cannot open store {path}: {str(exc).splitlines()[0]}") from None
    except duckdb.Error as exc:
        raise StoreError(f"cannot open store {path}: {str(exc).splitlines()[0]}") from None


class Store:
    """A DuckDB store file with the schema of ``crlm.store.schema``.

    ``Store(path)`` opens (creating the file if ``create`` is true), migrates an
    older schema forward and refuses a newer one. ``retry_s`` waits that long
    for another process to release the file before raising ``StoreBusy``.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False, create: bool = True,
                 retry_s: float = 0.0) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if not self.path.exists():
            if read_only or not create:
                raise StoreError(f"no store at {self.path}; build one with `python -m crlm demo`")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a DuckDB store file")
        deadline = time.monotonic() + retry_s
        while True:
            try:
                self._con = _connect(self.path, read_only)
                break
            except StoreBusy:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)
        self._write_lock = threading.RLock()
        try:
            self._migrate()
        except BaseException:
            self._con.close()
            raise

    # -- lifecycle -----------------------------------------------------------
    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one thread's reads (DuckDB cursors are not thread-safe)."""
        return self._con.cursor()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN … COMMIT on a fresh cursor; ROLLBACK on any exception."""
        if self.read_only:
            raise StoreError(f"store {self.path} is open read-only")
        with self._write_lock:
            cur = self._con.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                with contextlib.suppress(Exception):
                    cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
            finally:
                cur.close()

    def checkpoint(self) -> None:
        with self._write_lock:
            self._con.execute("CHECKPOINT")

    # -- schema --------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return _current_version(self._con)

    def _migrate(self) -> None:
        version = _current_version(self._con)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} has schema version {version}, newer than this release "
                f"understands ({SCHEMA_VERSION}); upgrade the application"
            )
        if version == SCHEMA_VERSION:
            return
        if self.read_only:
            raise StoreError(
                f"store {self.path} has schema version {version} and needs migrating to "
                f"{SCHEMA_VERSION}; open it read-write once"
            )
        with self.transaction() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)"
            )
            for number, (description, statements) in enumerate(MIGRATIONS, start=1):
                if number <= version:
                    continue
                for sql in statements:
                    cur.execute(sql)
                cur.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)",
                    [number, description, dt.datetime.now()],
                )


def _current_version(con: duckdb.DuckDBPyConnection) -> int:
    try:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        ).fetchone()[0]
    except duckdb.Error as exc:  # pragma: no cover - corrupt catalogue
        raise StoreError(f"cannot read store catalogue: {exc}") from None
    if not exists:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def refuse_duplicate_keys(frame, key: list[str], what: str) -> None:
    """The long tables have no key index: a frame written to one must not repeat a key."""
    repeated = frame.duplicated(key)
    if repeated.any():
        raise ValueError(f"{what}: {int(repeated.sum())} row(s) repeat a ({', '.join(key)}) "
                         "key; nothing was written")
