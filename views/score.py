"""Score a case: enter a case (form, table of cases or CT series), see every current
model's score beside the clinical scores, where the case falls in the cohort, the
patients most like it and why the chosen model scored it so; save it, reopen it,
download a one-page report."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import streamlit as st

from crlm import cases, config, figures, stats, store, ui
from crlm.auth import PermissionDenied, check_permission
from crlm.ingest import dicom
from crlm.models import absolute, score_cases
from crlm.models.similar import SimilarityIndex, similar_patients
from crlm.reports import CaseReport, build_case_report, figure_png
from crlm.ui import case_form, lesions

COVERAGES = (0.80, 0.90, 0.95)
MODES = ("Form", "Table of cases (CSV / Excel)", "CT series (DICOM .zip) + form")
RESULT = "score_result"
CT_STATE = "score_ct"
BATCH_STATE = "score_batch"
SCORE_COLUMNS_SHOWN = ["model", "version", "kind", "shown_score", "threshold",
                       "predicted_class", "percentile", "flags"]
BOARD_COLUMNS_SHOWN = ["model", "answer", "interval", "calibration"]
SCORE_COLUMN_CONFIG = {
    "shown_score": st.column_config.NumberColumn("raw score", format="%.3f"),
    "threshold": st.column_config.NumberColumn("threshold", format="%.3f"),
    "percentile": st.column_config.NumberColumn("cohort percentile", format="%.0f"),
    "predicted_class": "predicted class",
}


# -- cached helpers ---------------------------------------------------------------------
@st.cache_resource(show_spinner=False, max_entries=8)
def _similarity_index(path: str, key: tuple) -> tuple[SimilarityIndex, pd.DataFrame]:
    cohort = ui.load_cohort(ui.filter_from_key(key))
    return SimilarityIndex.build(cohort), cohort


@st.cache_resource(show_spinner="Loading the models…", max_entries=4)
def _warm_models(path: str, cohort: str, versions: tuple) -> bool:
    """Load every current model of the cohort and calibrate its answers once per process
    (score_cases and crlm.models.absolute keep them), so that the first Score click does
    not pay for it; best effort."""
    try:
        score_cases(cases.case_from_form({}), store=ui.get_store(), cohort=cohort, explain=False)
        absolute.load_bases(ui.get_store(), cohort, store.load_models(ui.get_store(),
                                                                      cohort=cohort))
    except Exception:  # the real scoring call reports any problem with its message
        return False
    return True


def _score(frame: pd.DataFrame, cohort: str, features: pd.DataFrame | None = None,
           crops: dict | None = None) -> pd.DataFrame:
    return score_cases(frame, store=ui.get_store(), cohort=cohort, features=features,
                       crops=crops)


def _bases(cohort: str, registry: pd.DataFrame) -> dict:
    """Calibrations of the cohort's models (computed once per model version and cohort
    content by ``crlm.models.absolute``)."""
    return absolute.load_bases(ui.get_store(), cohort, registry) if len(registry) else {}


def _thresholds(registry: pd.DataFrame) -> dict[str, float | None]:
    out = {}
    for rec in registry.to_dict("records"):
        stored = rec.get("threshold")
        stored = None if stored is None or pd.isna(stored) else float(stored)
        out[rec["model_id"]] = ui.get_threshold(rec["model_id"], stored)
    return out


def _labels(registry: pd.DataFrame) -> dict[str, str]:
    return dict(zip(registry["model_id"], registry["name"])) if len(registry) else {}


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
    _warm_models(ui.store_path(), cohort_name,
                 tuple(zip(registry["model_id"], registry["version"].astype(int))))
thresholds = _thresholds(registry)
labels = _labels(registry)

if "score_pending_mode" in st.session_state:
    st.session_state["score_mode"] = st.session_state.pop("score_pending_mode")
mode = st.radio("Input", MODES, key="score_mode", horizontal=True)

# -- input: table of cases --------------------------------------------------------------
if mode == MODES[1]:
    st.download_button("Download the template (CSV)", data=cases.batch_template(),
                       file_name="crlm_cases_template.csv", mime="text/csv",
                       key="score_template", on_click="ignore")
    st.caption("One case per row, with the patients table's column names; leave a cell empty "
               "when unknown. Ids, names and dates are not read: cases are named by their row.")
    upload = st.file_uploader("Cases (CSV, TSV or Excel .xlsx)", key="score_batch_upload")
    if upload is None:
        st.session_state.pop(BATCH_STATE, None)
    elif st.session_state.get(BATCH_STATE, {}).get("file_id") != upload.file_id:
        state = {"file_id": upload.file_id, "name": upload.name}
        try:
            batch = cases.read_batch(upload.getvalue(), upload.name)
            state["batch"] = batch
            if len(batch.cases):
                scores = _score(batch.cases, cohort_name)
                st.session_state[RESULT] = {"source": "batch", "cases": batch.cases,
                                            "scores": scores, "name": upload.name}
        except (cases.CaseInputError, ValueError) as exc:
            state["error"] = str(exc)
            st.session_state.pop(RESULT, None)
        st.session_state[BATCH_STATE] = state
    state = st.session_state.get(BATCH_STATE)
    if state:
        if state.get("error"):
            ui.show_error(f"{state['name']}: {state['error']}")
        else:
            batch = state["batch"]
            for note in batch.notes:
                st.caption(note)
            n_bad = len(batch.bad_rows)
            if n_bad:
                st.warning(f"{n_bad} of {batch.n_rows} rows have problems and were not scored; "
                           f"the {len(batch.cases)} good rows were scored.")
                st.dataframe(batch.problems, hide_index=True, width="stretch",
                             key="score_batch_problems")
                st.download_button("Download the problems (CSV)", data=cases.csv_bytes(batch.problems),
                                   file_name="crlm_cases_problems.csv", mime="text/csv",
                                   key="score_batch_problems_csv", on_click="ignore")
            else:
                st.success(f"All {batch.n_rows} rows were read and scored.")
            if not len(batch.cases):
                ui.show_error("No row could be scored: correct the problems listed and upload "
                              "the file again.")

# -- input: CT series + form --------------------------------------------------------------
ct = None
if mode == MODES[2]:
    upload = st.file_uploader("CT series: a .zip of DICOM files (with a DICOM SEG of the lesion, "
                              "or mark the lesion below), or one .dcm file", key="score_ct_upload")
    if upload is None:
        st.session_state.pop(CT_STATE, None)
    elif st.session_state.get(CT_STATE, {}).get("file_id") != upload.file_id:
        state = {"file_id": upload.file_id, "name": upload.name}
        try:
            state["ct"] = cases.read_ct_upload(upload.getvalue(), upload.name)
        except (dicom.DicomError, ValueError) as exc:
            state["error"] = str(exc)
        st.session_state[CT_STATE] = state
        st.session_state.pop(RESULT, None)
    ct = st.session_state.get(CT_STATE)
    if ct and ct.get("error"):
        ui.show_error(ct["error"])
        ct = None
    elif ct:
        upload_ct = ct["ct"]
        volume, meta = upload_ct.volume, upload_ct.meta
        st.caption(f"Read {meta['n_slices']} slices of {meta['rows']} × {meta['columns']} pixels "
                   f"({meta['pixel_spacing_mm'][0]:.2f} mm pixels, "
                   f"{meta['spacing_mm'][0]:.1f} mm apart); de-identified on arrival.")
        left, right = st.columns([1, 1])
        with left:
            if upload_ct.seg_mask is not None:
                mask = upload_ct.seg_mask
                k = int(np.argmax(mask.sum(axis=(1, 2))))
                st.success("Lesion region from the DICOM SEG in the upload.")
                fig = figures.make_ct_slice_figure(volume[k], None, mask=mask[k],
                                           title=f"Slice {k} with the SEG lesion")
                ct["mask"] = mask
                ct["region"] = {"source": "DICOM SEG", "slice_index": k}
            else:
                st.info("No DICOM SEG in the upload: mark the lesion on a slice.")
                region = case_form.ct_region_picker(volume)
                try:
                    ct["mask"] = dicom.region_mask(volume.shape, region["slice_index"],
                                                   centre_yx=region["centre_yx"],
                                                   radius_px=region["radius_px"])
                    ct["region"] = {"source": "drawn", **region}
                except ValueError as exc:
                    ui.show_error(f"Lesion region: {exc}")
                    ct["mask"] = None
                fig = figures.make_ct_slice_figure(volume[region["slice_index"]], region,
                                           title=f"Slice {region['slice_index']}")
        with right:
            st.plotly_chart(fig, width="stretch", key="score_ct_slice_fig",
                            config=figures.plotly_config("ct_slice"))
        lesions.lesion_attention_section(cohort_name, volume, meta, ct.get("mask"))

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
        features = None
        crops = None
        image_meta = None
        notes = []
        try:
            if mode == MODES[2]:
                if not ct or ct.get("mask") is None:
                    raise ValueError("upload a CT series and mark the lesion before scoring")
                upload_ct = ct["ct"]
                feats, crop = cases.lesion_inputs(upload_ct, ct["mask"])
                crops = {"case-1": crop}
                known = store.load_feature_names(ui.get_store(), cohort_name)
                known = list(known["feature"]) if len(known) else []
                features = cases.lesion_feature_frame("case-1", feats, known)
                used = [c for c in features.columns if c != "patient_id"]
                notes.append("Lesion features used by the tabular models: "
                             + (", ".join(used) if used else "none (no matching feature names)"))
                image_meta = upload_ct.image_metadata(ct.get("region"), feats)
            scores = _score(case_form.with_own_variables(live), cohort_name, features, crops)
            st.session_state[RESULT] = {"source": "ct" if features is not None else "form",
                                        "cases": live, "scores": scores,
                                        "image_metadata": image_meta, "notes": notes,
                                        "entries": values}
        except (ValueError, dicom.DicomError) as exc:
            ui.show_error(str(exc))

# -- results ----------------------------------------------------------------------------------
result = st.session_state.get(RESULT)
if result and mode != MODES[1] and result["source"] == "batch":
    result = None
if result and mode == MODES[1] and result["source"] != "batch":
    result = None


def _show_scores(case: pd.DataFrame, scores: pd.DataFrame, *, imaging: bool
                 ) -> tuple[pd.DataFrame, pd.DataFrame, tuple]:
    table = cases.scores_table(scores, thresholds, labels)
    st.subheader("Scores")
    coverage = st.radio("Coverage of the intervals and prediction sets", COVERAGES, index=1,
                        format_func=lambda c: f"{c:.0%}", horizontal=True,
                        key="score_coverage")
    predictions = absolute.case_predictions(scores, bases, coverage)
    board = cases.board_table(predictions, labels)
    for task in cases.TASK_ORDER:
        part = board[board["task_id"] == task]
        raw = table[table["task_id"] == task]
        if part.empty and raw.empty:
            continue
        st.markdown(f"**{cases.TASK_LABELS[task]}**")
        st.dataframe(part[BOARD_COLUMNS_SHOWN], hide_index=True, width="stretch",
                     key=f"score_board_{task}")
        with st.expander("Raw scores, thresholds and classes (for the data scientist)"):
            st.dataframe(raw[SCORE_COLUMNS_SHOWN], hide_index=True, width="stretch",
                         column_config=SCORE_COLUMN_CONFIG, key=f"score_table_{task}")
    st.caption(absolute.interval_words("binary", coverage) + " "
               + absolute.interval_words("survival", coverage))
    st.caption("A model answers only when the case gives it its required inputs (tumour "
               "size and count; RAS status for anti-EGFR benefit) and at most half of its "
               "clinical inputs are imputed. Raw scores: probability of response for trained "
               "response models, a risk score (higher = earlier events) for survival models, "
               "clinical scores as their own value; class at the threshold set on the Models "
               "page (else the stored one); percentile among the cohort's out-of-fold and "
               "external scores.")
    groups = cases.reason_groups(scores)
    missing = cases.could_not_score(scores, registry, imaging_given=imaging)
    extra = missing[missing["case"] == "all"]
    if groups or len(extra):
        st.markdown("**No answer**")
        for group in groups:
            with st.expander(group.title):
                st.markdown("\n".join(f"- {d}" for d in group.details))
        for r in extra.to_dict("records"):
            st.markdown(f"- {r['reason']}")
    flags = cases.case_flags(scores)
    if flags["imputed_inputs"]:
        st.warning("Imputed by the models (unknown): " + ", ".join(flags["imputed_inputs"]))
    if flags["imputed_features"]:
        st.caption(f"{len(flags['imputed_features'])} imaging / genomic features not available "
                   "for this case were imputed.")
    if flags["out_of_range"]:
        st.warning("Outside the models' training range: " + ", ".join(flags["out_of_range"]))
    if flags["stale_models"]:
        st.warning("Trained on a different version of the cohort (retrain): "
                   + ", ".join(flags["stale_models"]))
    return table, board, predictions


def _show_survival(predictions: tuple, coverage: float) -> dict:
    """The chosen survival model's predicted curve over the Kaplan–Meier curve of the
    development patients of similar predicted risk."""
    answered = [p for p in predictions if p.survival is not None]
    if not answered:
        return {}
    st.subheader("Predicted survival")
    by_id = {p.model_id: p for p in answered}
    chosen = st.selectbox("Survival model", list(by_id), key="score_survival_model",
                          format_func=lambda m: f"{cases.TASK_LABELS.get(by_id[m].task, '')}: "
                                                f"{labels.get(m, m)}")
    pred = by_id[chosen]
    basis = bases.get((pred.model_id, pred.model_version))
    times, surv, lower, upper = basis.calibration.band(pred.raw_score, coverage)
    _, lo, hi = basis.similar_risk_group(pred.raw_score)
    km = basis.similar_risk_km(pred.raw_score)
    fig = figures.make_case_survival_figure(
        km, times, surv, lower, upper, coverage=coverage,
        group_label=f"Development patients of similar risk ({len(km.timeline) and int(km.at_risk[0])})",
        title=f"{labels.get(chosen, chosen)}: predicted survival of the case",
        horizons=absolute.HORIZONS_MONTHS)
    st.plotly_chart(fig, width="stretch", key="score_fig_case_survival",
                    config=figures.plotly_config("score_case_survival"))
    st.caption(f"{pred.headline}. Dashed: the case's predicted curve with its {coverage:.0%} "
               f"bootstrap band; solid: Kaplan–Meier of the development patients whose "
               f"out-of-fold risk score lies in the same fifth as the case's "
               f"({lo:.3g} to {hi:.3g}). {pred.calibration_text}.")
    return {"survival_fig": fig}


def _where_it_falls(case: pd.DataFrame, scores: pd.DataFrame, table: pd.DataFrame) -> dict:
    """Distribution, ROC operating point, KM of the case's group, similar patients and
    contributions; returns the figures and texts the report needs."""
    out: dict = {}
    trained = registry[(registry["task"] == "response") & (registry["kind"] != "clinical")]
    st.subheader("Where the case falls")
    if trained.empty:
        st.info("No trained response model in this cohort.")
        return out
    left, right = st.columns([1, 1])
    model_id = ui.selected_model("response", list(trained["model_id"]),
                                 label="Response model", container=left)
    endpoint = right.selectbox("Survival endpoint", list(config.ENDPOINTS), key="score_endpoint")
    out["model_id"] = model_id
    row = table[(table["model_id"] == model_id)]
    case_score = float(row["score"].iloc[0]) if len(row) and bool(row["sufficient"].iloc[0]) \
        else None
    threshold = thresholds.get(model_id)
    preds = ui.load_predictions(filt, task="response", model_id=model_id,
                                split=["out-of-fold", "external"])
    cohort = ui.load_cohort(filt)
    merged = cohort.merge(preds[["patient_id", "score"]], on="patient_id", how="inner")
    c1, c2 = st.columns(2)
    with c1:
        known = merged["responder"].notna().to_numpy()
        yes = known & (merged["responder"] == True).to_numpy()  # noqa: E712
        parts = {"Responders": merged.loc[yes, "score"],
                 "Non-responders": merged.loc[known & ~yes, "score"]}
        fig = figures.make_score_distribution_figure(
            parts, case_score, threshold, title=f"{labels.get(model_id, model_id)}: cohort scores")
        st.plotly_chart(fig, width="stretch", key="score_fig_distribution",
                        config=figures.plotly_config("score_distribution"))
    with c2:
        y = merged.loc[known, "responder"].astype(bool).to_numpy()
        s = merged.loc[known, "score"].to_numpy(float)
        if len(np.unique(y)) == 2:
            roc = stats.roc(y, s)
            point = None
            if threshold is not None:
                m = stats.diagnostic_metrics(y, s, threshold)
                point = (1 - m.specificity, m.sensitivity)
            name = labels.get(model_id, model_id)
            fig = figures.make_roc_figure({name: roc}, operating_points={name: point},
                                          title="ROC in the cohort, with the threshold", height=420)
            st.plotly_chart(fig, width="stretch", key="score_fig_roc",
                            config=figures.plotly_config("score_roc"))
        else:
            st.info("The filtered cohort has a single response class: no ROC curve.")
    # KM of the group the case falls into, the other group for contrast
    time_col, event_col = config.ENDPOINTS[endpoint]
    if case_score is not None and threshold is not None:
        ok = merged[time_col].notna() & merged[event_col].notna()
        predicted = merged.loc[ok, "score"].to_numpy(float) >= threshold
        case_group = "Predicted responder" if case_score >= threshold else "Predicted non-responder"
        names = np.where(predicted, "Predicted responder", "Predicted non-responder")
        names = np.array([f"{n} (this case)" if n == case_group else n for n in names], dtype=object)
        if len(names) and len(set(names)) >= 1:
            curves = stats.kaplan_meier_by(merged.loc[ok, time_col].to_numpy(float),
                                           merged.loc[ok, event_col].astype(bool).to_numpy(), names)
            km_fig = figures.make_km_figure(
                curves, title=f"{endpoint}: cohort patients by predicted response "
                              f"({labels.get(model_id, model_id)}, threshold {threshold:.2f})")
            st.plotly_chart(km_fig, width="stretch", key="score_fig_km",
                            config=figures.plotly_config("score_km"))
            out["km_fig"] = km_fig
            out["case_group"] = case_group
    else:
        st.info("The chosen model has no score or no threshold for this case: no survival group.")
    # similar patients
    st.subheader("Similar patients in the cohort")
    index, cohort_frame = _similarity_index(ui.store_path(), ui.filter_key(filt))
    similar = similar_patients(cohort_frame, case.iloc[0], k=st.session_state.get("score_k", 5),
                               index=index)
    st.dataframe(similar, hide_index=True, width="stretch", key="score_similar",
                 column_config={"distance": st.column_config.NumberColumn(format="%.2f")})
    st.number_input("How many", 1, 25, 5, key="score_k")
    st.caption(f"Nearest by standardised entries ({similar.attrs.get('inputs_compared', 0)} known "
               "entries compared); ids are the store's pseudonyms.")
    # why
    st.subheader("Why: contributions to the chosen model's score")
    rec = scores[(scores["model_id"] == model_id)].to_dict("records")
    contributions = rec[0].get("contributions") if rec else {}
    if contributions:
        fig = figures.make_contribution_figure(contributions, title=labels.get(model_id, model_id))
        st.plotly_chart(fig, width="stretch", key="score_fig_contrib",
                        config=figures.plotly_config("score_contributions"))
        st.caption(f"Method: {rec[0].get('contribution_method')}.")
        out["contribution_fig"] = fig
    else:
        st.info("This model gives no per-feature contributions for the case.")
    return out


def _report_bytes(case, scores, board, extras, label, summary) -> bytes:
    figs = {}
    caption = f"{filt.describe()}; {dt.date.today().isoformat()}"
    if extras.get("km_fig") is not None:
        figs["km"] = figure_png(extras["km_fig"], caption=caption)
    if extras.get("contribution_fig") is not None:
        figs["contributions"] = figure_png(extras["contribution_fig"], caption=caption)
    entries = {}
    row = case.iloc[0]
    for col in cases.ENTRY_COLUMNS:
        v = row.get(col.name)
        entries[cases.entry_label(col)] = "unknown" if v is None or (isinstance(v, float)
                                                                     and np.isnan(v)) else (
            ("yes" if v else "no") if col.kind == "bool" else
            (f"{v:g}" if isinstance(v, float) else str(v)))
    groups = pd.DataFrame([{"model_id": f"{len(g.models)} model{'s' * (len(g.models) > 1)}",
                            "reason": g.reason} for g in cases.reason_groups(scores)],
                          columns=["model_id", "reason"])
    notes = [f"Summary: {summary}"]
    if extras.get("case_group"):
        notes.append(f"Survival group of the case: {extras['case_group']}")
    report = CaseReport(
        entries=entries, clinical=cases.clinical_summary(case), scores=board,
        could_not_score=groups, cohort_text=filt.describe(), figures=figs,
        flags=cases.case_flags(scores), label=label, user=user.name,
        chosen_model=extras.get("model_id", ""), notes=notes)
    return build_case_report(report)


if result:
    scores_all = result["scores"]
    frame = result["cases"]
    if result["source"] == "batch":
        table_all = cases.scores_table(scores_all, thresholds, labels)
        st.subheader(f"Scores of {len(frame)} cases")
        summary = cases.batch_summary(table_all)
        st.dataframe(summary, hide_index=True, width="stretch", key="score_batch_summary")
        st.download_button("Download all scores (CSV)", data=cases.csv_bytes(table_all),
                           file_name="crlm_case_scores.csv", mime="text/csv",
                           key="score_batch_csv", on_click="ignore")
        chosen = st.selectbox("Show one case in detail", list(frame["patient_id"]),
                              key="score_batch_row")
        case = frame[frame["patient_id"] == chosen].reset_index(drop=True)
        scores = scores_all[scores_all["patient_id"] == chosen].reset_index(drop=True)
    else:
        case, scores = frame, scores_all
        if result.get("entries") is not None and mode != MODES[1]:
            current = {n: st.session_state.get(case_form.key_of(n)) for n in cases.ENTRY_NAMES}
            if current != result["entries"]:
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
    table, board, predictions = _show_scores(case, scores, imaging=result["source"] == "ct")
    summary = cases.summary_line(board, absolute.headline_models(registry, bases),
                                 cases.missing_entries(case))
    st.info(f"In one line: {summary}")
    survival_extras = _show_survival(predictions, st.session_state.get("score_coverage", 0.9))
    extras = _where_it_falls(case, scores, table)
    extras.update(survival_extras)
    extras["imaging"] = result["source"] == "ct"

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
                                           answers=board, summary=summary)
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
        data=lambda: _report_bytes(case, scores, board, extras, label if label else "",
                                   summary),
        file_name=figures.safe_filename("case_report", cohort_name,
                                        dt.date.today().isoformat()) + ".pdf",
        mime="application/pdf", key="score_report", on_click="ignore")

from crlm.ui.case_trajectory import case_trajectory_section  # noqa: E402

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
