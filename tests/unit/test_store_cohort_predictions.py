"""The whole cohort's predictions of one model, read once per data version: one row per
scored patient in the table's row order, no identifier unless asked for."""
from __future__ import annotations

import numpy as np
import pandas as pd

from crlm import store as st
from crlm.config import PATIENT_COLUMN_NAMES
from crlm.store import CohortFilter
from crlm.store.cohort_predictions import load_cohort_predictions
from crlm.store.selection import cohort_rowids, filter_rowids


def _store(path, n=30):
    frame = pd.DataFrame({c: [None] * n for c in PATIENT_COLUMN_NAMES})
    frame["patient_id"] = [f"P{i:02d}" for i in range(n)]
    frame["age_years"] = np.linspace(40, 80, n)
    frame["ras_status"] = ["mutant", "wild-type", None] * (n // 3)
    s = st.Store(path)
    st.save_cohort(s, "c", frame, kind="imported")
    scored = frame["patient_id"].iloc[2:]           # two patients without a prediction
    preds = pd.concat([  # one patient scored on both splits: read once
        pd.DataFrame({"patient_id": scored, "split": "out-of-fold", "fold": 1,
                      "score": np.arange(len(scored)) / 100}),
        pd.DataFrame({"patient_id": ["P05"], "split": "train", "fold": 1, "score": [0.9]})])
    st.save_model(s, {"model_id": "m", "name": "M", "family": "logistic", "task": "response",
                      "cohort": "c", "threshold": 0.5}, preds)
    return s


def test_one_row_per_scored_patient_in_row_order(tmp_path):
    with _store(tmp_path / "s.duckdb") as s:
        frame = load_cohort_predictions(s, "c", task="response", model_id="m",
                                        splits=("out-of-fold", "external"),
                                        columns=("ras_status", "age_years"))
        assert list(frame.columns) == ["rowid", "score", "ras_status", "age_years"]
        assert len(frame) == 28 and frame["rowid"].is_monotonic_increasing
        assert frame["rowid"].tolist() == cohort_rowids(s, "c")[2:].tolist()
        assert frame["score"].tolist() == (np.arange(28) / 100).tolist()
        assert isinstance(frame["ras_status"].dtype, pd.CategoricalDtype)
        assert frame["ras_status"].isna().sum() == 10     # patients 2, 5, ..., 29
        # a filter applied later as the row ids it selects
        young = set(filter_rowids(s, CohortFilter(cohort="c", ranges={"age_years": (40, 50)})))
        assert frame["age_years"][frame["rowid"].isin(young)].max() <= 50
        with_ids = load_cohort_predictions(s, "c", task="response", model_id="m",
                                           splits=("out-of-fold",), columns=(), with_ids=True)
        assert with_ids["patient_id"].astype(str).tolist() == [f"P{i:02d}" for i in range(2, 30)]
        any_task = load_cohort_predictions(s, "c", task=None, model_id="m",
                                           splits=("out-of-fold", "external"), columns=())
        assert any_task["rowid"].tolist() == frame["rowid"].tolist()
        assert load_cohort_predictions(s, "c", task="survival", model_id="m",
                                       splits=("out-of-fold",), columns=()).empty
        assert load_cohort_predictions(s, "c", task="response", model_id="other",
                                       splits=("out-of-fold",), columns=()).empty


def test_a_patient_scored_on_two_splits_reads_the_split_named_first(tmp_path):
    with _store(tmp_path / "s.duckdb") as s:
        p05 = int(cohort_rowids(s, "c")[5])
        first = load_cohort_predictions(s, "c", task="response", model_id="m",
                                        splits=("train", "out-of-fold"), columns=())
        other = load_cohort_predictions(s, "c", task="response", model_id="m",
                                        splits=("out-of-fold", "train"), columns=())
        for frame in (first, other):
            assert len(frame) == 28 and frame["rowid"].is_unique
        assert first.set_index("rowid").loc[p05, "score"] == 0.9      # the train split
        assert other.set_index("rowid").loc[p05, "score"] == 0.03     # out-of-fold


def test_text_columns_become_the_categoricals_arrows_own_conversion_gives():
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from crlm.store.cohort_predictions import categorical_frame

    rng = np.random.default_rng(0)
    values = rng.choice(np.array(["wild-type", "mutant", None, "unknown"], dtype=object), 9000)
    table = pa.table({
        "ras": pa.chunked_array([pa.array(values[:4000]), pa.array(values[4000:])]),
        "score": pa.array(rng.normal(size=9000)),
        "side": pa.array(rng.choice(["left", "right"], 9000)),
        "empty": pa.array([None] * 9000, type=pa.string()),
        "event": pa.array(rng.random(9000) < 0.5)})
    got = categorical_frame(table)
    assert isinstance(got["ras"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(got, table.to_pandas(strings_to_categorical=True))
    none = pa.table({"ras": pa.array([], type=pa.string())})
    pd.testing.assert_frame_equal(categorical_frame(none),
                                  none.to_pandas(strings_to_categorical=True))
