"""Model zoo: training every tabular family and baseline, and scoring one case.

Training: every task x family (cross-validation + refit + registry) on a demo
cohort in a temporary store; reported without a baseline. Scoring: one case
through ``score_cases`` with every current model, models already in memory,
against the same call with every model read and checked from disk each time
(what a page without a model cache would do).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Result, timed
from crlm import models
from crlm import store as st
from crlm.ingest.demo import generate_cohort_frames

SEED = 20240601


def run(quick: bool) -> list[Result]:
    n = 600 if quick else 1500
    fast = quick
    out: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = st.Store(tmp / "bench.duckdb")
        chunk = generate_cohort_frames(n, SEED)
        st.save_cohort(store, "demo", chunk.patients, chunk.features, kind="synthetic")
        train_s, table = timed(lambda: models.train(
            store, folds=5, seed=SEED, artefact_dir=tmp / "art", progress=False, fast=fast).table,
            repeat=1)
        n_trained = int((table["kind"] == "trained").sum())
        out.append(Result(f"models: train all tasks/families{' (fast)' if fast else ''}", n,
                          train_s, note=f"{len(table)} models ({n_trained} trained), 5-fold CV "
                                        "+ refit, 2 cores shared"))
        case = chunk.patients[chunk.patients["cohort_split"] == "external"].head(1)
        features = st.load_features(store, "demo", patient_ids=list(case["patient_id"]))

        def score():
            return models.score_cases(case, store=store, cohort="demo", features=features).table

        def score_from_disk():
            models.clear_caches()
            return score()

        score()  # warm: load models once
        ours, scored = timed(score, repeat=5)
        base, _ = timed(score_from_disk, repeat=3)
        out.append(Result("models: score one case, all models", len(scored), ours,
                          base, "models loaded and hash-checked from disk per call",
                          note="with contributions"))
        no_explain, _ = timed(lambda: models.score_cases(
            case, store=store, cohort="demo", features=features, explain=False), repeat=5)
        out.append(Result("models: score one case, no contributions", len(scored), no_explain,
                          ours, "same call with contributions"))
        store.close()
    return out
