"""Import serial measurements (CEA, target-lesion sums, lesion counts, total liver volume)
of a stored cohort.

The file is long: one row per patient, time and measurement (CSV, TSV, Parquet or Excel,
read by ``crlm.ingest.table_read``). A mapping (YAML/TOML file or dict) names its columns::

    name: centre-a-labs
    id: patient_id              # the same source ids as the cohort's clinical import
    time:                       # either a time since the start of first-line treatment ...
      column: day
      unit: days                # days, weeks or months
    # time: {date: visit_date, start: treatment_start}   # ... or two dates, days between
    kind:
      column: test
      values: {CEA: cea, SLD: target_lesion_sum, lesions: lesion_count}
    value: result
    unit: {column: unit}        # or unit: {default: {cea: ng/mL, target_lesion_sum: mm}}

Without a mapping the columns ``patient_id, day, kind, value, unit`` are read as named.
Units are converted to the store's (``config.MEASUREMENT_KINDS``): CEA in ng/mL (µg/L is
the same), sums in cm (mm / 10), lesion counts as counts, total liver volume in mL (cm³ and
cc are the same, litres x 1,000, dL x 100).

Policy, as for the clinical import: a bad row (unknown patient, kind or unit, a value
that is not a number, negative or outside its kind's plausible range, a time that is not a number or outside
-365 ... 3,650 days, two different values for one patient, kind and day) is rejected and
listed by its data row number; the report never shows a source id. Patient ids are
matched through the store's pseudonym key, like the clinical import (a synthetic cohort's
ids, which are not pseudonyms, as they are). An accepted file replaces the cohort's
measurements in one transaction with its provenance row, so a re-import of the same file
is idempotent; ``dry_run`` validates and reports only.

The report also derives RECIST (``crlm.recist``) from the target-lesion sums and checks it
against the cohort's stored best response.
"""
from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import yaml

from crlm import config, recist
from crlm.ingest.table_read import MAX_FILE_BYTES, TableReadError, _source_bytes, read_table
from crlm.privacy import pseudonym_key, pseudonymise_ids

UNIT_FACTORS: dict[str, dict[str, float]] = {
    "cea": {"ng/ml": 1.0, "ug/l": 1.0, "µg/l": 1.0, "mcg/l": 1.0},
    "target_lesion_sum": {"cm": 1.0, "mm": 0.1},
    "lesion_count": {"count": 1.0, "n": 1.0, "": 1.0},
    "liver_volume": {"ml": 1.0, "cm3": 1.0, "cm³": 1.0, "cc": 1.0, "l": 1000.0,
                     "dl": 100.0},
}
TIME_UNITS = {"days": 1.0, "day": 1.0, "weeks": 7.0, "week": 7.0,
              "months": config.DAYS_PER_MONTH, "month": config.DAYS_PER_MONTH}
DAY_RANGE = (-365, 3650)
MAX_PROBLEMS_SHOWN = 200


class MeasurementImportError(ValueError):
    """A file, mapping or cohort the measurement import cannot use at all."""


@dataclass(frozen=True)
class MeasurementMapping:
    name: str = "exact names"
    id: str = "patient_id"
    time_column: str | None = "day"
    time_unit: str = "days"
    date_column: str | None = None
    start_column: str | None = None
    kind_column: str = "kind"
    kind_values: dict = field(default_factory=dict)
    value_column: str = "value"
    unit_column: str | None = "unit"
    unit_default: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Any, name: str = "mapping") -> "MeasurementMapping":
        if not isinstance(raw, dict):
            raise MeasurementImportError(f"mapping {name}: not a mapping of keys to values")
        known = {"name", "id", "time", "kind", "value", "unit"}
        extra = sorted(set(raw) - known)
        if extra:
            raise MeasurementImportError(f"mapping {name}: unknown keys {', '.join(extra)}")
        time = raw.get("time", {"column": "day"})
        if isinstance(time, str):
            time = {"column": time}
        if not isinstance(time, dict) or not ({"column"} <= set(time) or {"date", "start"} <= set(time)):
            raise MeasurementImportError(f"mapping {name}: time needs 'column' (and 'unit') or "
                                         "'date' and 'start'")
        unit = str(time.get("unit", "days")).lower()
        if "column" in time and unit not in TIME_UNITS:
            raise MeasurementImportError(f"mapping {name}: time unit {unit!r} is not one of "
                                         "days, weeks, months")
        kind = raw.get("kind", {"column": "kind"})
        kind = {"column": kind} if isinstance(kind, str) else kind
        values = dict(kind.get("values") or {})
        bad = sorted(str(v) for v in values.values() if v not in config.MEASUREMENT_KINDS)
        if bad:
            raise MeasurementImportError(f"mapping {name}: kinds {', '.join(bad)} are not one of "
                                         f"{', '.join(config.MEASUREMENT_KINDS)}")
        units = raw.get("unit", {"column": "unit"})
        units = {"column": units} if isinstance(units, str) else units
        default = {k: str(v).lower() for k, v in (units.get("default") or {}).items()}
        return cls(name=str(raw.get("name", name)), id=str(raw.get("id", "patient_id")),
                   time_column=time.get("column"), time_unit=unit,
                   date_column=time.get("date"), start_column=time.get("start"),
                   kind_column=str(kind.get("column", "kind")), kind_values=values,
                   value_column=str(raw.get("value", "value")),
                   unit_column=units.get("column"), unit_default=default)

    def columns(self) -> list[str]:
        cols = [self.id, self.kind_column, self.value_column]
        cols += [self.time_column] if self.time_column else [self.date_column, self.start_column]
        return cols


def load_measurement_mapping(mapping) -> MeasurementMapping:
    if mapping is None:
        return MeasurementMapping()
    if isinstance(mapping, MeasurementMapping):
        return mapping
    if isinstance(mapping, dict):
        return MeasurementMapping.from_dict(mapping)
    path = Path(mapping)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MeasurementImportError(f"mapping {path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise MeasurementImportError(f"mapping {path}: not valid YAML ({exc})") from None
    return MeasurementMapping.from_dict(raw, name=path.name)


@dataclass(frozen=True, eq=False)
class MeasurementReport:
    """What validation found. ``problems``: row (data row from 1), column, problem, value
    (never a patient id); ``recist``: derived vs stored best response per patient."""

    source_name: str
    mapping_name: str
    rows_read: int
    rows_accepted: int
    patients_matched: int
    problems: pd.DataFrame
    by_kind: pd.DataFrame
    recist: pd.DataFrame

    @property
    def ok(self) -> bool:
        return self.rows_accepted > 0

    @property
    def recist_agreement(self) -> float | None:
        both = self.recist.dropna(subset=["derived_response", "best_response"])
        if both.empty:
            return None
        return float((both["derived_response"] == both["best_response"]).mean())

    def recist_table(self) -> pd.DataFrame:
        both = self.recist.dropna(subset=["derived_response", "best_response"])
        if both.empty:
            return pd.DataFrame()
        return pd.crosstab(both["best_response"], both["derived_response"],
                           rownames=["stored"], colnames=["derived from sums"])

    def to_text(self) -> str:
        lines = [f"measurements {self.source_name} ({self.mapping_name} mapping): "
                 f"{self.rows_read} rows read, {self.rows_accepted} accepted, "
                 f"{self.rows_read - self.rows_accepted} rejected; "
                 f"{self.patients_matched} patients"]
        for row in self.by_kind.itertuples():
            lines.append(f"  {row.kind}: {row.n_rows} values of {row.n_patients} patients")
        if len(self.problems):
            lines.append("problems (data row, column: problem [value]):")
            for p in self.problems.head(MAX_PROBLEMS_SHOWN).itertuples():
                value = f" [{p.value}]" if p.value else ""
                lines.append(f"  row {p.row}, {p.column}: {p.problem}{value}")
            if len(self.problems) > MAX_PROBLEMS_SHOWN:
                lines.append(f"  ... and {len(self.problems) - MAX_PROBLEMS_SHOWN} more")
        agreement = self.recist_agreement
        if agreement is not None:
            n = int(self.recist.dropna(subset=["derived_response", "best_response"]).shape[0])
            lines.append(f"RECIST from the target-lesion sums agrees with the stored best "
                         f"response in {agreement:.1%} of {n} patients:")
            lines.extend("  " + line for line in self.recist_table().to_string().splitlines())
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class MeasurementImportResult:
    report: MeasurementReport
    cohort: str
    import_id: str
    dry_run: bool
    written: bool
    measurements: pd.DataFrame

    def summary(self) -> str:
        if self.written:
            return (f"imported {len(self.measurements)} measurements into cohort {self.cohort!r} "
                    f"(import {self.import_id}); the cohort's earlier measurements were replaced")
        if self.dry_run and self.report.ok:
            return f"dry run: nothing written ({len(self.measurements)} measurements would be)"
        return "nothing written: no row was accepted"


def _problem(rows: list, mask: np.ndarray, column: str, problem: str, values=None) -> None:
    for i in np.flatnonzero(mask):
        value = "" if values is None else str(values[i])[:40]
        rows.append((int(i) + 1, column, problem, value))


def prepare_measurements(frame: pd.DataFrame, mapping: MeasurementMapping,
                         known_ids: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validated rows (patient_id as store id, day, kind, value, unit) and the problems.

    ``known_ids`` maps source ids to store ids (index source id, value store id).
    """
    missing = [c for c in mapping.columns() if c not in frame.columns]
    if missing:
        raise MeasurementImportError(f"the file lacks the mapped columns {', '.join(missing)}")
    n = len(frame)
    problems: list = []
    bad = np.zeros(n, bool)
    ids = frame[mapping.id].astype("string").str.strip()
    store_ids = ids.map(known_ids).to_numpy(dtype=object)
    unknown = pd.isna(store_ids)
    _problem(problems, unknown, mapping.id, "patient not in the cohort (or no id)")
    bad |= unknown

    raw_kind = frame[mapping.kind_column].astype("string").str.strip()
    if mapping.kind_values:
        lookup = {str(k).strip().lower(): v for k, v in mapping.kind_values.items()}
    else:
        lookup = {k: k for k in config.MEASUREMENT_KINDS}
    kind = raw_kind.str.lower().map(lookup).to_numpy(dtype=object)
    no_kind = pd.isna(kind)
    _problem(problems, no_kind, mapping.kind_column, "unknown measurement", raw_kind.to_numpy())
    bad |= no_kind

    raw_value = frame[mapping.value_column]
    value = pd.to_numeric(raw_value.astype("string").str.replace(",", ".", regex=False)
                          .str.strip(), errors="coerce").to_numpy(float)
    not_number = ~np.isfinite(value)
    _problem(problems, not_number & ~bad, mapping.value_column, "not a number",
             raw_value.to_numpy())
    bad |= not_number

    if mapping.unit_column and mapping.unit_column in frame.columns:
        unit = frame[mapping.unit_column].astype("string").fillna("").str.strip().str.lower()
        unit = unit.to_numpy(dtype=object)
    else:
        unit = np.array([mapping.unit_default.get(k, config.MEASUREMENT_KINDS[k].unit.lower())
                         if isinstance(k, str) else "" for k in kind], dtype=object)
    factor = np.array([UNIT_FACTORS.get(k, {}).get(u, np.nan) if isinstance(k, str) else np.nan
                       for k, u in zip(kind, unit)])
    bad_unit = ~np.isfinite(factor) & ~bad
    _problem(problems, bad_unit, mapping.unit_column or "unit", "unit not known for this "
             "measurement", unit)
    bad |= bad_unit
    negative = ~bad & (value < 0)
    _problem(problems, negative, mapping.value_column, "negative: a measurement cannot be "
             "below 0", raw_value.to_numpy())
    bad |= negative
    value = value * np.where(np.isfinite(factor), factor, 1.0)
    for name, spec in config.MEASUREMENT_KINDS.items():
        out_of_range = ~bad & (kind == name) & ((value < spec.lo) | (value > spec.hi))
        _problem(problems, out_of_range, mapping.value_column,
                 f"outside the allowed range for {spec.label} ({spec.lo:,g} to {spec.hi:,g} "
                 f"{spec.unit}, after unit conversion)", raw_value.to_numpy())
        bad |= out_of_range

    if mapping.time_column:
        raw_time = frame[mapping.time_column]
        days = pd.to_numeric(raw_time.astype("string").str.strip(), errors="coerce").to_numpy(float)
        days = days * TIME_UNITS[mapping.time_unit]
        time_column = mapping.time_column
    else:
        date = pd.to_datetime(frame[mapping.date_column], errors="coerce")
        start = pd.to_datetime(frame[mapping.start_column], errors="coerce")
        days = (date - start).dt.days.to_numpy(float)
        raw_time = frame[mapping.date_column]
        time_column = mapping.date_column
    bad_time = ~bad & (~np.isfinite(days) | (days < DAY_RANGE[0]) | (days > DAY_RANGE[1]))
    _problem(problems, bad_time, time_column, f"time not a number or outside {DAY_RANGE[0]} "
             f"to {DAY_RANGE[1]} days", raw_time.to_numpy())
    bad |= bad_time

    rows = pd.DataFrame({"row": np.arange(1, n + 1), "patient_id": store_ids,
                         "day": np.round(np.where(np.isfinite(days), days, 0)).astype(int),
                         "kind": kind, "value": np.round(value, 4)})[~bad]
    # one value per patient, kind and day: exact repeats are kept once, conflicts rejected
    key = ["patient_id", "kind", "day"]
    conflict = rows.groupby(key)["value"].transform("nunique") > 1
    for r in rows.loc[conflict, "row"]:
        problems.append((int(r), mapping.value_column,
                         "another row gives a different value for this patient, kind and day", ""))
    rows = rows[~conflict].drop_duplicates(key)
    accepted = rows.drop(columns="row").sort_values(key[:1] + ["kind", "day"], kind="stable")
    accepted = accepted.assign(unit=accepted["kind"].map(
        {k: v.unit for k, v in config.MEASUREMENT_KINDS.items()})).reset_index(drop=True)
    problem_frame = pd.DataFrame(problems, columns=["row", "column", "problem", "value"])
    return accepted, problem_frame.sort_values(["row", "column"], kind="stable").reset_index(drop=True)


def import_measurements(store, source: str | os.PathLike | bytes, *, cohort: str,
                        name: str | None = None, mapping=None, dry_run: bool = False,
                        actor: str = "cli", max_bytes: int = MAX_FILE_BYTES
                        ) -> MeasurementImportResult:
    """Validate a measurement file against ``cohort`` and, unless ``dry_run`` or nothing is
    accepted, replace the cohort's measurements with it (one transaction)."""
    from crlm import store as st

    info = st.load_cohort_info(store, cohort)
    if info is None:
        raise MeasurementImportError(f"cohort {cohort!r} is not in the store; import its "
                                     "clinical table first")
    data, source_name = _source_bytes(source, name, max_bytes)
    source_name = Path(source_name).name
    source_hash = hashlib.sha256(data).hexdigest()
    frame = read_table(data, source_name, max_bytes=max_bytes)
    chosen = load_measurement_mapping(mapping)
    patients = st.load_cohort(store, st.CohortFilter(cohort=cohort),
                              columns=["patient_id", "best_response"])
    source_ids = frame[chosen.id].astype("string").str.strip() if chosen.id in frame else None
    if source_ids is None:
        raise MeasurementImportError(f"the file lacks the mapped id column {chosen.id!r}")
    distinct = pd.Series(source_ids.dropna().unique(), dtype=object)
    if info.get("kind") == "synthetic":
        candidates = distinct
    else:
        candidates = pseudonymise_ids(distinct, cohort, pseudonym_key(store))
    stored = set(patients["patient_id"].astype(str))
    known = pd.Series(candidates.to_numpy(), index=distinct.to_numpy())
    known = known[known.isin(stored)]
    accepted, problems = prepare_measurements(frame, chosen, known)
    accepted = accepted.assign(source=f"import:{source_hash[:12]}")
    by_kind = (accepted.groupby("kind").agg(n_rows=("value", "size"),
                                            n_patients=("patient_id", "nunique")).reset_index()
               if len(accepted) else pd.DataFrame(columns=["kind", "n_rows", "n_patients"]))
    sums = accepted[accepted["kind"] == "target_lesion_sum"]
    derived = recist.derive_frame(sums)
    check = derived.merge(patients.astype({"patient_id": str, "best_response": object}),
                          on="patient_id", how="left")
    report = MeasurementReport(
        source_name=source_name, mapping_name=chosen.name, rows_read=len(frame),
        rows_accepted=len(accepted), patients_matched=int(accepted["patient_id"].nunique()),
        problems=problems, by_kind=by_kind, recist=check)
    import_id = hashlib.sha256(f"{cohort}\x00measurements\x00{source_hash}\x00{chosen.name}"
                               .encode()).hexdigest()[:16]
    written = False
    if report.ok and not dry_run:
        st.replace_measurements(store, cohort, accepted, import_record=dict(
            import_id=import_id, source_name=source_name, source_hash=source_hash,
            mapping=f"measurements: {chosen.name}", rows_read=report.rows_read,
            rows_accepted=report.rows_accepted, imported_by=actor, report=report.to_text()))
        written = True
    return MeasurementImportResult(report=report, cohort=cohort, import_id=import_id,
                                   dry_run=dry_run, written=written, measurements=accepted)


def import_measurements_command(store, file: str, *, cohort: str, mapping: str | None = None,
                                dry_run: bool = False, actor: str = "cli",
                                out: TextIO | None = None) -> int:
    """``python -m crlm import-measurements FILE --cohort C [--mapping M] [--dry-run]``:
    0 imported (or dry run passed), 1 nothing accepted, 2 unusable input."""
    out = out or sys.stdout
    try:
        result = import_measurements(store, file, cohort=cohort, mapping=mapping,
                                     dry_run=dry_run, actor=actor)
    except (TableReadError, MeasurementImportError) as exc:
        print(f"error: {exc}", file=out)
        return 2
    print(result.report.to_text(), file=out)
    print(result.summary(), file=out)
    return 0 if result.report.ok else 1
