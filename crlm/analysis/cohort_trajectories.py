"""The Cohort page's "Over time" section: trajectories by group and the waterfall of best
change, as pure functions of (snapshot, filter key, choices), memoised on them.

A filter keeping more than ``MAX_PATIENTS`` patients is drawn from a seeded sample of them
(``crlm.analysis.trajectory_sample``; the same sample for the trajectories and the
waterfall), and its patients' groups are taken from the Cohort page's frame of the filter
(``cohort_summary.page_frame``), so a new filter reads no other patient column. When the
snapshot's preparation is done (``trajectory_sample.prepared``, made in the background
when the server first sees the snapshot) and holds the sample, nothing is read from the
store and only the grouping is computed; otherwise the sample's measurements are read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from crlm import store as st
from crlm.analysis import trajectories as tr
from crlm.analysis import trajectory_sample as ts
from crlm.analysis.cohort_summary import page_frame
from crlm.analysis.snapshot import Snapshot, cohort_frame, filter_from_key, memo
from crlm.analysis.trajectory_series import by_group, group_codes
from crlm.store.patient_measurements import load_patient_measurements

MAX_PATIENTS = ts.MAX_PATIENTS
GROUP_LABELS = {"responder": ("responder", "non-responder"),
                "predicted responder": ("predicted responder", "predicted non-responder")}


@dataclass(frozen=True)
class SampledMeasurements:
    """The measurements (``patient_id, day, kind, value``; ``kind`` a categorical) of the
    (sampled) filtered cohort; ``positions``: the sampled patients' rows of the filter's
    page frame; ``prepared``: their places in the snapshot's preparation, when it holds
    them (else None)."""

    measurements: pd.DataFrame
    n_sampled: int
    n_total: int
    positions: np.ndarray = field(default=None, compare=False, repr=False)
    prepared: np.ndarray | None = field(default=None, compare=False, repr=False)

    @cached_property
    def kinds(self) -> tuple[str, ...]:
        """The measurement kinds present (computed once)."""
        return tuple(sorted(str(k) for k in pd.unique(self.measurements["kind"]))) \
            if len(self.measurements) else ()


@memo(maxsize=32)
def sampled_measurements(snap: Snapshot, key: tuple, sample: int | None = None
                         ) -> SampledMeasurements:
    """Every measurement of the filtered cohort, or of its sample of ``sample`` patients
    (default ``MAX_PATIENTS``) when it is larger (``trajectory_sample.sample_of``)."""
    chosen = ts.sample_of(snap, key, MAX_PATIENTS if sample is None else sample)
    ready = ts.prepared.cached(snap)
    at = ready.places(chosen) if ready is not None else None
    frame = ready.measurements(at) if at is not None else load_patient_measurements(
        snap.store(), snap.cohort, chosen.ids, ts.cohort_kinds(snap))
    return SampledMeasurements(frame, len(chosen.positions), chosen.n_total, chosen.positions,
                               at)


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
    sampled = sampled_measurements(snap, key)
    groups = _sample_groups(snap, key, by, model_id, threshold)
    ready = ts.prepared.cached(snap)
    if sampled.prepared is not None and ready is not None and kind in ready.series:
        series = ready.trajectories(sampled.prepared, kind)
        return by_group(series, *group_codes(series.ids, groups))
    return tr.compute_trajectories(sampled.measurements, groups, kind)


@memo(maxsize=32)
def cohort_waterfall(snap: Snapshot, key: tuple, by: str, model_id: str | None = None,
                     threshold: float | None = None) -> tr.WaterfallResult:
    """Best change in the target-lesion sum per patient (the waterfall), by group."""
    sampled = sampled_measurements(snap, key)
    groups = None if by == "none" else _sample_groups(snap, key, by, model_id, threshold)
    ready = ts.prepared.cached(snap)
    if sampled.prepared is not None and ready is not None:
        return tr.waterfall_of(ready.responses(sampled.prepared), groups)
    return tr.compute_waterfall(sampled.measurements, groups)
