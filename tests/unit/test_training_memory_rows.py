"""Training rows taken lean: the task's rows and columns taken from the cohort without
the whole task frame, the model matrix typed once per task with its float columns
shared, DuckDB's memory handed back after the reads. Each gives the same values, hashes
and predictions as the direct way."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import store as st
from crlm.ingest.demo import generate_cohort_frames
from crlm.models.cross_validation import assign_folds, cross_validate, fit_model
from crlm.models.families import get_family
from crlm.models.fitted import build_pipeline
from crlm.models.inputs import model_matrix, shared_model_matrix
from crlm.models.modelling_data import (
    load_modelling_data, rows_of, task_frame, task_rows, training_hash,
)
from crlm.models.tasks import get_task
from crlm.models.training import DEVELOPMENT, EXTERNAL, _task_columns
from crlm.store.memory import memory_limit, release_memory


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    chunk = generate_cohort_frames(240, 5)
    path = tmp_path_factory.mktemp("rows") / "rows.duckdb"
    store = st.Store(path)
    st.save_cohort(store, "demo", chunk.patients, chunk.features, kind="synthetic")
    yield store
    store.close()


@pytest.fixture(scope="module")
def data(small_store):
    return load_modelling_data(small_store, "demo")


def test_rows_of_equals_the_masked_frame(data):
    frame = data.frame
    rows = np.arange(len(frame)) % 3 == 1
    columns = [frame.columns[5], "cohort_split", frame.columns[-1], "kras"]
    got = rows_of(frame, rows, columns)
    expected = frame[rows][[c for c in frame.columns if c in columns]]
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    pd.testing.assert_frame_equal(rows_of(frame, rows), frame[rows], check_exact=True)
    assert rows_of(frame, rows, []).shape == (int(rows.sum()), 0)


def test_rows_of_holds_each_text_once_with_the_same_values(data):
    """Derived text columns (a string per patient in the cohort's frame) come out with one
    string object per distinct text; values, missing values and dtypes are unchanged, and
    yes/no objects and mixed columns are left as they are."""
    frame = data.frame.copy()
    frame["mixed"] = pd.Series([1, "1", None] * (len(frame) // 3)
                               + [None] * (len(frame) % 3), index=frame.index, dtype=object)
    rows = np.arange(len(frame)) % 2 == 0
    columns = ["tbs_zone", "fong_group", "game_group", "kras", "synchronous", "mixed"]
    got = rows_of(frame, rows, columns)
    expected = frame[rows][[c for c in frame.columns if c in columns]]
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    for c in ["tbs_zone", "fong_group", "game_group"]:
        known = got[c].dropna().to_numpy(dtype=object)
        assert len(known) and len({id(v) for v in known}) == len(set(known))
    assert [type(v) for v in got["mixed"]] == [type(v) for v in expected["mixed"]]
    assert got["synchronous"].map(type).equals(expected["synchronous"].map(type))


def test_training_hash_of_rows_is_that_of_the_task_frame(data):
    for name in ("response", "os_risk", "anti_egfr_benefit"):
        task = get_task(name)
        rows = task_rows(data, task)
        assert 0 < rows.sum() <= len(data.frame)
        assert training_hash(data.frame, rows) == training_hash(task_frame(data, task))
    other = np.zeros(len(data.frame), dtype=bool)
    other[:10] = True
    assert training_hash(data.frame, other) != training_hash(data.frame, rows)


def test_shared_model_matrix_has_the_model_matrix_values(data):
    family, task = get_family("logistic"), get_task("response")
    columns = data.columns_for(family, task) + ["not_a_column"]
    dev = data.frame.iloc[::2]
    expected = model_matrix(dev, columns)
    got = shared_model_matrix(dev, columns)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    for c in columns:   # the same kinds of objects, not only equal ones
        assert [type(v) for v in got[c]] == [type(v) for v in expected[c]]
    shared = [c for c in columns if c in dev.columns and dev[c].dtype == np.float64]
    assert shared and all(np.shares_memory(got[c].to_numpy(), dev[c].to_numpy())
                          for c in shared)
    assert not np.shares_memory(got["kras"].to_numpy(), dev["kras"].to_numpy())


@pytest.mark.parametrize("family_name, task_name", [
    ("logistic", "response"), ("random_forest", "response"), ("cox", "os_risk"),
])
def test_cross_validation_predicts_as_fits_on_frames(data, family_name, task_name):
    family, task = get_family(family_name), get_task(task_name)
    frame = task_frame(data, task)
    split = frame["cohort_split"].astype("object")
    dev, ext = frame[(split == DEVELOPMENT).to_numpy()], frame[(split == EXTERNAL).to_numpy()]
    columns = data.columns_for(family, task)
    fold_of = assign_folds(dev, task, 3, 7)
    got = cross_validate(family, task, columns, dev, fold_of, ext, seed=7, fast=True,
                         comparison=ext.iloc[:5])
    oof = np.full(len(dev), np.nan)   # the fits on typed frames, fold by fold
    for k in range(3):
        test = fold_of == k
        oof[test] = fit_model(family, task, columns, dev[~test], 7, True).predict_scores(
            dev[test])
    final = fit_model(family, task, columns, dev, 7, True)
    assert np.array_equal(got.oof, oof)
    assert np.array_equal(got.external, final.predict_scores(ext))
    assert np.array_equal(got.comparison, final.predict_scores(ext.iloc[:5]))
    if family.explainer == "linear":
        assert np.array_equal(got.model.transformed_mean_, final.transformed_mean_)


def test_task_columns_are_what_the_families_read(data):
    task = get_task("response")
    logistic, fong = get_family("logistic"), get_family("fong_score")
    got = _task_columns(data, task, [logistic, fong])
    read = set(data.columns_for(logistic, task)) | {fong.column, "cohort_split", "center",
                                                     "responder"}
    assert set(got) == read and got == [c for c in data.frame.columns if c in read]
    import crlm.models.ct_models  # noqa: F401  (registers the families trained apart)
    own = get_family("attention_mil")
    assert own.trainer is not None and _task_columns(data, task, [logistic, own]) is None


def test_release_memory_keeps_the_limit_and_the_data(small_store):
    cur = small_store.cursor()
    before = memory_limit(small_store)
    count = cur.execute("SELECT count(*) FROM patients").fetchone()[0]
    release_memory(small_store)
    assert memory_limit(small_store) == before
    assert cur.execute("SELECT count(*) FROM patients").fetchone()[0] == count
    cur.execute("SET memory_limit = '3GB'")
    try:
        explicit = memory_limit(small_store)
        for _ in range(3):   # a limit set by hand comes back as it was, every time
            release_memory(small_store)
            assert memory_limit(small_store) == explicit != before
    finally:
        cur.execute("RESET memory_limit")


def test_scaling_in_place_gives_the_same_design_and_fit(data):
    family, task = get_family("logistic"), get_task("response")
    columns = data.columns_for(family, task)
    X = model_matrix(data.frame, columns)
    y = task.outcome(data.frame.assign(responder=data.frame["responder"].fillna(False)))
    before = X.copy()
    pipelines = [build_pipeline(family, columns, 7, True) for _ in range(2)]
    pipelines[1].set_params(preprocess__numeric__scale__copy=True)   # the copying scaler
    assert pipelines[0].get_params()["preprocess__numeric__scale__copy"] is False
    for p in pipelines:
        p.fit(X, y)
    pd.testing.assert_frame_equal(X, before, check_exact=True)   # the input is left alone
    designs = [p[:-1].transform(X) for p in pipelines]
    assert np.array_equal(designs[0], designs[1])
    assert np.array_equal(pipelines[0].predict_proba(X), pipelines[1].predict_proba(X))


def test_tasks_trained_together_score_as_trained_apart(tmp_path):
    from crlm.models.training import train

    chunk = generate_cohort_frames(300, 5)
    reports = []
    for name, tasks in (("together", [["response", "os_risk"]]),
                        ("apart", [["response"], ["os_risk"]])):
        store = st.Store(tmp_path / f"{name}.duckdb")
        st.save_cohort(store, "demo", chunk.patients, chunk.features, kind="synthetic")
        tables = [train(store, "demo", tasks=t, families=["logistic", "cox", "fong_score"],
                        folds=3, fast=True, progress=False,
                        artefact_dir=tmp_path / f"{name}_models").table for t in tasks]
        hashes = st.load_models(store)[["model_id", "training_hash"]]
        reports.append((pd.concat(tables, ignore_index=True), hashes))
        store.close()
    (together, hashes_together), (apart, hashes_apart) = reports
    assert len(together) == 4   # logistic and Fong for response, Cox and Fong for OS
    shown = ["model", "n", "n_external", "AUC [95% CI]", "AUC external", "Brier", "C-index"]
    pd.testing.assert_frame_equal(together[shown], apart[shown])
    key = ["model_id"]
    pd.testing.assert_frame_equal(hashes_together.sort_values(key, ignore_index=True),
                                  hashes_apart.sort_values(key, ignore_index=True))
