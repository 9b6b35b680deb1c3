"""The training hash, taken a column at a time, is the digest of the whole frame as objects."""
import numpy as np
import pandas as pd

from crlm import store as st
from crlm.models.modelling_data import training_hash


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "age_years": [61.5, np.nan, 70.0, 45.2],
        "kras": pd.array(["mutant", None, "wild-type", "mutant"], dtype="string"),
        "bilobar": pd.array([True, None, False, True], dtype="boolean"),
        "n_liver_lesions": pd.array([1, None, 3, 7], dtype="Int64"),
        "center": ["A", "B", "C", "D"],
        "diagnosis_date": pd.to_datetime(["2020-01-01", None, "2021-05-02", "2019-03-04"]),
        "EREG": [0.1, -1.2, 2.5, 0.0],
    }, index=["p1", "p2", "p3", "p4"])


def _whole_frame_digest(frame: pd.DataFrame) -> str:
    cols = sorted(c for c in frame.columns if c not in ("center", "diagnosis_date"))
    return st.data_hash(frame.loc[:, cols].reset_index(drop=True).astype("object"))


def test_equals_the_digest_of_the_whole_frame_as_objects():
    frame = _frame()
    assert training_hash(frame) == _whole_frame_digest(frame)


def test_changes_with_a_value_and_ignores_centre_and_date():
    frame = _frame()
    changed = frame.copy()
    changed.loc["p3", "EREG"] = 2.6
    assert training_hash(changed) != training_hash(frame)
    moved = frame.assign(center="Z", diagnosis_date=pd.Timestamp("2000-01-01"))
    assert training_hash(moved) == training_hash(frame)
