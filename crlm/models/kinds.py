"""Model kinds, in one place.

Every stored model and every ``Family`` carries a ``kind``. Pages, reports and
scoring ask questions of it ("is this a clinical score rather than a trained
model?", "is this score a probability?"); they ask them here, never by comparing
strings of their own.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

CLINICAL = "clinical"    # a published score read from a stored column; not trained
TRAINED = "trained"      # a tabular family trained by cross-validation
IMAGING = "imaging"      # reads stored CT lesion crops
FUSION = "fusion"        # stacks other models' scores
SEQUENCE = "sequence"    # reads serial measurements or serial CT up to a landmark
FEDERATED = "federated"  # trained across sites; registered in each site's store

KINDS = (CLINICAL, TRAINED, IMAGING, FUSION, SEQUENCE, FEDERATED)


def is_clinical_score(kind) -> bool:
    """True for a clinical score (Fong, GAME, TBS, …): its value is not a probability."""
    return str(kind) == CLINICAL


def is_stacked(kind) -> bool:
    """True for models that read other models' scores (fitted once, not per fold)."""
    return str(kind) == FUSION


def reads_images(kind) -> bool:
    return str(kind) in (IMAGING, FUSION)


def trained_only(records: pd.DataFrame) -> pd.DataFrame:
    """The rows of a model registry that are trained models (not clinical scores)."""
    if records is None or not len(records) or "kind" not in records:
        return records
    return records[records["kind"].astype(str) != CLINICAL]


def clinical_only(records: pd.DataFrame) -> pd.DataFrame:
    """The rows of a model registry that are clinical scores."""
    if records is None or not len(records) or "kind" not in records:
        return records
    return records[records["kind"].astype(str) == CLINICAL]


def is_probability(scores) -> bool:
    """True when every observed score lies in [0, 1] (missing scores ignored)."""
    s = np.asarray(scores, dtype=float)
    s = s[~np.isnan(s)]
    return len(s) > 0 and float(s.min()) >= 0 and float(s.max()) <= 1


def shows_probability(kind, scores) -> bool:
    """A model's score may be read as a probability: trained, and within [0, 1]."""
    return not is_clinical_score(kind) and is_probability(scores)
