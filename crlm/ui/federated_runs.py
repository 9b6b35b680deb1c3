"""Admin page: the federated runs this store took part in, and a run's rounds."""
from __future__ import annotations

import streamlit as st

from crlm import store as stx
from crlm.federated.runs import federated_runs, run_rounds


def federated_runs_section(store) -> None:
    st.subheader("Federated runs")
    st.caption("Models trained across centres without pooling rows (python -m crlm federated "
               "run; docs/operations.md, section 7). Each run's rounds as the coordinator "
               "recorded them: what was asked, which sites answered, how long the round took "
               "and how many bytes each site sent. What this site sent is also in the audit "
               "log (actor 'federated').")
    models = stx.load_models(store, current_only=False)
    runs = federated_runs(models)
    if runs.empty:
        st.caption("No federated run yet.")
        return
    st.dataframe(runs, hide_index=True, width="stretch", key="admin_fed_runs")
    run_id = st.selectbox("Run", list(runs["run_id"]), key="admin_fed_run")
    rounds = run_rounds(models, run_id)
    c1, c2, c3 = st.columns(3)
    c1.metric("Rounds", f"{len(rounds)}")
    c2.metric("Seconds in rounds", f"{rounds['seconds'].fillna(0).sum():.1f}")
    c3.metric("Bytes sent by the sites", f"{int(rounds['bytes_sent'].fillna(0).sum()):,}")
    st.dataframe(rounds, hide_index=True, width="stretch", key="admin_fed_rounds",
                 column_config={"max_step": st.column_config.NumberColumn(format="%.2e"),
                                "log_likelihood": st.column_config.NumberColumn(format="%.3f")})
