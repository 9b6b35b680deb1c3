"""Training data read lean: text columns as categoricals, features pivoted in patient
ranges, the compiled preprocessing checked in row blocks. Each gives the same values as
the direct reads (``load_cohort`` + ``load_features``, merged on patient_id)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import store as st
from crlm.ingest.demo import generate_cohort_frames
from crlm.models.fitted import build_pipeline
from crlm.models.families import get_family
from crlm.models.inputs import CompiledPreprocessor, canonical_patients, model_matrix
from crlm.models.modelling_data import _object_hash, load_modelling_data, prepare_patients
from crlm.store.feature_matrix import load_feature_matrix

N = 80


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    """Two cohorts; in ``demo`` some patients have no features and one feature is
    missing for others."""
    chunk = generate_cohort_frames(N, 11)
    patients, features = chunk.patients, chunk.features
    ids = sorted(patients["patient_id"])
    without = set(ids[5:9]) | {ids[-1]}
    features = features[~features["patient_id"].isin(without)]
    one = sorted(features["feature"].unique())[0]
    features = features[~((features["feature"] == one)
                          & features["patient_id"].isin(ids[20:30]))]
    path = tmp_path_factory.mktemp("lean") / "lean.duckdb"
    store = st.Store(path)
    st.save_cohort(store, "demo", patients, features, kind="synthetic")
    other = generate_cohort_frames(30, 12)
    st.save_cohort(store, "other", other.patients, other.features, kind="synthetic")
    yield store
    store.close()


def _direct_frame(store, cohort: str) -> pd.DataFrame:
    frame = prepare_patients(st.load_cohort(store, st.CohortFilter(cohort=cohort)))
    frame = frame.merge(st.load_features(store, cohort), on="patient_id", how="left")
    frame = frame.set_index("patient_id", drop=False)
    frame.index.name = None
    return frame


@pytest.mark.parametrize("chunk", [7, 10_000])
def test_feature_matrix_equals_the_whole_cohort_pivot(small_store, chunk):
    ids = st.load_cohort(small_store, st.CohortFilter(cohort="demo"), ["patient_id"])
    ids = ids["patient_id"].tolist()
    direct = st.load_features(small_store, "demo").set_index("patient_id").reindex(ids)
    got = load_feature_matrix(small_store, "demo", ids, chunk=chunk)
    assert list(got.index) == ids and list(got.columns) == list(direct.columns)
    assert got.isna().to_numpy().any()   # the patients without features are rows of NaN
    np.testing.assert_array_equal(got.to_numpy(), direct.to_numpy())


def test_feature_matrix_refuses_a_chunk_below_one(small_store):
    with pytest.raises(ValueError, match="chunk"):
        load_feature_matrix(small_store, "demo", ["x"], chunk=0)


def test_modelling_frame_equals_the_direct_reads(small_store):
    for cohort in ("demo", "other"):
        direct = _direct_frame(small_store, cohort)
        lean = load_modelling_data(small_store, cohort).frame
        assert set(lean.columns) == set(direct.columns)
        lean = lean[direct.columns]
        pd.testing.assert_frame_equal(lean, direct, check_exact=True)
        for column in direct.columns:   # the same kinds of objects, not only equal ones
            assert [type(v) for v in lean[column]] == [type(v) for v in direct[column]]


def test_modelling_frame_holds_the_feature_matrix_without_a_copy(small_store, monkeypatch):
    """The features are set beside the patients' columns as read: the frame's feature
    columns are the feature matrix's own array, and the patients' float columns are
    not merged with them into a new block."""
    import crlm.models.modelling_data as md

    read = {}

    def reading(*args, **kwargs):
        read["wide"] = load_feature_matrix(*args, **kwargs)
        return read["wide"]

    monkeypatch.setattr(md, "load_feature_matrix", reading)
    frame = md.load_modelling_data(small_store, "demo").frame
    matrix = read["wide"]._mgr.blocks[0].values
    feature = read["wide"].columns[0]
    assert np.shares_memory(frame[feature].to_numpy(), matrix)
    assert not np.shares_memory(frame["age_years"].to_numpy(), matrix)
    assert pd.options.mode.copy_on_write is False   # set for the concat only


def test_canonical_patients_reads_categoricals_as_text():
    text = pd.DataFrame({
        "kras": ["mutant", None, "  ", "wild-type", "mutant"],
        "bilobar": pd.array([True, None, False, True, None], dtype="boolean"),
        "age_years": [61.0, None, 70.5, 45.0, 80.0],
    })
    coded = text.assign(kras=text["kras"].astype("category"))
    as_objects = text.assign(bilobar=text["bilobar"].astype(object))
    expected = canonical_patients(as_objects)
    assert expected["kras"].tolist() == ["mutant", None, None, "wild-type", "mutant"]
    assert expected["bilobar"].tolist() == [True, None, False, True, None]
    for frame in (coded, text):
        got = canonical_patients(frame)
        pd.testing.assert_frame_equal(got, expected)
        assert got["kras"].dtype == object and got["bilobar"].dtype == object
    assert isinstance(coded["kras"].dtype, pd.CategoricalDtype)   # the input is left alone


def test_compiled_check_covers_every_row_block():
    rng = np.random.default_rng(3)
    n = 40
    frame = pd.DataFrame({
        "age_years": rng.normal(60, 10, n),
        "kras": rng.choice(["mutant", "wild-type"], n).astype(object),
        "primary_side": ["left"] * (n - 2) + ["right"] * 2,   # a level only in the last rows
    })
    columns = list(frame.columns)
    X = model_matrix(frame, columns)
    pipeline = build_pipeline(get_family("logistic"), columns, 7, True)
    pipeline.fit(X, rng.integers(0, 2, n))
    preprocess = pipeline.named_steps["preprocess"]
    compiled = CompiledPreprocessor(preprocess)
    compiled.check(preprocess, X, rows=7)
    side = compiled.categorical.index("primary_side")
    assert list(compiled.levels[side]) == ["left", "right"]
    compiled.levels[side] = np.array(["left", "other"], dtype=object)   # "right" lost
    compiled.check(preprocess, X.iloc[:7], rows=7)   # the first block alone agrees
    with pytest.raises(ValueError, match="differs"):
        compiled.check(preprocess, X, rows=7)


@pytest.mark.parametrize("values", [
    [0.0, -0.0, np.nan, 1.5, 1.5, -0.0, 1e300, -np.inf, np.inf, 0.1, 1 / 3],
    [np.nan] * 4, [-0.0, 0.0, 0.0], [], list(np.linspace(-2, 2, 301)),
])
def test_a_float_column_hashes_as_its_objects(values):
    column = pd.Series(np.asarray(values, dtype=float))
    expected = pd.util.hash_pandas_object(column.astype("object"), index=False).to_numpy()
    got = _object_hash(column)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)


@pytest.mark.parametrize("columns", [3, 8, 21])
def test_column_median_imputer_has_scikit_learns_medians(columns):
    """Medians taken a block of columns at a time are scikit-learn's whole-matrix medians,
    bit for bit: odd and even counts, a column without any value (kept, filled with 0),
    missing values; and the filled matrix is the same."""
    from sklearn.impute import SimpleImputer

    from crlm.models.blockwise import ColumnMedianImputer

    rng = np.random.default_rng(columns)
    X = rng.normal(size=(101, columns)) * 1e3
    X[rng.random(X.shape) < 0.2] = np.nan
    X[:, 1] = np.nan
    X[:50, 2 % columns] = np.nan   # an even count of values in that column
    ours = ColumnMedianImputer(strategy="median", keep_empty_features=True)
    theirs = SimpleImputer(strategy="median", keep_empty_features=True)
    got, expected = ours.fit_transform(X), theirs.fit_transform(X)
    assert np.array_equal(ours.statistics_, theirs.statistics_)
    assert ours.statistics_[1] == 0.0
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("numeric,categorical", [
    (["age", "cea", "largest_lesion_cm"], ["sex", "t_stage"]),
    (["cea"], []),   # a design of one column: transformed whole
    ([], ["t_stage"]),
])
@pytest.mark.parametrize("rows", [1, 7, 50, 1000])
def test_design_mean_in_row_blocks_is_the_whole_designs_mean(numeric, categorical, rows):
    from crlm.models.blockwise import design_mean
    from crlm.models.inputs import make_preprocessor

    rng = np.random.default_rng(rows)
    n = 403
    X = pd.DataFrame({c: rng.lognormal(3, 1.5, n) for c in numeric})
    for c in numeric:
        X.loc[rng.random(n) < 0.2, c] = np.nan
    for c in categorical:
        values = rng.choice(["a", "b", "c"], n).astype(object)
        values[rng.random(n) < 0.1] = np.nan
        X[c] = values
    pre = make_preprocessor(numeric, categorical).fit(X)
    expected = np.asarray(pre.transform(X), dtype=float).mean(axis=0)
    got = design_mean(pre, X, rows=rows)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("n", [5, 20_000, 45_001])
def test_row_block_one_hot_is_scikit_learns_encoding(n):
    """Encoded a block of rows at a time (blocks of 20,000): the same matrix, dtype and
    order as scikit-learn's, unknown levels at transform included."""
    from sklearn.preprocessing import OneHotEncoder

    from crlm.models.blockwise import RowBlockOneHotEncoder

    rng = np.random.default_rng(n)
    X = np.column_stack([rng.choice(["a", "b", "missing"], n),
                         rng.choice(["x", "y", "z", "w"], n)]).astype(object)
    later = X[::-1].copy()
    later[::7, 1] = "never seen"
    ours = RowBlockOneHotEncoder(handle_unknown="ignore", sparse_output=False)
    theirs = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    got, expected = ours.fit_transform(X), theirs.fit_transform(X)
    assert got.dtype == expected.dtype and got.flags.c_contiguous == expected.flags.c_contiguous
    assert np.array_equal(got, expected)
    assert np.array_equal(ours.transform(later), theirs.transform(later))
