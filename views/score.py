"""Score a case: enter a case (form, table of cases or CT series), see every current
model's score beside the clinical scores, where the case falls in the cohort, the
patients most like it and why the chosen model scored it so; save it, reopen it,
download a one-page report."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from crlm import cases, figures, store, ui
from crlm.auth import PermissionDenied, check_permission
from crlm.cases import results
from crlm.cases.report import case_report
from crlm.ingest import dicom
from crlm.models import ModelError, absolute, score_cases
from crlm.reports import build_case_report, figure_png
from crlm.ui import case_form
from crlm.ui.case_trajectory import case_trajectory_section
from crlm.ui.score_inputs import RESULT, batch_input, ct_input
from crlm.ui.score_results import Extras, show_scores, show_survival, where_it_falls

MODES = ("Form", "Table of cases (CSV / Excel)", "CT series (DICOM .zip) + form")


# -- cached helpers ---------------------------------------------------------------------
@st.cache_resource(show_spinner="Loading the models…", max_entries=4)
def _warm_models(path: str, cohort: str, versions: tuple, _store, _registry: pd.DataFrame
                 ) -> bool:
    """Load every current model of the cohort (``versions``: its registry's model ids and
    versions, on the store at ``path``) and calibrate its answers once per process
    (score_cases and crlm.models.absolute keep them), so that the first Score click does
    not pay for it; best effort."""
    try:
        score_cases(cases.case_from_form({}), store=_store, cohort=cohort, explain=False)
        absolute.load_bases(_store, cohort, _registry)
    except (ModelError, ValueError, OSError):  # the scoring call reports them with its message
        return False
    return True


def _score(frame: pd.DataFrame, cohort: str, features: pd.DataFrame | None = None,
           crops: dict | None = None) -> pd.DataFrame:
    return score_cases(frame, store=ui.get_store(), cohort=cohort, features=features,
                       crops=crops).table


def _bases(cohort: str, registry: pd.DataFrame) -> dict:
    """Calibrations of the cohort's models (computed once per model version and cohort
    content by ``crlm.models.absolute``)."""
    return absolute.load_bases(ui.get_store(), cohort, registry) if len(registry) else {}


def _report_bytes(case: pd.DataFrame, scores: pd.DataFrame, board: pd.DataFrame,
                  extras: Extras, *, cohort_text: str, label: str, summary: str,
                  user_name: str) -> bytes:
    caption = f"{cohort_text}; {dt.date.today().isoformat()}"
    pngs = {name: figure_png(fig, caption=caption) for name, fig in extras.figures.items()}
    return build_case_report(case_report(
        case, scores, board, cohort_text=cohort_text, summary=summary, figures=pngs,
        label=label, user=user_name, chosen_model=extras.model_id,
        case_group=extras.case_group, cluster=extras.cluster, leaves=extras.leaves,
        model_labels=labels))


# -- page ---------------------------------------------------------------------------------
user = ui.require_role("score")
filt = ui.current_filter()
cohort_name = filt.cohort
ui.page_header("Score a case", "Enter today's case; see what each model and the clinical scores "
               "say and where the case falls in the selected cohort. Nothing is stored unless "
               "you press Save case.")
st.caption(cases.RESEARCH_NOTICE)
registry = ui.load_models(cohort_name)
if registry.empty:
    st.info(f"Cohort {cohort_name!r} has no trained models yet: train them with "
            "`python -m crlm train` (or on the Admin page).")
else:
    _warm_models(ui.store_path(), cohort_name, results.model_versions(registry),
                 ui.get_store(), registry)
thresholds = results.model_thresholds(registry, ui.get_threshold)
labels = results.model_labels(registry)

if "score_pending_mode" in st.session_state:
    st.session_state["score_mode"] = st.session_state.pop("score_pending_mode")
mode = st.radio("Input", MODES, key="score_mode", horizontal=True)

# -- input: table of cases or CT series -------------------------------------------------------
if mode == MODES[1]:
    batch_input(lambda frame: _score(frame, cohort_name))
ct = ct_input(cohort_name) if mode == MODES[2] else None

# -- input: form (form mode and CT mode) ---------------------------------------------------
if mode in (MODES[0], MODES[2]):
    st.subheader("Clinical entries")
    values = case_form.case_form()
    try:
        live = cases.case_from_form(values)
        case_form.clinical_scores_row(cases.clinical_summary(live))
    except cases.CaseInputError as exc:
        live = None
        ui.show_error(str(exc))
    b1, b2, _ = st.columns([1, 1, 2])
    run = b1.button("Score case", type="primary", key="score_run")
    if b2.button("Clear the form", key="score_clear"):
        case_form.clear_form()
        st.session_state.pop(RESULT, None)
        st.rerun()
    if run and live is not None:
        try:
            image = None
            if mode == MODES[2]:
                if not ct:
                    raise ValueError("upload a CT series and mark the lesion before scoring")
                known = store.load_feature_names(ui.get_store(), cohort_name)
                image = results.ct_inputs(ct["ct"], ct.get("mask"), ct.get("region"),
                                          list(known["feature"]) if len(known) else [])
            scores = _score(case_form.with_own_variables(live), cohort_name,
                            image.features if image else None, image.crops if image else None)
            st.session_state[RESULT] = {
                "source": "ct" if image else "form", "cases": live, "scores": scores,
                "image_metadata": image.image_metadata if image else None,
                "notes": [image.note] if image else [], "entries": values}
        except (ValueError, dicom.DicomError) as exc:
            ui.show_error(str(exc))

# -- results ----------------------------------------------------------------------------------
result = st.session_state.get(RESULT)
if result and (result["source"] == "batch") != (mode == MODES[1]):
    result = None

if result:
    scores_all = result["scores"]
    frame = result["cases"]
    if result["source"] == "batch":
        table_all = cases.scores_table(scores_all, thresholds, labels)
        st.subheader(f"Scores of {len(frame)} cases")
        st.dataframe(cases.batch_summary(table_all), hide_index=True, width="stretch",
                     key="score_batch_summary")
        st.download_button("Download all scores (CSV)", data=cases.csv_bytes(table_all),
                           file_name="crlm_case_scores.csv", mime="text/csv",
                           key="score_batch_csv", on_click="ignore")
        chosen = st.selectbox("Show one case in detail", list(frame["patient_id"]),
                              key="score_batch_row")
        case = frame[frame["patient_id"] == chosen].reset_index(drop=True)
        scores = scores_all[scores_all["patient_id"] == chosen].reset_index(drop=True)
    else:
        case, scores = frame, scores_all
        current = {n: st.session_state.get(case_form.key_of(n)) for n in cases.ENTRY_NAMES}
        if results.entries_changed(current, result.get("entries")):
            st.warning("The entries changed since the case was scored: press Score case "
                       "to score them.")
    for note in result.get("notes") or []:
        st.caption(note)
    if result.get("saved"):
        saved = result["saved"]
        with st.expander(f"Scores as saved with case {saved['case_id']} "
                         f"({saved['created_at']:%Y-%m-%d %H:%M}, {saved['created_by']})"):
            st.dataframe(cases.saved_scores_table(saved), hide_index=True, width="stretch",
                         key="score_saved_table")
    bases = _bases(cohort_name, registry)
    shown = show_scores(scores, registry=registry, bases=bases, thresholds=thresholds,
                        labels=labels, imaging=result["source"] == "ct")
    summary = cases.summary_line(shown.board, absolute.headline_models(registry, bases),
                                 cases.missing_entries(case))
    st.info(f"In one line: {summary}")
    show_survival(shown.predictions, bases=bases, labels=labels, coverage=shown.coverage)
    extras = where_it_falls(case, scores, shown.table, filt=filt, registry=registry,
                            thresholds=thresholds, labels=labels)

    st.subheader("Save and report")
    label = st.text_input("Case label (optional; no names, numbers or dates)", key="score_label",
                          max_chars=cases.MAX_LABEL_CHARS)
    s1, s2, _ = st.columns([1, 1, 3])
    if ui.user_can("save_case"):
        if s1.button("Save case", key="score_save", type="primary"):
            try:
                check_permission(user, "save_case")
                clean = cases.screen_label(label)
                record = cases.case_record(case, scores, cohort=cohort_name, thresholds=thresholds,
                                           image_metadata=result.get("image_metadata"),
                                           answers=shown.board, summary=summary)
                case_id = store.save_case(ui.get_store(), actor=user.name,
                                          inputs=record["inputs"], scores=record["scores"],
                                          label=clean, cohort=cohort_name,
                                          image_metadata=record["image_metadata"])
                st.session_state["score_saved_message"] = f"Saved as case {case_id}."
            except (ValueError, PermissionDenied) as exc:
                ui.show_error(f"Not saved: {exc}")
    else:
        s1.caption("Your role may not save cases.")
    s2.download_button(
        "Download report (PDF)",
        data=lambda: _report_bytes(case, scores, shown.board, extras,
                                   cohort_text=filt.describe(), label=label or "",
                                   summary=summary, user_name=user.name),
        file_name=figures.safe_filename("case_report", cohort_name,
                                        dt.date.today().isoformat()) + ".pdf",
        mime="application/pdf", key="score_report", on_click="ignore")

case_trajectory_section(filt)

# -- saved cases ------------------------------------------------------------------------------
st.divider()
st.subheader("Saved cases")
if st.session_state.get("score_saved_message"):
    st.success(st.session_state.pop("score_saved_message"))
saved_cases = store.load_cases(ui.get_store())
if saved_cases.empty:
    st.caption("No saved case yet.")
else:
    st.dataframe(saved_cases, hide_index=True, width="stretch", key="score_saved_cases")
    st.download_button("Download saved cases (CSV)", data=cases.csv_bytes(saved_cases),
                       file_name="crlm_saved_cases.csv", mime="text/csv",
                       key="score_saved_cases_csv", on_click="ignore")
    c1, c2, c3 = st.columns([2, 1, 1])
    chosen = c1.selectbox("Case", list(saved_cases["case_id"]), key="score_saved_choice",
                          format_func=lambda i: f"{i}: " + str(
                              saved_cases.set_index("case_id").at[i, "label"] or "(no label)"))
    if c2.button("Reopen", key="score_reopen"):
        record = store.load_case(ui.get_store(), int(chosen))
        if record is None:
            ui.show_error(f"Case {chosen} no longer exists.")
        else:
            values = cases.form_values(record.get("inputs") or {})
            case_form.request_fill(values)
            frame = cases.case_from_form(values)
            st.session_state["score_pending_mode"] = MODES[0]
            st.session_state[RESULT] = {"source": "form", "cases": frame,
                                        "scores": _score(frame, cohort_name), "saved": record,
                                        "entries": values,
                                        "image_metadata": record.get("image_metadata")}
            st.rerun()
    if ui.user_can("save_case") and c3.button("Delete", key="score_delete"):
        try:
            check_permission(user, "save_case")
            if store.delete_case(ui.get_store(), int(chosen), actor=user.name):
                st.session_state["score_saved_message"] = f"Deleted case {chosen}."
            st.rerun()
        except PermissionDenied as exc:
            ui.show_error(str(exc))
