"""The study's numbers as tables: the long CSV of every number, forest-plot rows, the
ROC and Kaplan–Meier curves for export. Computed numbers only; the paper's are in
``published``."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .results import (
    ANTI_EGFR_ARM, RESPONSE, SIGNATURE_LABEL, AntiEgfrStudy, Effect, _missing_effect,
)

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
        rows.append(_row(section, "both", f"Interaction likelihood-ratio test ({inter.outcome})",
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


FOREST_COLUMNS = ["variable", "level", "n", "events", "estimate", "ci_lower", "ci_upper",
                  "estimable", "reason", "interaction_p_value"]


def _forest_row(variable: str, level: str, e: Effect, p: float = float("nan")) -> dict:
    return dict(variable=variable, level=level, n=e.n, events=e.events, estimate=e.estimate,
                ci_lower=e.ci_lower, ci_upper=e.ci_upper, estimable=e.estimable,
                reason=e.reason, interaction_p_value=p)


def effect_forest_rows(study: AntiEgfrStudy) -> pd.DataFrame:
    """Signature-high vs low within each arm (response OR, PFS HR), with the interaction
    p-value per outcome: the rows of a forest plot (``crlm.figures.make_forest_figure``)."""
    rows = []
    for inter, name in ((study.response_interaction, "Response: odds ratio"),
                        (study.pfs_interaction, "PFS: hazard ratio")):
        for e in inter.by_arm:
            rows.append(_forest_row(name, e.label, e, inter.p_value))
    return pd.DataFrame(rows, columns=FOREST_COLUMNS)


def multivariable_forest_rows(study: AntiEgfrStudy) -> pd.DataFrame:
    """The multivariable models' terms (the biomarkers left out are in
    :func:`excluded_biomarkers` and in the study table, not in the plot)."""
    rows = []
    for mv, name in ((study.response_multivariable, "Response: odds ratio"),
                     (study.pfs_multivariable, "PFS: hazard ratio")):
        variable = f"{name} (n = {mv.n})"
        if not mv.terms:
            rows.append(_forest_row(variable, SIGNATURE_LABEL,
                                    _missing_effect(SIGNATURE_LABEL, mv.n, mv.events, mv.reason)))
        for e in mv.terms:
            rows.append(_forest_row(variable, e.label, e if mv.estimable else
                                    _missing_effect(e.label, e.n, e.events, mv.reason)))
    return pd.DataFrame(rows, columns=FOREST_COLUMNS)


def excluded_biomarkers(study: AntiEgfrStudy) -> str:
    """The biomarkers left out of the multivariable models, with the reasons, in one sentence."""
    parts = []
    for mv in (study.response_multivariable, study.pfs_multivariable):
        if mv.excluded:
            parts.append(f"{mv.outcome}: " + "; ".join(f"{x.label} ({x.reason})"
                                                        for x in mv.excluded))
    return ". ".join(parts)


def roc_table(study: AntiEgfrStudy) -> pd.DataFrame:
    """The two arms' ROC curves (arm, fpr, tpr, threshold) for CSV export."""
    parts = [pd.DataFrame({"arm": a.arm, "fpr": a.roc.fpr, "tpr": a.roc.tpr,
                           "threshold": a.roc.thresholds})
             for a in (study.discrimination.treated, study.discrimination.control) if a.roc]
    return pd.concat(parts, ignore_index=True) if parts else \
        pd.DataFrame(columns=["arm", "fpr", "tpr", "threshold"])


def km_table(study: AntiEgfrStudy) -> pd.DataFrame:
    """The Kaplan–Meier curves by signature group within each arm, for CSV export."""
    parts = []
    for s in study.pfs_by_arm:
        for group, km in s.curves.items():
            parts.append(pd.DataFrame({
                "arm": s.arm, "signature": group, "months": km.timeline, "survival": km.survival,
                "ci_lower": km.ci_lower, "ci_upper": km.ci_upper, "at_risk": km.at_risk,
                "events": km.events, "censored": km.censored}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["arm", "signature", "months", "survival", "ci_lower", "ci_upper", "at_risk",
                 "events", "censored"])
