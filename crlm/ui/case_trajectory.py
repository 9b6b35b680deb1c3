"""Score a case: the case's serial values (CEA, target-lesion sum, lesion count), entered
or uploaded, drawn over the cohort's trajectories. Nothing entered here is stored."""
from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from crlm import config, figures
from crlm.analysis import trajectories as tr
from crlm.figures.trajectory import make_trajectory_figure
from crlm.ui import loaders
from crlm.ui.case_sequence import landmark_risk_section
from crlm.analysis.cohort_trajectories import cohort_trajectories
from crlm.ui.trajectories import KIND_CHOICES

EDITOR_ROWS = pd.DataFrame({"day": [0.0, 28.0, 56.0], "value": [None, None, None]},
                           dtype="float64")


def _uploaded(file, kind: str) -> pd.DataFrame | None:
    """``day, value`` rows of ``kind`` from an uploaded CSV (``day, kind, value`` or
    ``day, value``)."""
    try:
        frame = pd.read_csv(io.BytesIO(file.getvalue()), dtype=str)
    except (ValueError, UnicodeDecodeError) as exc:
        st.error(f"{file.name}: not a readable CSV ({exc})")
        return None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if not {"day", "value"} <= set(frame.columns):
        st.error(f"{file.name}: needs the columns day and value (and kind)")
        return None
    if "kind" in frame.columns:
        frame = frame[frame["kind"].str.strip().str.lower() == kind]
    return frame[["day", "value"]]


def case_trajectory_section(filt) -> None:
    """Enter or upload a case's serial values and see them over the cohort's, then what
    the landmark sequence models make of them."""
    _over_the_cohort(filt)
    landmark_risk_section(filt, st.session_state.get("score_traj_upload"))


def _over_the_cohort(filt) -> None:
    st.subheader("Over time: the case's serial values")
    st.caption("Days from the start of first-line treatment (0 = baseline, before the first "
               "cycle). Drawn over the cohort's median trajectory by response; not stored. "
               "A CSV with a kind column is also read by the sequence models below.")
    left, right = st.columns([1, 2])
    kind = left.selectbox("Measurement", KIND_CHOICES, key="score_traj_kind",
                          format_func=lambda k: f"{config.MEASUREMENT_KINDS[k].label} "
                                                f"({config.MEASUREMENT_KINDS[k].unit})")
    upload = right.file_uploader("or upload a CSV (day, kind, value)", type=["csv"],
                                 key="score_traj_upload")
    entries = _uploaded(upload, kind) if upload is not None else None
    if entries is None:
        entries = st.data_editor(EDITOR_ROWS, num_rows="dynamic", key=f"score_traj_{kind}",
                                 hide_index=True, width="stretch")
    series = tr.case_series(pd.DataFrame(entries), kind)
    if series.problems:
        if pd.DataFrame(entries)["value"].notna().any():
            st.error("; ".join(series.problems))
        return
    s = series.summary
    words = [f"baseline {s['baseline']:g} {config.MEASUREMENT_KINDS[kind].unit}"]
    if "last_change_pct" in s:
        words.append(f"{s['last_change_pct']:+.0f} % on day {s['last_day']}")
    if s.get("recist"):
        words.append(f"RECIST from the sums: {s['recist']} (best change "
                     f"{s['best_change_pct']:+.0f} %)")
    if kind == "cea" and s.get("cea_response") is not None:
        words.append("early CEA response (fall ≥ 50 % near day 56)" if s["cea_response"]
                     else "no early CEA response (fall < 50 % near day 56)")
    st.write("; ".join(words) + ".")
    m = loaders.load_cohort(filt, columns=["patient_id"])
    if m.empty:
        return
    result = cohort_trajectories(loaders.snapshot(filt.cohort), loaders.filter_key(filt), kind,
                                 "responder")
    if not result.groups:
        st.info("The cohort has no serial values of this kind to compare with.")
        return
    fig = make_trajectory_figure(
        result, y_label=tr.axis_label(kind), title="This case over the cohort's trajectories",
        case={"months": series.frame["months"], "value": series.frame["plotted"],
              "label": "this case"})
    st.plotly_chart(fig, width="stretch", config=figures.plotly_config("case_trajectory"),
                    key="score_case_trajectory")
