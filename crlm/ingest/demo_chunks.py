"""A streamed piece of the demo cohort (:class:`DemoChunk`), and how pieces are joined
and cut without changing the cohort."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crlm.config import PATIENT_COLUMNS
from crlm.ingest.demo_features import GENOMIC_FEATURES, RADIOMIC_FEATURES

_DTYPES = {"text": "string", "category": "string", "bool": "boolean", "int": "Int64",
           "float": "float64", "date": "datetime64[ns]"}
PATIENT_DTYPES: dict[str, str] = {c.name: _DTYPES[c.kind] for c in PATIENT_COLUMNS}


@dataclass(frozen=True)
class DemoChunk:
    """One streamed piece of the demo cohort.

    ``patients`` has exactly ``config.PATIENT_COLUMN_NAMES`` with pandas nullable
    dtypes; ``features`` is long (patient_id, feature_set, feature, value) with
    categorical text columns; ``latent`` holds patient_id, imaging_phenotype (stored
    with the baseline images), imaging_signal and genomic_signal, the response latent
    (``z > 0`` for a responder), the nadir / baseline target-lesion sum it gives and the
    drawn (uncensored) progression time in months. ``measurements`` is long (patient_id
    categorical, day, kind, value, unit, source: ``crlm.ingest.trajectories``).
    """

    patients: pd.DataFrame
    features: pd.DataFrame
    latent: pd.DataFrame
    measurements: pd.DataFrame | None = None


def concat_chunks(chunks: list[DemoChunk]) -> DemoChunk:
    if len(chunks) == 1:
        return chunks[0]
    return DemoChunk(
        patients=pd.concat([c.patients for c in chunks], ignore_index=True),
        features=_concat_features([c.features for c in chunks]),
        latent=pd.concat([c.latent for c in chunks], ignore_index=True),
        measurements=_concat_measurements([c.measurements for c in chunks]),
    )


def _concat_measurements(frames: list[pd.DataFrame | None]) -> pd.DataFrame | None:
    if any(f is None for f in frames):
        return None
    ids = pd.Index(np.concatenate([f["patient_id"].cat.categories.to_numpy() for f in frames]))
    offsets = np.cumsum([0] + [len(f["patient_id"].cat.categories) for f in frames[:-1]])
    codes = np.concatenate([f["patient_id"].cat.codes.to_numpy().astype(np.int64) + o
                            for f, o in zip(frames, offsets)])
    rest = pd.concat([f.drop(columns="patient_id") for f in frames], ignore_index=True)
    for column in ("kind", "unit", "source"):
        rest[column] = rest[column].astype("category")
    rest.insert(0, "patient_id", pd.Categorical.from_codes(codes, categories=ids))
    return rest


def _concat_features(frames: list[pd.DataFrame]) -> pd.DataFrame:
    ids = pd.Index(np.concatenate([f["patient_id"].cat.categories.to_numpy() for f in frames]))
    offsets = np.cumsum([0] + [len(f["patient_id"].cat.categories) for f in frames[:-1]])
    codes = np.concatenate([f["patient_id"].cat.codes.to_numpy().astype(np.int64) + o
                            for f, o in zip(frames, offsets)])
    return pd.DataFrame({
        "patient_id": pd.Categorical.from_codes(codes, categories=ids),
        "feature_set": pd.concat([f["feature_set"] for f in frames], ignore_index=True),
        "feature": pd.concat([f["feature"] for f in frames], ignore_index=True),
        "value": np.concatenate([f["value"].to_numpy() for f in frames]),
    })


def slice_chunk(chunk: DemoChunk, start: int, stop: int) -> DemoChunk:
    k = len(RADIOMIC_FEATURES) + len(GENOMIC_FEATURES)
    patients = chunk.patients.iloc[start:stop].reset_index(drop=True)
    features = chunk.features.iloc[start * k:stop * k].reset_index(drop=True)
    ids = features["patient_id"]
    features["patient_id"] = pd.Categorical.from_codes(
        ids.cat.codes.to_numpy() - start,
        categories=ids.cat.categories[start:stop])
    latent = chunk.latent.iloc[start:stop].reset_index(drop=True)
    measurements = chunk.measurements
    if measurements is not None:
        m_codes = measurements["patient_id"].cat.codes.to_numpy()
        a, z = np.searchsorted(m_codes, [start, stop])
        measurements = measurements.iloc[a:z].reset_index(drop=True)
        measurements["patient_id"] = pd.Categorical.from_codes(
            m_codes[a:z] - start,
            categories=chunk.measurements["patient_id"].cat.categories[start:stop])
    return DemoChunk(patients=patients, features=features, latent=latent,
                     measurements=measurements)
