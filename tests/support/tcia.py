"""A table in the public TCIA Colorectal-Liver-Metastases clinical layout, with
hand-checked rows (Fong points, survival, unavailable values), for the import and page
tests."""
from __future__ import annotations

import numpy as np
import pandas as pd

TCIA_COLUMNS = [
    "patient_id", "de_identify_scout_name", "age", "sex", "major_comorbidity", "body_mass_index",
    "node_positive_primary", "synchronous_crlm", "multiple_metastases", "clinrisk_score",
    "clinrisk_stratified", "carcinoembryonic_antigen", "max_tumor_size", "bilobar_disease",
    "extrahep_disease", "chemo_before_liver_resection", "preoperative_pve", "steatosis_yesno",
    "presence_sinusoidal_dilata", "nash_score", "nash_yesno", "nash_greater_4",
    "total_response_percent", "necrosis_percent", "fibrosis_percent",
    "fibrosis_greater_40_percent", "mucin_percent", "overall_survival_months", "vital_status",
    "progression_or_recurrence", "months_to_dfs_progression", "vital_status_dfs",
    "progression_or_recurrence_liveronly", "months_to_liver_dfs_progression",
    "vital_status_liver_dfs", "relevant_notes",
]
# the header as a user's copy might spell it
HEADER = ["Patient-ID" if c == "patient_id" else
          "months_to_DFS_progression" if c == "months_to_dfs_progression" else
          "Vital_Status" if c == "vital_status" else c for c in TCIA_COLUMNS]
SOURCE_ID = "CRLM-ORIG-{:04d}"
SCOUT = "SCOUT NAME {:04d}"
NOTE = "private note {:04d}"


def _fong(node, sync, multiple, cea, size):
    return int(node) + int(sync) + int(multiple) + int(cea > 200) + int(size > 5)


def tcia_frame(n: int = 30, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        node, sync, multiple = (int(x) for x in rng.integers(0, 2, 3))
        cea = float(np.round(rng.lognormal(3, 1.5), 1))
        size = float(np.round(rng.uniform(0.5, 9), 1))
        os_m = float(np.round(rng.uniform(5, 120), 2))
        dfs_m = float(np.round(os_m * rng.uniform(0.1, 1.0), 2))
        rows.append({
            "patient_id": SOURCE_ID.format(i + 1), "de_identify_scout_name": SCOUT.format(i + 1),
            "age": int(rng.integers(30, 85)), "sex": int(rng.integers(1, 3)),
            "major_comorbidity": int(rng.integers(0, 2)),
            "body_mass_index": float(np.round(rng.uniform(18, 40), 1)),
            "node_positive_primary": node, "synchronous_crlm": sync,
            "multiple_metastases": multiple,
            "clinrisk_score": _fong(node, sync, multiple, cea, size),
            "clinrisk_stratified": int(_fong(node, sync, multiple, cea, size) >= 3),
            "carcinoembryonic_antigen": cea, "max_tumor_size": size,
            "bilobar_disease": int(rng.integers(0, 2)), "extrahep_disease": int(rng.integers(0, 2)),
            "chemo_before_liver_resection": int(rng.integers(0, 2)),
            "preoperative_pve": int(rng.integers(0, 2)), "steatosis_yesno": int(rng.integers(0, 2)),
            "presence_sinusoidal_dilata": int(rng.integers(0, 2)),
            "nash_score": int(rng.integers(0, 8)), "nash_yesno": int(rng.integers(0, 2)),
            "nash_greater_4": int(rng.integers(0, 2)),
            "total_response_percent": int(rng.integers(0, 101)),
            "necrosis_percent": int(rng.integers(0, 101)),
            "fibrosis_percent": int(rng.integers(0, 101)),
            "fibrosis_greater_40_percent": int(rng.integers(0, 2)),
            "mucin_percent": int(rng.integers(0, 30)), "overall_survival_months": os_m,
            "vital_status": int(rng.integers(0, 2)), "progression_or_recurrence": 1,
            "months_to_dfs_progression": dfs_m, "vital_status_dfs": int(rng.integers(0, 2)),
            "progression_or_recurrence_liveronly": int(rng.integers(0, 2)),
            "months_to_liver_dfs_progression": dfs_m, "vital_status_liver_dfs": 1,
            "relevant_notes": NOTE.format(i + 1),
        })
    frame = pd.DataFrame(rows, columns=TCIA_COLUMNS)
    # hand-checked rows
    # row 1: every Fong point -> 5 (high)
    frame.loc[0, ["node_positive_primary", "synchronous_crlm", "multiple_metastases",
                  "carcinoembryonic_antigen", "max_tumor_size", "clinrisk_score"]] = \
        [1, 1, 1, 250.0, 6.0, 5]
    frame.loc[0, ["overall_survival_months", "vital_status", "months_to_dfs_progression",
                  "vital_status_dfs", "total_response_percent"]] = [30.5, 1, 10.25, 1, 75]
    # row 2: no point -> 0 (low); alive, censored
    frame.loc[1, ["node_positive_primary", "synchronous_crlm", "multiple_metastases",
                  "carcinoembryonic_antigen", "max_tumor_size", "clinrisk_score",
                  "overall_survival_months", "vital_status", "months_to_dfs_progression",
                  "vital_status_dfs", "sex", "total_response_percent"]] = \
        [0, 0, 0, 10.0, 2.0, 0, 60.0, 0, 60.0, 0, 2, 50]
    # row 3: node-positive and multiple, CEA exactly 200 and size exactly 5 score nothing
    # -> 2 (low); the file says 3: a disagreement to report
    frame.loc[2, ["node_positive_primary", "synchronous_crlm", "multiple_metastases",
                  "carcinoembryonic_antigen", "max_tumor_size", "clinrisk_score"]] = \
        [1, 0, 1, 200.0, 5.0, 3]
    # row 4: CEA and BMI not available (999) -> Fong unknown
    frame.loc[3, ["carcinoembryonic_antigen", "body_mass_index"]] = [999, 999]
    frame.columns = HEADER
    return frame
