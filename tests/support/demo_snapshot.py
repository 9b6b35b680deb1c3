"""A small demo cohort (no images) in a fresh store, as an analysis snapshot."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from crlm import store as st
from crlm.analysis.snapshot import Snapshot, close_stores, snapshot
from crlm.ingest.demo_images import write_demo_cohort


@contextmanager
def demo_snapshot(folder: Path, n_patients: int, seed: int) -> Iterator[Snapshot]:
    """The cohort's snapshot; every store the analyses opened is closed afterwards."""
    path = folder / "demo.duckdb"
    with st.Store(path) as s:
        write_demo_cohort(s, n_patients, seed, images=False)
    try:
        yield snapshot(path, "demo")
    finally:
        close_stores()
