"""Reads and writes of the store. Every value is a bound parameter.

``load_*`` reads, ``save_*`` / ``delete_*`` write (each in one transaction).
Functions take a ``Store``; reads open their own cursor so that they are safe
to call from several threads.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Mapping, Sequence

import pandas as pd

from crlm.config import PATIENT_COLUMN_NAMES
from crlm.store.connection import Store, StoreError, refuse_duplicate_keys
from crlm.store.filters import CohortFilter

TABLES = ("cohorts", "patients", "features", "feature_info", "images", "measurements",
          "models", "predictions", "cases", "audit_log", "imports", "board_items",
          "case_notes", "schema_version")


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


# -- cohorts and patients --------------------------------------------------
def list_cohorts(store: Store) -> pd.DataFrame:
    return store.cursor().execute(
        "SELECT cohort, kind, description, n_patients, created_at, unavailable_columns "
        "FROM cohorts ORDER BY kind DESC, cohort"
    ).df()


def load_cohort_info(store: Store, cohort: str) -> dict | None:
    cur = store.cursor()
    row = cur.execute("SELECT * FROM cohorts WHERE cohort = ?", [cohort]).fetchone()
    if row is None:
        return None
    names = [d[0] for d in cur.description]
    info = dict(zip(names, row))
    info["unavailable_columns"] = json.loads(info.get("unavailable_columns") or "[]")
    return info


def begin_cohort(cur, cohort: str, *, kind: str, description: str = "", seed: int | None = None,
                 unavailable_columns: Sequence[str] = ()) -> None:
    """Inside a transaction: (re)create the cohort row and remove its old rows."""
    for table in ("predictions", "features", "feature_info", "images", "measurements",
                  "patients"):
        cur.execute(f"DELETE FROM {table} WHERE cohort = ?", [cohort])
    cur.execute("DELETE FROM models WHERE cohort = ?", [cohort])
    cur.execute("DELETE FROM cohorts WHERE cohort = ?", [cohort])
    cur.execute(
        "INSERT INTO cohorts VALUES (?, ?, ?, ?, ?, 0, NULL, ?)",
        [cohort, kind, description, _now(), seed, json.dumps(list(unavailable_columns))],
    )


def append_patients(cur, cohort: str, patients: pd.DataFrame) -> None:
    """Inside a transaction: insert a frame shaped like the patients contract."""
    missing = [c for c in PATIENT_COLUMN_NAMES if c not in patients.columns]
    if missing:
        raise ValueError(f"patients frame lacks contract columns: {', '.join(missing)}")
    frame = patients.loc[:, list(PATIENT_COLUMN_NAMES)]
    cur.register("_incoming_patients", frame)
    try:
        cols = ", ".join(PATIENT_COLUMN_NAMES)
        cur.execute(
            f"INSERT INTO patients (cohort, {cols}) SELECT ?, {cols} FROM _incoming_patients",
            [cohort],
        )
    finally:
        cur.unregister("_incoming_patients")


def finish_cohort(cur, cohort: str) -> int:
    """Inside a transaction: record the patient count and a hash of the cohort's rows."""
    n = cur.execute("SELECT count(*) FROM patients WHERE cohort = ?", [cohort]).fetchone()[0]
    digest = cur.execute(
        "SELECT coalesce(bit_xor(hash(p)), 0) FROM patients p WHERE cohort = ?", [cohort]
    ).fetchone()[0]
    cur.execute(
        "UPDATE cohorts SET n_patients = ?, data_hash = ? WHERE cohort = ?",
        [n, f"{n}-{digest:x}", cohort],
    )
    return int(n)


def save_cohort(store: Store, cohort: str, patients: pd.DataFrame,
                features: pd.DataFrame | None = None, *, kind: str = "imported",
                description: str = "", seed: int | None = None,
                unavailable_columns: Sequence[str] = ()) -> int:
    """Replace a whole cohort in one transaction; returns the number of patients."""
    from crlm.store.cohorts import CohortRows, replace_cohort

    return replace_cohort(store, cohort, [CohortRows(patients, features)], kind=kind,
                          description=description, seed=seed,
                          unavailable_columns=unavailable_columns)


def load_cohort(store: Store, filt: CohortFilter, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Patients matching the filter, in patient_id order."""
    cols = _columns(columns)
    where, params = filt.where()
    return store.cursor().execute(
        f"SELECT {cols} FROM patients WHERE {where} ORDER BY patient_id", params
    ).df()


def count_patients(store: Store, filt: CohortFilter) -> int:
    where, params = filt.where()
    return int(store.cursor().execute(f"SELECT count(*) FROM patients WHERE {where}", params)
               .fetchone()[0])


def load_column_levels(store: Store, cohort: str, column: str) -> list[str]:
    """Distinct values of a whitelisted column (for free categories such as centre)."""
    _columns([column])
    rows = store.cursor().execute(
        f'SELECT DISTINCT "{column}" FROM patients WHERE cohort = ? AND "{column}" IS NOT NULL '
        f'ORDER BY 1', [cohort]
    ).fetchall()
    return [str(r[0]) for r in rows]


def save_model(store: Store, record: Mapping, predictions: pd.DataFrame | None = None) -> int:
    """Register a new version of a model (and its predictions) in one transaction.

    ``record`` holds model_id, name, family, task, cohort, kind, feature_set (list),
    training_hash, threshold, metrics (dict), artefact_path. Returns the version.
    The new version becomes current; older versions and their predictions stay.
    """
    with store.transaction() as cur:
        version = cur.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM models WHERE model_id = ?",
            [record["model_id"]],
        ).fetchone()[0]
        cur.execute("UPDATE models SET is_current = false WHERE model_id = ?", [record["model_id"]])
        cur.execute(
            "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, true)",
            [
                record["model_id"], version, record["name"], record["family"], record["task"],
                record["cohort"], record.get("kind", "trained"),
                json.dumps(list(record.get("feature_set") or [])),
                record.get("training_hash"), record.get("trained_at") or _now(),
                record.get("threshold"), json.dumps(record.get("metrics") or {}, default=float),
                record.get("artefact_path"),
            ],
        )
        if predictions is not None and len(predictions):
            _insert_predictions(cur, record, version, predictions)
        return int(version)


def _insert_predictions(cur, record: Mapping, version: int, predictions: pd.DataFrame) -> None:
    refuse_duplicate_keys(predictions, ["patient_id", "split"], "predictions")
    frame = pd.DataFrame({
        "patient_id": predictions["patient_id"].astype(str).to_numpy(),
        "split": predictions["split"].astype(str).to_numpy(),
        "fold": pd.array(predictions.get("fold", pd.Series([None] * len(predictions))),
                         dtype="Int64"),
        "score": predictions["score"].astype(float).to_numpy(),
    })
    cur.register("_incoming_predictions", frame)
    try:
        cur.execute(
            "INSERT INTO predictions SELECT ?, patient_id, ?, ?, ?, split, fold, score "
            "FROM _incoming_predictions",
            [record["cohort"], record["model_id"], version, record["task"]],
        )
    finally:
        cur.unregister("_incoming_predictions")


def load_models(store: Store, *, cohort: str | None = None, task: str | None = None,
                current_only: bool = True) -> pd.DataFrame:
    clauses, params = ["true"], []
    if cohort is not None:
        clauses.append("cohort = ?")
        params.append(cohort)
    if task is not None:
        clauses.append("task = ?")
        params.append(task)
    if current_only:
        clauses.append("is_current")
    df = store.cursor().execute(
        f"SELECT * FROM models WHERE {' AND '.join(clauses)} ORDER BY task, kind DESC, model_id, version",
        params,
    ).df()
    if not df.empty:
        df["feature_set"] = df["feature_set"].map(lambda s: json.loads(s or "[]"))
        df["metrics"] = df["metrics"].map(lambda s: json.loads(s or "{}"))
    return df


def load_predictions(store: Store, filt: CohortFilter, *, task: str | None = None,
                     model_id: str | None = None, version: int | None = None,
                     split: str | Sequence[str] | None = None,
                     columns: Sequence[str] = ()) -> pd.DataFrame:
    """Predictions of current (or the given version of) models for patients matching the filter,
    joined with the requested patient columns. One query."""
    where, params = filt.where()
    pcols = _columns(columns, prefix="p.") if columns else ""
    clauses = ["m.is_current" if version is None else "m.version = ?"]
    extra: list = [] if version is None else [version]
    if task is not None:
        clauses.append("q.task = ?")
        extra.append(task)
    if model_id is not None:
        clauses.append("q.model_id = ?")
        extra.append(model_id)
    if split is not None:
        splits = [split] if isinstance(split, str) else list(split)
        clauses.append(f"q.split IN ({', '.join('?' for _ in splits)})")
        extra.extend(splits)
    sql = (
        "SELECT q.patient_id, q.model_id, q.model_version, q.task, q.split, q.fold, q.score"
        + (f", {pcols}" if pcols else "")
        + " FROM predictions q JOIN models m ON m.model_id = q.model_id AND m.version = q.model_version"
        + " JOIN (SELECT * FROM patients WHERE " + where + ") p"
        + " ON p.cohort = q.cohort AND p.patient_id = q.patient_id"
        + " WHERE " + " AND ".join(clauses)
        + " ORDER BY q.model_id, q.patient_id"
    )
    return store.cursor().execute(sql, params + extra).df()


# -- cases and audit -------------------------------------------------------
def save_case(store: Store, *, actor: str, inputs: Mapping, scores: Mapping,
              label: str = "", cohort: str | None = None,
              image_metadata: Mapping | None = None) -> int:
    """Store a scored case and its audit row in one transaction; returns the case id."""
    with store.transaction() as cur:
        case_id = cur.execute(
            "INSERT INTO cases (created_at, created_by, label, cohort, inputs, scores, image_metadata) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING case_id",
            [_now(), actor, label, cohort, json.dumps(inputs, default=str),
             json.dumps(scores, default=str),
             json.dumps(image_metadata, default=str) if image_metadata else None],
        ).fetchone()[0]
        _audit(cur, actor, "save_case", f"case:{case_id}", "")
        return int(case_id)


def load_cases(store: Store) -> pd.DataFrame:
    return store.cursor().execute(
        "SELECT case_id, created_at, created_by, label, cohort FROM cases ORDER BY case_id DESC"
    ).df()


def load_case(store: Store, case_id: int) -> dict | None:
    cur = store.cursor()
    row = cur.execute("SELECT * FROM cases WHERE case_id = ?", [int(case_id)]).fetchone()
    if row is None:
        return None
    case = dict(zip([d[0] for d in cur.description], row))
    for key in ("inputs", "scores", "image_metadata"):
        case[key] = json.loads(case[key]) if case.get(key) else None
    return case


def delete_case(store: Store, case_id: int, *, actor: str) -> bool:
    with store.transaction() as cur:
        n = cur.execute("SELECT count(*) FROM cases WHERE case_id = ?", [int(case_id)]).fetchone()[0]
        if not n:
            return False
        cur.execute("DELETE FROM board_items WHERE case_id = ?", [int(case_id)])
        cur.execute("DELETE FROM case_notes WHERE case_id = ?", [int(case_id)])
        cur.execute("DELETE FROM cases WHERE case_id = ?", [int(case_id)])
        _audit(cur, actor, "delete_case", f"case:{case_id}", "")
        return True


def _audit(cur, actor: str, action: str, obj: str | None, detail: str | None) -> None:
    cur.execute(
        "INSERT INTO audit_log (logged_at, actor, action, object, detail) VALUES (?, ?, ?, ?, ?)",
        [_now(), actor, action, obj, detail],
    )


def log_action(store: Store, actor: str, action: str, obj: str | None = None,
               detail: str | None = None) -> None:
    with store.transaction() as cur:
        _audit(cur, actor, action, obj, detail)


def load_audit_log(store: Store, limit: int = 200) -> pd.DataFrame:
    return store.cursor().execute(
        "SELECT * FROM audit_log ORDER BY event_id DESC LIMIT ?", [int(limit)]
    ).df()


# -- imports -----------------------------------------------------------------
def load_imports(store: Store, cohort: str | None = None) -> pd.DataFrame:
    if cohort is None:
        return store.cursor().execute("SELECT * FROM imports ORDER BY imported_at DESC").df()
    return store.cursor().execute(
        "SELECT * FROM imports WHERE cohort = ? ORDER BY imported_at DESC", [cohort]).df()


def record_import(cur, *, import_id: str, cohort: str, source_name: str, source_hash: str,
                  mapping: str, rows_read: int, rows_accepted: int, imported_by: str,
                  report: str) -> None:
    """Inside a transaction: the provenance row of one import, and its audit row."""
    cur.execute("DELETE FROM imports WHERE import_id = ?", [import_id])
    cur.execute(
        "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [import_id, cohort, source_name, source_hash, mapping, rows_read, rows_accepted,
         _now(), imported_by, report],
    )
    _audit(cur, imported_by, "import", f"cohort:{cohort}", f"rows={rows_accepted}")


# -- integrity helpers -------------------------------------------------------
def table_checksums(store: Store) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent content hash of every table."""
    cur = store.cursor()
    out = {}
    for table in TABLES:
        n, h = cur.execute(f"SELECT count(*), coalesce(bit_xor(hash(t)), 0) FROM {table} t").fetchone()
        out[table] = (int(n), f"{h:x}")
    return out


def data_hash(frame: pd.DataFrame) -> str:
    """A stable hash of a frame's values (used to tie models to their training data)."""
    h = hashlib.sha256()
    h.update(",".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def _columns(columns: Sequence[str] | None, prefix: str = "") -> str:
    if not columns:
        return "* EXCLUDE (cohort)" if not prefix else f"{prefix}* EXCLUDE (cohort)"
    bad = [c for c in columns if c not in PATIENT_COLUMN_NAMES]
    if bad:
        raise StoreError(f"unknown patient column(s): {', '.join(bad)}")
    return ", ".join(f'{prefix}"{c}"' for c in columns)


def load_cohort_fingerprint(store: Store, cohort: str) -> tuple[int, str, int, str]:
    """Row count and order-independent content hash of a cohort's patients and features
    (changes whenever any of their values change)."""
    cur = store.cursor()
    n_p, h_p = cur.execute(
        "SELECT count(*), coalesce(bit_xor(hash(p)), 0) FROM patients p WHERE cohort = ?",
        [cohort]).fetchone()
    n_f, h_f = cur.execute(
        "SELECT count(*), coalesce(bit_xor(hash(f)), 0) FROM features f WHERE cohort = ?",
        [cohort]).fetchone()
    return int(n_p), f"{h_p:x}", int(n_f), f"{h_f:x}"
