"""The multi-omics anti-EGFR study's design, reproduced on a cohort's predictions.

Liu et al. (2026) trained a CT + genomic signature on RAS wild-type colorectal
liver metastases treated with cetuximab and showed that it predicts *benefit*
from anti-EGFR therapy, not prognosis: AUC 0.86 under cetuximab against 0.54
under chemotherapy alone, median PFS 9.0 vs 5.0 months (HR 0.44) between
signature groups under cetuximab, and a stronger association with response
than the established biomarkers. :func:`anti_egfr_study` asks the same
questions of one ``anti_egfr_benefit`` model on whatever cohort is given.

Arms (RAS wild-type patients only; one row per patient):

* **anti-EGFR arm**: biologic ``anti-EGFR``, the model's ``out-of-fold``
  (development centres) and ``external`` predictions;
* **chemotherapy arm**: the final model's ``comparison`` predictions of
  patients who were never in training, biologic ``none`` (chemotherapy alone,
  as in the study; the default) or ``none`` and ``anti-VEGF``
  (``chemo_arm="none+anti-VEGF"``).

Signature groups: *signature-high* when ``score >= threshold`` (the model's
stored threshold, Youden's J on out-of-fold scores), the same cut in both arms.

What is computed (statistics from :mod:`crlm.stats`):

* the signature's AUC in each arm (DeLong CI) and the unpaired DeLong test of
  the difference (pROC ``roc.test(paired = FALSE)``);
* signature × treatment interaction for response: logistic regression
  ``responder ~ high + arm + high:arm``; per arm the odds ratio of
  signature-high vs -low (logistic within the arm), the interaction term's ratio
  of odds ratios (Wald CI) and the likelihood-ratio p-value of the interaction;
* the same for PFS with Cox models (Efron ties): per-arm hazard ratios, the
  interaction term's ratio of hazard ratios and its likelihood-ratio p-value;
* PFS by signature group within each arm: Kaplan–Meier curves and medians,
  log-rank p, Cox HR (signature-high vs -low);
* within the anti-EGFR arm, multivariable logistic (response) and Cox (PFS)
  models of the signature next to the established biomarkers — right-sided
  primary, BRAF V600E, HER2 amplification, MSI-high and RAS status — each
  entered only where it varies enough to be estimated (see
  :func:`multivariable`); complete cases on the entered biomarkers.

A quantity that cannot be estimated on the data (an arm without responders, a
signature group without events, perfect separation) comes back with
``estimable=False`` and the reason, never as a number.

The paper's own numbers are :data:`PUBLISHED` and :func:`published_table`,
kept apart from every result computed here.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from crlm import stats
from crlm.stats._result import ResultMixin

TREATED_SPLITS = ("out-of-fold", "external")
COMPARISON_SPLIT = "comparison"
TREATED_BIOLOGIC = "anti-EGFR"
CHEMO_ARMS = {"none": ("none",), "none+anti-VEGF": ("none", "anti-VEGF")}
CHEMO_ARM_LABELS = {"none": "chemotherapy alone",
                    "none+anti-VEGF": "chemotherapy alone or with anti-VEGF"}
ANTI_EGFR_ARM = "Anti-EGFR"
SIGNATURE_LOW, SIGNATURE_HIGH = "Signature-low", "Signature-high"
RESPONSE, PFS = "response", "PFS"
STUDY_COLUMNS = ("biologic", "ras_status", "responder", "pfs_months", "pfs_event",
                 "primary_side", "braf_v600e", "her2", "msi")
MIN_LEVEL = 5          # a biomarker enters the multivariable model with >= 5 patients per level
MIN_EVENTS = 5         # a Cox fit needs >= 5 events


def chemo_arm_label(chemo_arm: str) -> str:
    """The chemotherapy arm's display name: ``Chemotherapy alone`` / ``... or with anti-VEGF``."""
    label = CHEMO_ARM_LABELS[_check_chemo_arm(chemo_arm)]
    return label[0].upper() + label[1:]


def _check_chemo_arm(chemo_arm: str) -> str:
    if chemo_arm not in CHEMO_ARMS:
        raise ValueError(f"chemo_arm must be one of {', '.join(CHEMO_ARMS)}, got {chemo_arm!r}")
    return chemo_arm


@dataclass(frozen=True)
class Biomarker:
    """An established biomarker as a 0/1 covariate: 1 where ``column == positive``,
    0 for the column's other known values, missing where unknown."""

    name: str
    label: str
    column: str
    positive: str
    negatives: tuple[str, ...]

    def indicator(self, frame: pd.DataFrame) -> pd.Series:
        values = frame[self.column].astype("object") if self.column in frame else \
            pd.Series(None, index=frame.index, dtype="object")
        out = pd.Series(np.nan, index=frame.index)
        out[values == self.positive] = 1.0
        out[values.isin(self.negatives)] = 0.0
        return out


BIOMARKERS = (
    Biomarker("right_sided", "Right-sided primary", "primary_side", "right", ("left", "rectum")),
    Biomarker("braf_v600e_mutant", "BRAF V600E mutant", "braf_v600e", "mutant", ("wild-type",)),
    Biomarker("her2_amplified", "HER2 amplified", "her2", "amplified", ("not amplified",)),
    Biomarker("msi_high", "MSI-high / dMMR", "msi", "MSI-H", ("MSS",)),
    Biomarker("ras_mutant", "RAS mutant", "ras_status", "mutant", ("wild-type",)),
)
SIGNATURE_TERM = "signature_high"
SIGNATURE_LABEL = "Signature-high (vs low)"


# -- results ---------------------------------------------------------------------
@dataclass(frozen=True)
class Effect(ResultMixin):
    """One ratio (odds or hazard) with its Wald CI and p-value, or the reason it is missing."""

    label: str
    estimate: float
    ci_lower: float
    ci_upper: float
    p_value: float
    n: int
    events: int
    estimable: bool
    reason: str = ""


def _missing_effect(label: str, n: int, events: int, reason: str) -> Effect:
    nan = float("nan")
    return Effect(label, nan, nan, nan, nan, int(n), int(events), False, reason)


@dataclass(frozen=True)
class ArmAUC(ResultMixin):
    """The signature's discrimination of responders within one arm."""

    arm: str
    n: int
    responders: int
    auc: float
    ci_lower: float
    ci_upper: float
    estimable: bool
    reason: str
    roc: stats.ROCResult | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AUCContrast(ResultMixin):
    """AUC in the anti-EGFR arm vs the chemotherapy arm, unpaired DeLong test."""

    treated: ArmAUC
    control: ArmAUC
    difference: float
    ci_lower: float
    ci_upper: float
    p_value: float


@dataclass(frozen=True)
class Cell(ResultMixin):
    """Patients and events (responders, or progressions) of one arm × signature group."""

    arm: str
    signature: str
    n: int
    events: int

    @property
    def rate(self) -> float:
        return self.events / self.n if self.n else float("nan")


@dataclass(frozen=True)
class Interaction(ResultMixin):
    """Signature × treatment interaction for one outcome (``response``: odds ratios,
    logistic; ``PFS``: hazard ratios, Cox).

    ``by_arm``: signature-high vs -low within the anti-EGFR arm, then the
    chemotherapy arm. ``ratio``: exp(interaction coefficient), the anti-EGFR
    arm's ratio divided by the chemotherapy arm's. ``p_value``: likelihood-ratio
    test of the interaction term.
    """

    outcome: str
    measure: str
    by_arm: tuple[Effect, Effect]
    ratio: Effect
    statistic: float
    df: int
    p_value: float
    n: int
    events: int
    cells: tuple[Cell, ...]
    estimable: bool
    reason: str = ""


@dataclass(frozen=True)
class ArmSurvival(ResultMixin):
    """PFS by signature group within one arm."""

    arm: str
    n: int
    events: int
    curves: dict              # signature group -> KMResult (low first)
    median_high: float
    median_high_ci: tuple[float, float]
    median_low: float
    median_low_ci: tuple[float, float]
    hazard_ratio: Effect      # signature-high vs -low
    logrank_p: float
    reason: str = ""


@dataclass(frozen=True)
class ExcludedTerm(ResultMixin):
    label: str
    reason: str


@dataclass(frozen=True)
class Multivariable(ResultMixin):
    """The signature next to the established biomarkers in the anti-EGFR arm."""

    outcome: str
    measure: str
    terms: tuple[Effect, ...]
    excluded: tuple[ExcludedTerm, ...]
    n: int
    events: int
    n_unknown: int            # anti-EGFR patients left out for an unknown entered biomarker
    converged: bool
    estimable: bool
    reason: str = ""


@dataclass(frozen=True)
class AntiEgfrStudy(ResultMixin):
    """Every contrast of the study's design for one model (see module doc)."""

    model_id: str
    threshold: float
    chemo_arm: str
    n_treated: int
    n_control: int
    discrimination: AUCContrast
    response_interaction: Interaction
    pfs_interaction: Interaction
    pfs_by_arm: tuple[ArmSurvival, ArmSurvival]
    response_multivariable: Multivariable
    pfs_multivariable: Multivariable

    @property
    def control_arm(self) -> str:
        return chemo_arm_label(self.chemo_arm)

    def table(self) -> pd.DataFrame:
        """Every number as one long table (the CSV export): section, arm, quantity,
        estimate, ci_lower, ci_upper, p_value, n, events, note. Computed on this cohort only."""
        return study_table(self)


# -- arms -------------------------------------------------------------------------
def study_arms(predictions: pd.DataFrame, chemo_arm: str = "none") -> pd.DataFrame:
    """The study's two arms from one model's predictions joined with patient columns.

    ``predictions``: rows of (patient_id, score, split, biologic, ras_status, …).
    Returns RAS wild-type patients, one row each, with ``arm`` (``Anti-EGFR`` or
    the chemotherapy arm's label) and ``treated`` (1 / 0); other rows are dropped.
    """
    chemo_arm = _check_chemo_arm(chemo_arm)
    needed = {"patient_id", "score", "split", "biologic", "ras_status"}
    missing = sorted(needed - set(predictions.columns))
    if missing:
        raise ValueError(f"predictions lack column(s) {', '.join(missing)}")
    if "model_id" in predictions and predictions["model_id"].nunique() > 1:
        raise ValueError("predictions of one model are needed; got "
                         f"{', '.join(map(str, predictions['model_id'].unique()))}")
    frame = predictions[predictions["ras_status"].astype("object") == "wild-type"]
    split = frame["split"].astype("object")
    biologic = frame["biologic"].astype("object")
    treated = split.isin(TREATED_SPLITS) & (biologic == TREATED_BIOLOGIC)
    control = (split == COMPARISON_SPLIT) & biologic.isin(CHEMO_ARMS[chemo_arm])
    frame = frame[(treated | control).to_numpy()].copy()
    frame["treated"] = treated[treated | control].astype(int).to_numpy()
    frame["arm"] = np.where(frame["treated"] == 1, ANTI_EGFR_ARM, chemo_arm_label(chemo_arm))
    frame = frame.dropna(subset=["score"])
    # a patient scored twice (should not happen) counts once, anti-EGFR first
    frame = frame.sort_values(["treated", "split"], ascending=[False, True], kind="stable")
    return frame.drop_duplicates("patient_id").reset_index(drop=True)


def _signature_high(scores, threshold: float) -> np.ndarray:
    return (np.asarray(scores, dtype=float) >= float(threshold)).astype(float)


# -- discrimination ------------------------------------------------------------------
def arm_auc(arm: str, responder, score) -> ArmAUC:
    y = pd.Series(responder).astype("float").to_numpy()
    s = np.asarray(score, dtype=float)
    keep = ~np.isnan(y) & ~np.isnan(s)
    y, s = y[keep].astype(bool), s[keep]
    n, k = int(len(y)), int(y.sum())
    nan = float("nan")
    if k == 0 or k == n:
        reason = "no patients" if n == 0 else ("no responders" if k == 0 else "no non-responders")
        return ArmAUC(arm, n, k, nan, nan, nan, False, reason)
    r = stats.roc(y, s)
    note = "" if min(k, n - k) >= 2 else "too few patients in one class for a confidence interval"
    return ArmAUC(arm, n, k, r.auc, r.auc_ci[0], r.auc_ci[1], True, note, r)


def auc_contrast(treated: ArmAUC, control: ArmAUC) -> AUCContrast:
    nan = float("nan")
    if not (treated.estimable and control.estimable):
        return AUCContrast(treated, control, nan, nan, nan, nan)
    t = stats.unpaired_auc_test(treated.roc, control.roc)
    return AUCContrast(treated, control, t.difference, t.ci_lower, t.ci_upper, t.p_value)


# -- effects within an arm and interaction -------------------------------------------
def _logistic_effect(label: str, y: np.ndarray, high: np.ndarray) -> Effect:
    n, k = len(y), int(y.sum())
    for level, name in ((1.0, "signature-high"), (0.0, "signature-low")):
        part = y[high == level]
        if len(part) == 0:
            return _missing_effect(label, n, k, f"no {name} patients")
        if part.all() or not part.any():
            which = "responders" if part.all() else "non-responders"
            return _missing_effect(label, n, k, f"all {len(part)} {name} patients were {which}: "
                                                "odds ratio not finite")
    fit = stats.logistic(y, pd.DataFrame({SIGNATURE_TERM: high}))
    t = fit.term(SIGNATURE_TERM)
    return Effect(label, t.odds_ratio, t.ci_lower, t.ci_upper, t.p_value, n, k, True)


def _cox_effect(label: str, time: np.ndarray, event: np.ndarray, high: np.ndarray) -> Effect:
    n, d = len(time), int(event.sum())
    for level, name in ((1.0, "signature-high"), (0.0, "signature-low")):
        m = high == level
        if not m.any():
            return _missing_effect(label, n, d, f"no {name} patients")
        if not event[m].any():
            return _missing_effect(label, n, d, f"no events among {name} patients: "
                                                "hazard ratio not finite")
    if d < MIN_EVENTS:
        return _missing_effect(label, n, d, f"fewer than {MIN_EVENTS} events ({d})")
    fit = stats.cox(time, event, pd.DataFrame({SIGNATURE_TERM: high}), with_concordance=False)
    t = fit.term(SIGNATURE_TERM)
    return Effect(label, t.hr, t.ci_lower, t.ci_upper, t.p_value, n, d, True)


def _cells(arm_names, treated, high, events) -> tuple[Cell, ...]:
    out = []
    for arm_value, arm_name in zip((1, 0), arm_names):
        for level, sig in ((1.0, SIGNATURE_HIGH), (0.0, SIGNATURE_LOW)):
            m = (treated == arm_value) & (high == level)
            out.append(Cell(arm_name, sig, int(m.sum()), int(events[m].sum())))
    return tuple(out)


def _interaction_design(high: np.ndarray, treated: np.ndarray, with_term: bool) -> pd.DataFrame:
    cols = {SIGNATURE_TERM: high, "anti_egfr": treated}
    if with_term:
        cols["signature_x_anti_egfr"] = high * treated
    return pd.DataFrame(cols)


def response_interaction(arms: pd.DataFrame, threshold: float) -> Interaction:
    """Signature × treatment interaction for response (logistic; see module doc)."""
    names = _arm_names(arms)
    data = arms.dropna(subset=["responder"])
    y = data["responder"].astype(bool).to_numpy()
    treated = data["treated"].to_numpy(float)
    high = _signature_high(data["score"], threshold)
    by_arm = tuple(_logistic_effect(name, y[treated == v], high[treated == v])
                   for v, name in zip((1.0, 0.0), names))
    cells = _cells(names, treated, high, y)
    return _interaction(RESPONSE, "OR", by_arm, cells, len(y), int(y.sum()), lambda with_term:
                        stats.logistic(y, _interaction_design(high, treated, with_term)))


def pfs_interaction(arms: pd.DataFrame, threshold: float) -> Interaction:
    """Signature × treatment interaction for PFS (Cox, Efron ties; see module doc)."""
    names = _arm_names(arms)
    data = _pfs_rows(arms)
    t = data["pfs_months"].to_numpy(float)
    e = data["pfs_event"].astype(bool).to_numpy()
    treated = data["treated"].to_numpy(float)
    high = _signature_high(data["score"], threshold)
    by_arm = tuple(_cox_effect(name, t[treated == v], e[treated == v], high[treated == v])
                   for v, name in zip((1.0, 0.0), names))
    cells = _cells(names, treated, high, e)
    return _interaction(PFS, "HR", by_arm, cells, len(t), int(e.sum()), lambda with_term:
                        stats.cox(t, e, _interaction_design(high, treated, with_term),
                                  with_concordance=False))


def _interaction(outcome, measure, by_arm, cells, n, events, fit) -> Interaction:
    label = f"Ratio of {measure}s (anti-EGFR / chemotherapy)"
    reason = ""
    if not all(b.estimable for b in by_arm):
        bad = next(b for b in by_arm if not b.estimable)
        reason = f"{bad.label} arm: {bad.reason}"
    if reason:
        nan = float("nan")
        return Interaction(outcome, measure, by_arm, _missing_effect(label, n, events, reason),
                           nan, 1, nan, n, events, cells, False, reason)
    full, reduced = fit(True), fit(False)
    lr = stats.likelihood_ratio_test(full, reduced)
    term = full.term("signature_x_anti_egfr")
    estimate = term.odds_ratio if hasattr(term, "odds_ratio") else term.hr
    ratio = Effect(label, float(estimate), term.ci_lower, term.ci_upper, term.p_value, n,
                   events, True)
    return Interaction(outcome, measure, by_arm, ratio, lr.statistic, lr.df, lr.p_value, n,
                       events, cells, True)


def _arm_names(arms: pd.DataFrame) -> tuple[str, str]:
    control = arms.loc[arms["treated"] == 0, "arm"]
    label = str(control.iloc[0]) if len(control) else chemo_arm_label("none")
    return ANTI_EGFR_ARM, label


def _pfs_rows(arms: pd.DataFrame) -> pd.DataFrame:
    data = arms.dropna(subset=["pfs_months", "pfs_event"])
    return data[data["pfs_months"].astype(float) >= 0]


# -- PFS by signature within each arm ------------------------------------------------
def arm_survival(arm: str, time, event, high) -> ArmSurvival:
    t = np.asarray(time, dtype=float)
    e = np.asarray(event).astype(bool)
    h = np.asarray(high, dtype=float)
    n, d = len(t), int(e.sum())
    nan = float("nan")
    curves = {}
    for level, name in ((0.0, SIGNATURE_LOW), (1.0, SIGNATURE_HIGH)):
        m = h == level
        if m.any():
            curves[name] = stats.kaplan_meier(t[m], e[m])
    hi, lo = curves.get(SIGNATURE_HIGH), curves.get(SIGNATURE_LOW)
    reason = "" if n else "no patients with a known PFS"
    logrank_p = nan
    if hi is not None and lo is not None and d:
        logrank_p = stats.logrank(t, e, h).p_value
    hr = _cox_effect(f"{arm}: {SIGNATURE_HIGH} vs low", t, e, h) if n else \
        _missing_effect(f"{arm}: {SIGNATURE_HIGH} vs low", 0, 0, reason)
    return ArmSurvival(arm, n, d, curves,
                       hi.median if hi else nan, tuple(hi.median_ci) if hi else (nan, nan),
                       lo.median if lo else nan, tuple(lo.median_ci) if lo else (nan, nan),
                       hr, float(logrank_p), reason or hr.reason)


def pfs_by_arm(arms: pd.DataFrame, threshold: float) -> tuple[ArmSurvival, ArmSurvival]:
    data = _pfs_rows(arms)
    out = []
    for value, name in zip((1, 0), _arm_names(arms)):
        part = data[data["treated"] == value]
        out.append(arm_survival(name, part["pfs_months"], part["pfs_event"].astype(bool),
                                _signature_high(part["score"], threshold)))
    return tuple(out)


# -- multivariable ---------------------------------------------------------------------
def _marker_problem(x: np.ndarray, events: np.ndarray, outcome: str, min_level: int) -> str:
    """Why a 0/1 covariate cannot enter the model ('' when it can)."""
    known = ~np.isnan(x)
    counts = [int(((x == v) & known).sum()) for v in (1.0, 0.0)]
    if counts[0] == 0 or counts[1] == 0:
        return "does not vary in these patients" if known.any() else "unknown in every patient"
    if min(counts) < min_level:
        return f"only {min(counts)} patient(s) in one level (fewer than {min_level})"
    for v, name in ((1.0, "positive"), (0.0, "negative")):
        ev = events[known & (x == v)]
        if outcome == RESPONSE and (ev.all() or not ev.any()):
            which = "responders" if ev.all() else "non-responders"
            return f"all {len(ev)} {name} patients were {which}: odds ratio not finite"
        if outcome == PFS and not ev.any():
            return f"no events among the {len(ev)} {name} patients: hazard ratio not finite"
    return ""


def multivariable(arms: pd.DataFrame, threshold: float, outcome: str = RESPONSE, *,
                  biomarkers: Sequence[Biomarker] = BIOMARKERS,
                  min_level: int = MIN_LEVEL) -> Multivariable:
    """The signature (high vs low) and the established biomarkers in the anti-EGFR arm.

    A biomarker enters only where, among the arm's patients with it known, both of
    its levels hold at least ``min_level`` patients and (response) both
    responders and non-responders, or (PFS) at least one event — otherwise its
    ratio is not finite or not worth reporting; it is listed in ``excluded``
    with the reason. The model is fitted on the complete cases of the entered
    biomarkers; entry is re-checked on them until it is stable.
    """
    if outcome not in (RESPONSE, PFS):
        raise ValueError(f"outcome must be {RESPONSE!r} or {PFS!r}, got {outcome!r}")
    measure = "OR" if outcome == RESPONSE else "HR"
    data = arms[arms["treated"] == 1]
    data = data.dropna(subset=["responder"]) if outcome == RESPONSE else _pfs_rows(data)
    events_col = "responder" if outcome == RESPONSE else "pfs_event"
    high = _signature_high(data["score"], threshold)
    markers = {b.name: b.indicator(data).to_numpy(float) for b in biomarkers}
    events_all = data[events_col].astype(bool).to_numpy()
    n_all = len(data)
    excluded: dict[str, str] = {}
    entered = list(biomarkers)
    # first each biomarker on the patients where it is known, then all entered ones on the
    # complete cases of the entered set, until no entered biomarker fails
    rows = np.ones(n_all, dtype=bool)
    for attempt in range(len(biomarkers) + 1):
        failing = {}
        for b in entered:
            known = ~np.isnan(markers[b.name])
            base = known if attempt == 0 else rows
            problem = _marker_problem(markers[b.name][base], events_all[base], outcome, min_level)
            if problem:
                failing[b.name] = problem if attempt == 0 else f"{problem} (complete cases)"
        excluded.update(failing)
        entered = [b for b in entered if b.name not in failing]
        rows = np.ones(n_all, dtype=bool)
        for b in entered:
            rows &= ~np.isnan(markers[b.name])
        if not failing and attempt > 0:
            break
    n, d = int(rows.sum()), int(events_all[rows].sum())
    base_excluded = tuple(ExcludedTerm(b.label, excluded[b.name])
                          for b in biomarkers if b.name in excluded)
    sig_problem = _marker_problem(high[rows], events_all[rows], outcome, 1)
    if n == 0 or sig_problem or (outcome == PFS and d < MIN_EVENTS):
        reason = ("no anti-EGFR patients with the outcome known" if n == 0 else
                  f"signature: {sig_problem}" if sig_problem else
                  f"fewer than {MIN_EVENTS} events ({d})")
        return Multivariable(outcome, measure, (), base_excluded, n, d, n_all - n, False, False,
                             reason)
    design = pd.DataFrame({SIGNATURE_TERM: high[rows],
                           **{b.name: markers[b.name][rows] for b in entered}})
    labels = {SIGNATURE_TERM: SIGNATURE_LABEL, **{b.name: b.label for b in entered}}
    if outcome == RESPONSE:
        fit = stats.logistic(events_all[rows], design)
        converged = fit.converged and not fit.separation
        terms = tuple(Effect(labels[t.name], t.odds_ratio, t.ci_lower, t.ci_upper, t.p_value,
                             n, d, True) for t in fit.terms)
    else:
        part = data[rows]
        fit = stats.cox(part["pfs_months"].to_numpy(float), events_all[rows], design,
                        with_concordance=False)
        converged = fit.converged
        terms = tuple(Effect(labels[t.name], t.hr, t.ci_lower, t.ci_upper, t.p_value, n, d, True)
                      for t in fit.terms)
    reason = "" if converged else "the model did not converge (separation): do not read its ratios"
    return Multivariable(outcome, measure, terms, base_excluded, n, d, n_all - n, converged,
                         converged, reason)


# -- the whole design ----------------------------------------------------------------
def anti_egfr_study(predictions: pd.DataFrame, threshold: float, *, model_id: str = "",
                    chemo_arm: str = "none") -> AntiEgfrStudy:
    """Every contrast of the study's design for one model's predictions (module doc)."""
    if threshold is None or not math.isfinite(float(threshold)):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    threshold = float(threshold)
    arms = study_arms(predictions, chemo_arm)
    names = _arm_names(arms) if len(arms) else (ANTI_EGFR_ARM, chemo_arm_label(chemo_arm))
    for column in ("responder", "pfs_months", "pfs_event"):
        if column not in arms:
            arms[column] = np.nan
    treated = arms[arms["treated"] == 1]
    control = arms[arms["treated"] == 0]
    contrast = auc_contrast(arm_auc(names[0], treated["responder"], treated["score"]),
                            arm_auc(names[1], control["responder"], control["score"]))
    return AntiEgfrStudy(
        model_id=model_id or (str(predictions["model_id"].iloc[0])
                              if "model_id" in predictions and len(predictions) else ""),
        threshold=threshold, chemo_arm=chemo_arm,
        n_treated=int(len(treated)), n_control=int(len(control)),
        discrimination=contrast,
        response_interaction=response_interaction(arms, threshold),
        pfs_interaction=pfs_interaction(arms, threshold),
        pfs_by_arm=pfs_by_arm(arms, threshold),
        response_multivariable=multivariable(arms, threshold, RESPONSE),
        pfs_multivariable=multivariable(arms, threshold, PFS),
    )


def load_study_predictions(store, filt, model_id: str) -> pd.DataFrame:
    """One model's out-of-fold, external and comparison predictions with the study columns."""
    from crlm.store import load_predictions

    return load_predictions(store, filt, model_id=model_id,
                            split=[*TREATED_SPLITS, COMPARISON_SPLIT], columns=STUDY_COLUMNS)


def compute_anti_egfr_study(store, filt, model_id: str, threshold: float | None = None, *,
                            chemo_arm: str = "none") -> AntiEgfrStudy:
    """:func:`anti_egfr_study` on the store's predictions of ``model_id`` under ``filt``;
    ``threshold`` defaults to the model's stored threshold."""
    from crlm.store import load_models

    if threshold is None:
        models = load_models(store, cohort=filt.cohort)
        row = models[models["model_id"] == model_id]
        if row.empty:
            raise ValueError(f"no current model {model_id!r} in cohort {filt.cohort!r}")
        threshold = row["threshold"].iloc[0]
    return anti_egfr_study(load_study_predictions(store, filt, model_id), threshold,
                           model_id=model_id, chemo_arm=chemo_arm)


# -- tables ------------------------------------------------------------------------------
TABLE_COLUMNS = ["section", "arm", "quantity", "estimate", "ci_lower", "ci_upper", "p_value",
                 "n", "events", "note"]


def _row(section, arm, quantity, estimate=np.nan, lo=np.nan, hi=np.nan, p=np.nan, n=np.nan,
         events=np.nan, note="") -> dict:
    return dict(section=section, arm=arm, quantity=quantity, estimate=estimate, ci_lower=lo,
                ci_upper=hi, p_value=p, n=n, events=events, note=note)


def _effect_row(section, arm, quantity, e: Effect) -> dict:
    return _row(section, arm, quantity, e.estimate, e.ci_lower, e.ci_upper, e.p_value, e.n,
                e.events, e.reason)


def study_table(study: AntiEgfrStudy) -> pd.DataFrame:
    rows = []
    dsc = study.discrimination
    for a in (dsc.treated, dsc.control):
        rows.append(_row("discrimination", a.arm, "AUC of the signature for response", a.auc,
                         a.ci_lower, a.ci_upper, n=a.n, events=a.responders, note=a.reason))
    rows.append(_row("discrimination", "both", "AUC difference (anti-EGFR − chemotherapy)",
                     dsc.difference, dsc.ci_lower, dsc.ci_upper, dsc.p_value,
                     note="unpaired DeLong test"))
    for inter in (study.response_interaction, study.pfs_interaction):
        section = f"{inter.outcome} interaction"
        for c in inter.cells:
            what = "responders" if inter.outcome == RESPONSE else "progressions or deaths"
            rows.append(_row(section, c.arm, f"{c.signature}: {what} / patients", c.rate,
                             n=c.n, events=c.events))
        for e in inter.by_arm:
            rows.append(_effect_row(section, e.label, f"{inter.measure} signature-high vs low", e))
        rows.append(_effect_row(section, "both", inter.ratio.label + " (Wald)", inter.ratio))
        rows.append(_row(section, "both", "Interaction likelihood-ratio test",
                         inter.statistic, p=inter.p_value, n=inter.n, events=inter.events,
                         note=inter.reason or f"chi-square, {inter.df} df"))
    for s in study.pfs_by_arm:
        rows.append(_row("PFS by signature", s.arm, "Median PFS, signature-high (months)",
                         s.median_high, *s.median_high_ci, n=s.n, events=s.events))
        rows.append(_row("PFS by signature", s.arm, "Median PFS, signature-low (months)",
                         s.median_low, *s.median_low_ci, n=s.n, events=s.events))
        rows.append(_effect_row("PFS by signature", s.arm, "HR signature-high vs low",
                                s.hazard_ratio))
        rows.append(_row("PFS by signature", s.arm, "Log-rank test", p=s.logrank_p, n=s.n,
                         events=s.events))
    for mv in (study.response_multivariable, study.pfs_multivariable):
        section = f"{mv.outcome} multivariable ({mv.measure})"
        for e in mv.terms:
            rows.append(_effect_row(section, ANTI_EGFR_ARM, e.label, e))
        for x in mv.excluded:
            rows.append(_row(section, ANTI_EGFR_ARM, x.label, n=mv.n, events=mv.events,
                             note=f"not entered: {x.reason}"))
        if mv.reason:
            rows.append(_row(section, ANTI_EGFR_ARM, "model", n=mv.n, events=mv.events,
                             note=mv.reason))
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    frame.insert(0, "model_id", study.model_id)
    frame.insert(1, "threshold", study.threshold)
    frame["source"] = "this cohort"
    return frame


# -- the paper's numbers, never mixed with ours ---------------------------------------------
@dataclass(frozen=True)
class PublishedStudy(ResultMixin):
    """What the paper's abstract reports (Liu et al. 2026). Not computed here."""

    citation: str
    auc_anti_egfr_radiomic: float
    auc_anti_egfr_genomic: float
    auc_anti_egfr_fusion: float
    auc_chemotherapy_fusion: float
    pfs_median_high_months: float
    pfs_median_low_months: float
    pfs_hr: float
    pfs_hr_ci: tuple[float, float]
    pfs_p: float
    multivariable_ratio: float
    multivariable_ci: tuple[float, float]
    multivariable_p: float


PUBLISHED = PublishedStudy(
    citation=("Liu Y, Chen Y, Zhou G, et al. Multi-omics signature predicts anti-EGFR therapy "
              "benefit in colorectal cancer liver metastases: a multi-center cohort study. 2026 "
              "(abstract)"),
    auc_anti_egfr_radiomic=0.75, auc_anti_egfr_genomic=0.81, auc_anti_egfr_fusion=0.86,
    auc_chemotherapy_fusion=0.54, pfs_median_high_months=9.0, pfs_median_low_months=5.0,
    pfs_hr=0.44, pfs_hr_ci=(0.20, 0.99), pfs_p=0.047,
    multivariable_ratio=17.9, multivariable_ci=(3.22, 154.31), multivariable_p=0.003,
)
NOT_REPORTED = "not reported in the abstract"


def published_table(published: PublishedStudy = PUBLISHED) -> pd.DataFrame:
    """The paper's numbers in the layout of :func:`study_table` (``source`` = the paper)."""
    p = published
    rows = [
        _row("discrimination", "Anti-EGFR (cetuximab)", "AUC of the fusion signature for response",
             p.auc_anti_egfr_fusion, note="radiomic model 0.75, genomic model 0.81"),
        _row("discrimination", "Chemotherapy alone", "AUC of the fusion signature for response",
             p.auc_chemotherapy_fusion),
        _row("response interaction", "both", "Interaction likelihood-ratio test", note=NOT_REPORTED),
        _row("PFS by signature", "Anti-EGFR (cetuximab)", "Median PFS, signature-high (months)",
             p.pfs_median_high_months),
        _row("PFS by signature", "Anti-EGFR (cetuximab)", "Median PFS, signature-low (months)",
             p.pfs_median_low_months),
        _row("PFS by signature", "Anti-EGFR (cetuximab)", "HR signature-high vs low", p.pfs_hr,
             *p.pfs_hr_ci, p.pfs_p),
        _row("PFS by signature", "Chemotherapy alone", "HR signature-high vs low",
             note=NOT_REPORTED),
        _row("response multivariable", "Anti-EGFR (cetuximab)",
             "Signature vs established biomarkers", p.multivariable_ratio, *p.multivariable_ci,
             p.multivariable_p, note="reported as 'HR' in the abstract for treatment sensitivity"),
    ]
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    frame["source"] = p.citation
    return frame


# -- command line: the numbers for docs/models.md ------------------------------------------
def _fmt(v, digits=2) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _ci(e, digits=2) -> str:
    if not getattr(e, "estimable", True) or not np.isfinite(e.estimate):
        return f"not estimable ({e.reason})" if getattr(e, "reason", "") else "–"
    return f"{_fmt(e.estimate, digits)} [{_fmt(e.ci_lower, digits)}–{_fmt(e.ci_upper, digits)}]"


def _p(v) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def markdown_summary(study: AntiEgfrStudy) -> str:
    """The docs/models.md table: our numbers next to the paper's, in separate columns."""
    d, ri, pi = study.discrimination, study.response_interaction, study.pfs_interaction
    treated, control = study.pfs_by_arm
    p = PUBLISHED
    mv = study.response_multivariable
    sig = next((t for t in mv.terms if t.label == SIGNATURE_LABEL), None)
    auc = lambda a: (f"{_fmt(a.auc)} [{_fmt(a.ci_lower)}–{_fmt(a.ci_upper)}] (n = {a.n}, "
                     f"{a.responders} responders)" if a.estimable else f"not estimable ({a.reason})")
    median = lambda s: f"{_fmt(s.median_high, 1)} vs {_fmt(s.median_low, 1)} (n = {s.n})"
    rows = [
        ("AUC, anti-EGFR arm", auc(d.treated), f"{p.auc_anti_egfr_fusion:.2f} (fusion)"),
        (f"AUC, {study.control_arm.lower()} arm", auc(d.control),
         f"{p.auc_chemotherapy_fusion:.2f} (chemotherapy alone)"),
        ("AUC difference, unpaired DeLong p", f"{_fmt(d.difference)}, p {_p(d.p_value)}",
         NOT_REPORTED),
        ("Response: OR signature-high vs low, anti-EGFR arm", _ci(ri.by_arm[0]), NOT_REPORTED),
        ("Response: OR signature-high vs low, chemotherapy arm", _ci(ri.by_arm[1]), NOT_REPORTED),
        ("Response: signature × treatment interaction, LR p",
         f"ratio of ORs {_ci(ri.ratio)}, p {_p(ri.p_value)}", NOT_REPORTED),
        ("PFS: median months, signature-high vs low, anti-EGFR arm", median(treated),
         f"{p.pfs_median_high_months:.1f} vs {p.pfs_median_low_months:.1f}"),
        ("PFS: HR signature-high vs low, anti-EGFR arm",
         f"{_ci(treated.hazard_ratio)}, p {_p(treated.hazard_ratio.p_value)}",
         f"{p.pfs_hr:.2f} [{p.pfs_hr_ci[0]:.2f}–{p.pfs_hr_ci[1]:.2f}], p {p.pfs_p:.3f}"),
        ("PFS: median months, signature-high vs low, chemotherapy arm", median(control),
         NOT_REPORTED),
        ("PFS: HR signature-high vs low, chemotherapy arm",
         f"{_ci(control.hazard_ratio)}, p {_p(control.hazard_ratio.p_value)}", NOT_REPORTED),
        ("PFS: signature × treatment interaction, LR p",
         f"ratio of HRs {_ci(pi.ratio)}, p {_p(pi.p_value)}", NOT_REPORTED),
        ("Multivariable (anti-EGFR arm): signature OR next to the biomarkers",
         (f"{_ci(sig)}, p {_p(sig.p_value)} (n = {mv.n}; with "
          f"{', '.join(t.label for t in mv.terms if t is not sig) or 'no biomarker'})")
         if sig else f"not estimable ({mv.reason})",
         f"{p.multivariable_ratio:.1f} [{p.multivariable_ci[0]:.2f}–{p.multivariable_ci[1]:.2f}], "
         f"p {p.multivariable_p:.3f}"),
    ]
    lines = [f"Model `{study.model_id}`, threshold {study.threshold:.3f}; chemotherapy arm: "
             f"{study.control_arm.lower()}.", "",
             "| quantity | this cohort | paper (Liu et al. 2026) |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m crlm.analysis.anti_egfr --db PATH [--cohort demo] [--model ID]``: print the
    study's contrasts for one ``anti_egfr_benefit`` model as a markdown table."""
    from crlm import config
    from crlm.store import CohortFilter, Store, load_models

    parser = argparse.ArgumentParser(prog="python -m crlm.analysis.anti_egfr",
                                     description=main.__doc__)
    parser.add_argument("--db", default=None, help="store file (default: the configured store)")
    parser.add_argument("--cohort", default=config.DEMO_COHORT)
    parser.add_argument("--model", default=None,
                        help="model id (default: anti_egfr_benefit.fusion if trained, else the "
                             "trained anti_egfr_benefit model with the best out-of-fold AUC)")
    parser.add_argument("--chemo-arm", default="none", choices=list(CHEMO_ARMS))
    parser.add_argument("--csv", default=None, help="also write every number to this CSV file")
    args = parser.parse_args(argv)
    store = Store(args.db or str(config.db_path()), create=False)
    try:
        models = load_models(store, cohort=args.cohort, task="anti_egfr_benefit")
        trained = models[models["kind"] != "clinical"] if len(models) else models
        if trained.empty:
            print(f"no trained anti_egfr_benefit model in cohort {args.cohort!r}", file=sys.stderr)
            return 1
        model_id = args.model or default_model(trained)
        study = compute_anti_egfr_study(store, CohortFilter(cohort=args.cohort), model_id,
                                        chemo_arm=args.chemo_arm)
    finally:
        store.close()
    print(markdown_summary(study))
    if args.csv:
        study.table().to_csv(args.csv, index=False)
    return 0


def default_model(records: pd.DataFrame) -> str:
    """``anti_egfr_benefit.fusion`` when trained, else the best out-of-fold AUC."""
    ids = list(records["model_id"])
    if "anti_egfr_benefit.fusion" in ids:
        return "anti_egfr_benefit.fusion"
    auc = records["metrics"].map(lambda m: ((m or {}).get("out_of_fold") or {}).get("auc") or 0.0)
    return str(records["model_id"].iloc[int(np.argmax(auc.to_numpy(float)))])


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
