"""Hyper-parameter search without leakage: nested cross-validation with optuna.

The review stresses how much gradient boosting depends on tuning (§2.2.1); a search
that sees the patients it is scored on reports an optimistic number. Here the search
is a step of the estimator: ``TunedEstimator.fit(X, y)`` runs an optuna study (TPE
sampler, seeded) whose every trial is scored by an *inner* ``INNER_FOLDS``-fold
stratified cross-validation on the rows it was given, then refits the best values
on all of them. Training (``crlm.models.training.cross_validate``) calls ``fit`` once
per *outer* fold and once on all development patients, so

* the out-of-fold score of every development patient comes from a model whose
  search never saw that patient (nested cross-validation: inner search, outer
  estimate), and
* the saved model (for the external centre and for scoring) was searched on the
  development centres only; its search space, budget and chosen values are in
  its model card.

The shared preprocessing (median imputation, scaling, one-hot) is fitted on the
outer training rows, inner validation rows included: it reads no outcome, so it
leaks no label into the search.

Budget (stated, bounded in trials and in time): each search (one per outer fit, plus
one on all development patients) scores the untuned defaults first, then runs optuna
trials up to ``N_TRIALS`` in all (``N_TRIALS_FAST`` with ``fast``), × ``INNER_FOLDS``
inner fits; it starts a trial only if it is expected (from the longest so far) to end
within ``SEARCH_TIMEOUT_S`` (``SEARCH_TIMEOUT_FAST_S`` with ``fast``) and within the
share of the run's time budget (``crlm.models.tuning_budget``, ``train --tune-budget``)
the search was given; the best values (the defaults if they scored best, or if the
run's budget left no time) are refitted once. Trials that fail numerically do not
count as a success: the search goes on past the cap until one succeeds. The model
card states the budget and what each search used. ``use_budget`` sets the caps for a
run (``train --tune-trials`` / ``--tune-timeout``). Objective: mean inner AUC (binary
tasks) or Harrell's C (survival tasks), both from ``crlm.stats``.

Tuned families are registered next to the untuned ones as ``<family>_tuned``
(``response.random_forest_tuned``), trained only when asked (``python -m crlm train
--tune``, or ``--family random_forest_tuned``), so the defaults stay for comparison.
The cost-sensitive forest's costs are a stated value judgement of the board, not a
hyper-parameter: the search never touches them.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import replace

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from crlm.models import tuning_budget
from crlm.models.families import FAMILIES, Family, register_family

N_TRIALS = 12
N_TRIALS_FAST = 4
INNER_FOLDS = 3
SEARCH_TIMEOUT_S = 60.0
SEARCH_TIMEOUT_FAST_S = 15.0
TUNED_SUFFIX = "_tuned"
# Forests: a forest only gets better with more trees and the best leaf size and features
# per split barely depend on their number, so the trials are scored with the family's
# fast (smaller) forest and only the final refit grows the full one. Boosting is searched
# at full size (its learning rate and number of trees go together).
SEARCH_WITH_SMALL_FOREST = frozenset({"random_forest", "genomic_rf", "cost_sensitive_rf", "rsf"})
# The random survival forest's trials grow this many trees (its fast forest has 25):
# its log-rank splits make it the slowest family to search by far.
SEARCH_TREES = {"rsf": 10}

# Search spaces: parameter -> (kind, low, high) or ("categorical", choices).
# Parameter names are those of the family's estimator (nested with ``__``).
_LGBM = {"learning_rate": ("log", 0.01, 0.3), "num_leaves": ("int", 4, 32),
         "min_child_samples": ("int", 5, 60), "reg_lambda": ("log", 1e-3, 10.0),
         "colsample_bytree": ("float", 0.4, 1.0)}
_FOREST = {"max_depth": ("int", 2, 12), "min_samples_leaf": ("int", 2, 40),
           "max_features": ("categorical", ("sqrt", 0.3, 0.5))}
SEARCH_SPACES: dict[str, dict[str, tuple]] = {
    "logistic": {"C": ("log", 1e-3, 10.0)},
    "lasso_logistic": {"C": ("log", 1e-3, 10.0)},
    "svm": {"estimator__C": ("log", 1e-2, 10.0), "estimator__gamma": ("log", 1e-4, 1e-1)},
    "random_forest": _FOREST,
    "genomic_rf": _FOREST,
    "cost_sensitive_rf": _FOREST,
    "gradient_boosting": {"learning_rate": ("log", 0.01, 0.3), "max_depth": ("int", 2, 5),
                          "min_samples_leaf": ("int", 5, 60),
                          "l2_regularization": ("log", 1e-3, 10.0)},
    "knn": {"n_neighbors": ("int", 5, 75)},
    "mlp": {"learning_rate": ("log", 1e-3, 3e-2), "weight_decay": ("log", 1e-5, 1e-1),
            "dropout": ("float", 0.0, 0.5)},
    "cart": {"max_depth": ("int", 1, 4), "min_samples_leaf": ("float", 0.02, 0.15)},
    "gaussian_nb": {"var_smoothing": ("log", 1e-9, 1e-1)},
    "lightgbm": _LGBM,
    "lightgbm_top6": {f"estimator__{k}": v for k, v in _LGBM.items()},
    "mrmr_logistic": {"estimator__C": ("log", 1e-3, 10.0)},
    "ft_transformer": {"learning_rate": ("log", 3e-4, 1e-2), "weight_decay": ("log", 1e-5, 1e-1)},
    "cox": {"penalizer": ("log", 1e-3, 10.0)},
    "lasso_cox": {"alpha": ("log", 5e-3, 0.3)},
    "elastic_net_cox": {"alpha": ("log", 5e-3, 0.3), "l1_ratio": ("float", 0.1, 0.9)},
    "rsf": {"min_samples_leaf": ("int", 10, 50),
            "max_features": ("categorical", ("sqrt", 0.3, 0.5))},
    "gb_survival": {"learning_rate": ("log", 0.01, 0.3), "max_depth": ("int", 2, 4),
                    "min_samples_leaf": ("int", 5, 50)},
    "deepsurv": {"learning_rate": ("log", 1e-3, 3e-2), "weight_decay": ("log", 1e-5, 1e-1),
                 "dropout": ("float", 0.0, 0.5)},
    "lightgbm_cox": _LGBM,
    "lightgbm_cox_top6": {f"estimator__{k}": v for k, v in _LGBM.items()},
}


def describe_space(space: dict[str, tuple]) -> str:
    """The search space in words, for the model card."""
    parts = []
    for name, spec in space.items():
        kind = spec[0]
        if kind == "categorical":
            parts.append(f"{name} ∈ {{{', '.join(map(str, spec[1]))}}}")
        else:
            scale = " (log scale)" if kind == "log" else " (integer)" if kind == "int" else ""
            parts.append(f"{name} ∈ [{spec[1]:g}, {spec[2]:g}]{scale}")
    return "; ".join(parts)


def _suggest(trial, space: dict[str, tuple]) -> dict:
    out = {}
    for name, spec in space.items():
        kind = spec[0]
        if kind == "log":
            out[name] = trial.suggest_float(name, spec[1], spec[2], log=True)
        elif kind == "float":
            out[name] = trial.suggest_float(name, spec[1], spec[2])
        elif kind == "int":
            out[name] = trial.suggest_int(name, spec[1], spec[2])
        else:
            out[name] = trial.suggest_categorical(name, list(spec[1]))
    return out


def _inner_score(estimator, X, y, train, test, survival: bool) -> float:
    from crlm import stats
    from crlm.models.survival import split_target

    est = clone(estimator).fit(X[train], y[train])
    if survival:
        time, event = split_target(y[test])
        if not event.any():
            return np.nan
        return float(stats.concordance_index(time, event, est.predict(X[test])).concordance)
    yt = np.asarray(y[test]).astype(int)
    if yt.min() == yt.max():
        return np.nan
    return float(stats.roc(yt, est.predict_proba(X[test])[:, 1]).auc)


class TunedEstimator(BaseEstimator):
    """A family's estimator whose hyper-parameters an inner optuna search chooses on the
    rows given to ``fit`` (see the module docstring). ``best_params_``, ``best_score_``
    (mean inner AUC or C-index), ``n_trials_`` (trials run), ``stopped_by_cap_``,
    ``search_seconds_`` and ``estimator_`` after fitting. ``timeout_s`` None: no time cap."""

    def __init__(self, family: str = "", n_trials: int = N_TRIALS,
                 inner_folds: int = INNER_FOLDS, random_state: int = 0, fast: bool = False,
                 timeout_s: float | None = SEARCH_TIMEOUT_S):
        self.family = family
        self.n_trials = n_trials
        self.inner_folds = inner_folds
        self.random_state = random_state
        self.fast = fast
        self.timeout_s = timeout_s

    def _base(self):
        return FAMILIES[self.family].build(int(self.random_state), bool(self.fast))

    def fit(self, X, y):
        import optuna

        X = np.asarray(X, dtype=float)
        y = np.asarray(y)  # positional indexing below (a labelled Series would not be)
        space = SEARCH_SPACES[self.family]
        survival = y.dtype.names is not None
        if survival:
            from crlm.models.survival import split_target

            strata = split_target(y)[1].astype(int)
        else:
            strata = np.asarray(y).astype(int)
        splits = list(StratifiedKFold(n_splits=int(self.inner_folds), shuffle=True,
                                      random_state=int(self.random_state))
                      .split(np.zeros(len(strata)), strata))
        base = self._base()
        search_base = (FAMILIES[self.family].build(int(self.random_state), True)
                       if self.family in SEARCH_WITH_SMALL_FOREST else base)
        if self.family in SEARCH_TREES:
            search_base = clone(search_base).set_params(n_estimators=SEARCH_TREES[self.family])

        def score(est) -> float:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = [_inner_score(est, X, y, tr, te, survival) for tr, te in splits]
            scores = [s for s in scores if np.isfinite(s)]
            return float(np.mean(scores)) if scores else 0.5

        def objective(trial) -> float:
            return score(clone(search_base).set_params(**_suggest(trial, space)))

        optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are counted, not printed
        study = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.TPESampler(seed=int(self.random_state)))
        run = tuning_budget.current()
        clock = run.clock if run is not None else time.perf_counter
        share = run.start_search() if run is not None else None
        caps = [c for c in (self.timeout_s, share) if c is not None]
        cap = min(caps) if caps else None
        defaults = {k: v for k, v in search_base.get_params().items() if k in space}
        # a trial whose values fail numerically (a too weak penalty) is marked failed and
        # the search goes on; if every trial fails the family is skipped (ValueError).
        # Trials run one by one until one succeeds (within the trial budget, past the cap
        # if need be); then a trial starts only if it is expected to end within the cap
        catch = (ArithmeticError, np.linalg.LinAlgError)
        complete = optuna.trial.TrialState.COMPLETE
        start = clock()
        default_score, trials, longest = None, 0, 0.0
        if cap is None or cap > 0:  # trial 1: the untuned defaults, always scored first
            t0 = clock()
            try:
                default_score = score(clone(search_base))
            except catch:
                default_score = None
            trials, longest = 1, clock() - t0
        while trials and trials < int(self.n_trials):
            succeeded = default_score is not None or any(t.state == complete
                                                         for t in study.trials)
            if succeeded and cap is not None and clock() - start + longest > cap:
                break
            t0 = clock()
            study.optimize(objective, n_trials=1, catch=catch)
            trials, longest = trials + 1, max(longest, clock() - t0)
        best = [t for t in study.trials if t.state == complete]
        if trials and default_score is None and not best:
            if run is not None:
                run.end_search(trials)
            raise ValueError(f"every one of the {trials} trials of the search failed "
                             "numerically")
        self.search_seconds_ = clock() - start
        if best and (default_score is None or study.best_value > default_score):
            self.best_params_, self.best_score_ = dict(study.best_params), float(study.best_value)
            self.chose_default_ = False
        else:  # the defaults scored best, or the run's budget left no time to search
            self.best_params_ = defaults
            self.best_score_ = float("nan") if default_score is None else float(default_score)
            self.chose_default_ = True
        self.n_trials_ = trials
        self.stopped_by_cap_ = self.n_trials_ < int(self.n_trials)
        self.cap_s_ = cap
        self.allotted_s_ = share
        self.searches_ = (() if run is None
                          else (*run.unit_records(), run.end_search(self.n_trials_)))
        self.search_space_ = describe_space(space)
        self.estimator_ = clone(base).set_params(**self.best_params_).fit(X, y)
        for name in ("classes_",):
            if hasattr(self.estimator_, name):
                setattr(self, name, getattr(self.estimator_, name))
        self.n_features_in_ = X.shape[1]
        return self

    @property
    def coef_(self):
        return self.estimator_.coef_

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    def card_details(self, names) -> dict:
        def fmt(v):
            return f"{v:.4g}" if isinstance(v, float) else str(v)

        small = (" with the family's small (fast) forest; the final fit grows the full one"
                 if self.family in SEARCH_WITH_SMALL_FOREST else "")
        if self.family in SEARCH_TREES:
            small = (f" with a {SEARCH_TREES[self.family]}-tree forest; the final fit grows "
                     "the full one")
        cap = ("no time cap" if self.timeout_s is None
               else f"a {float(self.timeout_s):g} s cap per search")
        if getattr(self, "allotted_s_", None) is not None:
            cap += ", within the run's time budget (a share per search, re-split as they end)"
        stop = getattr(self, "cap_s_", None)
        why = ""
        if stop is not None and getattr(self, "stopped_by_cap_", False):
            why = (f" (stopped by the {stop:g} s cap)" if stop == self.timeout_s
                   else f" (stopped by its {stop:.1f} s share of the run's budget)")
        used = f"{self.n_trials_} of {int(self.n_trials)} trials{why}"
        out = {"hyper-parameter search": (
                   f"optuna TPE (seed {self.random_state}), {self.n_trials_} trials (the first "
                   f"scores the untuned defaults), each scored "
                   f"by {self.inner_folds}-fold inner cross-validation on the training rows "
                   f"only (nested in the outer folds){small}"),
               "search budget": (f"at most {int(self.n_trials)} trials × {self.inner_folds} "
                                 f"inner fits, {cap}"),
               "search budget used (final fit)": (
                   f"{used}, {getattr(self, 'search_seconds_', float('nan')):.1f} s"),
               "search space": self.search_space_,
               "chosen values (final fit)": ", ".join(f"{k} = {fmt(v)}"
                                                      for k, v in self.best_params_.items()),
               "inner score of the chosen values": (
                   f"{self.best_score_:.3f}" + (" (the untuned defaults)"
                                                if getattr(self, "chose_default_", False)
                                                else ""))}
        searches = getattr(self, "searches_", ())
        if searches:
            which = [f"fold {i + 1}" for i in range(len(searches) - 1)] + ["final fit"]
            out["searches (time used of the share given, trials)"] = "; ".join(
                f"{n}: {r}" for n, r in zip(which, searches))
        inner = getattr(self.estimator_, "card_details", None)
        if inner is not None:
            out.update(inner(names))
        return out


_BUDGET: dict[str, object] = {"trials": None, "timeout_s": None}  # None: the defaults


def budget(fast: bool) -> tuple[int, float | None]:
    """(trials, seconds per search) of this run's searches."""
    trials = _BUDGET["trials"] or (N_TRIALS_FAST if fast else N_TRIALS)
    timeout = _BUDGET["timeout_s"]
    if timeout is None:
        timeout = SEARCH_TIMEOUT_FAST_S if fast else SEARCH_TIMEOUT_S
    return int(trials), (None if timeout == float("inf") else float(timeout))


def budget_label(fast: bool = False) -> str:
    trials, timeout = budget(fast)
    cap = "" if timeout is None else f", ≤ {timeout:g} s per search"
    return f"nested CV, ≤ {trials} trials{cap}"


def use_budget(trials: int | None = None, timeout_s: float | None = None) -> None:
    """Set the search budget of this process's tuned families (None: the default;
    ``timeout_s`` = inf: no time cap) and restate it in their labels."""
    if trials is not None and int(trials) < 1:
        raise ValueError(f"the search needs at least one trial, not {trials}")
    if timeout_s is not None and not float(timeout_s) > 0:
        raise ValueError(f"the time cap per search must be positive, not {timeout_s}")
    _BUDGET["trials"] = None if trials is None else int(trials)
    _BUDGET["timeout_s"] = None if timeout_s is None else float(timeout_s)
    register_tuned()


def _tuned_builder(name: str):
    def build(seed: int, fast: bool):
        trials, timeout = budget(fast)
        return TunedEstimator(family=name, n_trials=trials, random_state=seed, fast=fast,
                              timeout_s=timeout)
    return build


def _train_tuned(*, task, family, dev, ext, fold_of, seed, fast, columns, on_fold,
                 comparison, **_):
    """Outer cross-validation of a tuned family: the ordinary path, with the search
    inside every fit."""
    from crlm.models.training import cross_validate

    if not columns:
        raise ValueError("none of its inputs is in this cohort")
    plain = replace(family, trainer=None)
    return cross_validate(plain, task, columns, dev, fold_of, ext, seed=seed, fast=fast,
                          on_fold=on_fold, comparison=comparison)


def tuned_name(name: str) -> str:
    return name + TUNED_SUFFIX


def tuned_family(base: Family) -> Family:
    return Family(tuned_name(base.name), base.task_kind,
                  f"{base.label}, tuned ({budget_label()})",
                  feature_sets=base.feature_sets, build=_tuned_builder(base.name),
                  explainer="linear" if base.explainer == "linear" else "baseline_shapley",
                  tasks=base.tasks, default=False, inputs=base.inputs,
                  trainer=_train_tuned)


def tunable(names) -> list[str]:
    """The tuned counterparts of ``names`` (families without a search space are left)."""
    return [tuned_name(n) for n in names if n in SEARCH_SPACES and tuned_name(n) in FAMILIES]


def register_tuned(names=None) -> None:
    """(Re-)register the tuned counterparts of ``names`` (default: every family with a
    search space), from the base families as they are registered now."""
    for name in names or SEARCH_SPACES:
        if name in FAMILIES and name in SEARCH_SPACES:
            register_family(tuned_family(FAMILIES[name]))


register_tuned()
