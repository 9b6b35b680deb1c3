"""The study design's computations: arms, discrimination, interaction, PFS by
signature, multivariable model (see the package doc)."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd

from crlm import stats

from .results import (
    ANTI_EGFR_ARM, BIOMARKERS, CHEMO_ARMS, COMPARISON_SPLIT, MIN_EVENTS, MIN_LEVEL, PFS, RESPONSE,
    SIGNATURE_HIGH, SIGNATURE_LABEL, SIGNATURE_LOW, SIGNATURE_TERM, STUDY_COLUMNS, TREATED_BIOLOGIC,
    TREATED_SPLITS, AntiEgfrStudy, ArmAUC, ArmSurvival, AUCContrast, Biomarker, Cell, Effect,
    ExcludedTerm, Interaction, Multivariable, _check_chemo_arm, _missing_effect, chemo_arm_label,
)


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
    if n == 0:
        return _missing_effect(label, 0, 0, "no patients")
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
    if n == 0:
        return _missing_effect(label, 0, 0, "no patients")
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
def arm_survival(arm: str, time, event, high, hazard_ratio: Effect | None = None) -> ArmSurvival:
    """Kaplan–Meier curves, medians, log-rank p and Cox HR of signature-high vs low within
    one arm; ``hazard_ratio``: that HR when already fitted on the same patients."""
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
    label = f"{arm}: {SIGNATURE_HIGH} vs low"
    if hazard_ratio is not None:
        hr = replace(hazard_ratio, label=label)
    else:
        hr = _cox_effect(label, t, e, h) if n else _missing_effect(label, 0, 0, reason)
    return ArmSurvival(arm, n, d, curves,
                       hi.median if hi else nan, tuple(hi.median_ci) if hi else (nan, nan),
                       lo.median if lo else nan, tuple(lo.median_ci) if lo else (nan, nan),
                       hr, float(logrank_p), reason or hr.reason)


def pfs_by_arm(arms: pd.DataFrame, threshold: float,
               interaction: Interaction | None = None) -> tuple[ArmSurvival, ArmSurvival]:
    """PFS by signature within each arm; the per-arm hazard ratios are taken from
    ``interaction`` (:func:`pfs_interaction` of the same arms) when given."""
    data = _pfs_rows(arms)
    out = []
    for k, (value, name) in enumerate(zip((1, 0), _arm_names(arms))):
        part = data[data["treated"] == value]
        out.append(arm_survival(name, part["pfs_months"], part["pfs_event"].astype(bool),
                                _signature_high(part["score"], threshold),
                                interaction.by_arm[k] if interaction is not None else None))
    return tuple(out)


# -- multivariable ---------------------------------------------------------------------
def _marker_problem(x: np.ndarray, events: np.ndarray, outcome: str, min_level: int,
                    levels: tuple[str, str] = ("positive", "negative")) -> str:
    """Why a 0/1 covariate cannot enter the model ('' when it can)."""
    known = ~np.isnan(x)
    counts = [int(((x == v) & known).sum()) for v in (1.0, 0.0)]
    if counts[0] == 0 or counts[1] == 0:
        return "does not vary in these patients" if known.any() else "unknown in every patient"
    if min(counts) < min_level:
        return f"only {min(counts)} patient(s) in one level (fewer than {min_level})"
    for v, name in zip((1.0, 0.0), levels):
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
    sig_problem = _marker_problem(high[rows], events_all[rows], outcome, 1,
                                  ("signature-high", "signature-low"))
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
    pfs = pfs_interaction(arms, threshold)
    return AntiEgfrStudy(
        model_id=model_id or (str(predictions["model_id"].iloc[0])
                              if "model_id" in predictions and len(predictions) else ""),
        threshold=threshold, chemo_arm=chemo_arm,
        n_treated=int(len(treated)), n_control=int(len(control)),
        discrimination=contrast,
        response_interaction=response_interaction(arms, threshold),
        pfs_interaction=pfs,
        pfs_by_arm=pfs_by_arm(arms, threshold, pfs),
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
