"""A fitted model as saved in an artefact: its pipeline, the columns it reads,
the training ranges of its inputs and what it needs to explain a score."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from crlm.models.inputs import make_preprocessor, model_matrix, split_columns, transformed_groups
from crlm.models.tasks import BINARY, get_task

SHAPLEY_PERMUTATIONS = 6


def build_pipeline(family, columns, seed: int, fast: bool) -> Pipeline:
    """The family's estimator behind the shared preprocessing, unfitted."""
    numeric, categorical = split_columns(columns)
    return Pipeline([("preprocess", make_preprocessor(numeric, categorical)),
                     ("model", family.build(int(seed), bool(fast)))])


class FittedModel:
    """A trained pipeline plus what scoring needs besides it.

    ``score(frame)`` gives the model's score for each row: the probability of
    the positive class for a binary task, the risk score (higher = earlier
    events) for a survival task. ``contributions(frame)`` gives, per row, a
    dict input column -> contribution whose method ``contribution_method``
    names.
    """

    def __init__(self, *, model_id: str, task: str, family: str, explainer: str,
                 columns: list[str], pipeline: Pipeline, seed: int):
        self.model_id = model_id
        self.task = task
        self.family = family
        self.explainer = explainer
        self.columns = list(columns)
        self.pipeline = pipeline
        self.seed = int(seed)
        self._tree_explainer = None

    # -- training ------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, y) -> "FittedModel":
        X = model_matrix(frame, self.columns)
        self.pipeline.fit(X, y)
        numeric, categorical = split_columns(self.columns)
        self.ranges_ = {c: (float(X[c].min()), float(X[c].max()))
                        for c in numeric if X[c].notna().any()}
        ref = {}
        for c in self.columns:
            s = X[c].dropna()
            if c in categorical:
                ref[c] = s.value_counts().sort_index().idxmax() if len(s) else np.nan
            else:
                ref[c] = float(s.median()) if len(s) else np.nan
        self.reference_ = pd.DataFrame([ref], columns=self.columns)
        if self.explainer == "linear":
            Z = self.pipeline[:-1].transform(X)
            self.transformed_mean_ = np.asarray(Z, dtype=float).mean(axis=0)
        self.groups_ = transformed_groups(self.pipeline.named_steps["preprocess"])
        self.n_training_ = int(len(X))
        return self

    # -- scoring -------------------------------------------------------------
    def _scores(self, X: pd.DataFrame) -> np.ndarray:
        est = self.pipeline
        if get_task(self.task).kind == BINARY:
            return np.asarray(est.predict_proba(X)[:, 1], dtype=float)
        return np.asarray(est.predict(X), dtype=float)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return self._scores(model_matrix(frame, self.columns))

    def imputed(self, frame: pd.DataFrame) -> list[list[str]]:
        X = model_matrix(frame, self.columns)
        return [list(X.columns[row]) for row in X.isna().to_numpy()]

    def out_of_range(self, frame: pd.DataFrame) -> list[list[str]]:
        X = model_matrix(frame, self.columns)
        out = []
        for _, row in X.iterrows():
            bad = [c for c, (lo, hi) in self.ranges_.items()
                   if pd.notna(row[c]) and (row[c] < lo or row[c] > hi)]
            out.append(bad)
        return out

    # -- explanations ----------------------------------------------------------
    @property
    def contribution_method(self) -> str:
        binary = get_task(self.task).kind == BINARY
        if self.explainer == "linear":
            scale = "log-odds" if binary else "log relative hazard"
            return f"exact linear contributions (coefficient × centred input), {scale} scale"
        if self.explainer == "tree":
            model = self.pipeline[-1]
            scale = "log-odds" if type(model).__name__.startswith("HistGradient") else "probability"
            return f"shap.TreeExplainer (tree path-dependent), {scale} scale"
        if self.explainer == "baseline_shapley":
            scale = "probability" if binary else "risk score"
            return (f"baseline Shapley values ({SHAPLEY_PERMUTATIONS} sampled permutations, "
                    f"reference = training medians/modes), {scale} scale")
        return "none"

    def contributions(self, frame: pd.DataFrame) -> list[dict[str, float]]:
        X = model_matrix(frame, self.columns)
        if self.explainer == "linear":
            Z = np.asarray(self.pipeline[:-1].transform(X), dtype=float)
            coef = np.asarray(self.pipeline[-1].coef_, dtype=float).ravel()
            return self._grouped(coef * (Z - self.transformed_mean_))
        if self.explainer == "tree":
            return self._grouped(self._tree_values(X))
        if self.explainer == "baseline_shapley":
            return [self._baseline_shapley(X.iloc[[i]]) for i in range(len(X))]
        return [{} for _ in range(len(X))]

    def _grouped(self, values: np.ndarray) -> list[dict[str, float]]:
        groups = np.asarray(self.groups_)
        out = []
        for row in np.atleast_2d(values):
            per = pd.Series(row).groupby(groups).sum()
            out.append({c: float(per.get(c, 0.0)) for c in self.columns})
        return out

    def _tree_values(self, X: pd.DataFrame) -> np.ndarray:
        import shap

        if self._tree_explainer is None:
            self._tree_explainer = shap.TreeExplainer(self.pipeline[-1])
        Z = np.asarray(self.pipeline[:-1].transform(X), dtype=float)
        values = self._tree_explainer.shap_values(Z, check_additivity=False)
        if isinstance(values, list):
            values = values[-1]
        values = np.asarray(values, dtype=float)
        if values.ndim == 3:
            values = values[:, :, -1]
        return values

    def _baseline_shapley(self, row: pd.DataFrame) -> dict[str, float]:
        ref = self.reference_
        differs = [c for c in self.columns
                   if not (pd.isna(row[c].iloc[0]) and pd.isna(ref[c].iloc[0]))
                   and not (pd.notna(row[c].iloc[0]) and row[c].iloc[0] == ref[c].iloc[0])]
        result = {c: 0.0 for c in self.columns}
        if not differs:
            return result
        rng = np.random.default_rng(self.seed)
        steps = []
        perms = [rng.permutation(len(differs)) for _ in range(SHAPLEY_PERMUTATIONS)]
        base = ref.iloc[0].to_dict()
        case = row.iloc[0].to_dict()
        for perm in perms:
            current = dict(base)
            for j in perm:
                current[differs[j]] = case[differs[j]]
                steps.append(dict(current))
        batch = pd.DataFrame([base] + steps, columns=self.columns)
        for c in self.columns:
            batch[c] = batch[c].astype(ref[c].dtype)
        f = self._scores(batch)
        f0, walk = f[0], f[1:].reshape(SHAPLEY_PERMUTATIONS, len(differs))
        for k, perm in enumerate(perms):
            prev = f0
            for step, j in enumerate(perm):
                result[differs[j]] += (walk[k, step] - prev) / SHAPLEY_PERMUTATIONS
                prev = walk[k, step]
        return result

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_tree_explainer"] = None
        return state
