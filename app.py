"""CRLM Cohort Explorer: navigation, page config and the shared sidebar filter."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from crlm import config, ui
from crlm.analysis.prefetch import page_run
from crlm.analysis.prefetch import warm_in_background as warm_snapshot_in_background
from crlm.privacy import install_log_filter
from crlm.process import tune_process
from crlm.stats.warm import warm_in_background
from crlm.store import StoreError

install_log_filter()  # screens every log record of the server process for identifiers
warm_in_background()  # the compiled statistics loaded once per server process, not by a page
tune_process()  # large arrays on ordinary pages: no wait for the kernel's compaction

st.set_page_config(page_title="CRLM Cohort Explorer", page_icon=":material/biotech:",
                   layout="wide")

PAGES = [
    ("views/cohort.py", "Cohort", ":material/groups:", "browse"),
    ("views/models.py", "Models", ":material/query_stats:", "browse"),
    ("views/survival.py", "Survival", ":material/monitoring:", "browse"),
    ("views/subgroups.py", "Subgroups", ":material/account_tree:", "browse"),
    ("views/clusters.py", "Clusters", ":material/bubble_chart:", "browse"),
    ("views/score.py", "Score a case", ":material/person_search:", "score"),
    ("views/board.py", "Board session", ":material/event_note:", "browse"),
    ("views/admin.py", "Admin", ":material/admin_panel_settings:", "import"),
]

ui.loaders.begin_run()   # the cohorts' data versions read once in this run
user = ui.sign_in_gate()
pages = [
    st.Page(path, title=title, icon=icon, default=(i == 0),
            url_path=("start" if i == 0 else None))
    for i, (path, title, icon, action) in enumerate(PAGES)
    if ui.user_can(action, user)
]


def _to_start_page() -> None:
    st.switch_page(pages[0], query_params={k: st.query_params.get_all(k)
                                           for k in st.query_params.keys()})


# The first page is served at "/"; a link to it by name (/cohort) opens it there too.
pages.append(st.Page(_to_start_page, title=PAGES[0][1], url_path=Path(PAGES[0][0]).stem,
                     visibility="hidden"))
nav = st.navigation(pages, position="top")
ui.return_to_requested_page(pages)  # after a sign-in: the page and filter the link named

try:
    ui.get_store()
except StoreError as exc:
    st.error(f"{exc}")
    st.info(f"Build the demo store with `python -m crlm demo` (store path: {config.db_path()}).")
    st.stop()

with page_run():   # the whole-cohort reads below wait while a page runs
    ui.sidebar_filters()
    # the cohort's whole-cohort reads for every page, made before a page needs them
    warm_snapshot_in_background(ui.snapshot(ui.current_filter().cohort))
    st.sidebar.caption(config.SYNTHETIC_NOTICE if ui.load_cohort_info(ui.current_filter().cohort)
                       and ui.load_cohort_info(ui.current_filter().cohort).get("kind")
                       == "synthetic" else "Research use only, not a medical device.")
    nav.run()
