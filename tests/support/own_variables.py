"""A small imported cohort with its own variables, written from values the test keeps: a
three-level treatment arm (stored as level codes), a numeric dose and a 0/1 flag, each
with a few missing values, beside contract columns and two endpoints."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crlm import store as st
from crlm.config import PATIENT_COLUMN_NAMES

ARMS = ("Obs", "Lev", "Lev+5FU")
LABELS = {"arm": "Treatment arm", "dose": "Dose", "flag": "Obstruction"}


@dataclass(frozen=True)
class OwnCohort:
    """Where the cohort was written, and what was written: ``patients`` holds the contract
    columns and the own variables as plain columns ``arm`` (level name or None), ``dose``
    and ``flag`` (floats, NaN when missing)."""

    path: Path
    cohort: str
    patients: pd.DataFrame


def write_own_cohort(path: Path, n: int = 300, seed: int = 11, cohort: str = "own",
                     labels: dict | None = None) -> OwnCohort:
    labels = {**LABELS, **(labels or {})}
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: [None] * n for c in PATIENT_COLUMN_NAMES})
    frame["patient_id"] = [f"P{i:03d}" for i in range(n)]
    frame["age_years"] = rng.uniform(40, 85, n).round(1)
    frame["sex"] = rng.choice(["female", "male"], n)
    ras = rng.choice(["mutant", "wild-type"], n).astype(object)
    ras[:8] = None                                         # -> "unknown"
    frame["ras_status"] = ras
    frame["primary_side"] = rng.choice(["left", "right", "rectum"], n)
    frame["center"] = rng.choice(["B", "A"], n)
    code = rng.integers(0, len(ARMS), n).astype(float)
    code[8:14] = np.nan                                    # arm not recorded
    dose = rng.uniform(0, 10, n).round(2)
    dose[14:20] = np.nan
    flag = (rng.random(n) < 0.4).astype(float)
    flag[20:24] = np.nan
    scale = np.where(code == 2, 45.0, 28.0) * np.where(frame["sex"] == "male", 0.8, 1.0)
    frame["os_months"] = rng.exponential(scale).round(2) + 0.1
    frame["os_event"] = (rng.random(n) < 0.7).astype(object)
    frame["pfs_months"] = rng.exponential(scale / 2).round(2) + 0.1
    frame["pfs_event"] = (rng.random(n) < 0.8).astype(object)
    frame.loc[n - 5:, ["os_months", "os_event"]] = None     # endpoint unknown
    long = pd.concat([pd.DataFrame({"patient_id": frame["patient_id"], "feature_set": "extra",
                                    "feature": name, "value": values})
                      for name, values in (("arm", code), ("dose", dose), ("flag", flag))])
    info = pd.DataFrame({"feature_set": "extra", "feature": ["arm", "dose", "flag"],
                         "known_at": "treatment plan", "label": [labels[k] for k in
                                                                 ("arm", "dose", "flag")],
                         "unit": [None, "mg", None], "kind": ["categorical", "numeric",
                                                              "numeric"],
                         "levels": [ARMS, (), ()]})
    with st.Store(path) as s:
        st.save_cohort(s, cohort, frame, long.dropna(subset=["value"]), kind="imported")
        with s.transaction() as cur:
            st.save_feature_info(cur, cohort, info)
    arm = np.array([None if np.isnan(c) else ARMS[int(c)] for c in code], dtype=object)
    return OwnCohort(Path(path), cohort, frame.assign(arm=arm, dose=dose, flag=flag))
