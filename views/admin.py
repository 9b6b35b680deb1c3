"""Admin: import a cohort (file + mapping -> validation report -> import), see past imports,
and retrain a cohort's models."""
from __future__ import annotations

import streamlit as st

from crlm import config, ui
from crlm.auth import PermissionDenied, check_permission
from crlm.ingest.importer import (
    MAX_FILE_BYTES, ImportRefused, TableReadError, cohort_name_from_file, import_file,
)
from crlm.ingest.mapping import MappingError, builtin_mappings, parse_mapping
from crlm.privacy import csv_bytes
from crlm.ui import loaders
from crlm.ui.image_import import image_import_section

DETECT = "detect from the header"
UPLOAD = "upload a mapping file (YAML / TOML)"
TABLE_TYPES = ["csv", "tsv", "txt", "parquet", "xlsx"]

user = ui.require_role("import")
ui.page_header("Admin", "Bring your own cohort: upload a table, check the validation report, "
                        "then import it. Nothing is written before you press Import.")
store = ui.get_store()

st.subheader("Import a cohort")
upload = st.file_uploader("Cohort table (CSV, TSV, Parquet or Excel .xlsx)", type=TABLE_TYPES,
                          key="admin_upload", max_upload_size=MAX_FILE_BYTES // (1024 * 1024))
choice = st.selectbox("Mapping", [DETECT, *builtin_mappings(), UPLOAD], key="admin_mapping",
                      help="How the file's columns and codes map onto the patients table; "
                           "see docs/import.md")
mapping = None
if choice == UPLOAD:
    mapping_file = st.file_uploader("Mapping file", type=["yaml", "yml", "toml"],
                                    key="admin_mapping_upload")
    mapping_ready = False
    if mapping_file is None:
        st.info("Upload a mapping file, or choose a built-in mapping.")
    else:
        try:
            mapping = parse_mapping(mapping_file.getvalue(),
                                    fmt=mapping_file.name.rsplit(".", 1)[-1].lower(),
                                    source=mapping_file.name)
            mapping_ready = True
        except MappingError as exc:
            ui.show_error(str(exc))
else:
    mapping_ready = True
    mapping = None if choice == DETECT else choice

if upload is None:
    st.caption("Upload a table to see its validation report.")
elif mapping_ready:
    cohort = st.text_input("Cohort name (lower-case letters, digits, '-', '_')",
                           value=cohort_name_from_file(upload.name), key="admin_cohort")
    data = upload.getvalue()
    try:
        check = import_file(store, data, name=upload.name, mapping=mapping, cohort=cohort,
                            dry_run=True, actor=user.name)
    except (TableReadError, MappingError, ImportRefused) as exc:
        ui.show_error(str(exc))
    else:
        report = check.report
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Rows read", f"{report.rows_read:,}")
        c2.metric("Rows accepted", f"{report.rows_accepted:,}")
        c3.metric("Rows rejected", f"{len(report.rejected_rows):,}")
        c4.metric("Mapping", check.mapping_name)
        for problem in report.file_problems:
            ui.show_error(f"Import refused: {problem}")
        for note in report.warnings:
            st.warning(note)
        st.markdown("**Validation report**")
        st.dataframe(report.to_frame(), hide_index=True, width="stretch",
                     key="admin_report_table")
        with st.expander("Columns: source, unit, missingness"):
            st.dataframe(report.columns, hide_index=True, width="stretch")
        if report.unknown_columns:
            st.caption("Unknown columns, not stored: " + ", ".join(report.unknown_columns))
        if report.dropped_columns:
            st.caption("Free-text columns dropped, never stored: "
                       + ", ".join(report.dropped_columns))
        if report.unavailable_columns:
            st.caption("Not available from this source (pages hide or grey these out): "
                       + ", ".join(report.unavailable_columns))
        if len(report.derived_preview):
            with st.expander("Preview of derived scores (accepted rows)"):
                st.dataframe(report.derived_preview, hide_index=True, width="stretch")
        if len(report.score_disagreements):
            with st.expander(f"Recomputed scores that differ from the file "
                             f"({len(report.score_disagreements)})"):
                st.dataframe(report.score_disagreements, hide_index=True, width="stretch")
        d1, d2, _ = st.columns([1, 1, 2])
        d1.download_button("Download the report (text)", report.to_text(),
                           file_name=f"import-report-{check.cohort}.txt", mime="text/plain",
                           key="admin_report_download")
        d2.download_button("Download the problems (CSV)", csv_bytes(report.to_frame()),
                           file_name=f"import-problems-{check.cohort}.csv", mime="text/csv",
                           key="admin_report_csv", on_click="ignore")
        demo = user.is_demo
        if demo:
            st.info("Demo mode has no sign-in, so it does not take a real cohort: once "
                    "imported, the patients would be open to anyone who reaches the app (and "
                    "demo mode then refuses to start). Start the app without "
                    "CRLM_DEMO_MODE, sign in as an admin and import again, or run "
                    "`python -m crlm import` on the server.", icon=":material/lock:")
        if st.button(f"Import into cohort '{check.cohort}'", type="primary",
                     disabled=demo or not report.ok, key="admin_import"):
            try:
                check_permission(user, "import")
                result = import_file(store, data, name=upload.name, mapping=mapping,
                                     cohort=cohort, actor=user.name)
            except (TableReadError, MappingError, ImportRefused, PermissionDenied) as exc:
                ui.show_error(str(exc))
            else:
                loaders.clear_caches()
                if result.written:
                    st.success(result.summary())
                else:
                    ui.show_error(result.summary())

_listed = loaders.list_cohorts()
image_import_section(store, user, list(_listed.loc[_listed["kind"] == "imported", "cohort"])
                     if len(_listed) else [])

st.subheader("Imported cohorts and their provenance")
cohorts = loaders.list_cohorts()
imported = cohorts[cohorts["kind"] == "imported"] if len(cohorts) else cohorts
if imported.empty:
    st.caption("No imported cohort yet.")
else:
    st.dataframe(imported[["cohort", "description", "n_patients", "created_at"]],
                 hide_index=True, width="stretch", key="admin_cohorts")
    for cohort_name in imported["cohort"]:
        imports = loaders.load_imports(cohort_name)
        with st.expander(f"Imports of {cohort_name} ({len(imports)})"):
            if imports.empty:
                st.caption("No import recorded.")
                continue
            shown = imports[["imported_at", "source_name", "mapping", "rows_read",
                             "rows_accepted", "imported_by"]].copy()
            shown["source_sha256"] = imports["source_hash"].str[:16]
            st.dataframe(shown, hide_index=True, width="stretch")
            st.code(str(imports["report"].iloc[0] or ""), language=None)


# -- retrain ---------------------------------------------------------------------------------
st.subheader("Train a cohort's models")
names = list(cohorts["cohort"]) if len(cohorts) else [config.DEMO_COHORT]
t1, t2, t3 = st.columns([2, 1, 1])
train_cohort = t1.selectbox("Cohort", names, key="admin_train_cohort")
folds = t2.number_input("Cross-validation folds", min_value=2, max_value=10, value=5, step=1,
                        key="admin_train_folds")
fast = t3.checkbox("Quick (smaller models)", key="admin_train_fast",
                   help="Fewer trees and epochs: minutes become seconds, estimates are noisier.")
st.caption("Trains every default family for every task the cohort's columns support, with "
           "out-of-fold and external-centre predictions, and makes them the current models. "
           "Tasks the cohort cannot support are skipped with the reason. A cohort with "
           "imported CT crops also gets its CT models (attention-MIL, CT Cox, CT fusion; "
           "minutes each on a CPU). The anti-EGFR CNN and its fusions train from the command "
           "line: `python -m crlm train --task anti_egfr_benefit --family genomic_rf --family "
           "cnn --family fusion --family fusion_stacked`.")
if st.button(f"Train the models of '{train_cohort}'", key="admin_train"):
    try:
        check_permission(user, "retrain")
        from crlm import models

        with st.status(f"Training the models of {train_cohort}…", expanded=False) as status:
            report = models.train(store, cohort=train_cohort, folds=int(folds),
                                  progress=False, fast=fast)
            status.update(label=f"Trained {len(report)} models of {train_cohort}.",
                          state="complete")
    except (ValueError, PermissionDenied) as exc:
        ui.show_error(f"Not trained: {exc}")
    else:
        loaders.clear_caches()
        st.success(f"Trained and registered {len(report)} models of '{train_cohort}'.")
        for reason in report.skipped_lines():
            st.warning(f"Skipped: {reason}")
        st.dataframe(report.table, hide_index=True, width="stretch", key="admin_train_table")

from crlm.ui.federated_runs import federated_runs_section  # noqa: E402

federated_runs_section(store)

st.divider()
st.subheader("Audit log")
st.caption("Who did what, when: sign-ins, imports, saved and deleted cases, training. "
           "Store ids only, never a patient identifier. Newest first.")
audit_limit = st.selectbox("Rows", [50, 200, 1000], key="admin_audit_limit")
audit = loaders.load_audit_log(int(audit_limit))
st.dataframe(audit, hide_index=True, width="stretch", key="admin_audit_table")
st.download_button("Audit log (CSV)", data=lambda: csv_bytes(audit), file_name="audit_log.csv",
                   mime="text/csv", key="admin_audit_csv", on_click="ignore")
