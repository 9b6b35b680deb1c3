"""Serial CT of the demo cohort: the first restaging CT's lesion crops, beside the baseline's.

One ``images`` row per patient with a target-lesion measurement at the first restaging
(the CT visit after the start of treatment and on or before the landmark,
``config.RESTAGING_LANDMARK_DAYS``): ``time_point = "restaging"``, ``known_at =
restaging``, and the crops rendered by the same renderer as the baseline's
(``crlm.ingest.synthetic_ct.lesion_crops``) from

* the imaging phenotype stored with the patient's baseline CT (pre-treatment biology),
* the visible lesion count measured at that visit, and
* the largest diameter scaled by the change of the target-lesion sum at that visit
  (``max_diameter_cm * sum_restaging / sum_baseline``),

so the follow-up image shows the measured shrinkage or growth and reads nothing later
than the visit itself. A restaging with no visible lesion (complete response) has a row
with ``n_lesions = 0`` and no crops. Deterministic for the stored values and the seed.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from crlm import config
from crlm import store as st
from crlm.ingest.synthetic_ct import PHENOTYPE_COLUMN, lesion_crops

RESTAGING_CT = "restaging"
RENDER_CHUNK = 2_000


def restaging_frame(store, cohort: str) -> pd.DataFrame:
    """Per patient: the first restaging CT's day, lesion count and largest diameter, with
    the stored phenotype (patients with a baseline phenotype and such a visit)."""
    rows = st.load_images(store, cohort, time_point=config.BASELINE_CT)
    if rows.empty:
        return pd.DataFrame()
    meta = rows["metadata"].map(lambda m: json.loads(m or "{}"))
    phenotype = pd.Series(meta.map(lambda m: m.get(PHENOTYPE_COLUMN)).to_numpy(),
                          index=rows["patient_id"].astype(str)).dropna()
    m = st.load_measurements(store, cohort, kinds=["target_lesion_sum", "lesion_count"],
                             max_day=config.RESTAGING_LANDMARK_DAYS)
    if m.empty:
        return pd.DataFrame()
    wide = m.pivot_table(index=["patient_id", "day"], columns="kind", values="value",
                         aggfunc="last").reset_index()
    base = wide[wide["day"] <= 0].sort_values("day").groupby("patient_id").last()
    visit = wide[(wide["day"] > 0) & wide["target_lesion_sum"].notna()].sort_values(
        "day").groupby("patient_id").first()
    patients = st.load_cohort(store, st.CohortFilter(cohort=cohort),
                              columns=["patient_id", "max_diameter_cm"]).set_index("patient_id")
    frame = visit.join(base[["target_lesion_sum"]], rsuffix="_baseline", how="inner")
    frame = frame.join(patients, how="inner")
    frame = frame[frame.index.isin(phenotype.index)]
    ratio = frame["target_lesion_sum"] / frame["target_lesion_sum_baseline"]
    return pd.DataFrame({
        "patient_id": frame.index.astype(str),
        "day": frame["day"].astype(int).to_numpy(),
        PHENOTYPE_COLUMN: phenotype.reindex(frame.index).to_numpy(float),
        "n_liver_lesions": frame["lesion_count"].fillna(0).astype(int).to_numpy(),
        "max_diameter_cm": np.round(frame["max_diameter_cm"].to_numpy(float)
                                    * ratio.to_numpy(float), 2),
        "sum_ratio": ratio.to_numpy(float),
    }).reset_index(drop=True)


def render_restaging_images(store, cohort: str, seed: int | None = None,
                            size: int = config.CROP_SIZE_PX,
                            slices: int = config.CROP_SLICES) -> int:
    """Write the first restaging CT's row (and crops) of every patient who has one; returns
    the number of crops. Replaces the cohort's earlier restaging rows."""
    if seed is None:
        seed = int((st.load_cohort_info(store, cohort) or {}).get("seed") or 0)
    frame = restaging_frame(store, cohort)
    if frame.empty:
        return 0
    total = 0
    with store.transaction() as cur:
        for b, start in enumerate(range(0, len(frame), RENDER_CHUNK)):
            part = frame.iloc[start:start + RENDER_CHUNK].reset_index(drop=True)
            visible = part[(part["n_liver_lesions"] > 0) & (part["max_diameter_cm"] > 0)]
            crops, index = (lesion_crops(visible, seed=int(seed) * 1000 + 500 + b, size=size,
                                         slices=slices)
                            if len(visible) else (np.zeros((0, slices, size, size)),
                                                  pd.DataFrame({"patient_id": []})))
            owners = index["patient_id"].astype(str).to_numpy()
            per_patient, info = [], []
            for pid in part["patient_id"]:
                at = np.flatnonzero(owners == pid)
                per_patient.append(crops[at] if len(at) else None)
                info.append(index.iloc[at].drop(columns="patient_id").to_dict("records"))
            write = st.save_images if b else (
                lambda c, name, rows: st.replace_images(c, name, RESTAGING_CT, rows))
            write(cur, cohort, pd.DataFrame({
                "patient_id": part["patient_id"],
                "image_id": [f"{p}-{RESTAGING_CT}" for p in part["patient_id"]],
                "modality": "CT", "time_point": RESTAGING_CT, "known_at": config.RESTAGING,
                "n_lesions": [0 if c is None else len(c) for c in per_patient],
                "crops": per_patient, "lesions": info,
                "metadata": [json.dumps({"synthetic": True, "day": int(d),
                                         "target_sum_ratio": round(float(r), 4),
                                         "crop_size_px": size, "crop_slices": slices})
                             for d, r in zip(part["day"], part["sum_ratio"])],
            }))
            total += len(crops)
    return total
