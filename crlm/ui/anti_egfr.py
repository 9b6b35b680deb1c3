"""The multi-omics anti-EGFR study's design on the selected cohort: a section of the Models
page (discrimination by arm, interaction, multivariable model) and of the Survival page (PFS
by signature within each arm). Numbers from ``crlm.analysis.anti_egfr``, cached on the
filter, the model, the threshold and the chemotherapy arm; the paper's numbers are shown
beside ours in their own table, never in our figures or CSVs."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from crlm import figures
from crlm.analysis import anti_egfr as ae
from crlm.ui import loaders, widgets

CHEMO_ARM_KEY = "shared_anti_egfr_chemo_arm"
TASK = "anti_egfr_benefit"


@st.cache_data(show_spinner="Reproducing the anti-EGFR study design…", max_entries=32)
def load_study(fkey: tuple, model_id: str, threshold: float, chemo_arm: str) -> ae.AntiEgfrStudy:
    """The study's contrasts for one model under one filter (cached on its arguments)."""
    predictions = loaders.load_predictions(
        loaders.filter_from_key(fkey), model_id=model_id,
        split=[*ae.TREATED_SPLITS, ae.COMPARISON_SPLIT], columns=ae.STUDY_COLUMNS)
    return ae.anti_egfr_study(predictions, threshold, model_id=model_id, chemo_arm=chemo_arm)


def _chemo_arm(container) -> str:
    if st.session_state.get(CHEMO_ARM_KEY) not in ae.CHEMO_ARMS:
        st.session_state[CHEMO_ARM_KEY] = "none"
    return container.radio(
        "Chemotherapy arm", list(ae.CHEMO_ARMS), key=CHEMO_ARM_KEY, horizontal=True,
        format_func=ae.chemo_arm_label,
        help="RAS wild-type patients not given anti-EGFR, scored by the final model (never in "
             "its training). The study compared chemotherapy alone.")


def _threshold_note(threshold: float, stored) -> str:
    if stored is not None and pd.notna(stored) and abs(float(stored) - threshold) < 1e-12:
        return f"signature-high when score ≥ {threshold:.3f} (the stored Youden threshold)"
    return (f"signature-high when score ≥ {threshold:.3f} (set on the Models page; stored "
            f"Youden threshold {float(stored):.3f})" if stored is not None and pd.notna(stored)
            else f"signature-high when score ≥ {threshold:.3f}")


BOTH = "Both arms"
P_ONLY = ("Interaction likelihood-ratio test", "Log-rank test")  # quantities shown as p


def _p_text(p, exact: bool = False) -> str:
    if pd.isna(p):
        return ""
    if exact:
        return f"p = {p:g}"
    return figures.format_p(p)


def _cell(row, exact_p: bool = False) -> str:
    """One number of a study or published table as text: estimate [CI], p; counts as
    events/n (%); the reason where there is no number."""
    est, p, note = row["estimate"], row["p_value"], str(row["note"] or "")
    if row["quantity"].endswith("/ patients"):
        return "–" if not row["n"] else f"{int(row['events'])}/{int(row['n'])} ({est:.0%})"
    if row["quantity"].startswith(P_ONLY):
        text = _p_text(p, exact_p)
        return text or (note if note else "–")
    if pd.isna(est):
        if note == ae.NOT_REPORTED:
            return note
        return f"not estimable ({note})" if note else "–"
    text = figures.format_estimate(est, row["ci_lower"], row["ci_upper"])
    return f"{text}, {_p_text(p, exact_p)}" if pd.notna(p) else text


def _by_arm(table: pd.DataFrame, sections: tuple[str, ...], exact_p: bool = False) -> pd.DataFrame:
    """Rows of ``sections`` as quantity × arm (arms in order of appearance, then both)."""
    part = pd.concat([table[table["section"] == section] for section in sections])
    arms = [a for a in dict.fromkeys(part["arm"]) if a != "both"]
    out: dict[tuple[str, str], dict[str, str]] = {}
    for _, row in part.iterrows():
        arm = BOTH if row["arm"] == "both" else row["arm"]
        out.setdefault((row["section"], row["quantity"]), {})[arm] = _cell(row, exact_p)
    seen: dict[str, dict[str, str]] = {}
    for key in list(out):  # the same quantity with the same numbers in two sections: once
        if seen.get(key[1]) == out[key]:
            del out[key]
        else:
            seen.setdefault(key[1], out[key])
    names = pd.Series([q for _, q in out], dtype=object).value_counts()
    columns = arms + ([BOTH] if (part["arm"] == "both").any() else [])
    return pd.DataFrame([{"Quantity": q if names[q] == 1 else f"{q} ({section})",
                          **{c: v.get(c, "") for c in columns}}
                         for (section, q), v in out.items()], columns=["Quantity", *columns])


def _paper_box(sections: tuple[str, ...], key: str) -> None:
    st.markdown("**The paper's numbers** (Liu et al. 2026, abstract; not computed here)")
    paper = ae.published_table()
    st.dataframe(_by_arm(paper, sections, exact_p=True), hide_index=True, width="stretch")
    notes = paper[paper["section"].isin(sections) & (paper["note"] != "")
                  & (paper["note"] != ae.NOT_REPORTED)]
    for quantity, note in zip(notes["quantity"], notes["note"]):
        st.caption(f"{quantity}: {note}.")
    st.download_button("Paper's numbers (CSV)", data=lambda: figures.figure_data_csv(paper),
                       file_name="liu_2026_published_numbers.csv", mime="text/csv",
                       key=f"{key}_paper_csv", on_click="ignore")


def _ours(table: pd.DataFrame, sections: tuple[str, ...]) -> None:
    st.markdown("**This cohort**")
    st.dataframe(_by_arm(table, sections), hide_index=True, width="stretch")


def _study_or_none(filt, model_id: str, threshold: float, chemo_arm: str):
    try:
        return load_study(loaders.filter_key(filt), model_id, float(threshold), chemo_arm)
    except ValueError as exc:
        widgets.show_error(f"The anti-EGFR study design cannot be computed: {exc}")
        return None


def _no_control_note(study: ae.AntiEgfrStudy) -> None:
    if study.n_control == 0:
        st.info(f"No {study.control_arm_phrase} patients scored by this model under this "
                "filter: the model was trained before comparison scoring existed, or the "
                "filter leaves none. Retrain with `python -m crlm train --task anti_egfr_benefit` "
                "(or widen the filter) to see the chemotherapy arm.")


def _open_section(heading: str, filt, model_id: str, threshold: float,
                  caption) -> ae.AntiEgfrStudy | None:
    """A section's heading, chemotherapy-arm choice, study and ``caption(study)``; ``None``
    (after the error message) when the study cannot be computed."""
    st.subheader(heading)
    study = _study_or_none(filt, model_id, threshold, _chemo_arm(st))
    if study is not None:
        st.caption(caption(study))
        _no_control_note(study)
    return study


def _chart(fig, key: str, name: str, rows, n: int) -> None:
    """A study figure at full width with its export buttons (figure and numbers)."""
    st.plotly_chart(fig, width="stretch", theme=None, key=key,
                    config=figures.plotly_config(name))
    widgets.export_buttons(fig, rows, name, n=n)


def _csv_button(label: str, table: pd.DataFrame, file_name: str, key: str) -> None:
    """Every number of a section as one CSV, built when clicked."""
    st.download_button(label, data=lambda: figures.figure_data_csv(table), file_name=file_name,
                       mime="text/csv", key=key, on_click="ignore")


def models_section(filt, model_id: str, model_name: str, threshold: float, stored) -> None:
    """Models page: benefit, not prognosis — AUC by arm, interaction, multivariable model."""
    study = _open_section(
        "Benefit, not prognosis: the multi-omics study's design on this cohort",
        filt, model_id, threshold,
        lambda study: f"{model_name}: RAS wild-type patients; anti-EGFR arm = out-of-fold and "
                      f"external predictions of anti-EGFR patients (n = {study.n_treated:,}); "
                      f"{study.control_arm_phrase} arm = the final model's scores of patients "
                      f"never in training (n = {study.n_control:,}); "
                      f"{_threshold_note(threshold, stored)}.")
    if study is None:
        return
    chemo_arm = study.chemo_arm
    table = study.table()
    name = figures.safe_filename("anti_egfr_study", model_id, chemo_arm)
    left, right = st.columns([3, 2])
    with left:
        d = study.discrimination
        curves = {a.arm + " arm": a.roc for a in (d.treated, d.control) if a.roc is not None}
        if curves:
            fig = figures.make_roc_figure(curves, title=f"{model_name}: response by arm")
            _chart(fig, "anti_egfr_roc", f"{name}_roc", ae.roc_table(study),
                   d.treated.n + d.control.n)
        else:
            st.info("No arm has both responders and non-responders under this filter.")
    with right:
        for a in (d.treated, d.control):
            st.metric(f"AUC, {a.arm} arm (this cohort)",
                      f"{a.auc:.2f}" if a.estimable else "–",
                      help=f"n = {a.n:,}, {a.responders:,} responders"
                           + (f"; {a.reason}" if a.reason else ""))
        st.metric("Response interaction p (this cohort)",
                  _p_text(study.response_interaction.p_value).removeprefix("p ") or "–",
                  help="likelihood-ratio test of the signature × treatment term")
    _ours(table, ("discrimination",))
    _paper_box(("discrimination", "response interaction", "response multivariable"),
               "anti_egfr_models")

    st.markdown("**Signature × treatment interaction** — signature-high vs low within each "
                "arm; a predictive signature helps under anti-EGFR only.")
    rows = ae.effect_forest_rows(study)
    fig = figures.make_forest_figure(rows, x_label="Odds ratio (response) / hazard ratio (PFS), "
                                                   "signature-high vs low",
                                     estimate_header="OR / HR (95% CI)",
                                     title=f"{model_name}: signature effect by arm")
    _chart(fig, "anti_egfr_interaction", f"{name}_interaction", rows,
           study.n_treated + study.n_control)
    _ours(table, ("response interaction", "PFS interaction"))

    st.markdown("**The signature next to the established biomarkers** (anti-EGFR arm; "
                "multivariable logistic for response, Cox for PFS)")
    rows = ae.multivariable_forest_rows(study)
    fig = figures.make_forest_figure(rows, x_label="Odds ratio (response) / hazard ratio (PFS)",
                                     estimate_header="OR / HR (95% CI)",
                                     title=f"{model_name} and established biomarkers")
    _chart(fig, "anti_egfr_multivariable", f"{name}_multivariable", rows, study.n_treated)
    fitted = "; ".join(
        f"{mv.outcome} model on {mv.n:,} of {mv.n + mv.n_unknown:,} anti-EGFR patients "
        f"({mv.events:,} {'responders' if mv.outcome == ae.RESPONSE else 'events'})"
        + (f" — {mv.reason}" if mv.reason else "")
        for mv in (study.response_multivariable, study.pfs_multivariable))
    left_out = ae.excluded_biomarkers(study)
    st.caption(f"Complete cases: {fitted}; the others have an entered biomarker unknown."
               + (f" Not entered — {left_out}." if left_out else ""))
    _csv_button("All numbers of this section (CSV)", table, f"{name}.csv",
                "anti_egfr_models_csv")
    st.caption("AUC with DeLong 95% CI, arms compared by pROC's unpaired DeLong test; ratios "
               "with Wald 95% CIs; interaction p: likelihood-ratio test of the signature × "
               "treatment term (logistic for response, Cox with Efron ties for PFS). A "
               "biomarker enters the multivariable model only where it varies (≥ 5 patients "
               "per level, both outcomes present); complete cases. PFS curves by arm are on "
               "the Survival page.")


def survival_section(filt, model_id: str, model_name: str, threshold: float, stored) -> None:
    """Survival page: PFS by signature group within the anti-EGFR and the chemotherapy arm."""
    study = _open_section(
        "PFS by signature within each arm (the multi-omics study's design)",
        filt, model_id, threshold,
        lambda study: f"{model_name}, RAS wild-type patients; "
                      f"{_threshold_note(threshold, stored)}; the same threshold in both arms.")
    if study is None:
        return
    chemo_arm = study.chemo_arm
    panels = {s.arm: (s.curves or None) for s in study.pfs_by_arm}
    p = {s.arm: s.logrank_p for s in study.pfs_by_arm}
    fig = figures.make_km_grid_figure(panels, cols=2, title=f"PFS by signature: {model_name}",
                                      logrank_p=p, show_ci=False)
    name = figures.safe_filename("anti_egfr_pfs", model_id, chemo_arm)
    _chart(fig, "anti_egfr_km", name, ae.km_table(study), sum(s.n for s in study.pfs_by_arm))
    table = study.table()
    _ours(table, ("PFS by signature", "PFS interaction"))
    _paper_box(("PFS by signature",), "anti_egfr_survival")
    _csv_button("All numbers of the study design (CSV)", table, f"{name}_numbers.csv",
                "anti_egfr_survival_csv")
    st.caption("Kaplan–Meier medians with 95% CIs (log-log); hazard ratios from a Cox model "
               "within each arm (Efron ties); interaction p: likelihood-ratio test of the "
               "signature × treatment term.")
