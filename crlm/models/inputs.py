"""Model inputs: which columns a model reads, how a frame is checked and typed,
and the preprocessing that every family runs inside its pipeline.

Training frames (from the store) and uploaded cases go through the same
``prepare_patients``, so the values a model sees at scoring are computed by
the same code as at training.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from crlm import config
from crlm.models.blockwise import ColumnMedianImputer, RowBlockOneHotEncoder

INPUT_COLUMNS: tuple[str, ...] = config.INPUT_COLUMNS  # known before treatment starts
# Typed over every column some task may read (the post-resection tasks read pathology).
CATEGORICAL_INPUTS: tuple[str, ...] = tuple(
    c for c in config.CANDIDATE_INPUT_COLUMNS if config.COLUMNS_BY_NAME[c].kind == "category"
)
BOOL_INPUTS: tuple[str, ...] = tuple(
    c for c in config.CANDIDATE_INPUT_COLUMNS if config.COLUMNS_BY_NAME[c].kind == "bool"
)
NUMERIC_INPUTS: tuple[str, ...] = tuple(
    c for c in config.CANDIDATE_INPUT_COLUMNS
    if config.COLUMNS_BY_NAME[c].kind in ("int", "float")
)
# Known but not model inputs: identifiers, split, dates and outcomes.
NON_INPUT_COLUMNS: tuple[str, ...] = tuple(
    c for c in config.PATIENT_COLUMN_NAMES if c not in INPUT_COLUMNS
)
MISSING_LEVEL = "missing"


def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _as_bool(value):
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in config.YES_TOKENS:
        return True
    if text in config.NO_TOKENS:
        return False
    raise ValueError


def validate_patients(frame: pd.DataFrame, feature_names=()) -> tuple[pd.DataFrame, list[str]]:
    """Check and type a frame of patients against the column contract.

    Returns the typed frame (categories as text, booleans as True/False/None,
    numbers as float; missing as NaN/None) and the list of columns that are
    neither contract columns nor known feature names. Every bad value raises
    one ``ValueError`` listing ``row <i>, column <name>: <problem>``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValueError("expected a pandas DataFrame of patients")
    known_features = set(feature_names)
    unknown = [str(c) for c in frame.columns
               if c not in config.COLUMNS_BY_NAME and c not in known_features]
    problems: list[str] = []
    out: dict[str, object] = {}   # built as one frame at the end, not column by column
    for name in frame.columns:
        if name in unknown:
            continue
        col = config.COLUMNS_BY_NAME.get(name)
        values = frame[name].tolist()
        if col is None:  # a feature column: numeric
            typed = []
            for i, v in enumerate(values):
                try:
                    x = np.nan if _is_missing(v) else float(v)
                except (TypeError, ValueError):
                    problems.append(f"row {i}, column {name}: {v!r} is not a number")
                    x = np.nan
                if not np.isnan(x) and not np.isfinite(x):
                    problems.append(f"row {i}, column {name}: {v!r} is not a finite number")
                typed.append(x)
            out[name] = np.asarray(typed, dtype=float)
            continue
        if col.kind in ("text", "date"):
            out[name] = frame[name]
            continue
        typed = []
        for i, v in enumerate(values):
            parsed = col.parse(v)  # the contract's one parser
            if parsed.problem:
                problems.append(f"row {i}, column {name}: {parsed.problem}")
            value = parsed.value
            typed.append((None if col.kind in ("category", "bool") else np.nan)
                         if value is None else value)
        out[name] = pd.Series(typed, index=frame.index,
                              dtype=object if col.kind in ("category", "bool") else float)
    if problems:
        shown = problems[:20]
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise ValueError("invalid case input: " + "; ".join(shown) + more)
    return pd.DataFrame(out, index=frame.index), unknown


def _category_objects(values: pd.Series) -> np.ndarray:
    """A category column as text objects, None for missing (blank text counts as
    missing). A categorical is mapped level by level: each patient's value is then a
    reference to its level's one string, not a string of its own."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        levels = [None if _is_missing(v) else str(v) for v in values.cat.categories]
        lookup = np.array(levels + [None], dtype=object)
        return lookup[values.cat.codes.to_numpy()]   # code -1 (missing) takes the last
    out = np.empty(len(values), dtype=object)
    out[:] = [None if _is_missing(v) else str(v) for v in values.tolist()]
    return out


def _bool_objects(values: pd.Series) -> np.ndarray:
    """A yes/no column as True/False/None objects."""
    out = np.empty(len(values), dtype=object)
    if isinstance(values.dtype, pd.BooleanDtype) or values.dtype == bool:
        missing = values.isna().to_numpy()
        truth = values.fillna(False).to_numpy(dtype=bool)
        out[:] = None
        out[~missing & truth] = True
        out[~missing & ~truth] = False
        return out
    out[:] = [_as_bool(v) for v in values.tolist()]
    return out


def canonical_patients(frame: pd.DataFrame) -> pd.DataFrame:
    """Contract columns typed the same way whatever their source (store or upload):
    categories as text objects and booleans as True/False objects (None for missing),
    numbers as floats. Built as a new frame; ``frame`` is left as it is."""
    out: dict[str, object] = {}
    for name in frame.columns:
        col = config.COLUMNS_BY_NAME.get(name)
        values = frame[name]
        if col is None or col.kind in ("text", "date"):
            out[name] = values
        elif col.kind == "category":
            out[name] = _category_objects(values)
        elif col.kind == "bool":
            out[name] = _bool_objects(values)
        else:
            out[name] = pd.to_numeric(values, errors="coerce").astype(float)
    return pd.DataFrame(out, index=frame.index, columns=frame.columns)


def _text_or_nan(values: pd.Series) -> pd.Series:
    arr = values.to_numpy(dtype=object, na_value=None) if hasattr(values, "to_numpy") else values
    arr = np.asarray(arr, dtype=object)
    missing = np.asarray(pd.isna(arr), dtype=bool)
    out = np.empty(len(arr), dtype=object)
    out[:] = np.nan
    present = ~missing
    if present.any():
        texts = np.array([str(v).strip() for v in arr[present]], dtype=object)
        blank = texts == ""
        vals = np.where(blank, np.nan, texts)
        out[present] = vals
    return pd.Series(out, index=values.index, dtype=object)


def _bool_or_nan(values: pd.Series) -> pd.Series:
    arr = np.asarray(values.to_numpy(dtype=object, na_value=None), dtype=object)
    missing = np.asarray(pd.isna(arr), dtype=bool)
    out = np.full(len(arr), np.nan)
    if (~missing).any():
        out[~missing] = [np.nan if _is_missing(v) else float(_as_bool(v)) for v in arr[~missing]]
    return pd.Series(out, index=values.index, dtype=float)


def model_matrix(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """The columns a pipeline reads, typed for it: categories as text with NaN for
    missing, booleans as 0/1 floats, numbers and features as floats."""
    data = {}
    for name in columns:
        values = frame[name] if name in frame.columns else pd.Series(np.nan, index=frame.index)
        col = config.COLUMNS_BY_NAME.get(name)
        if col is not None and col.kind == "category":
            data[name] = _text_or_nan(values)
        elif col is not None and col.kind == "bool":
            data[name] = _bool_or_nan(values)
        else:
            data[name] = pd.to_numeric(values, errors="coerce").astype(float)
    return pd.DataFrame(data, index=frame.index)


def shared_model_matrix(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """``model_matrix(frame, columns)`` with the same values, whose number columns that are
    already floats in ``frame`` are ``frame``'s own arrays (not copied): for the training
    rows of a large cohort, which are typed once and must not be held twice. The result
    must not be written to."""
    shared = [name for name in columns
              if name in frame.columns and frame[name].dtype == np.float64
              and (config.COLUMNS_BY_NAME.get(name) is None
                   or config.COLUMNS_BY_NAME[name].kind not in ("category", "bool"))]
    typed = model_matrix(frame, [c for c in columns if c not in shared])
    parts = [frame[name] if name in shared else typed[name] for name in columns]
    out = pd.concat(parts, axis=1, copy=False) if parts else pd.DataFrame(index=frame.index)
    out.columns = pd.Index(list(columns), dtype=object)
    return out


def one_hot_categorical_features(wide: pd.DataFrame, info: pd.DataFrame
                                 ) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """An import's categorical extra features (stored as level codes, their level names in
    ``feature_info``) as one 0/1 column per level, named ``<feature>=<level>``; missing
    stays missing. Returns the wide frame and, per categorical feature, its new columns
    (each with the feature's decision time). Numeric features are left as they are."""
    expanded: dict[str, list[str]] = {}
    if "kind" not in info.columns:
        return wide, expanded
    out = wide
    for row in info[info["kind"] == "categorical"].itertuples():
        name, levels = str(row.feature), list(row.levels or [])
        if name not in out.columns or not levels:
            continue
        codes = pd.to_numeric(out[name], errors="coerce").to_numpy(dtype=float)
        columns = {}
        for k, level in enumerate(levels):
            column = np.where(np.isnan(codes), np.nan, (codes == k).astype(float))
            columns[f"{name}={level}"] = column
        out = out.drop(columns=[name]).assign(**columns)
        expanded[name] = list(columns)
    return out, expanded


def categorical_feature_levels(info: pd.DataFrame) -> dict[str, list[str]]:
    """Per categorical extra feature of ``feature_info``: its level names, in order."""
    if info is None or "kind" not in info.columns:
        return {}
    return {str(row.feature): [str(v) for v in row.levels]
            for row in info[info["kind"] == "categorical"].itertuples()
            if row.levels is not None and len(row.levels)}


def one_hot_feature_times(info: pd.DataFrame) -> dict[str, str]:
    """The decision time of each one-hot column (``<feature>=<level>``): its feature's."""
    times = dict(zip(info["feature"].astype(str), info["known_at"].astype(str))) \
        if info is not None and len(info) else {}
    return {f"{name}={level}": times.get(name, config.UNKNOWN_TIME)
            for name, levels in categorical_feature_levels(info).items() for level in levels}


def one_hot_case_levels(frame: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """A case frame whose categorical extra features are given by level name (``rx:
    Lev+5FU``) with each such column replaced by the one-hot columns the models read
    (``rx=Obs``, ``rx=Lev``, ``rx=Lev+5FU``: 1 for the given level, 0 for the others, all
    missing when the value is). A value that is not one of the feature's levels raises one
    ``ValueError`` naming row, column, value and the levels."""
    levels_of = categorical_feature_levels(info)
    given = [c for c in frame.columns if str(c) in levels_of]
    if not given:
        return frame
    out = frame.drop(columns=given)
    problems = []
    for column in given:
        levels = levels_of[str(column)]
        by_text = {lv.strip().casefold(): k for k, lv in enumerate(levels)}
        codes = np.full(len(frame), np.nan)
        for i, value in enumerate(frame[column].tolist()):
            if _is_missing(value):
                continue
            text = str(int(value)) if isinstance(value, float) and value.is_integer() \
                else str(value)
            code = by_text.get(text.strip().casefold())
            if code is None:
                problems.append(f"row {i}, column {column}: {value!r} is not one of its "
                                f"levels ({', '.join(levels)})")
            else:
                codes[i] = code
        for k, level in enumerate(levels):
            out[f"{column}={level}"] = np.where(np.isnan(codes), np.nan,
                                                (codes == k).astype(float))
    if problems:
        raise ValueError("invalid case input: " + "; ".join(problems[:20]))
    return out


def split_columns(columns) -> tuple[list[str], list[str]]:
    """(numeric-like, categorical) among ``columns``; booleans and features are numeric."""
    categorical = [c for c in columns if c in CATEGORICAL_INPUTS]
    numeric = [c for c in columns if c not in categorical]
    return numeric, categorical


def make_preprocessor(numeric, categorical) -> ColumnTransformer:
    """Median imputation + scaling for numbers, 'missing' level + one-hot for categories."""
    steps = []
    if numeric:
        steps.append(("numeric", Pipeline([
            ("impute", ColumnMedianImputer(strategy="median", keep_empty_features=True)),
            # scaled in place: its input is the imputer's copy, never the caller's frame
            ("scale", StandardScaler(copy=False)),
        ]), list(numeric)))
    if categorical:
        steps.append(("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_LEVEL,
                                     keep_empty_features=True)),
            ("onehot", RowBlockOneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]), list(categorical)))
    return ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=True)


def transformed_groups(preprocessor: ColumnTransformer) -> list[str]:
    """For each output column of a fitted preprocessor, the input column it comes from."""
    groups: list[str] = []
    for name, transformer, columns in preprocessor.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        if name == "numeric":
            groups.extend(columns)
        else:
            encoder = transformer.named_steps["onehot"]
            for column, levels in zip(columns, encoder.categories_):
                groups.extend([column] * len(levels))
    return groups


class CompiledPreprocessor:
    """The transform of a fitted ``make_preprocessor`` in plain numpy.

    Same operations in the same order as scikit-learn (median fill, subtract
    the mean, divide by the scale; 'missing' fill, one-hot with unknown levels
    as all zeros), without the per-call validation overhead, so that one case
    is transformed in microseconds. ``check`` compares it with the fitted
    ColumnTransformer on data and raises if they differ.
    """

    def __init__(self, preprocessor: ColumnTransformer):
        self.numeric: list[str] = []
        self.categorical: list[str] = []
        self.fill = np.empty(0)
        self.mean = np.empty(0)
        self.scale = np.empty(0)
        self.levels: list[np.ndarray] = []
        for name, transformer, columns in preprocessor.transformers_:
            if name == "numeric":
                self.numeric = list(columns)
                self.fill = np.asarray(transformer.named_steps["impute"].statistics_, dtype=float)
                scaler = transformer.named_steps["scale"]
                self.mean = np.asarray(scaler.mean_, dtype=float)
                self.scale = np.asarray(scaler.scale_, dtype=float)
            elif name == "categorical":
                self.categorical = list(columns)
                self.levels = [np.asarray(c, dtype=object)
                               for c in transformer.named_steps["onehot"].categories_]

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        blocks = []
        if self.numeric:
            num = X.loc[:, self.numeric].to_numpy(dtype=float, copy=True)
            missing = np.isnan(num)
            if missing.any():
                num[missing] = np.broadcast_to(self.fill, num.shape)[missing]
            num -= self.mean
            num /= self.scale
            blocks.append(num)
        for column, levels in zip(self.categorical, self.levels):
            values = X[column].to_numpy(dtype=object)
            values = np.where(pd.isna(values), MISSING_LEVEL, values)
            blocks.append((values[:, None] == levels[None, :]).astype(float))
        return np.hstack(blocks) if blocks else np.empty((len(X), 0))

    def check(self, preprocessor: ColumnTransformer, X: pd.DataFrame,
              rows: int = 20_000) -> None:
        """Raise unless both transforms agree on every row of ``X``; compared ``rows`` rows
        at a time (each row is transformed on its own), so that neither result is ever
        held for the whole training set."""
        for start in range(0, max(len(X), 1), int(rows)):
            part = X.iloc[start:start + int(rows)]
            expected = np.asarray(preprocessor.transform(part), dtype=float)
            got = self.transform(part)
            if expected.shape != got.shape or not np.array_equal(expected, got):
                raise ValueError(
                    "compiled preprocessing differs from the fitted ColumnTransformer")
