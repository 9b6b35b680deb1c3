"""The Models page for a landmark task at the first restaging: what the trajectory adds.

The GRU over the measurements up to the landmark against the same network on the
baseline visit only and against the change-from-baseline rule, on the patients all three
scored (``crlm.analysis.sequence_report``, the same functions as the command line's
report); here they are cached on their arguments and shown."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from crlm import figures
from crlm.analysis import sequence_report as sr
from crlm.models import TASKS
from crlm.models.sequence import LANDMARK_TASKS
from crlm.ui import loaders

SPLIT_NAMES = {"out-of-fold": "Out-of-fold (development centres)", "external": "External centre"}


@st.cache_data(show_spinner="Comparing the sequence models…", max_entries=32)
def _comparison(fkey: tuple, task: str, split: str):
    """The comparison on the filtered patients, or the reason there is none."""
    t = TASKS[task]
    preds = loaders.load_predictions(loaders.filter_from_key(fkey), task=task, split=split,
                                     columns=(t.time_column, t.event_column))
    try:
        result = sr.trajectory_comparison(preds, task, split)
    except ValueError as exc:
        return str(exc)
    return result if result is not None else "no prediction of the GRU under this filter"


def trajectory_section(filt, task: str, splits: list[str], records: pd.DataFrame) -> None:
    """The section, for a landmark task whose GRU over the trajectory is trained."""
    if task not in LANDMARK_TASKS or f"{task}.{sr.REFERENCE}" not in records.index:
        return
    st.subheader("What the trajectory adds")
    name = lambda m: records["name"].get(f"{task}.{m}", m)
    fkey = loaders.filter_key(filt)
    for col, split in zip(st.columns(len(splits)), splits):
        with col:
            res = _comparison(fkey, task, split)
            if isinstance(res, str):
                st.info(f"{SPLIT_NAMES[split]}: {res}.")
                continue
            st.caption(f"{SPLIT_NAMES[split]}: the {res.n_patients} patients every model "
                       f"scored ({res.events} events)")
            shown = sr.shown_table(res)
            shown["model"] = shown["model"].map(name)
            st.dataframe(shown, hide_index=True, width="stretch",
                         key=f"models_trajectory_{split}")
            st.download_button("What the trajectory adds (CSV)",
                               data=figures.figure_data_csv(res.table.assign(
                                   split=split, n_patients=res.n_patients)),
                               file_name=figures.safe_filename("trajectory_adds", task, split,
                                                               filt.cohort) + ".csv",
                               mime="text/csv", key=f"models_trajectory_csv_{split}",
                               on_click="ignore")
    st.caption(f"{name(sr.REFERENCE)} (the measurements up to the landmark) against "
               f"{name('gru_baseline')} (the same network, baseline visit only) and "
               f"{name('change_rule')}, decided at the first restaging (landmark day "
               f"{TASKS[task].landmark_days}). " + sr.METHOD + ".")


__all__ = ["trajectory_section"]
