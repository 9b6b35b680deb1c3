"""The Cohort page's "Over time" section: trajectories by group and the waterfall of best
change, as pure functions of (snapshot, filter key, choices), memoised on them.

A cohort larger than ``MAX_PATIENTS`` is drawn from a seeded sample of its patients (the
same sample for the trajectories and the waterfall); only the sample's measurements are
read, and its patients' groups are taken from the Cohort page's frame of the filter
(``cohort_summary.page_frame``), so a new filter reads no other patient column."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from crlm import store as st
from crlm.analysis import trajectories as tr
from crlm.analysis.cohort_summary import page_frame
from crlm.analysis.snapshot import Snapshot, cohort_frame, filter_from_key, memo
from crlm.store.patient_measurements import load_measurement_kinds, load_patient_measurements

MAX_PATIENTS = 5_000
GROUP_LABELS = {"responder": ("responder", "non-responder"),
                "predicted responder": ("predicted responder", "predicted non-responder")}


@dataclass(frozen=True)
class SampledMeasurements:
    """The measurements (``patient_id, day, kind, value``; ``kind`` a categorical) of the
    (sampled) filtered cohort; ``positions``: the sampled patients' rows of the filter's
    page frame."""

    measurements: pd.DataFrame
    n_sampled: int
    n_total: int
    positions: np.ndarray = field(default=None, compare=False, repr=False)

    @cached_property
    def kinds(self) -> tuple[str, ...]:
        """The measurement kinds present (computed once)."""
        return tuple(sorted(str(k) for k in pd.unique(self.measurements["kind"]))) \
            if len(self.measurements) else ()


@memo(maxsize=8)
def _cohort_kinds(snap: Snapshot) -> tuple[str, ...]:
    return load_measurement_kinds(snap.store(), snap.cohort)


@memo(maxsize=32)
def sampled_measurements(snap: Snapshot, key: tuple, sample: int = MAX_PATIENTS
                         ) -> SampledMeasurements:
    """Every measurement of the filtered cohort, or of a seeded sample of ``sample``
    patients when it is larger."""
    every = page_frame(snap, key)["patient_id"].to_numpy()   # in patient_id order
    positions = np.arange(len(every))
    if len(every) > sample:   # the same patients as a choice among the ids themselves
        positions = np.sort(np.random.default_rng(0).choice(len(every), sample,
                                                            replace=False))
    frame = load_patient_measurements(snap.store(), snap.cohort, every[positions],
                                      _cohort_kinds(snap))
    return SampledMeasurements(frame, len(positions), len(every), positions)


def _sample_groups(snap: Snapshot, key: tuple, by: str, model_id: str | None,
                   threshold: float | None) -> pd.Series:
    """``patient_groups`` of the sampled patients only (the same labels)."""
    cohort = page_frame(snap, key)
    if by not in ("none", "responder") and by not in cohort.columns:
        return patient_groups(snap, key, by, model_id, threshold)
    positions = sampled_measurements(snap, key).positions
    ids = cohort["patient_id"].to_numpy()[positions]
    if by == "none":
        return pd.Series("all patients", index=ids)
    values = cohort[by].take(positions)
    if by == "responder":
        yes, no = GROUP_LABELS[by]
        return pd.Series(values.map({True: yes, False: no}).to_numpy(), index=ids)
    labels = values.astype(object).to_numpy()
    return pd.Series(np.where(values.notna().to_numpy(), labels, None), index=ids)


@memo(maxsize=32)
def patient_groups(snap: Snapshot, key: tuple, by: str, model_id: str | None = None,
                   threshold: float | None = None) -> pd.Series:
    """Each filtered patient's group label (indexed by patient id) for a grouping choice:
    ``none``, ``responder``, ``predicted responder`` (a response model at a threshold) or
    a patient column."""
    if by == "predicted responder":
        preds = st.load_predictions(snap.store(), filter_from_key(key), task="response",
                                    model_id=model_id, split=["out-of-fold", "external"])
        yes, no = GROUP_LABELS[by]
        predicted = preds.set_index("patient_id")["score"] >= threshold
        return predicted.map({True: yes, False: no})
    if by == "none":
        ids = cohort_frame(snap, key, ("patient_id",))["patient_id"]
        return pd.Series("all patients", index=ids.to_numpy())
    cohort = cohort_frame(snap, key, ("patient_id", by))
    ids = cohort["patient_id"].to_numpy()
    if by == "responder":
        yes, no = GROUP_LABELS[by]
        return pd.Series(cohort[by].map({True: yes, False: no}).to_numpy(), index=ids)
    return pd.Series(cohort[by].astype(object).to_numpy(), index=ids)


@memo(maxsize=32)
def cohort_trajectories(snap: Snapshot, key: tuple, kind: str, by: str,
                        model_id: str | None = None, threshold: float | None = None
                        ) -> tr.TrajectoryResult:
    """Trajectories of one measurement kind by group (spaghetti, median and band)."""
    m = sampled_measurements(snap, key).measurements
    return tr.compute_trajectories(m, _sample_groups(snap, key, by, model_id, threshold), kind)


@memo(maxsize=32)
def cohort_waterfall(snap: Snapshot, key: tuple, by: str, model_id: str | None = None,
                     threshold: float | None = None) -> tr.WaterfallResult:
    """Best change in the target-lesion sum per patient (the waterfall), by group."""
    m = sampled_measurements(snap, key).measurements
    groups = None if by == "none" else _sample_groups(snap, key, by, model_id, threshold)
    return tr.compute_waterfall(m, groups)
