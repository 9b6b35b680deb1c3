"""The demo cohort in the store: patients, features and the baseline CT of each patient.

Building the demo is two steps, in the causal order of the generator:

1. :func:`write_demo_cohort` streams the generated cohort into the store in one
   transaction: patients, radiomic and genomic features, serial measurements
   (``crlm.ingest.trajectories``), and one ``images`` row per
   patient for the baseline (pre-treatment) CT holding the imaging phenotype the
   generator drew from pre-treatment biology (``metadata.imaging_phenotype``).
2. :func:`render_stored_images` renders each patient's lesion crops once, from the
   stored phenotype and the stored lesion count and size only
   (``synthetic_ct.RENDER_COLUMNS``), and writes them into the same rows.

The CT models read those stored crops (``crlm.store.load_lesion_crops``) and never
render or re-draw an image, so no outcome can reach their inputs.
"""
from __future__ import annotations

import json
from typing import Callable

import numpy as np
import pandas as pd

from crlm import config
from crlm import store as st
from crlm.ingest.demo import BLOCK_SIZE, generate_cohort
from crlm.ingest.synthetic_ct import PHENOTYPE_COLUMN, lesion_crops

RENDER_CHUNK = 2_000


def baseline_image_rows(latent: pd.DataFrame) -> pd.DataFrame:
    """One baseline-CT ``images`` row per patient, carrying the stored imaging phenotype."""
    ids = latent["patient_id"].astype(str).to_numpy()
    return pd.DataFrame({
        "patient_id": ids,
        "image_id": [f"{p}-{config.BASELINE_CT}" for p in ids],
        "modality": "CT",
        "time_point": config.BASELINE_CT,
        "known_at": config.STAGING,
        "metadata": [json.dumps({"synthetic": True, PHENOTYPE_COLUMN: round(float(v), 6)})
                     for v in latent[PHENOTYPE_COLUMN]],
    })


def write_demo_cohort(store, n_patients: int, seed: int, *, cohort: str = config.DEMO_COHORT,
                      images: bool = True, on_chunk: Callable[[int], None] | None = None) -> int:
    """Generate and store the demo cohort (one transaction); returns the patient count.

    With ``images`` the baseline CT rows with their phenotype are written too, and
    the crops rendered from them (:func:`render_stored_images`).
    """
    parts = (st.CohortRows(chunk.patients, chunk.features,
                           images=baseline_image_rows(chunk.latent) if images else None,
                           measurements=chunk.measurements)
             # one generator block a part: no block is copied into a larger chunk
             for chunk in generate_cohort(n_patients, seed, chunk_size=BLOCK_SIZE))
    n = st.replace_cohort(store, cohort, parts, kind="synthetic", seed=seed,
                          description=f"synthetic demo cohort, {n_patients:,} patients, "
                                      f"seed {seed}", on_part=on_chunk)
    if images:
        render_stored_images(store, cohort, seed)
        from crlm.ingest.serial_ct import render_restaging_images

        render_restaging_images(store, cohort, seed)
    return n


def render_stored_images(store, cohort: str, seed: int | None = None,
                         size: int = config.CROP_SIZE_PX, slices: int = config.CROP_SLICES) -> int:
    """Render the lesion crops of every stored baseline CT of ``cohort`` that carries an
    imaging phenotype, from that phenotype and the stored lesion count and largest
    diameter, and write them into the rows; returns the number of crops.

    Deterministic for the stored values and ``seed`` (default: the cohort's seed).
    Reads no other patient column.
    """
    if seed is None:
        seed = int((st.load_cohort_info(store, cohort) or {}).get("seed") or 0)
    rows = st.load_images(store, cohort, time_point=config.BASELINE_CT)
    if rows.empty:
        return 0
    meta = rows["metadata"].map(lambda m: json.loads(m or "{}"))
    rows = rows.assign(**{PHENOTYPE_COLUMN: meta.map(lambda m: m.get(PHENOTYPE_COLUMN))})
    rows = rows[rows[PHENOTYPE_COLUMN].notna()]
    lesions = st.load_cohort(store, st.CohortFilter(cohort=cohort),
                             columns=["patient_id", "n_liver_lesions", "max_diameter_cm"])
    frame = rows[["patient_id", "image_id", PHENOTYPE_COLUMN]].merge(
        lesions, on="patient_id", how="left").sort_values("patient_id", kind="stable")
    total = 0
    with store.transaction() as cur:
        for b, start in enumerate(range(0, len(frame), RENDER_CHUNK)):
            part = frame.iloc[start:start + RENDER_CHUNK].reset_index(drop=True)
            crops, index = lesion_crops(part, seed=int(seed) * 1000 + b, size=size, slices=slices)
            owners = index["patient_id"].to_numpy()
            per_patient, info = [], []
            bounds = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1], True])
            by_patient = {owners[a]: (a, z) for a, z in zip(bounds[:-1], bounds[1:])}
            for pid in part["patient_id"]:
                a, z = by_patient[pid]
                per_patient.append(crops[a:z])
                info.append(index.iloc[a:z].drop(columns="patient_id").to_dict("records"))
            st.save_images(cur, cohort, part.assign(
                modality="CT", time_point=config.BASELINE_CT, known_at=config.STAGING,
                n_lesions=[len(c) for c in per_patient], crops=per_patient, lesions=info,
                metadata=[json.dumps({"synthetic": True, PHENOTYPE_COLUMN: float(v),
                                      "crop_size_px": size, "crop_slices": slices})
                          for v in part[PHENOTYPE_COLUMN]])[
                ["patient_id", "image_id", "modality", "time_point", "known_at", "n_lesions",
                 "crops", "lesions", "metadata"]])
            total += len(crops)
    return total
