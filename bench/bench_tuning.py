"""Nested-CV hyper-parameter search (``train --tune``) against the untuned families.

Trains, on a demo cohort in a temporary store, the response and OS tasks with a
fixed set of families — once untuned (the baseline) and once tuned (``<family>_tuned``:
optuna, 12 trials × 3 inner folds per outer fit; 4 trials with ``--quick``, which
also uses the fast model sizes) — 5 outer folds + refit each time. The ratio is
the price of tuning (baseline time / tuned time: below 1).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Result, timed
from crlm import models
from crlm import store as st
from crlm.ingest.demo import generate_cohort_frames
from crlm.models.tuning import tunable

SEED = 20240601
FAMILIES = ("logistic", "cart", "lightgbm", "cost_sensitive_rf", "elastic_net_cox",
            "lightgbm_cox")
TASKS = ("response", "os_risk")


def run(quick: bool) -> list[Result]:
    n = 600 if quick else 1500
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = st.Store(tmp / "bench.duckdb")
        chunk = generate_cohort_frames(n, SEED)
        st.save_cohort(store, "demo", chunk.patients, chunk.features, kind="synthetic")

        def train(families):
            return models.train(store, tasks=list(TASKS), families=list(families), folds=5,
                                seed=SEED, artefact_dir=tmp / "art", progress=False,
                                fast=quick).table

        base, _ = timed(lambda: train(FAMILIES), repeat=1)
        ours, table = timed(lambda: train(tunable(FAMILIES)), repeat=1)
        store.close()
    return [Result(f"models: train --tune, {len(table)} models{' (fast)' if quick else ''}", n,
                   ours, base, "the same families untuned",
                   note=f"{', '.join(FAMILIES)} on {', '.join(TASKS)}; 2 cores shared")]
