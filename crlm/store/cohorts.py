"""Replacing a cohort: the one multi-step write of a whole cohort, in one transaction.

Every path that writes a cohort (the demo build, a file import, tests) goes through
``replace_cohort``: the cohort's old rows go (patients, features, their decision
times, images, measurements, models' predictions), the new ones are appended part by part
(so a large synthetic cohort streams), the patient count and content hash are
recorded, and an import's provenance row is written, all or nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import pandas as pd

from crlm.store.connection import Store
from crlm.store.images import save_feature_info, save_images
from crlm.store.measurements import append_measurements
from crlm.store.features import append_features
from crlm.store.queries import (
    append_patients, begin_cohort, finish_cohort, record_import,
)


@dataclass(frozen=True)
class CohortRows:
    """One part of a cohort: patients (the contract's columns), and optionally their long
    features, the decision time of features, imaging rows and serial measurements
    (``crlm.store.measurements.MEASUREMENT_COLUMNS``)."""

    patients: pd.DataFrame
    features: pd.DataFrame | None = None
    feature_info: pd.DataFrame | None = None
    images: pd.DataFrame | None = None
    measurements: pd.DataFrame | None = None


def replace_cohort(store: Store, cohort: str, parts: Iterable[CohortRows], *, kind: str,
                   description: str = "", seed: int | None = None,
                   unavailable_columns: Sequence[str] = (),
                   import_record: Mapping | None = None,
                   on_part: Callable[[int], None] | None = None) -> int:
    """Replace ``cohort`` with ``parts`` in one transaction; returns the patient count.

    ``import_record`` holds the keyword arguments of ``record_import`` (without
    ``cohort``) for an import's provenance row.
    """
    with store.transaction() as cur:
        begin_cohort(cur, cohort, kind=kind, description=description, seed=seed,
                     unavailable_columns=unavailable_columns)
        for part in parts:
            append_patients(cur, cohort, part.patients)
            if part.features is not None and len(part.features):
                append_features(cur, cohort, part.features)
            if part.feature_info is not None and len(part.feature_info):
                save_feature_info(cur, cohort, part.feature_info)
            if part.images is not None and len(part.images):
                save_images(cur, cohort, part.images)
            if part.measurements is not None and len(part.measurements):
                append_measurements(cur, cohort, part.measurements)
            if on_part:
                on_part(len(part.patients))
        n = finish_cohort(cur, cohort)
        if import_record is not None:
            record_import(cur, cohort=cohort, **import_record)
    return n
