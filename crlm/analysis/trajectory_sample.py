"""Which patients the Cohort page's "Over time" section draws, and what is prepared once
per snapshot so that a new filter only selects.

**The sample.** A filter keeping more than ``MAX_PATIENTS`` patients is drawn from a
sample of them. Each patient has a fixed pseudo-random priority, a keyed hash of the
patient's id (``priorities``): it depends on no recorded value and stays the same when
other patients are imported. A filter's sample is its ``MAX_PATIENTS`` patients of
highest priority (the smallest hashes; ties by patient_id). Because the priorities are
independent of every column, this is a uniform random sample of the filter's patients,
and the same sample every time.

**The preparation.** Once per snapshot, ``prepared`` reads the measurements of the
cohort's ``PREPARED_PATIENTS`` patients of highest priority and computes each one's series
of every kind (``crlm.analysis.trajectory_series``) and derived RECIST response. The
sample of a filter lies among them unless the filter keeps fewer than about
``MAX_PATIENTS`` of them (every filter of a cohort of up to ``PREPARED_PATIENTS``
patients; at 10^6 patients, every filter keeping at least about one patient in twenty).
Such a filter takes its sample's rows, series and responses from the preparation; any
other filter reads its sample's rows from the store and computes them. Both give the same
results (tests).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crlm import recist
from crlm.analysis import cohort_summary
from crlm.analysis.selection import selected
from crlm.analysis.snapshot import Snapshot, memo
from crlm.analysis.trajectory_series import PatientSeries, concatenated_ranges, patient_series
from crlm.store.patient_measurements import load_measurement_kinds, load_patient_measurement_rows

MAX_PATIENTS = 5_000
PREPARED_PATIENTS = 100_000
_PRIORITY_KEY = "crlm-sample-2026"    # the hash's key (16 characters): fixes the priorities


def priorities(ids: np.ndarray) -> np.ndarray:
    """Each patient's priority (unsigned 64-bit hash of the id; smaller comes first)."""
    return pd.util.hash_array(np.asarray(ids, dtype=object), hash_key=_PRIORITY_KEY,
                              categorize=False)


@memo(maxsize=8)
def cohort_kinds(snap: Snapshot) -> tuple[str, ...]:
    """The cohort's measurement kinds, sorted."""
    return load_measurement_kinds(snap.store(), snap.cohort)


@dataclass(frozen=True, eq=False)
class CohortPatients:
    """The cohort's patients: ids in patient_id order, each one's row in the cohort's row
    order (``crlm.analysis.selection``), and their positions by priority."""

    ids: np.ndarray = field(repr=False)
    row_order: np.ndarray = field(repr=False)
    by_priority: np.ndarray = field(repr=False)


@memo(maxsize=4)
def cohort_patients(snap: Snapshot) -> CohortPatients | None:
    """None when the cohort's rows could not be read as one version (then each filter's
    sample is drawn from its own page frame, with the same result)."""
    rows = cohort_summary.cohort_rows(snap)
    if rows is None:
        return None
    ids = rows.frame["patient_id"].to_numpy(dtype=object)[rows.order]
    return CohortPatients(ids, rows.order, np.argsort(priorities(ids), kind="stable"))


@dataclass(frozen=True)
class Sample:
    """A filter's sample: ``ids`` (in patient_id order), their rows of the filter's page
    frame (``positions``) and, when known, their places among the cohort's patients
    (``patients``); ``n_total`` patients in the filter."""

    ids: np.ndarray = field(repr=False)
    positions: np.ndarray = field(repr=False)
    patients: np.ndarray | None = field(repr=False)
    n_total: int


def sample_of(snap: Snapshot, key: tuple, size: int = MAX_PATIENTS) -> Sample:
    """The filter's ``size`` patients of highest priority (all of them when fewer)."""
    every = cohort_patients(snap)
    mask = selected(snap, key) if every is not None else None
    if mask is not None and len(mask) == len(every.ids):
        kept = mask[every.row_order]                       # in patient_id order
        patients = np.sort(every.by_priority[kept[every.by_priority]][:size])
        positions = np.searchsorted(np.flatnonzero(kept), patients)
        return Sample(every.ids[patients], positions, patients, int(kept.sum()))
    ids = cohort_summary.page_frame(snap, key)["patient_id"].to_numpy(dtype=object)
    positions = np.sort(np.argsort(priorities(ids), kind="stable")[:size])
    return Sample(ids[positions], positions, None, len(ids))


@dataclass(frozen=True, eq=False)
class Prepared:
    """The measurements of the cohort's first ``PREPARED_PATIENTS`` patients by priority
    (``patients``: their places among the cohort's patients, sorted): patient ``i``'s rows
    are ``start[i]:stop[i]`` of ``rows`` (``day, kind, value``, by kind and day), its series
    of each kind are ``series[kind]`` and its derived response is row ``derived_row[i]``
    of ``derived`` (-1: none)."""

    patients: np.ndarray = field(repr=False)
    ids: np.ndarray = field(repr=False)
    start: np.ndarray = field(repr=False)
    stop: np.ndarray = field(repr=False)
    rows: pd.DataFrame = field(repr=False)
    series: dict = field(repr=False)
    derived: pd.DataFrame = field(repr=False)
    derived_row: np.ndarray = field(repr=False)

    def places(self, sample: Sample) -> np.ndarray | None:
        """The sample's patients among the prepared ones, or None when one is not."""
        if sample.patients is None:
            return None
        at = np.minimum(np.searchsorted(self.patients, sample.patients),
                        max(len(self.patients) - 1, 0))
        if len(sample.patients) and (not len(self.patients)
                                     or not (self.patients[at] == sample.patients).all()):
            return None
        return at

    def measurements(self, at: np.ndarray) -> pd.DataFrame:
        """``patient_id, day, kind, value`` of the prepared patients ``at`` (the rows and
        order ``load_patient_measurements`` reads for them)."""
        rows = concatenated_ranges(self.start[at], self.stop[at])
        return pd.DataFrame({
            "patient_id": np.repeat(self.ids[at], self.stop[at] - self.start[at]),
            "day": self.rows["day"].to_numpy()[rows],
            "kind": self.rows["kind"].take(rows).reset_index(drop=True),
            "value": self.rows["value"].to_numpy()[rows]})

    def trajectories(self, at: np.ndarray, kind: str) -> PatientSeries:
        return self.series[kind].take(at)

    def responses(self, at: np.ndarray) -> pd.DataFrame:
        """``recist.derive_frame`` of the prepared patients ``at``."""
        rows = self.derived_row[at]
        return recist.take_derived(self.derived, rows[rows >= 0])


@memo(maxsize=2)
def prepared(snap: Snapshot) -> Prepared | None:
    """The preparation of the snapshot (None when its rows could not be read as one
    version; each filter then reads its sample from the store)."""
    every = cohort_patients(snap)
    kinds = cohort_kinds(snap)
    if every is None:
        return None
    patients = np.sort(every.by_priority[:PREPARED_PATIENTS])
    ids = every.ids[patients]
    rows = load_patient_measurement_rows(snap.store(), snap.cohort, ids, kinds)
    if not isinstance(rows["kind"].dtype, pd.CategoricalDtype) and len(rows):
        return None     # a kind written since the snapshot: read per filter
    position = rows.pop("position").to_numpy()
    everyone = np.arange(len(ids))
    start = np.searchsorted(position, everyone, side="left")
    stop = np.searchsorted(position, everyone, side="right")
    kind_codes = rows["kind"].cat.codes.to_numpy() if len(rows) else np.zeros(0, np.int8)
    day, value = rows["day"].to_numpy(float), rows["value"].to_numpy(float)
    series = {}
    for k, name in enumerate(kinds):
        of_kind = kind_codes == k
        series[name] = patient_series(position[of_kind], ids, day[of_kind], value[of_kind], name)
    sums = kind_codes == (kinds.index("target_lesion_sum") if "target_lesion_sum" in kinds
                          else -2)
    derived = recist.derive_frame(pd.DataFrame({"patient_id": ids[position[sums]],
                                                "day": day[sums], "value": value[sums]}))
    derived_row = np.full(len(ids), -1, dtype=np.int64)
    derived_row[pd.Index(ids).get_indexer(derived["patient_id"])] = np.arange(len(derived))
    return Prepared(patients, ids, start, stop, rows, series, derived, derived_row)
