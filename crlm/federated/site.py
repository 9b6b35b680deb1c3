"""One site of a federated run: answers the coordinator's messages from its own store.

``handle(store_path, cohort, site, msg)`` opens the store (read-write: every reply is
written to its ``audit_log`` before it leaves), answers one message and closes the
store again, so the app can use the store between messages. Each message recomputes
what it needs from the store (folds are seeded, so every message sees the same ones);
no patient row is kept between messages.

Models: a development site holds ``folds + 1`` models — model k (k < folds) is trained
on its patients outside fold k and predicts fold k (out-of-fold), model ``folds`` on all
of them. The external site trains nothing and is scored by the final model.

Preprocessing is the project's (``crlm.models.inputs``) with federated statistics: a
numeric input is imputed with the consortium's mean (a median would need patients'
values) and scaled by the consortium's standard deviation; categories are one-hot on
the contract's levels plus ``missing``. Linear models are fitted by Newton steps on the
summed gradient and information matrix: logistic regression with the ridge penalty of
the pooled family (C = 0.5), Cox with the pooled ridge penalty (0.1 per patient),
stratified by site (each site its own baseline hazard, Breslow ties). The networks
(``mlp``, ``deepsurv``) are trained by FedAvg rounds; DeepSurv's partial likelihood has
the site's own risk sets, so it too is stratified by site.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from crlm import config
from crlm import stats
from crlm import store as st
from crlm.federated import deepsurv, mlp
from crlm.federated.protocol import (
    FEDAVG_FAMILIES, FederatedError, RunSpec, array, check_message, message, message_summary,
)
from crlm.stats import federated as fs

LOGISTIC_C = 0.5
COX_PENALIZER = 0.1
ACTOR = "federated"


# -- the site's rows -------------------------------------------------------------
class SiteData:
    """The task's patients of this site, their inputs and folds (never leaves the site)."""

    def __init__(self, store, cohort: str, spec: RunSpec, site: str):
        from crlm.models.families import get_family
        from crlm.models.tasks import get_task
        from crlm.models.training import assign_folds, load_modelling_data, task_frame

        self.spec, self.site = spec, site
        self.task = get_task(spec.task)
        self.family = get_family(spec.family)
        self.data = load_modelling_data(store, cohort)
        self.frame = task_frame(self.data, self.task)
        self.external = bool(spec.external_site) and site == spec.external_site
        if len(self.frame) < spec.min_cell:
            raise FederatedError(f"site {site}: fewer than {spec.min_cell} patients for {spec.task}")
        if self.external:
            self.fold_of = np.full(len(self.frame), -1)
        else:
            self.fold_of = assign_folds(self.frame, self.task, spec.folds, spec.seed)
        self.plan = self.data.inputs_for(self.family, self.task)

    @property
    def n_models(self) -> int:
        return self.spec.folds + 1

    def rows_of(self, m: int) -> np.ndarray:
        """Training rows of model m (all rows for the final model)."""
        if self.external:
            return np.zeros(len(self.frame), dtype=bool)
        return np.ones(len(self.frame), bool) if m == self.spec.folds else self.fold_of != m

    def matrix(self, columns) -> pd.DataFrame:
        from crlm.models.inputs import model_matrix
        return model_matrix(self.frame, columns)

    def outcome(self):
        return self.task.outcome(self.frame)


def levels_of(categorical) -> dict[str, list[str]]:
    from crlm.models.inputs import MISSING_LEVEL
    return {c: sorted(set(config.COLUMNS_BY_NAME[c].levels) | {MISSING_LEVEL}) for c in categorical}


def build_preprocessor(X: pd.DataFrame, numeric, categorical, mean, scale) -> ColumnTransformer:
    """The project's preprocessing (same steps and names as ``make_preprocessor``) with
    the consortium's statistics: fitted on ``X`` for its shapes, then given the agreed
    fill values, means and scales."""
    levels = levels_of(categorical)
    steps = []
    if numeric:
        steps.append(("numeric", Pipeline([
            ("impute", SimpleImputer(strategy="mean", keep_empty_features=True)),
            ("scale", StandardScaler())]), list(numeric)))
    if categorical:
        from crlm.models.inputs import MISSING_LEVEL
        steps.append(("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_LEVEL,
                                     keep_empty_features=True)),
            ("onehot", OneHotEncoder(categories=[levels[c] for c in categorical],
                                     handle_unknown="ignore", sparse_output=False))]),
            list(categorical)))
    ct = ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=True)
    ct.fit(X)
    if numeric:
        num = ct.named_transformers_["numeric"]
        num.named_steps["impute"].statistics_ = np.asarray(mean, dtype=float).copy()
        sc = num.named_steps["scale"]
        sc.mean_ = np.asarray(mean, dtype=float).copy()
        sc.scale_ = np.asarray(scale, dtype=float).copy()
        sc.var_ = sc.scale_ ** 2
    return ct


def design(ct: ColumnTransformer, X: pd.DataFrame) -> np.ndarray:
    from crlm.models.inputs import CompiledPreprocessor
    return CompiledPreprocessor(ct).transform(X)


# -- the answers -----------------------------------------------------------------
def _describe(data: SiteData, cfg: dict, arrays: dict) -> dict:
    spec = data.spec
    from crlm.models.inputs import split_columns

    columns = list(data.plan.used)
    numeric, _ = split_columns(columns)
    X = data.matrix(numeric)
    moments = np.zeros((data.n_models, len(numeric), 3))
    n_rows = np.zeros(data.n_models)
    if not data.external:
        values = X.to_numpy(dtype=float)
        for m in range(data.n_models):
            rows = data.rows_of(m)
            v = values[rows]
            n_rows[m] = rows.sum()
            ok = ~np.isnan(v)
            n = ok.sum(axis=0)
            s = np.where(ok, v, 0.0).sum(axis=0)
            s2 = np.where(ok, v * v, 0.0).sum(axis=0)
            small = n < spec.min_cell  # a sum over fewer than min_cell values is not sent
            moments[m] = np.column_stack([np.where(small, 0, n), np.where(small, 0, s),
                                          np.where(small, 0, s2)])
    return message("describe", {"site": data.site, "columns": columns, "numeric": numeric,
                                "external": data.external},
                   {"moments": moments, "n_rows": n_rows})


def _agreed(cfg: dict, data: SiteData) -> tuple[list, list, list]:
    from crlm.models.inputs import split_columns

    columns = cfg.get("columns")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise FederatedError("malformed message: columns must be a list of names")
    missing = [c for c in columns if c not in data.plan.used]
    if missing:
        raise FederatedError(f"site {data.site} cannot read the agreed inputs {', '.join(missing[:5])}")
    numeric, categorical = split_columns(columns)
    return columns, numeric, categorical


def _models(cfg, arrays, data: SiteData):
    """The preprocessors and coefficient rows of every model the message is about."""
    columns, numeric, categorical = _agreed(cfg, data)
    K1 = data.n_models
    mean = array(arrays, "mean", (K1, len(numeric)))
    scale = array(arrays, "scale", (K1, len(numeric)))
    if (scale <= 0).any():
        raise FederatedError("malformed message: scales must be positive")
    beta = array(arrays, "beta", (K1, None))
    X = data.matrix(columns)
    cts = [build_preprocessor(X, numeric, categorical, mean[m], scale[m]) for m in range(K1)]
    d = design(cts[0], X.iloc[:1]).shape[1]
    width = mlp.n_params(d) if data.spec.family in FEDAVG_FAMILIES else d + (data.spec.kind == "binary")
    if beta.shape[1] != width:
        raise FederatedError(f"malformed message: beta has {beta.shape[1]} coefficients, "
                             f"the agreed inputs give {width}")
    return columns, X, cts, beta


def _newton(data: SiteData, cfg: dict, arrays: dict) -> dict:
    columns, X, cts, beta = _models(cfg, arrays, data)
    K1, d = beta.shape
    grads, infos, logliks, ns = np.zeros((K1, d)), np.zeros((K1, d, d)), np.zeros(K1), np.zeros(K1)
    if not data.external:
        y = data.outcome()
        for m in range(K1):
            rows = data.rows_of(m)
            Z = design(cts[m], X[rows])
            if data.spec.kind == "binary":
                g, h, ll = fs.logistic_pieces(Z, np.asarray(y, float)[rows], beta[m])
            else:
                t, e = y
                g, h, ll = fs.cox_pieces(Z, np.asarray(t, float)[rows], np.asarray(e, float)[rows], beta[m])
            grads[m], infos[m], logliks[m], ns[m] = g, h, ll, rows.sum()
    return message("newton", {"site": data.site}, {"gradient": grads, "information": infos,
                                                   "loglik": logliks, "n": ns})


def scores(data: SiteData, cfg: dict, arrays: dict) -> tuple[np.ndarray, list, list]:
    """Each patient's score: out-of-fold (development site) or by the final model
    (external site); also the final model's preprocessors and coefficients."""
    columns, X, cts, beta = _models(cfg, arrays, data)
    out = np.full(len(X), np.nan)
    K = data.spec.folds
    for m in range(K + 1):
        rows = (data.fold_of == m) if (m < K and not data.external) else (
            np.ones(len(X), bool) if (m == K and data.external) else np.zeros(len(X), bool))
        if rows.any():
            Z = design(cts[m], X[rows])
            out[rows] = _score(data.spec, Z, beta[m])
    return out, cts, beta


def _score(spec: RunSpec, Z: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A probability (binary tasks) or a risk score (survival: higher = earlier events)."""
    if spec.family == "mlp":
        return mlp.probability(Z, b)
    if spec.family == "deepsurv":
        return deepsurv.risk(Z, b)
    if spec.kind == "binary":
        return 1 / (1 + np.exp(-(b[0] + Z @ b[1:])))
    return Z @ b


def _fedavg(data: SiteData, cfg, arrays) -> dict:
    return (deepsurv if data.spec.family == "deepsurv" else mlp).answer_fedavg(data, cfg, arrays)


def _threshold(data: SiteData, cfg, arrays) -> dict:
    s, _, _ = scores(data, cfg, arrays)
    n = 0 if data.external else len(s)
    total = 0.0 if data.external else float(np.sum(s))
    return message("threshold", {"site": data.site}, {"n": np.array([n], float),
                                                      "sum": np.array([total])})


def roc_edges(spec: RunSpec) -> np.ndarray:
    """Shared score-histogram edges, in log-odds (-3 to 3; scores beyond fall in the outer bins)."""
    return np.linspace(-3.0, 3.0, spec.roc_bins + 1)


def tables(data: SiteData, cfg: dict, arrays: dict) -> dict[str, np.ndarray]:
    """The site's evaluation tables on the spec's fine cells (before any merging)."""
    spec = data.spec
    s, _, _ = scores(data, cfg, arrays)
    split = "external" if data.external else "oof"
    out: dict[str, np.ndarray] = {}
    if spec.kind == "binary":
        y = np.asarray(data.outcome(), float)
        edges = roc_edges(spec)  # on the log-odds scale: probabilities near 0 or 1 stay apart
        logit = np.log(np.clip(s, 1e-12, 1)) - np.log(np.clip(1 - s, 1e-12, 1))
        b = np.clip(np.searchsorted(edges, logit, side="right") - 1, 0, spec.roc_bins - 1)
        out[f"roc_{split}"] = np.column_stack([np.bincount(b[y == 1], minlength=spec.roc_bins),
                                               np.bincount(b[y == 0], minlength=spec.roc_bins)])
        cedges = np.linspace(0, 1, spec.calibration_bins + 1)
        cb = np.clip(np.searchsorted(cedges, s, side="right") - 1, 0, spec.calibration_bins - 1)
        n = np.bincount(cb, minlength=spec.calibration_bins)
        ev = np.bincount(cb[y == 1], minlength=spec.calibration_bins)
        out[f"cal_{split}"] = np.column_stack([n, ev, n - ev])
    else:
        t, e = (np.asarray(v, float) for v in data.outcome())
        threshold = float(cfg.get("threshold", 0.0))
        high = s >= threshold
        grid = np.asarray(spec.grid_months)
        cols = []
        for g in (~high, high):
            ev, ce, beyond = fs.grid_counts(t[g], e[g], grid)
            if 0 < beyond < spec.min_cell:  # too few beyond the grid: censored at its end
                ce = ce.copy()
                ce[-1] += beyond
                beyond = 0
            cols.append((ev, ce, beyond))
        out[f"km_{split}"] = np.column_stack([cols[0][0], cols[0][1], cols[1][0], cols[1][1]])
        out[f"beyond_{split}"] = np.array([[cols[0][2], cols[1][2]]])
    return out


def _cuts(data: SiteData, cfg, arrays) -> dict:
    out = {}
    for name, table in tables(data, cfg, arrays).items():
        if name.startswith("beyond"):
            continue
        cuts = fs.small_cell_cuts(table, data.spec.min_cell)
        out[f"cuts_{name}"] = cuts.astype(np.int8)
    return message("cuts", {"site": data.site}, out)


def _counts(data: SiteData, cfg, arrays) -> dict:
    out, suppressed = {}, []
    s, _, _ = scores(data, cfg, arrays)
    for name, table in tables(data, cfg, arrays).items():
        if name.startswith("beyond"):
            if fs.is_safe(table, data.spec.min_cell):
                out[name] = table.astype(float)
            else:
                suppressed.append(name)
            continue
        cuts = array(arrays, f"cuts_{name}", (len(table) - 1,)).astype(bool)
        merged = fs.merge_cells(table, cuts)
        if fs.is_safe(merged, data.spec.min_cell):
            out[name] = merged.astype(float)
        else:
            suppressed.append(name)
    if data.spec.kind == "binary":
        split = "external" if data.external else "oof"
        cal = f"cal_{split}"
        if cal in out:  # summed predicted probability per merged bin (bins of >= min_cell)
            cedges = np.linspace(0, 1, data.spec.calibration_bins + 1)
            cb = np.clip(np.searchsorted(cedges, s, side="right") - 1, 0, data.spec.calibration_bins - 1)
            fine = np.bincount(cb, weights=s, minlength=data.spec.calibration_bins)
            out[f"calsum_{split}"] = fs.merge_cells(fine, array(arrays, f"cuts_{cal}").astype(bool))
    else:
        t, e = data.outcome()
        ok = ~np.isnan(s)
        c = stats.concordance_index(np.asarray(t, float)[ok], np.asarray(e, float)[ok], s[ok])
        out["c_index"] = np.array([float(c.concordance), float(ok.sum())])
    return message("counts", {"site": data.site, "suppressed": suppressed}, out)


HANDLERS = {"describe": _describe, "newton": _newton, "fedavg": _fedavg, "threshold": _threshold,
            "cuts": _cuts, "counts": _counts}


def handle(store_path, cohort: str, site: str, msg) -> dict:
    """Answer one coordinator message from this site's store; every reply is recorded in
    the store's audit log before it is returned. A malformed message or one this site
    cannot answer gets an ``error`` reply (one line) and changes nothing."""
    try:
        kind, cfg, arrays = check_message(msg)
        spec = RunSpec.from_dict(cfg.get("spec"))
    except FederatedError as exc:
        return message("error", {"site": site, "error": str(exc)})
    try:
        with st.Store(store_path, retry_s=30.0) as store:
            try:
                data = SiteData(store, cohort, spec, site)
                if kind == "register":
                    from crlm.federated.site_register import register

                    reply = register(store, cohort, data, cfg, arrays)
                else:
                    reply = HANDLERS[kind](data, cfg, arrays)
            except (FederatedError, ValueError, KeyError) as exc:
                text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                reply = message("error", {"site": site, "error": f"site {site}: {text}"[:300]})
            reply["config"]["run_id"] = spec.run_id
            st.log_action(store, ACTOR, f"federated_{reply['kind']}", f"run:{spec.run_id}",
                          json.dumps({"site": site, **message_summary(reply)}, sort_keys=True))
            return reply
    except st.StoreError as exc:
        return message("error", {"site": site, "error": f"site {site}: {exc}"[:300]})
