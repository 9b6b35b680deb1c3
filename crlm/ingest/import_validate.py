"""Validating a whole source table against the ``patients`` contract (``prepare_table``):
columns mapped, every column parsed, row-level and file-level rules, survival
pairs, recomputed scores compared with the published ones, extra features, what
the source cannot provide. Nothing is written here."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crlm import clinical
from crlm.config import (
    COLUMNS_BY_NAME,
    PATIENT_COLUMN_NAMES,
    PATIENT_COLUMNS,
    UNKNOWN_TIME,
    Column,
)
from crlm.ingest.mapping import Mapping, normalise_header
from crlm.ingest.import_columns import _Cells, _parse_column, _Problems, _shorten
from crlm.ingest.import_extras import parse_extra
from crlm.ingest.import_report import ExtraColumn, PreparedImport, ValidationReport
from crlm.ingest.table_read import UNCACHED_FORMULA

EXTRA_FEATURE_SET = "extra"
TIME_TOLERANCE_MONTHS = 1e-6
SURVIVAL_PAIRS = (("os_months", "os_event"), ("pfs_months", "pfs_event"),
                  ("rfs_months", "rfs_event"))
_PREVIEW_SCORES = ("fong_group", "tbs_zone", "game_group", "ras_status", "mcs_score",
                   "fong_score")

def _default_series(column: Column, value: Any, n: int, index: pd.Index) -> pd.Series:
    if column.kind == "bool":
        return pd.Series(pd.array([value] * n, dtype="boolean"), index=index)
    if column.kind == "int":
        return pd.Series(pd.array([value] * n, dtype="Int64"), index=index)
    if column.kind == "float":
        return pd.Series(np.full(n, np.nan if value is None else float(value)), index=index)
    return pd.Series([value] * n, index=index, dtype=object)


def prepare_table(frame: pd.DataFrame, mapping: Mapping, *, source_name: str = "",
                  default_center: str = "imported") -> PreparedImport:
    """Validate ``frame`` against the contract under ``mapping``; nothing is written.

    The returned patients frame holds the accepted rows with every contract column
    (derived scores recomputed with :func:`crlm.clinical.add_derived_columns`) and still
    the source patient ids: pseudonymise them before storing (``import_file`` does).
    """
    source_name = source_name or frame.attrs.get("source_name", "") or "<table>"
    n = len(frame)
    index = pd.RangeIndex(n)
    frame = frame.reset_index(drop=True)
    problems = _Problems()
    file_problems: list[str] = list()
    warnings: list[str] = list(frame.attrs.get("warnings", []))

    # -- which source column goes where ----------------------------------------
    by_header: dict[str, str] = {}
    for original in frame.columns:
        key = normalise_header(original)
        if key in by_header:
            file_problems.append(f"columns {by_header[key]!r} and {original!r} are the same "
                                 "column once case, spaces, '-' and '_' are ignored")
        else:
            by_header[key] = original
    mapped_targets = set(mapping.columns.values())
    source_of: dict[str, str] = {}          # contract column -> normalised header
    extra, dropped, unknown, helpers = [], [], [], []
    helper_headers = {p.source for p in mapping.proxies.values()} | set(mapping.compare.values())
    for key in by_header:
        if key in mapping.columns:
            target = mapping.columns[key]
        elif key in COLUMNS_BY_NAME and key not in mapped_targets:
            target = key
        else:
            target = None
        if target is not None:
            if target in source_of:
                file_problems.append(f"two source columns for {target}: "
                                     f"{by_header[source_of[target]]!r} and {by_header[key]!r}")
            source_of[target] = key
        elif key in mapping.extra:
            extra.append(key)
        elif key in mapping.drop:
            dropped.append(by_header[key])
        elif key in helper_headers:
            helpers.append(key)
        else:
            unknown.append(by_header[key])
    absent_extra = [key for key in mapping.extra if key not in by_header]
    if absent_extra:
        warnings.append(f"{len(absent_extra)} extra column(s) named by the mapping are not in "
                        f"the file: {', '.join(absent_extra)}")
    if "patient_id" not in source_of:
        file_problems.append("no patient id column: name one 'patient_id' or map a column to "
                             "patient_id in the mapping")

    # -- parse every contract column -------------------------------------------
    formula_cells: dict[str, np.ndarray] = {}  # source header -> formula cells without result
    for row, header in frame.attrs.get("uncached_formulas", []):
        formula_cells.setdefault(header, np.zeros(n, dtype=bool))[row] = True
    out: dict[str, pd.Series] = {}
    missing_of: dict[str, np.ndarray] = {}
    summaries = []
    rejected = np.zeros(n, dtype=bool)
    derived_in_file: dict[str, pd.Series] = {}
    bad_cells: dict[str, np.ndarray] = {}
    for column in PATIENT_COLUMNS:
        key = source_of.get(column.name)
        if key is None:
            if column.derived:
                continue
            value = mapping.defaults.get(column.name)
            if value is None and column.name == "center":
                value = default_center
            if value is None and column.name == "cohort_split":
                value = "development"
            out[column.name] = _default_series(column, value, n, index)
            missing_of[column.name] = np.full(n, value is None)
            continue
        cells = _Cells(frame[by_header[key]])
        parsed = _parse_column(cells, column, mapping)
        if column.derived:
            derived_in_file[column.name] = parsed.values
            continue
        n_bad = 0
        bad_cells[column.name] = np.zeros(n, dtype=bool)
        unknown_formula = formula_cells.get(by_header[key])
        if unknown_formula is not None:
            parsed.bad.append((unknown_formula, UNCACHED_FORMULA))
        for mask, problem in parsed.bad:
            rows = np.flatnonzero(mask)
            problems.add(rows, column.name, problem, cells.display(rows))
            rejected |= mask
            bad_cells[column.name] |= mask
            n_bad += len(rows)
        out[column.name] = parsed.values
        missing_of[column.name] = parsed.missing
        if column.required or column.name == "patient_id":
            rows = np.flatnonzero(parsed.missing)
            problems.add(rows, column.name, "missing (required)")
            rejected[rows] = True
        summaries.append({
            "column": column.name, "source": by_header[key],
            "unit": (mapping.units.get(column.name) or column.unit),
            "missing": int(parsed.missing.sum()),
            "missing_pct": round(100.0 * parsed.missing.sum() / n, 1) if n else 0.0,
            "coded_missing": parsed.coded_missing, "problems": n_bad})

    # -- impossible combinations -----------------------------------------------
    def clean(*columns: str) -> np.ndarray:
        """Rows where none of these columns had a bad value (so a combination is meaningful)."""
        mask = np.ones(n, dtype=bool)
        for c in columns:
            mask &= ~bad_cells.get(c, np.zeros(n, dtype=bool))
        return mask

    for time_col, event_col in SURVIVAL_PAIRS:
        if time_col in out and event_col in out:
            t_missing = np.asarray(pd.isna(out[time_col]), dtype=bool)
            e_missing = np.asarray(pd.isna(out[event_col]), dtype=bool)
            both = clean(time_col, event_col)
            rows = np.flatnonzero(t_missing & ~e_missing & both)
            problems.add(rows, time_col, f"{event_col} given without a time")
            rejected[rows] = True
            rows = np.flatnonzero(~t_missing & e_missing & both)
            problems.add(rows, event_col, f"{time_col} given without an event status")
            rejected[rows] = True
    for column, what in (("pfs_months", "progression-free time longer than overall survival "
                                        "(both from the same origin)"),
                         ("rfs_months", "recurrence-free time longer than overall survival")):
        if "os_months" not in out or column not in out:
            continue
        os_t = out["os_months"].to_numpy(dtype=float)
        pfs_t = out[column].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            longer = (pfs_t > os_t + TIME_TOLERANCE_MONTHS) & clean("os_months", column)
        rows = np.flatnonzero(longer)
        problems.add(rows, column, what,
                     [f"{p:g} > {o:g}" for p, o in zip(pfs_t[rows], os_t[rows])])
        rejected[rows] = True

    # -- duplicate patient ids (file level; row numbers only, never the ids) ----
    if "patient_id" in source_of:
        ids = out["patient_id"]
        dup = np.asarray(ids.duplicated(keep=False) & ids.notna(), dtype=bool)
        if dup.any():
            rows = np.flatnonzero(dup) + 1
            listed = ", ".join(map(str, rows[:20])) + (" …" if len(rows) > 20 else "")
            file_problems.append(f"duplicate patient ids in {len(rows)} rows ({listed}); every "
                                 "patient must appear once")

    accepted = ~rejected
    rows_accepted = int(accepted.sum()) if not file_problems else 0
    if not file_problems and n and not accepted.any():
        file_problems.append("no row passed validation; see the problems listed")

    # -- the accepted rows in contract form, with derived scores ---------------
    patients = pd.DataFrame(out, index=index).loc[accepted].reset_index(drop=True)
    for column in PATIENT_COLUMNS:
        if column.name not in patients.columns:
            patients[column.name] = _default_series(column, None, len(patients), patients.index)
    patients = clinical.add_derived_columns(patients)
    rows_kept = np.flatnonzero(accepted)
    if mapping.proxy_scores:
        patients = _apply_proxies(patients, frame, by_header, mapping, rows_kept, warnings)
    patients = _contract_dtypes(patients.loc[:, list(PATIENT_COLUMN_NAMES)])

    # -- recomputed vs published scores ----------------------------------------
    disagreements = []
    for derived, values in derived_in_file.items():
        mine = patients[derived].to_numpy(dtype=object)
        theirs = values.to_numpy(dtype=object)[rows_kept]
        for i in _differing(mine, theirs):
            disagreements.append({"row": int(rows_kept[i]) + 1, "column": derived,
                                  "published": _shorten(theirs[i]),
                                  "recomputed": _shorten(mine[i])})
    for derived, header in mapping.compare.items():
        if header not in by_header:
            continue
        cells = _Cells(frame[by_header[header]])
        published = np.where(cells.missing_mask(mapping.missing_tokens(derived)), np.nan,
                             cells.numeric)[rows_kept]
        mine = patients[derived].to_numpy(dtype=object)
        for i in _differing(mine, published):
            disagreements.append({"row": int(rows_kept[i]) + 1, "column": derived,
                                  "published": _shorten(_plain(published[i])),
                                  "recomputed": _shorten(_plain(mine[i]))})
    disagreements_frame = pd.DataFrame(disagreements,
                                       columns=["row", "column", "published", "recomputed"])
    if len(disagreements_frame):
        warnings.append(f"{len(disagreements_frame)} row(s) where a recomputed score differs "
                        "from the one in the file (the recomputed one is stored)")

    # -- extra features ----------------------------------------------------------
    feature_parts = []
    extra_details = []
    for key in extra:
        cells = _Cells(frame[by_header[key]])
        info = mapping.extra_info.get(key)
        parsed = parse_extra(cells, key, info, mapping.missing_tokens(""))
        missing = parsed.missing
        if by_header[key] in formula_cells:
            rows = np.flatnonzero(formula_cells[by_header[key]]) + 1
            warnings.append(f"extra column {key!r}: {len(rows)} formula cell(s) without a saved "
                            f"result were left empty (rows {', '.join(map(str, rows[:20]))}"
                            f"{' …' if len(rows) > 20 else ''})")
        warnings.extend(parsed.warnings)
        if parsed.problem:
            file_problems.append(parsed.problem)
        extra_details.append(ExtraColumn(
            name=key, known_at=mapping.known_at.get(key, UNKNOWN_TIME), kind=parsed.kind,
            levels=parsed.levels, label=(info.label if info else "") or key,
            unit=info.unit if info else ""))
        summaries.append({"column": f"extra:{key}", "source": by_header[key],
                          "unit": info.unit if info else "",
                          "missing": int(missing.sum()),
                          "missing_pct": round(100.0 * missing.sum() / n, 1) if n else 0.0,
                          "coded_missing": int((missing & ~cells.na).sum()),
                          "problems": parsed.n_bad})
        kept = parsed.values[accepted]
        present = ~np.isnan(kept)
        if present.any():
            feature_parts.append(pd.DataFrame({
                "patient_id": patients["patient_id"].to_numpy()[present],
                "feature_set": EXTRA_FEATURE_SET, "feature": key, "value": kept[present]}))
    features = (pd.concat(feature_parts, ignore_index=True) if feature_parts else
                pd.DataFrame({"patient_id": pd.Series(dtype=object),
                              "feature_set": pd.Series(dtype=object),
                              "feature": pd.Series(dtype=object),
                              "value": pd.Series(dtype=float)}))

    # -- what this source cannot provide -------------------------------------------
    unavailable = list(mapping.unavailable)
    if len(patients):
        for column in PATIENT_COLUMNS:
            if column.group != "id" and column.name not in unavailable and \
                    patients[column.name].isna().all():
                unavailable.append(column.name)

    report = ValidationReport(
        source_name=source_name, mapping_name=mapping.name, rows_read=n,
        rows_accepted=rows_accepted if not file_problems else 0,
        rejected_rows=tuple(int(r) + 1 for r in np.flatnonzero(rejected)),
        file_problems=tuple(file_problems), warnings=tuple(warnings),
        problems=problems.frame(), columns=pd.DataFrame(
            summaries, columns=["column", "source", "unit", "missing", "missing_pct",
                                "coded_missing", "problems"]),
        unknown_columns=tuple(unknown), dropped_columns=tuple(dropped),
        extra_columns=tuple(extra),
        extra_known_at=tuple(mapping.known_at.get(k, UNKNOWN_TIME) for k in extra),
        extra_details=tuple(extra_details),
        unavailable_columns=tuple(
            c for c in PATIENT_COLUMN_NAMES if c in set(unavailable)),
        derived_preview=_derived_preview(patients),
        score_disagreements=disagreements_frame)
    return PreparedImport(report=report, mapping=mapping, patients=patients, features=features)


def _apply_proxies(patients: pd.DataFrame, frame: pd.DataFrame, by_header: dict[str, str],
                   mapping: Mapping, rows_kept: np.ndarray, warnings: list[str]) -> pd.DataFrame:
    """Recompute ``mapping.proxy_scores`` with the proxy values standing in for their columns."""
    stand_in = patients.copy()
    for target, proxy in mapping.proxies.items():
        if proxy.source not in by_header:
            warnings.append(f"proxy source column {proxy.source!r} is not in the file; "
                            f"{', '.join(mapping.proxy_scores)} stay as computed without it")
            return patients
        cells = _Cells(frame[by_header[proxy.source]])
        codes = {k: v for k, v in proxy.values.items()}
        values, hit = cells.coded(codes)
        numbers = np.where(hit, pd.to_numeric(values, errors="coerce"), np.nan)[rows_kept]
        known = patients[target].to_numpy(dtype=float, na_value=np.nan)
        stand_in[target] = np.where(np.isnan(known), numbers, known)
    recomputed = clinical.add_derived_columns(stand_in)
    out = patients.copy()
    for score in mapping.proxy_scores:
        out[score] = recomputed[score]
    return out


def _contract_dtypes(patients: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for column in PATIENT_COLUMNS:
        s = patients[column.name]
        if column.kind == "bool":
            out[column.name] = s.astype("boolean")
        elif column.kind == "int":
            out[column.name] = s.astype("Int64")
        elif column.kind == "float":
            out[column.name] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            values = s.astype(object)
            out[column.name] = values.where(values.notna(), None)
    return pd.DataFrame(out)


def _plain(value: Any) -> Any:
    if isinstance(value, (float, np.floating)) and not np.isnan(value) and value == int(value):
        return int(value)
    return value


def _differing(mine: np.ndarray, theirs: np.ndarray) -> list[int]:
    """Positions where two value arrays differ (missing equals missing; numbers by value)."""
    a = pd.Series(mine, dtype=object)
    b = pd.Series(theirs, dtype=object)
    a_na, b_na = a.isna().to_numpy(), b.isna().to_numpy()
    a_num = pd.to_numeric(a, errors="coerce").to_numpy(dtype=float)
    b_num = pd.to_numeric(b, errors="coerce").to_numpy(dtype=float)
    numeric = ~np.isnan(a_num) & ~np.isnan(b_num)
    with np.errstate(invalid="ignore"):
        same_number = np.abs(a_num - b_num) <= 1e-9 * np.maximum(1.0, np.abs(a_num))
    same_text = (a.astype(str) == b.astype(str)).to_numpy()
    same = np.where(numeric, same_number, same_text)
    differ = (a_na != b_na) | (~a_na & ~b_na & ~same)
    return np.flatnonzero(differ).tolist()


def _derived_preview(patients: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for score in _PREVIEW_SCORES:
        if score not in patients.columns or patients[score].isna().all():
            continue
        counts = patients[score].astype(object).where(patients[score].notna(), "missing")
        for level, count in counts.value_counts(sort=False).sort_index(key=lambda s: s.astype(
                str)).items():
            rows.append({"score": score, "level": str(level), "n": int(count)})
    return pd.DataFrame(rows, columns=["score", "level", "n"])
