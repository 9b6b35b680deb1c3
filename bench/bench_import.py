"""Cohort import: a 100,000-row CSV read, validated, pseudonymised and stored in one transaction.

Baseline: the same file read with plain ``pandas.read_csv`` and inserted into the
same DuckDB ``patients`` table without any mapping or validation.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import Result, peak_memory_mb, timed
from crlm.config import PATIENT_COLUMN_NAMES

FULL_ROWS = 100_000
QUICK_ROWS = 10_000
TEMPLATE_PATIENTS = 5_000
SEED = 20240601


def _write_csv(path: Path, n_rows: int) -> None:
    """A contract-shaped CSV of ``n_rows`` patients (demo patients repeated, unique ids)."""
    from crlm.ingest.demo import generate_cohort_frames

    template = generate_cohort_frames(min(TEMPLATE_PATIENTS, n_rows), SEED).patients
    reps = int(np.ceil(n_rows / len(template)))
    frame = pd.concat([template] * reps, ignore_index=True).iloc[:n_rows].copy()
    frame["patient_id"] = [f"SRC-{i:07d}" for i in range(n_rows)]
    frame.loc[:, list(PATIENT_COLUMN_NAMES)].to_csv(path, index=False)


def run(quick: bool) -> list[Result]:
    from crlm.ingest.importer import import_file
    from crlm.store import Store, save_cohort

    n_rows = QUICK_ROWS if quick else FULL_ROWS
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        csv_path = root / "cohort.csv"
        _write_csv(csv_path, n_rows)
        store = Store(root / "bench.duckdb")
        try:
            def ours():
                result = import_file(store, csv_path, cohort="bench-import", actor="bench")
                assert result.written and result.n_patients == n_rows
                return result

            def baseline():
                frame = pd.read_csv(csv_path)
                return save_cohort(store, "bench-baseline", frame)

            repeat = 1 if not quick else 2
            ours_s, _ = timed(ours, repeat=repeat)
            base_s, _ = timed(baseline, repeat=repeat)
            peak = peak_memory_mb(ours)
        finally:
            store.close()
    size_mb = csv_path.stat().st_size / 1e6 if csv_path.exists() else 0.0
    return [Result(
        benchmark="import CSV (validate + pseudonymise + store)", n=n_rows, ours_s=ours_s,
        baseline_s=base_s, baseline="pandas.read_csv + DuckDB insert, no validation",
        peak_mb=peak, note=f"{len(PATIENT_COLUMN_NAMES)} columns{f', {size_mb:.0f} MB' if size_mb else ''}")]
