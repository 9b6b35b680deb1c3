"""Bulk writes of the long tables: the key check on integer codes agrees with pandas, and
categorical frames written through Arrow give the same rows as the pandas scan."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm.store import Store, append_measurements, load_measurements, save_cohort
from crlm.store.bulk import arrow_rows, refuse_duplicate_keys
from crlm.store.features import append_features
from crlm.config import PATIENT_COLUMN_NAMES

KEY = ["patient_id", "feature_set", "feature"]


def _features(n_patients: int, names: list[str], order=None) -> pd.DataFrame:
    pid = np.repeat(np.arange(n_patients), len(names))
    feat = np.tile(np.arange(len(names)), n_patients)
    if order is not None:
        pid, feat = pid[order], feat[order]
    return pd.DataFrame({
        "patient_id": pd.Categorical.from_codes(pid, categories=[f"P{i}" for i in range(n_patients)]),
        "feature_set": pd.Categorical.from_codes(np.zeros(len(pid), dtype=np.int8),
                                                 categories=["radiomic", "genomic"]),
        "feature": pd.Categorical.from_codes(feat, categories=names),
        "value": np.linspace(0.0, 1.0, len(pid)),
    })


@pytest.mark.parametrize("shuffled", [False, True])
def test_unique_categorical_keys_pass_in_any_order(shuffled):
    n = 40 * 3
    order = np.random.default_rng(1).permutation(n) if shuffled else None
    refuse_duplicate_keys(_features(40, ["a", "b", "c"], order), KEY, "features")


@pytest.mark.parametrize("shuffled", [False, True])
def test_a_repeated_categorical_key_gives_the_pandas_message(shuffled):
    frame = _features(40, ["a", "b", "c"])
    frame = pd.concat([frame, frame.iloc[[7, 90]]], ignore_index=True)
    if shuffled:
        frame = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    with pytest.raises(ValueError, match=r"^features: 2 row\(s\) repeat a"):
        refuse_duplicate_keys(frame, KEY, "features")


def test_missing_categories_and_integer_days_are_keys_like_pandas():
    frame = pd.DataFrame({"patient_id": pd.Categorical(["P1", None, None, "P1"]),
                          "kind": pd.Categorical(["cea"] * 4), "day": [0, 5, 5, 5]})
    with pytest.raises(ValueError, match="1 row"):
        refuse_duplicate_keys(frame, ["patient_id", "kind", "day"], "measurements")
    refuse_duplicate_keys(frame.iloc[[0, 1, 3]], ["patient_id", "kind", "day"], "measurements")


def test_text_columns_fall_back_to_pandas():
    frame = pd.DataFrame({"patient_id": ["P1", "P1"], "feature_set": ["g", "g"],
                          "feature": ["x", "x"], "value": [1.0, 2.0]})
    assert arrow_rows(frame) is None
    with pytest.raises(ValueError, match="1 row"):
        refuse_duplicate_keys(frame, KEY, "features")


def test_arrow_rows_keep_order_codes_and_missing_values(tmp_path):
    frame = _features(5, ["b", "a"])
    frame.loc[3, "value"] = np.nan
    assert arrow_rows(frame).to_pandas()["feature"].tolist() == frame["feature"].tolist()
    numeric_categories = frame.assign(feature=pd.Categorical([1, 2] * 5))
    assert arrow_rows(numeric_categories) is None
    patients = pd.DataFrame({c: [None] * 5 for c in PATIENT_COLUMN_NAMES})
    patients["patient_id"] = [f"P{i}" for i in range(5)]
    with Store(tmp_path / "s.duckdb") as s:
        save_cohort(s, "a", patients, frame.astype({c: str for c in KEY}), kind="imported")
        with s.transaction() as cur:
            cur.execute("DELETE FROM features WHERE cohort = 'b'")
            append_features(cur, "b", frame)
        rows = [s.cursor().execute(
            "SELECT patient_id, feature_set, feature, value FROM features WHERE cohort = ?",
            [c]).fetchall() for c in ("a", "b")]
    assert rows[0] == rows[1]
    assert rows[1][3][3] is None and rows[1][2][2] == "b"


def test_categorical_measurements_are_stored_as_text(tmp_path):
    rows = pd.DataFrame({"patient_id": pd.Categorical(["P0", "P0", "P1"]), "day": [0, 28, 0],
                         "kind": pd.Categorical(["cea"] * 3), "value": [5.0, 3.5, 7.25],
                         "unit": pd.Categorical(["ng/mL"] * 3),
                         "source": pd.Categorical(["synthetic"] * 3)})
    patients = pd.DataFrame({c: [None] * 2 for c in PATIENT_COLUMN_NAMES})
    patients["patient_id"] = ["P0", "P1"]
    with Store(tmp_path / "s.duckdb") as s:
        save_cohort(s, "demo", patients, kind="imported")
        with s.transaction() as cur:
            append_measurements(cur, "demo", rows)
        stored = load_measurements(s, "demo")
    assert stored["patient_id"].tolist() == ["P0", "P0", "P1"]
    assert stored["value"].tolist() == [5.0, 3.5, 7.25]
    assert stored["unit"].tolist() == ["ng/mL"] * 3
