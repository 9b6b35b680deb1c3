"""The Cohort page's analyses: who is in the filtered cohort and how groups compare.

Pure functions of (snapshot, filter key, split, model id, threshold), cached on exactly
those arguments (``memo``), each returning a frozen result with ``to_dict()``:

* :func:`availability` — which of the page's columns the cohort records, and which it
  does not (not shown);
* :func:`headline` — patients, centres, OS events and the reverse Kaplan–Meier median
  follow-up;
* :func:`table_one` — baseline characteristics (``crlm.stats.baseline_table``) overall
  or split by a column, the cohort's own variables included; the split
  ``predicted responder`` reads a response model's out-of-fold and external
  predictions at a threshold;
* :func:`distributions` — the counts behind each distribution figure
  (``crlm.figures.distribution.bin_distribution``), split like Table 1.

Only the columns the page shows are read, once per snapshot for every patient of the
cohort (text columns as categoricals, ``crlm.store.coded_rows``); a filter's selection of
the cohort's rows (``crlm.analysis.selection``) then takes its frame, shared by every
result, from those rows (the same frame as a read of the filter's rows).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crlm import config, stats
from crlm import store as st
from crlm.analysis.extras import (
    ExtraVariable, load_extra_variables, table_one_variables, with_extra_values,
)
from crlm.analysis.pages import TABLE_ONE_VARIABLES
from crlm.analysis.selection import row_index, selected
from crlm.analysis.snapshot import Snapshot, filter_from_key, memo
from crlm.figures.distribution import BinnedDistribution, bin_distribution
from crlm.stats.baseline_table import baseline_table
from crlm.stats.survival import FollowUpResult
from crlm.store.coded import load_cohort_coded, load_scores_aligned
from crlm.store.coded_rows import CodedRows, load_coded_rows, recorded_columns, take_rows

SPLIT_CHOICES = ("none", "predicted responder", "ras_status", "primary_side", "tbs_zone",
                 "fong_group", "biologic", "center", "cohort_split", "sex", "hepatectomy")
DISTRIBUTIONS = (("age_years", "histogram"), ("max_diameter_cm", "histogram"),
                 ("n_liver_lesions", "bar"), ("cea_ng_ml", "histogram"),
                 ("tumour_burden_score", "histogram"), ("fong_score", "bar"),
                 ("ras_status", "bar"), ("primary_side", "bar"))
PREDICTED = "predicted_responder"
PREDICTION_SPLITS = ("out-of-fold", "external")
PREDICTED_LABELS = {True: "predicted responder", False: "predicted non-responder"}

_SHOWN = tuple(dict.fromkeys(
    [c for c, _, _ in TABLE_ONE_VARIABLES] + [c for c, _ in DISTRIBUTIONS]
    + [c for c in SPLIT_CHOICES if c in config.COLUMNS_BY_NAME]))
PAGE_COLUMNS = tuple(dict.fromkeys(("patient_id", "center", "os_months", "os_event") + _SHOWN))


def column_label(column: str) -> str:
    return config.COLUMNS_BY_NAME[column].label if column in config.COLUMNS_BY_NAME else column


@dataclass(frozen=True)
class Availability:
    """``recorded``: the page's contract columns with a known value in the cohort;
    ``unavailable``: those not shown (not recorded, or declared unavailable at import);
    ``extras``: the cohort's own variables."""

    recorded: frozenset
    unavailable: frozenset
    extras: tuple[ExtraVariable, ...]

    @property
    def unavailable_labels(self) -> tuple[str, ...]:
        return tuple(column_label(c) for c in sorted(self.unavailable))

    def to_dict(self) -> dict:
        return {"recorded": sorted(self.recorded), "unavailable": sorted(self.unavailable),
                "extras": [v.name for v in self.extras]}


@memo(maxsize=2)
def _cohort_rows(snap: Snapshot) -> CodedRows | None:
    return load_coded_rows(snap.store(), snap.cohort, PAGE_COLUMNS)


@memo(maxsize=32)
def availability(snap: Snapshot) -> Availability:
    store = snap.store()
    rows = _cohort_rows(snap)   # read once for the page: which columns hold a value
    recorded = frozenset(st.load_recorded_columns(store, snap.cohort, _SHOWN) if rows is None
                         else recorded_columns(rows, _SHOWN))
    info = st.load_cohort_info(store, snap.cohort) or {}
    shown = [c for c, _, _ in TABLE_ONE_VARIABLES] + [c for c, _ in DISTRIBUTIONS]
    unavailable = frozenset(info.get("unavailable_columns") or []) | {
        c for c in shown if c not in recorded}
    return Availability(recorded, unavailable, tuple(load_extra_variables(store, snap.cohort)))


@memo(maxsize=8)
def _extra_values(snap: Snapshot) -> pd.DataFrame:
    return st.load_features(snap.store(), snap.cohort, ("extra",))


def cohort_rows(snap: Snapshot) -> CodedRows | None:
    """The whole cohort's page columns that every filter's page frame is taken from (in
    the table's row order, ``order`` giving patient_id order), or None when they could
    not be read as one version of the cohort (frames are then read per filter)."""
    rows = _cohort_rows(snap)
    return rows if rows is not None and np.array_equal(rows.rowid, row_index(snap).rowids) \
        else None


def _filtered_rows(snap: Snapshot, key: tuple) -> pd.DataFrame:
    filt = filter_from_key(key)
    rows = cohort_rows(snap) if filt.cohort == snap.cohort else None
    if rows is not None:
        try:
            return take_rows(rows, selected(snap, key))
        except st.StoreError:   # the cohort was written since its rows were read
            pass
    return load_cohort_coded(snap.store(), filt, PAGE_COLUMNS)


@memo(maxsize=32)
def page_frame(snap: Snapshot, key: tuple) -> pd.DataFrame:
    """The filtered patients' page columns (text as categoricals) and own variables
    (shared: read only)."""
    patients = _filtered_rows(snap, key)
    extras = availability(snap).extras
    return with_extra_values(patients, _extra_values(snap), extras) if extras else patients


@dataclass(frozen=True)
class Headline:
    """The page's headline numbers; ``follow_up`` (reverse Kaplan–Meier) is None when no
    patient is censored or no OS is known."""

    n_patients: int
    n_centres: int
    n_os_known: int
    deaths: int
    follow_up: FollowUpResult | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        fu = self.follow_up
        return {"n_patients": self.n_patients, "n_centres": self.n_centres,
                "n_os_known": self.n_os_known, "deaths": self.deaths,
                "median_follow_up_months": None if fu is None else float(fu.median),
                "median_follow_up_ci": None if fu is None else [float(v) for v in fu.median_ci]}


@memo(maxsize=64)
def headline(snap: Snapshot, key: tuple) -> Headline:
    cohort = page_frame(snap, key)
    known = (cohort["os_months"].notna() & cohort["os_event"].notna()).to_numpy()
    time = cohort["os_months"].to_numpy(float)[known]
    event = cohort["os_event"][known].astype(bool).to_numpy()
    follow_up = stats.median_follow_up(time, event) if len(time) and (~event).any() else None
    return Headline(len(cohort), int(cohort["center"].nunique()), int(len(time)),
                    int(event.sum()), follow_up)


@memo(maxsize=32)
def split_frame(snap: Snapshot, key: tuple, by: str | None, model_id: str | None = None,
                threshold: float | None = None) -> tuple[pd.DataFrame, str | None]:
    """The page frame and its grouping column: ``by``, or with a model id the predicted
    responder (score ≥ threshold; patients without a prediction are missing)."""
    cohort = page_frame(snap, key)
    if by is None or model_id is None:
        return cohort, by
    scores = load_scores_aligned(snap.store(), filter_from_key(key), task="response",
                                 model_id=model_id, split=PREDICTION_SPLITS)
    if len(scores) != len(cohort):
        raise ValueError("the cohort changed while its predictions were read")
    above = scores["score"].to_numpy(float) >= threshold      # a missing score: not above
    codes = np.where(scores["scored"].to_numpy(bool), above.astype(np.int8), -1)
    labels = [PREDICTED_LABELS[False], PREDICTED_LABELS[True]]
    predicted = pd.Categorical.from_codes(codes, categories=labels)
    return cohort.assign(**{PREDICTED: predicted}), PREDICTED


def _variables(snap: Snapshot, cohort: pd.DataFrame, by: str | None) -> list:
    """Table 1's recorded contract variables and the cohort's own ones, less the split."""
    avail = availability(snap)
    contract = [v for v in TABLE_ONE_VARIABLES if v[0] in avail.recorded]
    return [v for v in contract + table_one_variables(avail.extras)
            if v[0] in cohort.columns and v[0] != by]


@dataclass(frozen=True)
class TableOne:
    """Table 1 as shown (``table``: variable, level, Overall, one column per group,
    p_value, smd) and the split it was computed for."""

    table: pd.DataFrame = field(compare=False)
    by: str | None
    groups: tuple[str, ...]
    not_shown: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"by": self.by, "groups": list(self.groups), "not_shown": list(self.not_shown),
                "rows": self.table.to_dict(orient="records")}


@memo(maxsize=32)
def table_one(snap: Snapshot, key: tuple, by: str | None = None, model_id: str | None = None,
              threshold: float | None = None) -> TableOne:
    cohort, by = split_frame(snap, key, by, model_id, threshold)
    result = baseline_table(cohort, _variables(snap, cohort, by), by=by)
    avail = availability(snap)
    hidden = [label for col, label, _ in TABLE_ONE_VARIABLES if col in avail.unavailable]
    table = result.table[~result.table["variable"].isin(hidden)] if hidden else result.table
    return TableOne(table, by, result.groups, avail.unavailable_labels)


def table_one_export(snap: Snapshot, key: tuple, by: str | None = None,
                     model_id: str | None = None, threshold: float | None = None):
    """Table 1 as de-identified data and an R script (``crlm.reports.r_export``)."""
    from crlm.reports.r_export import table_one_export as export

    cohort, by = split_frame(snap, key, by, model_id, threshold)
    return export(cohort, _variables(snap, cohort, by), by=by)


@dataclass(frozen=True)
class Distribution:
    """One variable's distribution figure data: its counts (``binned``) and title, and
    the values behind it (``data``: the column and the split, one row per patient, taken
    from the filter's frame when asked for: an export, not every page run)."""

    column: str
    kind: str
    title: str
    binned: BinnedDistribution = field(compare=False)
    frame: pd.DataFrame = field(compare=False, repr=False)
    columns: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        """Patients behind the figure (missing values included)."""
        return len(self.frame)

    @property
    def data(self) -> pd.DataFrame:
        return self.frame[list(self.columns)]

    def to_dict(self) -> dict:
        return {"column": self.column, "kind": self.kind, "title": self.title,
                **self.binned.to_dict()}


def _title(column: str) -> str:
    spec = config.COLUMNS_BY_NAME[column]
    return spec.label + (f" ({spec.unit})" if spec.unit else "")


@memo(maxsize=256)
def distribution(snap: Snapshot, key: tuple, column: str, kind: str, by: str | None = None,
                 model_id: str | None = None, threshold: float | None = None) -> Distribution:
    cohort, by = split_frame(snap, key, by, model_id, threshold)
    group_by = by if by in cohort.columns else None
    binned = bin_distribution(cohort[column], kind=kind,
                              group=cohort[group_by] if group_by else None)
    columns = (column,) + ((group_by,) if group_by and group_by != column else ())
    return Distribution(column, kind, _title(column), binned, cohort, columns)


@memo(maxsize=32)
def distributions(snap: Snapshot, key: tuple, by: str | None = None,
                  model_id: str | None = None,
                  threshold: float | None = None) -> tuple[Distribution, ...]:
    """The distribution of each page variable the cohort records, in page order."""
    unavailable = availability(snap).unavailable
    return tuple(distribution(snap, key, column, kind, by, model_id, threshold)
                 for column, kind in DISTRIBUTIONS if column not in unavailable)


def empty(snap: Snapshot, key: tuple) -> bool:
    """Whether no patient matches the filter."""
    return headline(snap, key).n_patients == 0


def main(argv=None) -> int:
    """Print a cohort's headline numbers and Table 1 (JSON), overall or split by a column."""
    import argparse
    import json

    from crlm.analysis.snapshot import close_stores, filter_key, snapshot

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--db", default=None)
    parser.add_argument("--cohort", default=config.DEMO_COHORT)
    parser.add_argument("--by", default=None, help="a column to split Table 1 by")
    args = parser.parse_args(argv)
    try:
        snap = snapshot(config.db_path(args.db), args.cohort)
        if not snap.version:
            print(f"no cohort {args.cohort!r} in this store")
            return 1
        key = filter_key(st.CohortFilter(cohort=args.cohort))
        if args.by is not None and args.by not in page_frame(snap, key).columns:
            print(f"cannot split by {args.by!r}: not a column of the cohort")
            return 1
        out = {"headline": headline(snap, key).to_dict(),
               "table_one": table_one(snap, key, args.by).to_dict()}
    finally:
        close_stores()
    print(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["Availability", "DISTRIBUTIONS", "Distribution", "Headline", "PAGE_COLUMNS",
           "PREDICTED", "SPLIT_CHOICES", "TableOne", "availability", "column_label",
           "distribution", "distributions", "empty", "headline", "main", "page_frame",
           "split_frame", "table_one", "table_one_export"]
