"""Backups of the store and restoring them into a new store file.

A backup is a folder written by DuckDB's ``EXPORT DATABASE`` (the schema as
SQL, one Parquet file per table) plus ``manifest.json`` with the schema
version, the DuckDB version and ``table_checksums`` of the store at the moment
of the backup. Why an export rather than a copy of the file:

- it is taken inside one read transaction, so it is a consistent snapshot even
  while the app keeps serving (a file copy needs the writers stopped);
- Parquet and SQL are readable by any later DuckDB release, so a backup
  survives an upgrade of DuckDB's storage format;
- restoring checks the restored tables against the manifest's checksums and
  deletes the new file when anything differs.

Neither function ever overwrites: ``backup`` needs a new or empty folder,
``restore`` a path where no store exists yet.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from pathlib import Path

import duckdb

from crlm.store.connection import Store, StoreError
from crlm.store.queries import TABLES, table_checksums
from crlm.store.schema import SCHEMA_VERSION

MANIFEST = "manifest.json"
FORMAT = "crlm-store-backup/1"


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def backup(store_or_path: Store | str | os.PathLike, dest_dir: str | os.PathLike) -> dict:
    """Write a backup of the store to ``dest_dir`` (new or empty); returns the manifest.

    Pass the running process's ``Store`` (the app's own connection) or a path;
    a path is opened read-only, which fails with ``StoreBusy`` while another
    process holds the file for writing.
    """
    dest = Path(dest_dir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise StoreError(f"backup folder {dest} exists and is not empty; choose a new folder")
    owned = not isinstance(store_or_path, Store)
    store = Store(store_or_path, read_only=True, create=False) if owned else store_or_path
    created = not dest.exists()
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with store._write_lock:  # no write of this process between the two reads below
            cur = store.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                checksums = table_checksums(_CursorStore(cur))
                cur.execute(f"EXPORT DATABASE '{_sql_path(dest)}' (FORMAT parquet)")
            finally:
                with contextlib.suppress(Exception):
                    cur.execute("COMMIT")
                cur.close()
        manifest = {
            "format": FORMAT,
            "created_at": dt.datetime.now().replace(microsecond=0).isoformat(),
            "source": str(store.path),
            "schema_version": store.schema_version,
            "duckdb_version": duckdb.__version__,
            "tables": {name: {"rows": n, "hash": h} for name, (n, h) in checksums.items()},
        }
        (dest / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return manifest
    except BaseException:
        _remove_tree(dest, created)
        raise
    finally:
        if owned:
            store.close()


def read_manifest(src_dir: str | os.PathLike) -> dict:
    src = Path(src_dir)
    try:
        manifest = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{src} is not a store backup (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {src / MANIFEST}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StoreError(f"{src / MANIFEST} is not a backup manifest of this application")
    return manifest


def restore(src_dir: str | os.PathLike, new_db_path: str | os.PathLike) -> dict:
    """Restore a backup folder into a NEW store file; returns the verified checksums.

    Refuses an existing ``new_db_path``, a backup from a newer schema, and any
    restore whose tables differ from the manifest (the new file is then removed).
    """
    src, target = Path(src_dir), Path(new_db_path)
    manifest = read_manifest(src)
    if target.exists() or Path(f"{target}.wal").exists():
        raise StoreError(f"{target} exists already; restore only into a new store path")
    if int(manifest.get("schema_version", 0)) > SCHEMA_VERSION:
        raise StoreError(
            f"backup has schema version {manifest['schema_version']}, newer than this "
            f"release understands ({SCHEMA_VERSION}); upgrade the application first"
        )
    tables = manifest.get("tables")
    if not isinstance(tables, dict) or set(tables) - set(TABLES):
        raise StoreError(f"{src / MANIFEST} lists unknown tables")
    statements = _schema_statements(src)
    for name in tables:
        if not (src / f"{name}.parquet").is_file():
            raise StoreError(f"{src} is not a complete backup: {name}.parquet is missing")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(target))
        try:
            con.execute("BEGIN TRANSACTION")
            for sql in statements:
                con.execute(sql)
            for name in tables:  # names checked against TABLES above
                con.execute(f"COPY {name} FROM '{_sql_path(src / (name + '.parquet'))}' "
                            "(FORMAT parquet)")
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
            got = table_checksums(_CursorStore(con))
        finally:
            con.close()
        want = {name: (int(t["rows"]), str(t["hash"]))
                for name, t in manifest["tables"].items()}
        if got != want:
            bad = sorted(n for n in set(got) | set(want) if got.get(n) != want.get(n))
            raise StoreError(f"restored store differs from the backup in: {', '.join(bad)}")
        Store(target, create=False).close()  # schema check, and migration of an older backup
        return got
    except duckdb.Error as exc:
        _remove_store(target)
        raise StoreError(f"restore failed: {str(exc).splitlines()[0]}") from None
    except BaseException:
        _remove_store(target)
        raise


_SCHEMA_STATEMENT = re.compile(
    r"^CREATE (?:TABLE|SEQUENCE|INDEX|UNIQUE INDEX) [A-Za-z_][A-Za-z0-9_]*[ (]", re.IGNORECASE)


def _schema_statements(src: Path) -> list[str]:
    """The CREATE statements of a backup's schema.sql; anything else is refused."""
    try:
        text = (src / "schema.sql").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"{src} is not a complete backup: schema.sql is missing") from None
    statements = [part.strip() for part in text.split(";\n") if part.strip()]
    statements = [st[:-1] if st.endswith(";") else st for st in statements]
    for st in statements:
        if not _SCHEMA_STATEMENT.match(st) or ";" in st:
            raise StoreError(f"{src / 'schema.sql'} holds a statement a backup never has: "
                             f"{st.splitlines()[0][:60]!r}")
    return statements


class _CursorStore:
    """Lets ``table_checksums`` read through one open transaction's cursor."""

    def __init__(self, cur) -> None:
        self._cur = cur

    def cursor(self):
        return self._cur


def _remove_store(path: Path) -> None:
    for p in (path, Path(f"{path}.wal")):
        with contextlib.suppress(OSError):
            p.unlink()


def _remove_tree(path: Path, remove_dir: bool) -> None:
    if not path.is_dir():
        return
    for child in path.iterdir():
        with contextlib.suppress(OSError):
            child.unlink()
    if remove_dir:
        with contextlib.suppress(OSError):
            path.rmdir()
