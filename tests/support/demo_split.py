"""The demo consortium of the federated tests: a 600-patient demo store (no models, no
images) split into one site store per centre, built once per test session
(``demo_split`` in tests/conftest.py) and copied for each module or test that runs
training in it, so that no test sees another's models."""
from __future__ import annotations

import shutil
from pathlib import Path

SPLIT_PATIENTS = 600


def build_demo_split(root: Path) -> Path:
    """``root/pooled.duckdb`` and ``root/sites/Centre_X.duckdb``; returns ``root``."""
    from crlm import store as st
    from crlm.cli import main
    from crlm.federated.demo import split_by_centre

    pooled = root / "pooled.duckdb"
    assert main(["--db", str(pooled), "-q", "demo", "--patients", str(SPLIT_PATIENTS),
                 "--no-train", "--no-imaging"]) == 0, "building the demo to split failed"
    with st.Store(pooled) as s:
        split_by_centre(s, "demo", root / "sites")
    return root


def copy_demo_split(source: Path, dest: Path, *, pooled: bool = True) -> tuple[Path | None, dict]:
    """A copy of the split in ``dest``: ``(pooled store or None, {"A": (site store,
    "demo"), ...})`` for every centre, keyed by the centre's letter."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source / "sites", dest / "sites")
    pooled_copy = None
    if pooled:
        pooled_copy = dest / "pooled.duckdb"
        shutil.copy(source / "pooled.duckdb", pooled_copy)
    sites = {path.stem.split("_")[-1]: (str(path), "demo")
             for path in sorted((dest / "sites").glob("*.duckdb"))}
    return pooled_copy, sites
