"""A survival model's predictions, examined as deeply as a binary model's: pure functions
on predictions (``patient_id``, ``model_id``, ``score`` and the outcome columns), each
returning a frozen result, for the Models and Survival pages.

* :func:`risk_groups` — patients cut into groups of predicted risk at quantiles of the
  score (tertiles by default; one chosen percentile gives two groups). A quantile is
  R's type 7 (numpy's default) and a group holds the scores above the cut below it and
  up to its own cut (R ``cut(score, c(-Inf, q, Inf))``); a group left empty by tied
  scores is dropped.
* :func:`risk_group_survival` — Kaplan–Meier per risk group, the log-rank test across
  them and Cox hazard ratios (Efron ties) of each group against the lowest.
* :func:`concordance_table` — per model: Harrell's C with its infinitesimal-jackknife
  interval and the time-dependent AUC at the chosen horizons.
* :func:`paired_concordance` — two models' C on the patients both scored, and the
  test of their difference (``crlm.stats.survival_discrimination``).
* :func:`survival_calibration` — predicted survival at a horizon (mean of each
  patient's predicted probability) against the Kaplan–Meier estimate, per risk group,
  with the log-log 95% interval.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from crlm import stats
from crlm.stats.survival_discrimination import (
    HarrellCResult, PairedConcordanceResult, TimeDependentROCResult, compare_concordance,
    harrell_c, time_dependent_roc,
)

TERTILES = (1 / 3, 2 / 3)
HORIZONS_MONTHS = (12.0, 36.0, 60.0)


def group_names(k: int) -> tuple[str, ...]:
    """The names of ``k`` risk groups, lowest risk first."""
    if k == 2:
        return ("Low risk", "High risk")
    if k == 3:
        return ("Low risk", "Intermediate risk", "High risk")
    return tuple(f"Risk group {i + 1} of {k}" for i in range(k))


@dataclass(frozen=True)
class RiskGroups:
    """Each patient's risk group, the groups in order (lowest risk first) and the cuts."""

    groups: np.ndarray
    order: tuple[str, ...]
    cuts: tuple[float, ...]


def risk_groups(score, quantiles: Sequence[float] = TERTILES) -> RiskGroups:
    """Cut ``score`` (higher = shorter survival) at its ``quantiles`` (see the module doc)."""
    s = np.asarray(score, dtype=float)
    q = sorted(float(p) for p in quantiles)
    if not q or any(not 0.0 < p < 1.0 for p in q):
        raise ValueError(f"quantiles must lie strictly between 0 and 1, got {list(quantiles)!r}")
    if not len(s) or not np.isfinite(s).all():
        raise ValueError("risk groups need at least one score, and every score finite")
    cuts = np.quantile(s, q)
    names = group_names(len(q) + 1)
    index = np.searchsorted(cuts, s, side="left")
    groups = np.asarray(names, dtype=object)[index].astype(str)
    order = tuple(n for k, n in enumerate(names) if np.any(index == k))
    return RiskGroups(groups=groups, order=order, cuts=tuple(float(c) for c in cuts))


@dataclass(frozen=True)
class RiskGroupSurvival:
    """Kaplan–Meier per risk group with the log-rank test and hazard ratios against the
    lowest-risk group (``hr``: name → (HR, lower, upper, p)); ``note`` says why a hazard
    ratio is missing."""

    order: tuple[str, ...]
    cuts: tuple[float, ...]
    curves: dict = field(hash=False)
    logrank_chisq: float
    logrank_p: float
    hr: dict = field(hash=False)
    n: int
    events: int
    note: str = ""

    def table(self, landmarks: Sequence[float] = HORIZONS_MONTHS) -> pd.DataFrame:
        """One row per group: n, events, median, survival at ``landmarks`` with its
        interval, and the hazard ratio against the lowest-risk group."""
        rows = []
        for name in self.order:
            km = self.curves[name]
            at = km.survival_at(list(landmarks))
            row = {"group": name, "n": km.n, "events": km.n_events, "median_months": km.median}
            for k, m in enumerate(landmarks):
                row[f"survival_{m:g}m"] = at.survival[k]
                row[f"survival_{m:g}m_ci_lower"] = at.ci_lower[k]
                row[f"survival_{m:g}m_ci_upper"] = at.ci_upper[k]
            hr = self.hr.get(name)
            first = name == self.order[0]
            row.update({"hr": hr[0] if hr else (1.0 if first else np.nan),
                        "hr_ci_lower": hr[1] if hr else np.nan,
                        "hr_ci_upper": hr[2] if hr else np.nan,
                        "hr_p": hr[3] if hr else np.nan})
            rows.append(row)
        return pd.DataFrame(rows)


def risk_group_survival(time, event, score, quantiles: Sequence[float] = TERTILES
                        ) -> RiskGroupSurvival:
    """Kaplan–Meier, log-rank and Cox by the risk groups of ``score`` (module doc)."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    grouping = risk_groups(score, quantiles)
    g = grouping.groups
    curves = {name: stats.kaplan_meier(t[g == name], e[g == name]) for name in grouping.order}
    chisq = p = float("nan")
    hr, note = {}, ""
    if len(grouping.order) >= 2:
        lr = stats.logrank(t, e, g)
        chisq, p = float(lr.statistic), float(lr.p_value)
        design = pd.DataFrame({name: (g == name).astype(float) for name in grouping.order[1:]})
        try:
            fit = stats.cox(t, e, design, with_concordance=False)
            hr = {term.name: (term.hr, term.ci_lower, term.ci_upper, term.p_value)
                  for term in fit.terms}
            if not fit.converged:
                note = "the Cox model did not converge (a group with very few events)"
        except (ValueError, np.linalg.LinAlgError) as exc:
            note = f"no hazard ratio: {exc}"
    else:
        note = "one risk group only (the scores are tied): no comparison"
    return RiskGroupSurvival(order=grouping.order, cuts=grouping.cuts, curves=curves,
                             logrank_chisq=chisq, logrank_p=p, hr=hr, n=int(len(t)),
                             events=int(e.sum()), note=note)


def _usable(part: pd.DataFrame, time_col: str, event_col: str) -> pd.DataFrame:
    part = part.dropna(subset=[time_col, event_col, "score"])
    return part[part[time_col] > 0]


def model_outcomes(preds: pd.DataFrame, model_id: str, time_col: str, event_col: str
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time, event, score) of one model's predictions with a known outcome: a patient's
    first usable prediction (one with a score, a positive time and an event status)."""
    part = _usable(preds[preds["model_id"] == model_id], time_col,
                   event_col).drop_duplicates("patient_id")
    return (part[time_col].to_numpy(float), part[event_col].astype(bool).to_numpy(),
            part["score"].to_numpy(float))


def concordance_table(preds: pd.DataFrame, time_col: str, event_col: str,
                      horizons: Sequence[float] = HORIZONS_MONTHS) -> pd.DataFrame:
    """Per model (in the order of ``preds``): n, events, Harrell's C with its standard
    error and 95% interval, and ``auc_<h>m``, the time-dependent AUC at each horizon
    (NaN where nobody is followed that long)."""
    rows = []
    for model_id in dict.fromkeys(preds["model_id"]):
        t, e, s = model_outcomes(preds, model_id, time_col, event_col)
        if len(t) < 2 or not e.any():
            continue
        try:
            c: HarrellCResult | None = harrell_c(t, e, s)
        except ValueError:     # no comparable pair under this filter
            c = None
        try:
            auc = stats.time_dependent_auc(t, e, s, times=list(horizons)).auc
        except ValueError:
            auc = [np.nan] * len(horizons)
        rows.append({"model_id": model_id, "n": len(t), "events": int(e.sum()),
                     "harrell_c": c.concordance if c else np.nan,
                     "c_se": c.se if c else np.nan,
                     "c_ci_lower": c.ci_lower if c else np.nan,
                     "c_ci_upper": c.ci_upper if c else np.nan,
                     **{f"auc_{h:g}m": a for h, a in zip(horizons, auc)}})
    return pd.DataFrame(rows)


def paired_concordance(preds: pd.DataFrame, model_a: str, model_b: str, time_col: str,
                       event_col: str) -> PairedConcordanceResult:
    """Harrell's C of two models on the patients both scored, and the test of the
    difference. Raises ``ValueError`` with the reason when it cannot be computed."""
    if model_a == model_b:
        raise ValueError("choose two different models to compare")
    usable = _usable(preds, time_col, event_col)
    wide = usable.pivot_table(index="patient_id", columns="model_id", values="score")
    if model_a not in wide or model_b not in wide:
        raise ValueError("one of the two models has no prediction under this filter")
    both = wide[[model_a, model_b]].dropna()
    outcome = usable.drop_duplicates("patient_id").set_index("patient_id")
    outcome = outcome.loc[both.index]
    return compare_concordance(outcome[time_col].to_numpy(float),
                               outcome[event_col].astype(bool).to_numpy(),
                               both[model_a].to_numpy(float), both[model_b].to_numpy(float))


def td_roc_curves(time, event, score, horizons: Sequence[float]
                  ) -> dict[float, TimeDependentROCResult]:
    """The time-dependent ROC curve at each horizon with at least one case and control."""
    out = {}
    for h in horizons:
        roc = time_dependent_roc(time, event, score, float(h))
        if len(roc.fpr):
            out[float(h)] = roc
    return out


@dataclass(frozen=True)
class SurvivalCalibration:
    """Predicted against observed survival at ``horizon`` per group of predicted risk
    (lowest risk first); ``observed`` is NaN for a group nobody in it is followed to."""

    horizon: float
    groups: tuple[str, ...]
    n: np.ndarray
    events: np.ndarray
    mean_predicted: np.ndarray
    observed: np.ndarray
    observed_ci_lower: np.ndarray
    observed_ci_upper: np.ndarray

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"group": self.groups, "n": self.n, "events": self.events,
                             "mean_predicted": self.mean_predicted, "observed": self.observed,
                             "ci_lower": self.observed_ci_lower,
                             "ci_upper": self.observed_ci_upper, "horizon_months": self.horizon})


def survival_calibration(time, event, score, predicted, horizon: float,
                         quantiles: Sequence[float] = TERTILES) -> SurvivalCalibration:
    """Mean predicted survival at ``horizon`` against the Kaplan–Meier survival at it, in
    the risk groups of ``score`` (:func:`risk_groups`, lowest risk first)."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    p = np.asarray(predicted, dtype=float)
    h = float(horizon)
    if not np.isfinite(h) or h <= 0:
        raise ValueError(f"horizon must be a positive number of months, got {horizon!r}")
    if not len(p) or len(p) != len(t) or not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise ValueError("predicted survival must be one probability in [0, 1] per patient")
    grouping = risk_groups(score, quantiles)
    rows = []
    for name in grouping.order:
        m = grouping.groups == name
        at = stats.kaplan_meier(t[m], e[m]).survival_at([h])
        beyond = t[m].max() < h          # nobody in the group followed to the horizon
        rows.append((int(m.sum()), int(e[m].sum()), float(p[m].mean()),
                     np.nan if beyond else float(at.survival[0]),
                     np.nan if beyond else float(at.ci_lower[0]),
                     np.nan if beyond else float(at.ci_upper[0])))
    cols = list(zip(*rows))
    return SurvivalCalibration(horizon=h, groups=grouping.order, n=np.array(cols[0]),
                               events=np.array(cols[1]), mean_predicted=np.array(cols[2]),
                               observed=np.array(cols[3]), observed_ci_lower=np.array(cols[4]),
                               observed_ci_upper=np.array(cols[5]))
