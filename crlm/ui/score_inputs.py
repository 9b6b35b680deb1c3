"""Score a case, the inputs besides the form: a table of cases (checked row by row and
scored) and a CT series (read, de-identified, its lesion from the DICOM SEG or marked on
a slice). Each keeps its upload's result in the session, keyed by the upload, so that a
rerun does not read the file again."""
from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

from crlm import cases, figures
from crlm.cases import results
from crlm.ingest import dicom
from crlm.ui import case_form, lesions
from crlm.ui.widgets import show_error

RESULT = "score_result"
CT_STATE = "score_ct"
BATCH_STATE = "score_batch"


def batch_input(score: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    """The template, the upload and its problems; a new upload's good rows are scored
    with ``score`` and kept as the page's result."""
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
            own = {v.name: (list(v.levels) if v.categorical else None)
                   for v in case_form._read_by_models()}   # its own variables the models read
            batch = cases.read_batch(upload.getvalue(), upload.name, own)
            state["batch"] = batch
            if len(batch.cases):
                st.session_state[RESULT] = {"source": "batch", "cases": batch.cases,
                                            "scores": score(batch.cases), "name": upload.name}
        except (cases.CaseInputError, ValueError) as exc:
            state["error"] = str(exc)
            st.session_state.pop(RESULT, None)
        st.session_state[BATCH_STATE] = state
    state = st.session_state.get(BATCH_STATE)
    if not state:
        return
    if state.get("error"):
        show_error(f"{state['name']}: {state['error']}")
        return
    batch = state["batch"]
    for note in batch.notes:
        st.caption(note)
    if batch.bad_rows:
        st.warning(f"{len(batch.bad_rows)} of {batch.n_rows} rows have problems and were not "
                   f"scored; the {len(batch.cases)} good rows were scored.")
        st.dataframe(batch.problems, hide_index=True, width="stretch",
                     key="score_batch_problems")
        st.download_button("Download the problems (CSV)", data=cases.csv_bytes(batch.problems),
                           file_name="crlm_cases_problems.csv", mime="text/csv",
                           key="score_batch_problems_csv", on_click="ignore")
    else:
        st.success(f"All {batch.n_rows} rows were read and scored.")
    if not len(batch.cases):
        show_error("No row could be scored: correct the problems listed and upload "
                   "the file again.")


def ct_input(cohort: str) -> dict | None:
    """The CT upload, its slice with the lesion and the lesion attention section. Returns
    the upload's state (``ct``: ``crlm.cases.CtUpload``, ``mask``, ``region``), or None
    without a readable upload."""
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
    if not ct:
        return None
    if ct.get("error"):
        show_error(ct["error"])
        return None
    volume, meta = ct["ct"].volume, ct["ct"].meta
    st.caption(f"Read {meta['n_slices']} slices of {meta['rows']} × {meta['columns']} pixels "
               f"({meta['pixel_spacing_mm'][0]:.2f} mm pixels, "
               f"{meta['spacing_mm'][0]:.1f} mm apart); de-identified on arrival.")
    left, right = st.columns([1, 1])
    with left:
        fig = _lesion_region(ct)
    with right:
        st.plotly_chart(fig, width="stretch", key="score_ct_slice_fig",
                        config=figures.plotly_config("ct_slice"))
    lesions.lesion_attention_section(cohort, volume, meta, ct.get("mask"))
    return ct


def _lesion_region(ct: dict):
    """The lesion from the upload's SEG, else marked on a slice; sets ``ct["mask"]`` and
    ``ct["region"]``; returns the slice figure."""
    upload = ct["ct"]
    volume = upload.volume
    if upload.seg_mask is not None:
        k = results.seg_slice(upload.seg_mask)
        st.success("Lesion region from the DICOM SEG in the upload.")
        ct["mask"] = upload.seg_mask
        ct["region"] = {"source": "DICOM SEG", "slice_index": k}
        return figures.make_ct_slice_figure(volume[k], None, mask=upload.seg_mask[k],
                                            title=f"Slice {k} with the SEG lesion")
    if upload.seg_problem:
        st.warning(f"{upload.seg_problem} Mark the lesion on a slice.")
    else:
        st.info("No DICOM SEG in the upload: mark the lesion on a slice.")
    region = case_form.ct_region_picker(volume)
    try:
        ct["mask"] = dicom.region_mask(volume.shape, region["slice_index"],
                                       centre_yx=region["centre_yx"],
                                       radius_px=region["radius_px"])
        ct["region"] = {"source": "drawn", **region}
    except ValueError as exc:
        show_error(f"Lesion region: {exc}")
        ct["mask"] = None
    return figures.make_ct_slice_figure(volume[region["slice_index"]], region,
                                        title=f"Slice {region['slice_index']}")
