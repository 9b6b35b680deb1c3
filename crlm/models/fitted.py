"""A fitted model as saved in an artefact: its pipeline, the columns it reads,
the training ranges of its inputs and what it needs to explain a score."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from crlm.models.blockwise import design_mean
from crlm.models.inputs import (
    CompiledPreprocessor, make_preprocessor, model_matrix, split_columns, transformed_groups,
)
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
        return self.fit_matrix(model_matrix(frame, self.columns), y)

    def fit_matrix(self, X: pd.DataFrame, y) -> "FittedModel":
        """``fit`` on rows already typed by ``inputs.model_matrix`` (this model's columns)."""
        self.pipeline.fit(X, y)
        return self.learn_inputs(X)

    def learn_inputs(self, X: pd.DataFrame) -> "FittedModel":
        """What scoring needs from the training inputs ``X`` (typed by ``matrix``) besides
        the fitted pipeline: ranges, reference patient, transformed means, column groups.
        A pipeline fitted elsewhere (a federated fit) is completed by this alone."""
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
            # the design's column means, its rows transformed a block at a time
            self.transformed_mean_ = design_mean(self.pipeline[:-1], X)
        preprocess = self.pipeline.named_steps["preprocess"]
        self.groups_ = transformed_groups(preprocess)
        compiled = CompiledPreprocessor(preprocess)
        try:
            compiled.check(preprocess, X)
            self.compiled_ = compiled
        except ValueError:
            self.compiled_ = None
        index = {c: i for i, c in enumerate(self.columns)}
        self.membership_ = np.zeros((len(self.groups_), len(self.columns)))
        for k, g in enumerate(self.groups_):
            self.membership_[k, index[g]] = 1.0
        self.reference_transformed_ = self.transform(self.reference_)[0]
        self.n_training_ = int(len(X))
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """The preprocessing step of the pipeline (compiled to numpy when verified)."""
        if getattr(self, "compiled_", None) is not None:
            return self.compiled_.transform(X)
        return np.asarray(self.pipeline[:-1].transform(X), dtype=float)

    # -- scoring -------------------------------------------------------------
    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The typed input matrix of this model (see ``inputs.model_matrix``)."""
        return model_matrix(frame, self.columns)

    def _final_scores(self, Z: np.ndarray) -> np.ndarray:
        est = self.pipeline[-1]
        if get_task(self.task).kind == BINARY:
            return np.asarray(est.predict_proba(Z)[:, 1], dtype=float)
        return np.asarray(est.predict(Z), dtype=float)

    def _scores(self, X: pd.DataFrame) -> np.ndarray:
        # What the pipeline's predict does: preprocess, then the estimator.
        return self._final_scores(self.transform(X))

    def predict_scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Scores of a patients frame (a probability, or a risk score); not a metric:
        scikit-learn's ``score`` would be one."""
        return self._scores(self.matrix(frame))

    def predict_matrix_scores(self, X: pd.DataFrame) -> np.ndarray:
        """``predict_scores`` of rows already typed by ``inputs.model_matrix``."""
        return self._scores(X.loc[:, self.columns])

    def evaluate(self, X: pd.DataFrame, *, explain: bool = True) -> dict:
        """Scores, imputed inputs, out-of-range inputs and (optionally) contributions
        for the rows of a typed matrix ``X`` holding at least this model's columns."""
        X = X.loc[:, self.columns]
        Z = self.transform(X)
        scores = self._final_scores(Z)
        missing = X.isna().to_numpy()
        imputed = [[c for c, m in zip(self.columns, row) if m] for row in missing]
        out_of_range = [[] for _ in range(len(X))]
        for c, (lo, hi) in self.ranges_.items():
            v = X[c].to_numpy(dtype=float)
            for i in np.flatnonzero(~np.isnan(v) & ((v < lo) | (v > hi))):
                out_of_range[i].append(c)
        contributions = self._contributions(X, Z) if explain else [{} for _ in range(len(X))]
        return {"score": scores, "imputed": imputed, "out_of_range": out_of_range,
                "contributions": contributions}

    def imputed(self, frame: pd.DataFrame) -> list[list[str]]:
        return self.evaluate(self.matrix(frame), explain=False)["imputed"]

    def out_of_range(self, frame: pd.DataFrame) -> list[list[str]]:
        return self.evaluate(self.matrix(frame), explain=False)["out_of_range"]

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
        X = self.matrix(frame)
        return self._contributions(X, self.transform(X))

    def _contributions(self, X: pd.DataFrame, Z) -> list[dict[str, float]]:
        if self.explainer == "linear":
            coef = np.asarray(self.pipeline[-1].coef_, dtype=float).ravel()
            return self._grouped(coef * (np.asarray(Z, dtype=float) - self.transformed_mean_))
        if self.explainer == "tree":
            return self._grouped(self._tree_values(Z))
        if self.explainer == "baseline_shapley":
            return [self._baseline_shapley(z) for z in np.atleast_2d(Z)]
        return [{} for _ in range(len(X))]

    def _grouped(self, values: np.ndarray) -> list[dict[str, float]]:
        summed = np.atleast_2d(values) @ self.membership_
        return [dict(zip(self.columns, map(float, row))) for row in summed]

    def prepare_explainer(self) -> None:
        """Build the tree explainer now (once per loaded model) rather than on first use."""
        if self.explainer == "tree" and self._tree_explainer is None:
            import shap

            self._tree_explainer = shap.TreeExplainer(self.pipeline[-1])

    def _tree_values(self, Z) -> np.ndarray:
        self.prepare_explainer()
        Z = np.asarray(Z, dtype=float)
        values = self._tree_explainer.shap_values(Z, check_additivity=False)
        if isinstance(values, list):
            values = values[-1]
        values = np.asarray(values, dtype=float)
        if values.ndim == 3:
            values = values[:, :, -1]
        return values

    def _baseline_shapley(self, z_case: np.ndarray) -> dict[str, float]:
        """Shapley values of the score against the training reference patient, averaged
        over sampled orderings of the inputs. Preprocessing acts column by column, so a
        patient mixing case and reference inputs is the mix of their transformed rows."""
        z_ref = self.reference_transformed_
        groups = np.asarray(self.groups_)
        result = {c: 0.0 for c in self.columns}
        differs = [c for c in self.columns
                   if not np.array_equal(z_case[groups == c], z_ref[groups == c])]
        if not differs:
            return result
        slots = [np.flatnonzero(groups == c) for c in differs]
        rng = np.random.default_rng(self.seed)
        perms = [rng.permutation(len(differs)) for _ in range(SHAPLEY_PERMUTATIONS)]
        batch = np.empty((1 + SHAPLEY_PERMUTATIONS * len(differs), len(z_ref)))
        batch[0] = z_ref
        r = 1
        for perm in perms:
            current = z_ref.copy()
            for j in perm:
                current[slots[j]] = z_case[slots[j]]
                batch[r] = current
                r += 1
        f = self._final_scores(batch)
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
