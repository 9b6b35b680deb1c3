"""The Survival page's landmark analysis by early CEA response, a pure function of
(snapshot, filter key, endpoint) cached on its arguments: the whole cohort's early response
is read once per data version, and a filter only selects patients from it (the same
patients and numbers as ``crlm.analysis.trajectories.landmark_frame`` on the filtered
cohort). The patients' frame (``time`` from the landmark, ``event``, ``group``) carries no
patient identifier: it is what the page exports."""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterator, Mapping

import numpy as np
import pandas as pd

from crlm import config, stats
from crlm.analysis import trajectories as tr
from crlm.analysis.snapshot import Snapshot, memo
from crlm.analysis.selection import row_index, selected
from crlm.analysis.survival_split import check_choices, read_only
from crlm.store import survival_rows
from crlm.stats._result import plain

CEA_GROUPS = {True: "CEA fall ≥ 50 %", False: "CEA fall < 50 %"}
LANDMARK_MIN_PATIENTS = 5


@memo(maxsize=8)
def _measured(snap: Snapshot) -> np.ndarray:
    measured = survival_rows.cohort_measured(snap.store(), snap.cohort, 0)
    measured.flags.writeable = False
    return measured


def read_ahead(snap: Snapshot, endpoint: str):
    """Start the whole-cohort reads of ``cea_landmark`` now, beside the work a page does
    before it draws the landmark analysis (returns the reading thread)."""
    from crlm.analysis.prefetch import ahead   # the prefetch module imports this one

    return ahead(lambda: _measured(snap), lambda: _cea_rows(snap, endpoint))


@memo(maxsize=64)
def has_measurements(snap: Snapshot, key: tuple) -> bool:
    """Whether any patient of the filter has a measurement on or before day 0."""
    return bool((selected(snap, key) & _measured(snap)).any())


@dataclass(frozen=True, eq=False)
class CeaLandmark:
    """The patients of the landmark analysis (``data``), a Kaplan–Meier curve per early
    CEA response group of at least five patients and, with two curves, the log-rank test.
    Unpacks as ``data, curves, test``."""

    data: tr.LandmarkData
    curves: Mapping[str, stats.KMResult]
    test: object | None

    def __iter__(self) -> Iterator:
        return iter((self.data, self.curves, self.test))

    def to_dict(self) -> dict:
        return {"landmark_months": self.data.landmark_months, "n": len(self.data.frame),
                "excluded": dict(self.data.excluded),
                "curves": {g: km.to_dict() for g, km in self.curves.items()},
                "logrank_p": plain(self.test.p_value) if self.test is not None else None}


@memo(maxsize=8)
def _cea_rows(snap: Snapshot, endpoint: str) -> dict:
    """The whole cohort's endpoint and early CEA response code (1: a fall of at least 50 %,
    0: less, -1: no early value), in the table's row order."""
    time_col, event_col = config.ENDPOINTS[endpoint]
    store = snap.store()
    rows = dict(survival_rows.cohort_endpoint_rows(store, snap.cohort, time_col, event_col))
    values = survival_rows.cohort_landmark_values(
        store, snap.cohort, "cea", landmark_day=tr.LANDMARK_DAY, window=tr.LANDMARK_WINDOW_DAYS)
    early = tr.cea_response_from_values(pd.DataFrame(
        {"patient_id": values["rowid"], "baseline": values["baseline"], "day": values["day"],
         "value": values["value"]}))
    at = row_index(snap).position(early["patient_id"].to_numpy(np.int64))
    rows["cea"] = np.full(len(rows["time"]), -1, dtype=np.int64)
    rows["cea"][at] = early["cea_response"].to_numpy(bool).astype(np.int64)
    return read_only(rows)


@memo(maxsize=64)
def cea_landmark(snap: Snapshot, key: tuple, endpoint: str) -> CeaLandmark:
    """The endpoint from the restaging landmark by early CEA response, over the patients of
    the filter (as ``crlm.analysis.trajectories.landmark_frame``): those with an early value,
    event-free and followed at the landmark, time measured from it."""
    check_choices(endpoint, "none", None, None)
    rows = _cea_rows(snap, endpoint)
    landmark = config.RESTAGING_LANDMARK_DAYS / config.DAYS_PER_MONTH
    chosen = selected(snap, key) & rows["known"]
    grouped = chosen & (rows["cea"] >= 0)
    before = rows["time"] <= landmark
    kept = grouped & ~before
    names = np.array([CEA_GROUPS[False], CEA_GROUPS[True]], dtype=object)
    frame = pd.DataFrame({"time": rows["time"][kept] - landmark, "event": rows["event"][kept],
                          "group": names[rows["cea"][kept]]})
    excluded = {"no early value": int((chosen & ~grouped).sum()),
                "event before the landmark": int((grouped & before & rows["event"]).sum()),
                "censored before the landmark": int((grouped & before & ~rows["event"]).sum())}
    data = tr.LandmarkData(landmark_months=landmark, frame=frame, excluded=excluded)
    t, e = frame["time"].to_numpy(float), frame["event"].to_numpy(bool)
    code = rows["cea"][kept]
    curves = {str(names[c]): stats.kaplan_meier(t[code == c], e[code == c])
              for c in sorted(np.unique(code).tolist(), key=lambda c: names[c])
              if (code == c).sum() >= LANDMARK_MIN_PATIENTS}
    test = None
    if len(curves) == 2:
        test = stats.logrank(t, e, code)
    return CeaLandmark(data, MappingProxyType(curves), test)
