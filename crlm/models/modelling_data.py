"""A cohort ready for modelling: the store's patients typed and derived columns
recomputed, the stored features joined, each feature's decision time, and the
frames a task trains and compares on.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crlm import clinical, config
from crlm import store as st
from crlm.models.decision import InputPlan, candidate_columns, plan_inputs
from crlm.models.families import Family
from crlm.models.inputs import canonical_patients, one_hot_categorical_features
from crlm.models.tasks import Task
from crlm.store.coded import load_cohort_coded
from crlm.store.feature_matrix import load_feature_matrix
from crlm.store.filters import UNKNOWN


HASH_BLOCK = 16_384   # distinct float values made Python objects at once (training_hash)


def prepare_patients(patients: pd.DataFrame) -> pd.DataFrame:
    """Contract columns typed one way and the derived columns recomputed by
    ``crlm.clinical`` — the same for store rows and for uploaded cases."""
    absent = [name for name in config.PATIENT_COLUMN_NAMES if name not in patients.columns]
    frame = canonical_patients(patients.assign(**dict.fromkeys(absent)) if absent else patients)
    out = clinical.add_derived_columns(frame)
    # A source without a rule's inputs may carry the score itself (the TCIA table gives the
    # Fong score, not the disease-free interval): the stored value stands where the rule
    # has nothing to compute from.
    for name in clinical.DERIVED_COLUMNS:
        if name in patients.columns:
            out[name] = out[name].where(out[name].notna(), frame[name])
    return out


def default_artefact_dir(store) -> "Path":  # noqa: F821
    """``config.MODELS_DIR`` for the default store; ``<store stem>_models`` beside
    any other store file, so that two stores never share artefact folders."""
    path = store.path.resolve()
    if path == config.DEFAULT_DB.resolve():
        return config.MODELS_DIR
    return path.parent / f"{path.stem}_models"


@dataclass
class ModellingData:
    """A cohort ready for modelling: one row per patient (index patient_id).

    ``feature_times`` gives each stored feature's decision time (its set's, or for an
    import's extra features the time the mapping declared, else unknown)."""

    frame: pd.DataFrame
    feature_sets: dict[str, list[str]] = field(default_factory=dict)
    feature_times: dict[str, str] = field(default_factory=dict)

    def inputs_for(self, family: Family, task: Task) -> InputPlan:
        """The inputs ``family`` reads for ``task``: its feature sets (or its explicit
        ``inputs``), less everything not known by the task's decision time. A family
        that names an input explicitly and may not read it is refused (``ValueError``)."""
        candidates = (list(family.inputs) if family.inputs
                      else candidate_columns(family.feature_sets, self.feature_sets))
        plan = plan_inputs(task, candidates, self.feature_times, self.feature_sets,
                           self.not_recorded(candidates))
        if family.inputs and plan.refused:
            raise ValueError("refused inputs: " + "; ".join(r.reason for r in plan.refused))
        return plan

    def not_recorded(self, candidates) -> list[str]:
        """Those of ``candidates`` that are columns of the cohort with no value in any
        patient (the text ``unknown`` counts as missing, as in the store's
        ``load_recorded_columns``; inputs that are not columns, such as the CT crops, are
        never named)."""
        def recorded(values: pd.Series) -> bool:
            if values.dtype.kind in "fiub":   # a known number is never the text
                return bool(values.notna().any())
            known = values[values.notna()]
            return bool(len(known)) and bool((known.astype(str) != UNKNOWN).any())
        return [c for c in dict.fromkeys(candidates)
                if c in self.frame.columns and not recorded(self.frame[c])]

    def columns_for(self, family: Family, task: Task) -> list[str]:
        return list(self.inputs_for(family, task).used)


def load_modelling_data(store, cohort: str) -> ModellingData:
    """The cohort's patients (text columns read as categoricals, so that a value is one
    shared string and not one per patient) typed by ``prepare_patients``, with the stored
    features as further columns (read in patient ranges, aligned on patient_id)."""
    patients = load_cohort_coded(store, st.CohortFilter(cohort=cohort),
                                 config.PATIENT_COLUMN_NAMES)
    if patients.empty:
        raise ValueError(f"cohort {cohort!r} has no patients; build or import it first")
    frame = prepare_patients(patients)
    del patients
    names = st.load_feature_names(store, cohort)
    sets: dict[str, list[str]] = {}
    times: dict[str, str] = {}
    for fs, feature in zip(names["feature_set"], names["feature"]):
        sets.setdefault(str(fs), []).append(str(feature))
        times[str(feature)] = config.FEATURE_SET_KNOWN_AT.get(str(fs), config.UNKNOWN_TIME)
    info = st.load_feature_info(store, cohort)
    for feature, known_at in zip(info["feature"], info["known_at"]):
        times[str(feature)] = str(known_at)
    ids = pd.Index(frame["patient_id"].to_numpy(), dtype=object)
    wide, one_hot = one_hot_categorical_features(load_feature_matrix(store, cohort, ids), info)
    for feature, columns in one_hot.items():   # a categorical extra enters as its levels
        for fs, names_in_set in sets.items():
            if feature in names_in_set:
                at = names_in_set.index(feature)
                sets[fs] = names_in_set[:at] + columns + names_in_set[at + 1:]
        times.update({c: times.get(feature, config.UNKNOWN_TIME) for c in columns})
    frame.index = ids
    if len(wide.columns):
        clash = [c for c in wide.columns if c in frame.columns]
        if clash:
            raise ValueError(f"feature names clash with patient columns: {', '.join(clash)}")
        # the features (aligned to the patients) beside the patients' columns, sharing
        # their arrays: pandas' concat without copy-on-write consolidates the result, a
        # copy of every float column while the originals are still held (at 10^6 patients
        # about a gigabyte); with it, the blocks are taken as they are
        with pd.option_context("mode.copy_on_write", True):
            frame = pd.concat([frame, wide], axis=1)
    return ModellingData(frame=frame, feature_sets=sets, feature_times=times)


def task_rows(data: ModellingData, task: Task) -> np.ndarray:
    """Which of the cohort's rows are the task's patients with a known outcome."""
    f = data.frame
    return task.applicable(f).to_numpy() & task.has_outcome(f).to_numpy()


def task_frame(data: ModellingData, task: Task) -> pd.DataFrame:
    """The task's patients with a known outcome (development and external)."""
    return data.frame[task_rows(data, task)]


def _shared_text(values: pd.Series) -> pd.Series:
    """A text column (object or string dtype) whose equal texts are one string object each:
    the same values, missing ones as they were. Derived columns are built with a string
    per patient; a training set holds each text once. Other columns are left as they are."""
    if not (values.dtype == object or isinstance(values.dtype, pd.StringDtype)):
        return values
    arr = values.to_numpy(dtype=object)
    known = np.asarray(pd.notna(arr), dtype=bool)
    if not known.any() or pd.api.types.infer_dtype(arr[known], skipna=False) != "string":
        return values   # not all text (yes/no objects, mixed values): left alone
    codes, uniques = pd.factorize(arr[known])
    arr[known] = np.asarray(uniques, dtype=object)[codes]
    shared = pd.array(arr, dtype=values.dtype) if values.dtype != object else arr
    return pd.Series(shared, index=values.index, name=values.name, copy=False)


def rows_of(frame: pd.DataFrame, rows: np.ndarray, columns=None) -> pd.DataFrame:
    """``frame[rows]`` (``rows`` a boolean mask), with only ``columns`` (in ``frame``'s
    order) unless ``None``; the other columns are never copied, and a text column's equal
    values are one string object (``_shared_text``)."""
    if columns is None:
        return frame[rows]
    at, wanted = np.flatnonzero(rows), set(columns)
    parts = [_shared_text(frame[c].take(at)) for c in frame.columns if c in wanted]
    if not parts:
        return frame.iloc[at, :0]
    return pd.concat(parts, axis=1, copy=False)


def comparison_frame(data: ModellingData, task: Task) -> pd.DataFrame:
    """The task's comparison population (never in training), whatever their outcome."""
    f = data.frame
    return f[task.in_comparison(f).to_numpy()]


def training_hash(frame: pd.DataFrame, rows: np.ndarray | None = None) -> str:
    """``store.data_hash`` of a task's training frame (inputs, features, outcome, split) with
    every value as an object; taken one column at a time, so that no object copy of the
    whole frame is ever held (the same digest). With ``rows`` (a boolean mask), the hash of
    ``frame[rows]``, without that frame ever being made."""
    from pandas.core.util.hashing import combine_hash_arrays

    cols = sorted(c for c in frame.columns if c not in ("center", "diagnosis_date"))
    h = hashlib.sha256()
    h.update(",".join(map(str, cols)).encode())
    at = None if rows is None else np.flatnonzero(rows)
    rows = (_object_hash(frame[c] if at is None else frame[c].take(at)) for c in cols)
    h.update(combine_hash_arrays(rows, len(cols)).tobytes())
    return h.hexdigest()[:16]


def _object_hash(values: pd.Series) -> np.ndarray:
    """``hash_pandas_object(values.astype(object), index=False)``: pandas hashes an object
    column by its distinct values (missing ones as the largest uint64). A float column's
    distinct values are found as floats, so that one Python object per patient is
    never made; only the distinct values become objects."""
    if values.dtype.kind != "f":
        return pd.util.hash_pandas_object(values.astype("object"), index=False).to_numpy()
    codes, uniques = pd.factorize(values.to_numpy(), sort=False)   # NaN: code -1
    # each value hashes on its own: in blocks, so that few Python objects live at once
    hashed = np.empty(len(uniques), dtype=np.uint64)
    for start in range(0, len(uniques), HASH_BLOCK):
        block = np.asarray(uniques[start:start + HASH_BLOCK], dtype=object)
        hashed[start:start + len(block)] = pd.util.hash_array(block, categorize=False)
    out = hashed.take(codes) if len(hashed) else np.zeros(len(codes), dtype=np.uint64)
    out[codes < 0] = np.iinfo(np.uint64).max
    return out
