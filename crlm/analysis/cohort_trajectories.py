"""The Cohort page's "Over time" section: trajectories by group and the waterfall of best
change, as pure functions of (snapshot, filter key, choices), memoised on them.

A cohort larger than ``MAX_PATIENTS`` is drawn from a seeded sample of its patients (the
same sample for the trajectories and the waterfall); only the sample's measurements and
the grouping column are read."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crlm import store as st
from crlm.analysis import trajectories as tr
from crlm.analysis.snapshot import Snapshot, cohort_frame, filter_from_key, memo

MAX_PATIENTS = 5_000
GROUP_LABELS = {"responder": ("responder", "non-responder"),
                "predicted responder": ("predicted responder", "predicted non-responder")}


@dataclass(frozen=True)
class SampledMeasurements:
    """The measurements of the (sampled) filtered cohort."""

    measurements: pd.DataFrame
    n_sampled: int
    n_total: int

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.measurements["kind"]))) if len(self.measurements) else ()


@memo(maxsize=32)
def sampled_measurements(snap: Snapshot, key: tuple, sample: int = MAX_PATIENTS
                         ) -> SampledMeasurements:
    """Every measurement of the filtered cohort, or of a seeded sample of ``sample``
    patients when it is larger."""
    every = cohort_frame(snap, key, ("patient_id",))["patient_id"].to_numpy()
    ids = None
    if len(every) > sample:
        ids = np.sort(np.random.default_rng(0).choice(every, sample, replace=False))
    frame = st.load_measurements(snap.store(), filter_from_key(key), patient_ids=ids)
    return SampledMeasurements(frame, len(every) if ids is None else len(ids), len(every))


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
    return tr.compute_trajectories(m, patient_groups(snap, key, by, model_id, threshold), kind)


@memo(maxsize=32)
def cohort_waterfall(snap: Snapshot, key: tuple, by: str, model_id: str | None = None,
                     threshold: float | None = None) -> tr.WaterfallResult:
    """Best change in the target-lesion sum per patient (the waterfall), by group."""
    m = sampled_measurements(snap, key).measurements
    groups = None if by == "none" else patient_groups(snap, key, by, model_id, threshold)
    return tr.compute_waterfall(m, groups)
