"""Admin page: import a cohort's CT + DICOM SEG folder tree (the TCIA layout) from a folder
on the server, with a progress bar and the per-patient validation report; the check is a
dry run, nothing is written before Import is pressed."""
from __future__ import annotations

import streamlit as st

from crlm.auth import PermissionDenied, User, check_permission
from crlm.ingest.image_import import ImageImportRefused, import_images
from crlm.privacy import csv_bytes
from crlm.ui import loaders
from crlm.ui.widgets import show_error

STATE = "admin_images_result"


def _run(store, folder: str, cohort: str, *, dry_run: bool, actor: str):
    bar = st.progress(0.0, text="Reading the patient folders…")

    def tick(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Read {done} of {total} patient folder(s)")

    try:
        return import_images(store, folder, cohort=cohort, dry_run=dry_run, actor=actor,
                             on_patient=tick)
    finally:
        bar.empty()


def image_import_section(store, user: User, imported_cohorts: list[str]) -> None:
    """The section: folder, cohort, Check (dry run) with progress, report, Import."""
    st.subheader("Import a cohort's CT images")
    st.caption("A folder on this server with one folder per patient, named by the patient id "
               "of the cohort's clinical table, each holding a CT series and a DICOM SEG with "
               "one segment per tumour (the layout of the TCIA Colorectal-Liver-Metastases "
               "download). Import the clinical table first; see docs/import.md.")
    if not imported_cohorts:
        st.caption("No imported cohort yet: import the clinical table above first.")
        return
    c1, c2 = st.columns([3, 1])
    folder = c1.text_input("Folder on the server", key="admin_images_folder")
    cohort = c2.selectbox("Cohort", imported_cohorts, key="admin_images_cohort")
    actor = user.name
    if st.button("Check the folder (dry run)", key="admin_images_check", disabled=not folder):
        try:
            result = _run(store, folder, cohort, dry_run=True, actor=actor)
        except ImageImportRefused as exc:
            st.session_state.pop(STATE, None)
            show_error(str(exc))
        else:
            st.session_state[STATE] = {"folder": folder, "cohort": cohort,
                                       "text": result.report.to_text(),
                                       "frame": result.report.to_frame(),
                                       "summary": result.summary(),
                                       "n": result.report.n_imported}
    check = st.session_state.get(STATE)
    if not check or check["folder"] != folder or check["cohort"] != cohort:
        return
    st.markdown("**Image validation report** (folders numbered in name order)")
    st.dataframe(check["frame"], hide_index=True, width="stretch", key="admin_images_report")
    st.caption(check["summary"])
    st.download_button("Download the report (text)", check["text"],
                       file_name=f"image-import-report-{cohort}.txt", mime="text/plain",
                       key="admin_images_report_txt")
    st.download_button("Download the report (CSV)", csv_bytes(check["frame"]),
                       file_name=f"image-import-report-{cohort}.csv", mime="text/csv",
                       key="admin_images_report_csv", on_click="ignore")
    demo = user.is_demo
    if st.button(f"Import the images into cohort '{cohort}'", type="primary",
                 disabled=demo or not check["n"], key="admin_images_import"):
        try:
            check_permission(user, "import")
            result = _run(store, folder, cohort, dry_run=False, actor=actor)
        except (ImageImportRefused, PermissionDenied) as exc:
            show_error(str(exc))
        else:
            loaders.clear_caches()
            st.session_state.pop(STATE, None)
            (st.success if result.written else st.warning)(result.summary())
