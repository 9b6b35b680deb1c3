"""Score a case: its serial values read by the landmark sequence models at the first
restaging (``crlm.models.sequence_case``): each model's risk, where it falls among the
development patients and, where the model's scores are calibrated to survival, the
predicted progression-free and overall survival. Nothing entered here is stored."""
from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from crlm import config, figures
from crlm.models import ModelError, absolute
from crlm.models.sequence import LANDMARK_TASKS
from crlm.models.sequence_case import (
    HORIZONS_MONTHS, SCORED_FAMILIES, landmark_answers, landmark_case_scores,
)
from crlm.models.tasks import TASKS
from crlm.ui import loaders

EDITOR_ROWS = pd.DataFrame({"day": [0.0, 28.0, 56.0],
                            **{k: [None, None, None] for k in config.MEASUREMENT_KINDS}},
                           dtype="float64")


def _long(wide: pd.DataFrame) -> pd.DataFrame:
    """``day, kind, value`` rows from the editor (one column per kind), empty cells out."""
    frame = pd.DataFrame(wide)
    kinds = [k for k in config.MEASUREMENT_KINDS if k in frame.columns]
    long = frame.melt(id_vars="day", value_vars=kinds, var_name="kind", value_name="value")
    return long.dropna(subset=["value"]).reset_index(drop=True)


def _uploaded(file) -> pd.DataFrame | None:
    """The ``day, kind, value`` rows of the CSV uploaded above, or None."""
    try:
        frame = pd.read_csv(io.BytesIO(file.getvalue()), dtype=str)
    except (ValueError, UnicodeDecodeError):
        return None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame[["day", "kind", "value"]] if {"day", "kind", "value"} <= set(frame.columns) \
        else None


def _shown(answers: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    out = pd.DataFrame({
        "task": answers["task"].map(lambda t: TASKS[t].label),
        "model": answers["model_id"].map(lambda m: names.get(m, m)),
        "risk score": answers["score"].round(3),
        "percentile": answers["percentile"].round(0)})
    for h in HORIZONS_MONTHS:
        c = f"survival_{h:g}m"
        out[f"{h:g} months (90% CI)"] = [
            "–" if pd.isna(s) else figures.format_estimate(s, lo, hi)
            for s, lo, hi in zip(answers[c], answers[c + "_lower"], answers[c + "_upper"])]
    out["note"] = answers["note"]
    return out


def landmark_risk_section(filt, upload=None) -> None:
    """The sequence models' answers for the case's serial values (the CSV uploaded in the
    trajectory section when it has a kind column, else the table entered here)."""
    registry = loaders.load_models(filt.cohort)
    chosen = registry[registry["task"].isin(LANDMARK_TASKS)
                      & registry["family"].isin(SCORED_FAMILIES)] if len(registry) else registry
    if chosen.empty:
        return
    st.subheader("At the first restaging: what the sequence models say")
    st.caption(f"The GRU over the values up to the landmark (day "
               f"{config.RESTAGING_LANDMARK_DAYS}), the same network on the baseline only, and "
               "the change in the target-lesion sum, each reading the case as it read its "
               "training patients; later values are left out. Survival is from the start of "
               "treatment, for a patient event-free at the landmark.")
    entries = _uploaded(upload) if upload is not None else None
    if entries is None:
        wide = st.data_editor(EDITOR_ROWS, num_rows="dynamic", key="score_seq_values",
                              hide_index=True, width="stretch")
        entries = _long(wide)
    else:
        st.caption(f"Read from {upload.name}.")
    if entries.empty:
        st.caption("Enter the case's values by day (0 = baseline) to score it.")
        return
    store = loaders.get_store()
    try:
        scores = landmark_case_scores(entries, store=store, registry=chosen)
    except ValueError as exc:
        st.error(f"Not scored: {exc}")
        return
    except ModelError as exc:
        st.error(str(exc))
        return
    answers = landmark_answers(scores, absolute.load_bases(store, filt.cohort, chosen))
    st.dataframe(_shown(answers, chosen.set_index("model_id")["name"]), hide_index=True,
                 width="stretch", key="score_seq_answers")
    landmark = scores["cutoff_day"] == scores["cutoff_day"].max()
    left_out = int(scores.loc[landmark, "left_out"].max()) if landmark.any() else 0
    st.caption("Risk score: the model's log relative hazard (the rule: % change of the sum); "
               "percentile among the development patients' out-of-fold scores"
               + (f"; {left_out} value(s) later than the landmark or before the baseline "
                  "window were not read" if left_out else "")
               + "; the baseline-only GRU reads the values up to day 0.")
