"""Bring your own cohort: read a table, map it onto the ``patients`` contract, validate, store.

Nothing is written before the whole file has been validated. The policy:

* a row-level problem (a value of the wrong type, outside its range, an unknown
  code, an impossible combination such as an event without a time) rejects that
  row, and the report lists it by its data row number (the header is not counted);
* a file-level problem (no patient id column, duplicate patient ids, two source
  columns for one contract column, no row left) rejects the import.

Patient ids from the source are replaced by store pseudonyms before anything is
written (``<cohort>-<12 hex digits>``, a keyed SHA-256 of the id): the same file
imported again maps to the same pseudonyms, so a re-import replaces the cohort
with identical rows. The reports never contain a source patient id.

The steps live in modules of one purpose: ``table_read`` (the file as a table),
``import_columns`` (one source column into one contract column),
``import_validate`` (the whole table: ``prepare_table``), ``import_report``
(typed results), ``crlm.privacy`` (keys and pseudonyms); this module names the
cohort, runs the steps and writes the cohort in one transaction.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path
from typing import TextIO

import pandas as pd

from crlm.config import DEMO_COHORT
from crlm.ingest.import_report import ImportResult, PreparedImport, ValidationReport
from crlm.ingest.import_validate import EXTRA_FEATURE_SET, prepare_table
from crlm.ingest.mapping import (
    Mapping,
    MappingError,
    detect_mapping,
    identity_mapping,
    load_mapping,
)
from crlm.ingest.table_read import MAX_FILE_BYTES, TableReadError, _source_bytes, read_table
from crlm.privacy import pseudonym_key, pseudonymise_ids

COHORT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class ImportRefused(ValueError):
    """An import that cannot start (bad cohort name, unreadable mapping ...)."""

def validate_cohort_name(cohort: str) -> str:
    """The cohort name if usable: lower-case letters, digits, '-', '_'; not the demo's."""
    if not isinstance(cohort, str) or not COHORT_NAME_RE.match(cohort):
        raise ImportRefused(f"cohort name {cohort!r}: use 1–63 lower-case letters, digits, "
                            "'-' or '_', starting with a letter or digit")
    if cohort == DEMO_COHORT:
        raise ImportRefused(f"cohort name {cohort!r} is reserved for the synthetic demo cohort")
    return cohort


def cohort_name_from_file(name: str) -> str:
    """A cohort name suggested by a file name (``TCIA CRLM.xlsx`` -> ``tcia-crlm``)."""
    stem = Path(name).stem.lower()
    slug = re.sub(r"[^a-z0-9_-]+", "-", stem).strip("-_")[:63] or "imported"
    if slug == DEMO_COHORT:
        slug = "demo-import"
    return slug


def resolve_mapping(mapping: str | os.PathLike | Mapping | None, headers) -> Mapping:
    """The mapping given (name, file or object), else one detected from the header, else none."""
    if mapping is not None and str(mapping) != "":
        return load_mapping(mapping)
    return detect_mapping(headers) or identity_mapping()


def import_file(store, source: str | os.PathLike | bytes, *, name: str | None = None,
                mapping: str | os.PathLike | Mapping | None = None, cohort: str | None = None,
                dry_run: bool = False, actor: str = "cli",
                max_bytes: int = MAX_FILE_BYTES) -> ImportResult:
    """Validate a file and, unless ``dry_run`` or refused, store it as one cohort.

    Everything lands in one transaction (cohort row, patients, extra features and the
    provenance row with the file's SHA-256, mapping, counts and time) or nothing does.
    The cohort is replaced as a whole, so re-importing the same file is idempotent.
    Raises :class:`TableReadError`, :class:`MappingError` or :class:`ImportRefused` when
    the file, the mapping or the cohort name cannot be used at all; validation problems
    come back in ``result.report`` with ``written=False``.
    """
    from crlm import store as store_api

    data, source_name = _source_bytes(source, name, max_bytes)
    source_name = Path(source_name).name
    source_hash = hashlib.sha256(data).hexdigest()
    frame = read_table(data, source_name, max_bytes=max_bytes)
    chosen = resolve_mapping(mapping, frame.columns)
    cohort = validate_cohort_name(cohort if cohort else cohort_name_from_file(source_name))
    prepared = prepare_table(frame, chosen, source_name=source_name, default_center=cohort)
    report = prepared.report
    import_id = hashlib.sha256(f"{cohort}\x00{source_hash}\x00{chosen.name}".encode()
                               ).hexdigest()[:16]
    result = dict(report=report, cohort=cohort, mapping_name=chosen.name,
                  source_name=source_name, source_sha256=source_hash, import_id=import_id,
                  dry_run=dry_run)
    if not report.ok or dry_run:
        return ImportResult(**result, written=False, n_patients=0, n_features=0)

    key = pseudonym_key(store)
    pseudonyms = pseudonymise_ids(prepared.patients["patient_id"], cohort, key)
    if pseudonyms.duplicated().any():  # pragma: no cover - 48-bit collision
        raise ImportRefused("two patient ids gave the same pseudonym; import refused")
    lookup = dict(zip(prepared.patients["patient_id"], pseudonyms))
    patients = prepared.patients.copy()
    patients["patient_id"] = pseudonyms.to_numpy()
    features = prepared.features.copy()
    if len(features):
        features["patient_id"] = features["patient_id"].map(lookup)
    description = f"imported from {source_name} ({chosen.name} mapping)"
    details = report.extra_details
    feature_info = pd.DataFrame({
        "feature_set": EXTRA_FEATURE_SET, "feature": [e.name for e in details],
        "known_at": [e.known_at for e in details], "label": [e.label for e in details],
        "unit": [e.unit for e in details], "kind": [e.kind for e in details],
        "levels": [list(e.levels) for e in details]})
    n_patients = store_api.replace_cohort(
        store, cohort, [store_api.CohortRows(patients, features, feature_info)],
        kind="imported", description=description,
        unavailable_columns=report.unavailable_columns,
        import_record=dict(import_id=import_id, source_name=source_name,
                           source_hash=source_hash, mapping=chosen.name,
                           rows_read=report.rows_read, rows_accepted=report.rows_accepted,
                           imported_by=actor, report=report.to_text()))
    return ImportResult(**result, written=True, n_patients=n_patients, n_features=len(features))


def import_command(store, file: str, *, mapping: str | None = None, cohort: str | None = None,
                   dry_run: bool = False, actor: str = "cli", out: TextIO | None = None) -> int:
    """``python -m crlm import FILE [--mapping M] [--cohort C] [--dry-run]``.

    Prints the validation report and a last line saying what was written; returns the
    exit status: 0 imported (or dry run passed), 1 refused by validation, 2 unusable
    input (file, mapping or cohort name), with the reason on one line.
    """
    out = out or sys.stdout
    try:
        result = import_file(store, file, mapping=mapping, cohort=cohort, dry_run=dry_run,
                             actor=actor)
    except (TableReadError, MappingError, ImportRefused) as exc:
        print(f"error: {exc}", file=out)
        return 2
    print(result.report.to_text(), file=out)
    print(result.summary(), file=out)
    return 0 if result.ok else 1


__all__ = [
    "ImportRefused", "ImportResult", "MAX_FILE_BYTES", "PreparedImport", "TableReadError",
    "ValidationReport", "cohort_name_from_file", "import_command", "import_file",
    "prepare_table", "pseudonym_key", "pseudonymise_ids", "read_table", "resolve_mapping",
    "validate_cohort_name",
]
