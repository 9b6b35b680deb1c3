"""One case or a batch of cases for the "Score a case" page, without any UI.

* the entries a clinician gives (every model input that is not derived), grouped
  the way a clinician thinks, with their labels, units and ranges from the column
  contract (``crlm.config.PATIENT_COLUMNS``);
* checking a form's entries or an uploaded table into a patients-shaped frame,
  with one problem row per bad value (row, column, value, problem) so that the
  good rows of a batch can still be scored;
* the downloadable batch template;
* the clinical scores computed from the entries (``crlm.clinical``);
* the scores table shown on the page and in the report, the models that could
  not score with their reason, and the flags (imputed, out of range, stale);
* the de-identified record that ``store.save_case`` keeps, and reading it back;
* screening of the free-text case label.

"unknown" (or an empty cell) is always allowed for an entry: the models impute it
and flag it. Cases are identified by their row number only: an uploaded table's
own ids, names or dates are never kept.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from crlm import clinical, config
from crlm.config import Column
from crlm.privacy import csv_bytes, describe_findings, screen_free_text

UNKNOWN = "unknown"
YES, NO = "yes", "no"
MAX_BATCH_ROWS = 1000
MAX_LABEL_CHARS = 60
RESEARCH_NOTICE = "Research use only, not a medical device."

# The order a clinician reads a case in; groups come from the column contract.
# The last two groups are known only after surgery: the pre-treatment models never read
# them (crlm.models.decision); only the post-resection prognosis models do.
ENTRY_GROUPS: tuple[str, ...] = (
    "demographics", "primary tumour", "molecular", "liver disease", "labs", "treatment plan",
    "surgery", "pathology",
)
ENTRY_COLUMNS: tuple[Column, ...] = tuple(
    c for g in ENTRY_GROUPS for c in config.PATIENT_COLUMNS
    if c.group == g and c.name in config.CANDIDATE_INPUT_COLUMNS and not c.derived
)
AFTER_TREATMENT_ENTRIES: tuple[str, ...] = tuple(
    c.name for c in ENTRY_COLUMNS if not config.known_by(c.known_at, config.PLAN))
ENTRY_NAMES: tuple[str, ...] = tuple(c.name for c in ENTRY_COLUMNS)
DERIVED_NAMES: tuple[str, ...] = tuple(
    c.name for c in config.PATIENT_COLUMNS if c.derived and not c.outcome)
CLINICAL_SCORE_LABELS = {
    "ras_status": "RAS status",
    "tumour_burden_score": "Tumour burden score (TBS)",
    "tbs_zone": "TBS zone",
    "fong_score": "Fong score",
    "fong_group": "Fong group",
    "game_score": "GAME score",
    "game_group": "GAME group",
    "mcs_score": "m-CS score",
}
TASK_ORDER = ("response", "anti_egfr_benefit", "os_risk", "pfs_risk", "os_after_resection",
              "recurrence_after_resection")
TASK_LABELS = {
    "response": "Response (RECIST CR/PR)",
    "anti_egfr_benefit": "Anti-EGFR benefit (RAS wild-type, anti-EGFR planned)",
    "os_risk": "Overall survival risk",
    "pfs_risk": "Progression-free survival risk",
    "os_after_resection": "Overall survival after hepatectomy",
    "recurrence_after_resection": "Recurrence after hepatectomy",
}
SURVIVAL_TASKS = ("os_risk", "pfs_risk", "os_after_resection", "recurrence_after_resection")
IMAGING_FAMILIES = {
    "cnn": "Lesion CNN (ResNet-18 on CT crops)",
    "fusion": "Radiomic + genomic fusion (3 : 7)",
}


class CaseInputError(ValueError):
    """Entries that cannot be scored; ``problems`` is the per-value problem table."""

    def __init__(self, message: str, problems: pd.DataFrame | None = None):
        super().__init__(message)
        self.problems = problems if problems is not None else pd.DataFrame(
            columns=["row", "column", "value", "problem"])


# ----------------------------------------------------------------- entries
def entry_groups() -> dict[str, list[Column]]:
    """Entry columns by clinical group, in reading order."""
    out: dict[str, list[Column]] = {}
    for col in ENTRY_COLUMNS:
        out.setdefault(col.group, []).append(col)
    return out


def entry_label(col: Column) -> str:
    """The label a form shows: the contract's label with its unit."""
    return f"{col.label} ({col.unit})" if col.unit else col.label


def entry_options(col: Column) -> list[str]:
    """Choices of a category or yes/no entry, "unknown" first."""
    if col.kind == "bool":
        return [UNKNOWN, YES, NO]
    return [UNKNOWN, *col.levels]


def _is_blank(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", UNKNOWN, "na", "n/a", "nan",
                                                                 "not done", "none")


def _show(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_value(col: Column, value: Any) -> tuple[Any, str | None]:
    """``(typed value, problem)`` for one entry; missing/unknown gives ``(None, None)``.
    The contract's one parser (``Column.parse``) decides."""
    parsed = col.parse(value)
    if parsed.problem and col.kind in ("category", "bool"):
        return None, f"{parsed.problem} (or unknown)"
    return parsed.value, parsed.problem


def _typed_frame(rows: list[dict], ids: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(ENTRY_NAMES))
    for col in ENTRY_COLUMNS:
        if col.kind in ("int", "float"):
            frame[col.name] = pd.to_numeric(frame[col.name], errors="coerce").astype(float)
        else:
            frame[col.name] = frame[col.name].astype(object).where(frame[col.name].notna(), None)
    frame.insert(0, "patient_id", ids)
    return frame


def case_from_form(values: Mapping[str, Any], case_id: str = "case-1") -> pd.DataFrame:
    """The one-row patients-shaped frame of a form's entries.

    ``values`` maps entry names to what the widgets hold ("unknown", None, numbers,
    "yes"/"no", levels). Raises ``CaseInputError`` listing every bad entry.
    """
    unknown = [k for k in values if k not in ENTRY_NAMES]
    if unknown:
        raise CaseInputError(f"not case entries: {', '.join(map(str, unknown))}")
    row: dict[str, Any] = {}
    problems = []
    for col in ENTRY_COLUMNS:
        typed, problem = check_value(col, values.get(col.name))
        if problem:
            problems.append({"row": 1, "column": col.name, "value": _show(values.get(col.name)),
                             "problem": f"{entry_label(col)}: {problem}"})
        row[col.name] = typed
    if problems:
        table = pd.DataFrame(problems)
        raise CaseInputError("; ".join(table["problem"]), table)
    return _typed_frame([row], [case_id])


def form_values(case: Mapping[str, Any]) -> dict[str, Any]:
    """Widget values for a case's entries (the inverse of ``case_from_form``)."""
    out: dict[str, Any] = {}
    for col in ENTRY_COLUMNS:
        value, problem = check_value(col, case.get(col.name))
        if problem:
            raise CaseInputError(f"{entry_label(col)}: {problem}")
        if value is None:
            out[col.name] = None if col.kind in ("int", "float") else UNKNOWN
        elif col.kind == "bool":
            out[col.name] = YES if bool(value) else NO
        elif col.kind == "int":
            out[col.name] = int(value)
        elif col.kind == "float":
            out[col.name] = float(value)
        else:
            out[col.name] = str(value)
    return out


# ----------------------------------------------------------------- clinical scores
def clinical_scores(case: pd.DataFrame) -> pd.DataFrame:
    """TBS, its zone, Fong, GAME, m-CS and RAS status of each row (``crlm.clinical``)."""
    frame = case.copy()
    for name in config.PATIENT_COLUMN_NAMES:
        if name not in frame.columns:
            frame[name] = None
    derived = clinical.add_derived_columns(frame)
    return derived[list(CLINICAL_SCORE_LABELS)].reset_index(drop=True)


def clinical_summary(case: pd.DataFrame) -> dict[str, str]:
    """The first row's clinical scores as display text ("–" where an input is unknown)."""
    row = clinical_scores(case.iloc[:1]).iloc[0]
    out = {}
    for name, label in CLINICAL_SCORE_LABELS.items():
        value = row[name]
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            out[label] = "–"
        elif name == "tumour_burden_score":
            out[label] = f"{float(value):.1f}"
        else:
            out[label] = str(value)
    return out


# ----------------------------------------------------------------- batch files
def batch_template() -> bytes:
    """CSV template: the entry columns with two example rows (one with unknowns)."""
    example = {
        "age_years": 63, "sex": "male", "primary_side": "left", "t_stage": "T3",
        "node_positive": "yes", "grade": "G2", "kras": "wild-type", "nras": "wild-type",
        "braf_v600e": "wild-type", "msi": "MSS", "her2": "not amplified", "synchronous": "yes",
        "disease_free_interval_months": 0, "n_liver_lesions": 3, "max_diameter_cm": 4.2,
        "bilobar": "no", "extrahepatic_disease": "no", "cea_ng_ml": 35.0, "regimen": "FOLFOX",
        "biologic": "anti-EGFR", "hepatectomy": "no", "growth_pattern": "",
    }
    second = dict(example, sex="female", primary_side="right", kras="mutant", nras="",
                  braf_v600e="", her2="", node_positive="", cea_ng_ml="", biologic="anti-VEGF",
                  max_diameter_cm=6.5, n_liver_lesions=1, age_years=71)
    frame = pd.DataFrame([example, second], columns=list(ENTRY_NAMES))
    return csv_bytes(frame)


@dataclass
class BatchResult:
    """A checked batch: ``cases`` (good rows, ids ``row-<n>``), ``problems`` (row,
    column, value, problem) and ``notes`` (ignored columns and such)."""

    cases: pd.DataFrame
    problems: pd.DataFrame
    n_rows: int
    notes: list[str] = field(default_factory=list)

    @property
    def bad_rows(self) -> list[int]:
        return sorted(set(int(r) for r in self.problems["row"])) if len(self.problems) else []


def check_batch(frame: pd.DataFrame, *, first_row_number: int = 2) -> BatchResult:
    """Check an uploaded table row by row.

    Columns must be the patients table's names. Entry columns are checked; derived
    and outcome columns are ignored (the scores are recomputed; outcomes are not
    inputs); ``patient_id`` and other identifying columns are dropped (cases are
    named by their row in the file, ``first_row_number`` being the first data row,
    2 for a CSV with a header). Raises ``CaseInputError`` when no column is an entry
    column or the table is too long.
    """
    columns = [str(c).strip() for c in frame.columns]
    frame = frame.copy()
    frame.columns = columns
    entries = [c for c in columns if c in ENTRY_NAMES]
    if not entries:
        shown = ", ".join(columns[:8]) + (" ..." if len(columns) > 8 else "")
        raise CaseInputError(
            f"none of the file's columns ({shown}) is a case entry; use the patients table's "
            f"column names, e.g. {', '.join(ENTRY_NAMES[:5])} (download the template)")
    if len(frame) > MAX_BATCH_ROWS:
        raise CaseInputError(f"the file has {len(frame)} rows; at most {MAX_BATCH_ROWS} cases "
                             "are scored at once")
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise CaseInputError(f"column(s) given twice: {', '.join(dup)}")
    notes = []
    ignored_known = [c for c in columns if c in config.COLUMNS_BY_NAME and c not in ENTRY_NAMES]
    unknown = [c for c in columns if c not in config.COLUMNS_BY_NAME]
    later = [c for c in entries if c in AFTER_TREATMENT_ENTRIES]
    if later:
        notes.append("known only after surgery, so not used by any pre-treatment model "
                     "(read only by the post-resection prognosis models): " + ", ".join(later))
    if ignored_known:
        notes.append("ignored (recomputed, identifying or outcome columns): "
                     + ", ".join(ignored_known))
    if unknown:
        notes.append("ignored (not columns of the patients table): " + ", ".join(unknown))
    absent = [c for c in ENTRY_NAMES if c not in columns]
    if absent:
        notes.append("not in the file, so unknown for every case: " + ", ".join(absent))
    rows, ids, problems = [], [], []
    records = frame[entries].to_dict("records")
    for i, record in enumerate(records):
        number = i + first_row_number
        row: dict[str, Any] = {}
        bad = False
        if all(_is_blank(record[name]) for name in entries):
            problems.append({"row": number, "column": "", "value": "",
                             "problem": "the row has no entry"})
            continue
        for name in entries:
            col = config.COLUMNS_BY_NAME[name]
            typed, problem = check_value(col, record[name])
            if problem:
                problems.append({"row": number, "column": name, "value": _show(record[name]),
                                 "problem": problem})
                bad = True
            row[name] = typed
        if not bad:
            rows.append(row)
            ids.append(f"row-{number}")
    problem_frame = pd.DataFrame(problems, columns=["row", "column", "value", "problem"])
    return BatchResult(cases=_typed_frame(rows, ids), problems=problem_frame,
                       n_rows=len(records), notes=notes)


def read_batch(data: bytes, name: str) -> BatchResult:
    """Read a CSV / TSV / Excel upload (``crlm.ingest.importer.read_table``) and check it."""
    from crlm.ingest.importer import TableReadError, read_table

    suffix = name.lower().rsplit(".", 1)[-1] if "." in name else ""
    if suffix not in ("csv", "tsv", "txt", "xlsx"):
        raise CaseInputError(f"{name}: cases are read from .csv, .tsv or .xlsx files, "
                             f"not {('.' + suffix) if suffix else 'a file without a suffix'}")
    if not data:
        raise CaseInputError(f"{name}: the file is empty")
    try:
        frame = read_table(bytes(data), name if suffix != "txt" else name[:-4] + ".csv")
    except TableReadError as exc:
        raise CaseInputError(str(exc)) from None
    result = check_batch(frame)
    result.notes = list(frame.attrs.get("warnings") or []) + result.notes
    return result


# ----------------------------------------------------------------- scores
def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def class_label(task: str, predicted: bool | None) -> str:
    if predicted is None:
        return "–"
    if task in SURVIVAL_TASKS:
        return "high risk" if predicted else "low risk"
    return "responder" if predicted else "non-responder"


def display_score(row: Mapping) -> float:
    """A clinical baseline's own value (response tasks store its negative); else the score."""
    if row.get("kind") == "clinical" and isinstance(row.get("contributions"), Mapping) \
            and row["contributions"]:
        return float(next(iter(row["contributions"].values())))
    return float(row["score"])


def scores_table(scores: pd.DataFrame, thresholds: Mapping[str, float | None] | None = None,
                 model_labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per scored model: task, model, version, kind, score, threshold,
    predicted class at the threshold (``thresholds`` overrides the stored one, e.g.
    the threshold set on the Models page), cohort percentile and flags.
    A model the case does not give enough to answer keeps its raw score but its class
    reads "not enough information — needed: …" (``crlm.models.requirements``).
    Rows without a score are left out (see ``could_not_score``)."""
    thresholds = dict(thresholds or {})
    labels = dict(model_labels or {})
    out = []
    for row in scores.to_dict("records"):
        if not _finite(row.get("score")):
            continue
        threshold = thresholds.get(row["model_id"], row.get("threshold"))
        threshold = float(threshold) if _finite(threshold) else None
        predicted = None if threshold is None else bool(float(row["score"]) >= threshold)
        sufficient = bool(row.get("sufficient", True))
        shown_class = class_label(row["task"], predicted) if sufficient else (
            "not enough information — needed: " + ", ".join(row.get("needed") or ()))
        flags = []
        imputed = list(row.get("imputed") or [])
        entries = [c for c in imputed if c in ENTRY_NAMES]
        if entries:
            flags.append(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} imputed")
        if len(imputed) > len(entries):
            n = len(imputed) - len(entries)
            flags.append(f"{n} feature{'' if n == 1 else 's'} imputed")
        if row.get("out_of_range"):
            flags.append(f"outside training range: {', '.join(row['out_of_range'])}")
        if row.get("stale"):
            flags.append("trained on a different cohort version")
        out.append({
            "case": row["patient_id"],
            "task": TASK_LABELS.get(row["task"], row["task"]),
            "task_id": row["task"],
            "model_id": row["model_id"],
            "model": labels.get(row["model_id"], row["model_id"]),
            "version": int(row["model_version"]),
            "kind": row.get("kind", ""),
            "score": float(row["score"]),
            "shown_score": display_score(row),
            "threshold": threshold,
            "predicted_class": shown_class,
            "sufficient": sufficient,
            "percentile": float(row["percentile"]) if _finite(row.get("percentile")) else None,
            "n_imputed": len(row.get("imputed") or []),
            "stale": bool(row.get("stale")),
            "flags": "; ".join(flags),
        })
    table = pd.DataFrame(out, columns=[
        "case", "task", "task_id", "model_id", "model", "version", "kind", "score",
        "shown_score", "threshold", "predicted_class", "sufficient", "percentile", "n_imputed",
        "stale", "flags"])
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    table["_order"] = table["task_id"].map(order).fillna(len(order))
    table["_kind"] = (table["kind"] == "clinical").astype(int)
    return table.sort_values(["case", "_order", "_kind", "model_id"], kind="stable") \
        .drop(columns=["_order", "_kind"]).reset_index(drop=True)


def could_not_score(scores: pd.DataFrame, registry: pd.DataFrame | None = None,
                    imaging_given: bool = False) -> pd.DataFrame:
    """Models that gave no score, with the reason; with an image, the imaging
    families missing from the registry are listed too."""
    rows = [{"case": r["patient_id"], "task": TASK_LABELS.get(r["task"], r["task"]),
             "model_id": r["model_id"], "reason": r.get("reason") or "no score"}
            for r in scores.to_dict("records") if not _finite(r.get("score"))]
    if imaging_given:
        families = set(registry["family"]) if registry is not None and len(registry) else set()
        for family, label in IMAGING_FAMILIES.items():
            if family not in families:
                rows.append({"case": "all", "task": "response", "model_id": family,
                             "reason": f"{label}: no trained model of this family in the "
                                       "registry for this cohort"})
    return pd.DataFrame(rows, columns=["case", "task", "model_id", "reason"])


@dataclass(frozen=True)
class ReasonGroup:
    """Models without an answer for the same reason: ``reason`` in words, the models
    (``model_id``) and one detail line per model (its own reason)."""

    reason: str
    models: tuple[str, ...]
    details: tuple[str, ...]

    @property
    def title(self) -> str:
        n = len(self.models)
        return f"{self.reason}: {n} model{'' if n == 1 else 's'}"


def reason_groups(scores: pd.DataFrame) -> tuple[ReasonGroup, ...]:
    """The models of ``score_cases``' output that give no answer — no score, or not
    enough information — grouped by their shared reason (``reason_group``), largest
    group first."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for r in scores.to_dict("records"):
        answered = _finite(r.get("score")) and bool(r.get("sufficient", True))
        if answered:
            continue
        key = r.get("reason_group") or r.get("reason") or "no score"
        groups.setdefault(key, []).append((r["model_id"], r.get("reason") or key))
    out = [ReasonGroup(reason=k, models=tuple(m for m, _ in v),
                       details=tuple(f"{m}: {d}" for m, d in v)) for k, v in groups.items()]
    return tuple(sorted(out, key=lambda g: -len(g.models)))


def case_flags(scores: pd.DataFrame) -> dict[str, list[str]]:
    """Inputs imputed and outside the training range (by any model), stale models."""
    imputed: set[str] = set()
    out_of_range: set[str] = set()
    stale: list[str] = []
    for row in scores.to_dict("records"):
        if not _finite(row.get("score")):
            continue
        imputed.update(row.get("imputed") or [])
        out_of_range.update(row.get("out_of_range") or [])
        if row.get("stale"):
            stale.append(f"{row['model_id']} v{int(row['model_version'])}")
    entry = set(ENTRY_NAMES)
    return {"imputed_inputs": sorted(imputed & entry),
            "imputed_features": sorted(imputed - entry),
            "out_of_range": sorted(out_of_range),
            "stale_models": sorted(set(stale))}


def batch_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Wide view of a batch: one row per case, one column per trained model's score."""
    trained = table[table["kind"] != "clinical"]
    if trained.empty:
        return pd.DataFrame({"case": table["case"].unique()})
    wide = trained.pivot_table(index="case", columns="model_id", values="score", aggfunc="first")
    wide = wide.reset_index()
    wide.columns.name = None
    order = {c: int(str(c).rsplit("-", 1)[-1]) if str(c).rsplit("-", 1)[-1].isdigit() else 0
             for c in wide["case"]}
    return wide.sort_values("case", key=lambda s: s.map(order)).reset_index(drop=True)


# ----------------------------------------------------------------- records
def _plain(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def case_record(case: pd.DataFrame, scores: pd.DataFrame, *, cohort: str,
                thresholds: Mapping[str, float | None] | None = None,
                image_metadata: Mapping | None = None,
                answers: pd.DataFrame | None = None, summary: str = "") -> dict:
    """What ``store.save_case`` keeps: de-identified entries only (no id, name or
    date), each model's score, version, threshold and class, the clinical scores,
    the board's answers (``board_table`` rows) and the one-line ``summary`` when given,
    and the image metadata when a CT was read (``image_metadata_record``: allow-listed
    fields only, text screened)."""
    row = case.iloc[0]
    inputs = {name: _plain(row.get(name)) for name in ENTRY_NAMES}
    table = scores_table(scores, thresholds)
    models = [{k: _plain(r[k]) for k in ("task_id", "model_id", "version", "kind", "score",
                                         "shown_score", "threshold", "predicted_class",
                                         "percentile", "stale", "flags")}
              for r in table.to_dict("records")]
    missing = could_not_score(scores).to_dict("records")
    clin = clinical_scores(case.iloc[:1]).iloc[0]
    out = {
        "inputs": inputs,
        "scores": {"cohort": cohort, "models": models, "could_not_score": missing,
                   "clinical": {k: _plain(clin[k]) for k in CLINICAL_SCORE_LABELS},
                   "answers": [] if answers is None else [
                       {k: _plain(r[k]) for k in ("task_id", "model_id", "model", "answered",
                                                  "answer", "interval", "calibration")}
                       for r in answers.to_dict("records")],
                   "summary": summary},
        "image_metadata": image_metadata_record(image_metadata),
    }
    return out


def case_from_record(record: Mapping) -> pd.DataFrame:
    """The one-row frame of a saved case's entries."""
    inputs = record.get("inputs") or {}
    values = {name: inputs.get(name) for name in ENTRY_NAMES}
    return case_from_form(form_values(values), case_id=f"case-{record.get('case_id', 1)}")


def saved_scores_table(record: Mapping) -> pd.DataFrame:
    """The scores table as saved with a case."""
    models = (record.get("scores") or {}).get("models") or []
    return pd.DataFrame(models)


# ----------------------------------------------------------------- label screening
_IDENTIFIER_PATTERNS = (
    (re.compile(r"\d{5,}"), "a long number (record, hospital or NHS number)"),
    (re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"), "a date"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"), "an e-mail address"),
    (re.compile(r"\b(mr|mrs|ms|miss|dr|prof)\.?\s+[a-z]", re.I), "a name with a title"),
    (re.compile(r"\b[A-Z][a-z]+,\s*[A-Z][a-z]+\b"), "a name (Surname, Firstname)"),
    (re.compile(r"\b(dob|mrn|nhs|born)\b", re.I), "an identifier keyword"),
    (re.compile(r"\+?\d[\d ()-]{7,}\d"), "a phone number"),
)


MAX_NOTE_CHARS = 500


def screen_note(note: str) -> str:
    """A board note, stripped, or ``ValueError`` when it is empty, too long or looks like it
    identifies a patient (the label's screening, ``screen_label``, on up to 500 characters)."""
    text = (note or "").strip()
    if not text:
        raise ValueError("the note is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise ValueError(f"the note is {len(text)} characters; keep it under {MAX_NOTE_CHARS}")
    return _screen(text, "note")


def screen_label(label: str) -> str:
    """The label, stripped, or ``ValueError`` when it looks like it identifies a patient.

    Screens with ``crlm.privacy.screen_free_text`` and these patterns besides: long
    numbers, dates, e-mail addresses, titled names, "Surname, Firstname", DOB/MRN/NHS
    and phone numbers.
    """
    text = (label or "").strip()
    if len(text) > MAX_LABEL_CHARS:
        raise ValueError(f"the case label is {len(text)} characters; keep it under "
                         f"{MAX_LABEL_CHARS} (a short non-identifying note)")
    return _screen(text, "case label")


def _screen(text: str, what_text: str) -> str:
    if text:
        _clean, findings = screen_free_text(text)
        if findings:
            raise ValueError(f"the {what_text} looks like it identifies a patient "
                             f"({describe_findings(findings)}); use a non-identifying note "
                             "such as 'MDT week 12, case 3'")
    for pattern, what in _IDENTIFIER_PATTERNS:
        if pattern.search(text):
            raise ValueError(f"the {what_text} looks like it holds {what}; it must not "
                             "identify a patient (e.g. 'MDT week 12, case 3')")
    return text


# ----------------------------------------------------------------- CT uploads
IMAGE_METADATA_KEYS = ("series_uid", "modality", "manufacturer", "manufacturer_model",
                       "n_slices", "rows", "columns", "pixel_spacing_mm", "spacing_mm",
                       "slice_thickness_mm", "deidentified", "lesion_region", "lesion_features")
MAX_METADATA_TEXT_CHARS = 64  # a DICOM LO value


def image_metadata_record(meta: Mapping | None) -> dict | None:
    """What a saved case may keep of a CT's metadata: the ``IMAGE_METADATA_KEYS`` only,
    every text in it (device names included) screened with
    ``crlm.privacy.screen_free_text`` and cut to 64 characters. ``None`` when empty."""
    if not meta:
        return None
    out = {k: _screened(meta[k]) for k in IMAGE_METADATA_KEYS if k in meta}
    uid = meta.get("series_uid")  # de-identified by the reader; digits and dots only
    if "series_uid" in out:
        out["series_uid"] = uid if isinstance(uid, str) and _UID_RE.match(uid) else None
    return out or None


_UID_RE = re.compile(r"^[0-9][0-9.]{0,63}$")


def _screened(value: Any) -> Any:
    if isinstance(value, str):
        return screen_free_text(value)[0][:MAX_METADATA_TEXT_CHARS]
    if isinstance(value, Mapping):
        return {_screened(str(k)): _screened(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_screened(v) for v in value]
    return _plain(value)


@dataclass
class CtUpload:
    """A CT series read from an upload (de-identified on reading): HU volume
    ``[z, y, x]``, its metadata and the lesion mask of a DICOM SEG when one came with it."""

    volume: np.ndarray
    meta: dict
    seg_mask: np.ndarray | None

    def image_metadata(self, region: Mapping | None, features: Mapping[str, float]) -> dict:
        """What a saved case keeps of the image: de-identified geometry, the lesion
        region and its features (never pixels, names, dates or original UIDs)."""
        out = {k: self.meta.get(k) for k in IMAGE_METADATA_KEYS}
        out["lesion_region"] = dict(region) if region else None
        out["lesion_features"] = dict(features)
        return image_metadata_record(out)


def lesion_inputs(ct: CtUpload, mask: np.ndarray) -> tuple[dict, np.ndarray]:
    """Lesion features (``crlm.models.imaging.lesion_features``) and the lesion crop
    ``[1, slices, H, W]`` on the geometry the imaging models were trained on."""
    from crlm.models.imaging import case_crop, lesion_features
    from crlm.models.multiomics import CROP_SIZE, CROP_SLICES

    spacing = ct.meta["spacing_mm"]
    features = lesion_features(ct.volume, mask, spacing)
    crop = case_crop(ct.volume, mask, spacing, size=CROP_SIZE, slices=CROP_SLICES)
    return features, crop[None]


def read_ct_upload(data: bytes, name: str) -> CtUpload:
    """Read an uploaded CT series (.zip of DICOM files, or one .dcm) from memory with
    ``crlm.ingest.dicom`` (nothing is written to disk), with its DICOM SEG if any.
    Raises ``crlm.ingest.dicom.DicomError`` with a message naming the file."""
    from crlm.ingest import dicom

    if not data:
        raise dicom.DicomError(f"{name}: the file is empty")
    is_zip = data[:4] == b"PK\x03\x04"
    is_dicom = len(data) > 132 and data[128:132] == b"DICM"
    if not (is_zip or is_dicom):
        raise dicom.DicomError(f"{name}: not a DICOM upload; give a .zip of a CT series "
                               "(DICOM files) or a single .dcm file")
    try:
        volume, meta = dicom.read_series(data)
    except dicom.DicomError as exc:
        raise dicom.DicomError(f"{name}: {exc}") from None
    try:
        seg = dicom.read_seg(data, meta)
    except dicom.DicomError:
        seg = None
    if seg is not None and not seg.any():
        seg = None
    return CtUpload(volume=volume, meta=meta, seg_mask=seg)


# ----------------------------------------------------------------- helpers for imaging
def lesion_feature_frame(case_id: str, features: Mapping[str, float],
                         known: Sequence[str]) -> pd.DataFrame:
    """The lesion features whose names the cohort's models know, as a feature frame."""
    row = {"patient_id": case_id}
    row.update({k: float(v) for k, v in features.items() if k in set(known) and _finite(v)})
    return pd.DataFrame([row])



# ----------------------------------------------------------------- board answers
BOARD_COLUMNS = ["case", "task_id", "task", "model_id", "model", "kind", "answered", "answer",
                 "interval", "calibration", "raw_score"]


def board_table(predictions: Sequence, model_labels: Mapping[str, str] | None = None
                ) -> pd.DataFrame:
    """What a board reads, one row per model that gave a score: the answer in words
    (probability or survival at 1, 3 and 5 years, or "not enough information —
    needed: …"), its interval or prediction set, the calibration it rests on, and the
    raw score for the data scientist. ``predictions``: ``crlm.models.absolute``
    ``CasePrediction`` items. Models without a score are left out (``reason_groups``)."""
    labels = dict(model_labels or {})
    rows = []
    for p in predictions:
        if not _finite(p.raw_score):
            continue
        rows.append({"case": p.patient_id, "task_id": p.task,
                     "task": TASK_LABELS.get(p.task, p.task), "model_id": p.model_id,
                     "model": labels.get(p.model_id, p.model_id), "kind": p.kind,
                     "answered": bool(p.answered and not p.needed), "answer": p.headline,
                     "interval": p.interval_text, "calibration": p.calibration_text,
                     "raw_score": float(p.raw_score)})
    table = pd.DataFrame(rows, columns=BOARD_COLUMNS)
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    table["_order"] = table["task_id"].map(order).fillna(len(order))
    table["_kind"] = (table["kind"] == "clinical").astype(int)
    return table.sort_values(["case", "_order", "_kind", "model_id"], kind="stable") \
        .drop(columns=["_order", "_kind"]).reset_index(drop=True)


SUMMARY_TASKS = {"response": "Response", "anti_egfr_benefit": "Anti-EGFR benefit",
                 "os_risk": "OS", "pfs_risk": "PFS", "os_after_resection": "OS after resection",
                 "recurrence_after_resection": "Recurrence-free after resection"}


def summary_line(board: pd.DataFrame, headline_models: Mapping[str, str],
                 missing: Sequence[str] = ()) -> str:
    """The case in one line: per task, the answer of its headline model (the model the
    cohort ranks best, ``crlm.models.absolute.headline_models``) with its interval or
    set, then what is missing."""
    parts = []
    for task, name in SUMMARY_TASKS.items():
        model_id = headline_models.get(task)
        row = board[board["model_id"] == model_id] if model_id else board.iloc[0:0]
        if row.empty:
            continue
        r = row.iloc[0]
        if not r["answered"]:
            parts.append(f"{name}: no answer")
        elif task in SURVIVAL_TASKS:
            first = str(r["answer"]).split("; ")
            parts.append(f"{name}: " + "; ".join(first[1:2] + first[-1:]))
        else:
            interval = str(r["interval"]).replace(
                " prediction set: both outcomes (the model cannot tell)", " set: both") \
                .replace(" prediction set:", " set:")
            parts.append(f"{name}: {r['answer'].replace('probability of response ', '')}"
                         + (f" ({interval})" if interval else ""))
    if missing:
        parts.append("missing: " + ", ".join(missing))
    return " · ".join(parts) if parts else "no model answered"


def missing_entries(case: pd.DataFrame) -> list[str]:
    """Labels of the first row's pre-treatment entries that are unknown."""
    row = case.iloc[0]
    out = []
    for col in ENTRY_COLUMNS:
        if col.name in AFTER_TREATMENT_ENTRIES:
            continue
        v = row.get(col.name)
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            out.append(col.label)
    return out
